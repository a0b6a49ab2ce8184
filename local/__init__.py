"""The Docker-free local stack: embedded services, a local API Gateway, the CLI."""
