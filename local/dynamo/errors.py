"""DynamoDB errors as botocore reads them: a ``__type`` and a message, HTTP 400 (or 500)."""

from __future__ import annotations

from typing import Any

ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"


class DynamoError(Exception):
    """An error reply; ``extra`` holds modeled fields (``CancellationReasons``, ``Item``)."""

    def __init__(
        self, kind: str, message: str, status: int = 400, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.extra = extra or {}

    def document(self) -> dict[str, Any]:
        # TransactionCanceledException spells it "Message"; botocore reads either.
        key = "Message" if self.kind == "TransactionCanceledException" else "message"
        return {"__type": ERROR_PREFIX + self.kind, key: self.message, **self.extra}


def not_found(what: str = "Requested resource not found") -> DynamoError:
    return DynamoError("ResourceNotFoundException", what)


def condition_failed(old: dict[str, Any] | None = None) -> DynamoError:
    extra = {"Item": old} if old is not None else None
    return DynamoError(
        "ConditionalCheckFailedException", "The conditional request failed", 400, extra
    )
