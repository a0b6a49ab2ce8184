"""A small DynamoDB emulator for the local stack: the operations the connection table uses.

``engine`` (tables and operations), ``expressions`` (the expression language), ``server``
(the HTTP front, which forwards everything that is not DynamoDB to moto). See docs/local.md.
"""
