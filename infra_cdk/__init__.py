"""ChatFlow's AWS deployment: a CDK v2 app -> stacks -> one construct per capability."""
