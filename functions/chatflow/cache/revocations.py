"""Revoked token ids (``jti``) and used WebSocket tickets, kept until the token expires.

Both are one key per token with an absolute expiry (``EXAT``), so the set never grows
beyond the live tokens. When the cache is down a check answers "not revoked" and logs a
warning once: availability of messaging is preferred over enforcing a logout during a
cache outage (docs/adr/0004-cache-failure-policy.md).
"""

from __future__ import annotations

from chatflow.cache.client import CACHE_ERRORS, DegradedWarning, Redis
from chatflow.errors import Unavailable


class RevocationStore:
    def __init__(self, client: Redis) -> None:
        self._client = client
        self._degraded = DegradedWarning("token revocation checks")

    def revoke(self, jti: str, expires_at: int) -> None:
        try:
            self._client.set(f"revoked:{jti}", b"1", exat=expires_at)
        except CACHE_ERRORS as exc:
            raise Unavailable("logout is unavailable right now; try again shortly") from exc

    def revoke_user_tokens_before(
        self, user_id: str, issued_before: int, ttl: int, keep_jti: str = ""
    ) -> None:
        """Every token of the user issued before ``issued_before`` (epoch s) stops working.

        Token times are whole seconds, so tokens issued in that same second are cut off too,
        all but ``keep_jti`` (the token the password change itself returns): otherwise a
        token obtained with the old password in the second of the change would survive it.
        """
        value = f"{issued_before}:{keep_jti}" if keep_jti else str(issued_before)
        try:
            self._client.set(f"pwchanged:{{{user_id}}}", value.encode(), ex=ttl)
        except CACHE_ERRORS as exc:
            raise Unavailable("changing the password is unavailable right now") from exc

    def is_revoked(self, jti: str, user_id: str, issued_at: int) -> bool:
        """One round trip: the token's own revocation and the user's password change."""
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.exists(f"revoked:{jti}")
            pipe.get(f"pwchanged:{{{user_id}}}")
            revoked, changed = pipe.execute()
        except CACHE_ERRORS as exc:
            self._degraded.failed(exc)
            return False
        self._degraded.recovered()
        return bool(revoked) or cut_off_by_password_change(changed, issued_at, jti)

    def use_ticket_once(self, jti: str, expires_at: int) -> bool:
        """True the first time a ticket id is presented; a replay gets False.

        A cache outage fails closed here: a ticket is a bearer credential in a URL, and
        the client can always fall back to authenticating in the CONNECT frame.
        """
        try:
            return bool(self._client.set(f"ticket:{jti}", b"1", exat=expires_at, nx=True))
        except CACHE_ERRORS as exc:
            self._degraded.failed(exc)
            return False


def cut_off_by_password_change(changed: bytes | str | None, issued_at: int, jti: str) -> bool:
    """Whether a token (``issued_at``, session ``jti``) predates the user's password change.

    ``changed`` is the ``pwchanged`` value: ``"<epoch s>"`` or ``"<epoch s>:<kept jti>"``.
    """
    if changed is None:
        return False
    text = changed.decode() if isinstance(changed, bytes) else str(changed)
    cutoff, _, kept = text.partition(":")
    return issued_at < int(cutoff) or (issued_at == int(cutoff) and bool(kept) and jti != kept)
