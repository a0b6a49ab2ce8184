"""One construct per capability; ``infra_cdk.stack`` wires them together."""
