"""Domain errors: what went wrong in words a client can act on.

The domain raises these and nothing transport-specific; the REST layer maps them to
RFC 9457 problem documents in one table (``chatflow.api.problems``) and the STOMP layer
to ERROR frames in another, so each transport has exactly one place that decides what
a client sees.
"""

from __future__ import annotations


class ChatFlowError(Exception):
    """Base of every error a client may cause."""

    code = "error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(ChatFlowError):
    """A value broke a rule; ``errors`` maps each field to what is wrong with it."""

    code = "invalid-input"

    def __init__(self, detail: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors or {}


class Unauthenticated(ChatFlowError):
    """No credentials, or credentials that are invalid, expired or revoked."""

    code = "unauthenticated"


class Forbidden(ChatFlowError):
    """Authenticated, and allowed to know the thing exists, but not to do this."""

    code = "forbidden"


class NotFound(ChatFlowError):
    """Absent, or present but invisible to this user (private rooms leak nothing)."""

    code = "not-found"


class Conflict(ChatFlowError):
    """The request contradicts what is stored (a taken username, an existing member)."""

    code = "conflict"


class RateLimited(ChatFlowError):
    """Too many requests; ``retry_after`` seconds until the bucket has a token again."""

    code = "rate-limited"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Unavailable(ChatFlowError):
    """A backing service is down; the request may be retried unchanged."""

    code = "unavailable"


class DatabaseUnavailable(Unavailable):
    """PostgreSQL could not be reached, or failed in the middle of a statement.

    Raised by the database adapter (``chatflow.db.connection``) in place of the driver's
    own errors, so that no layer above it needs to know which driver is underneath: the
    REST layer answers 503, the STOMP session tells a sender to send again.
    """

    def __init__(self, detail: str = "the database is unavailable; try again shortly") -> None:
        super().__init__(detail)
