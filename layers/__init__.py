"""How the Lambda dependency layer is built (see ``layers.build``)."""
