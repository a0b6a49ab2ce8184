"""What the connection table refuses, importable without botocore.

The STOMP session turns each of these into an answer to the client; keeping them apart
from the DynamoDB adapter lets the session (and its unit tests) name them without
loading the AWS SDK.
"""

from __future__ import annotations


class DuplicateSubscription(Exception):
    """The connection already has a subscription with this id (STOMP 1.2: ids are unique)."""


class UnknownConnection(Exception):
    """The connection has no META item: it never connected here, or it is already gone."""


class AlreadySubscribed(Exception):
    """The connection already has a subscription to this destination (``subscription_id``)."""

    def __init__(self, destination: str, subscription_id: str) -> None:
        super().__init__(destination)
        self.destination = destination
        self.subscription_id = subscription_id


class TooManySubscriptions(Exception):
    """The connection holds as many subscriptions as the cap allows."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class TableWriteError(Exception):
    """BatchWriteItem kept returning unprocessed items after every retry."""
