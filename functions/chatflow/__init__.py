"""ChatFlow domain package: everything the Lambda handlers share.

Handlers in ``functions/handlers`` stay thin; business rules, adapters and the
REST app live here. Nothing in this package imports a handler module.
"""
