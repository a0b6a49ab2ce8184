"""Revoked token ids (``jti``), users' credential versions, and used WebSocket tickets.

A logout is one key per token with an absolute expiry (``EXAT``), so the set never grows
beyond the live tokens. A password change is one key per user, ``pwchanged:{userId}``,
holding ``<epoch s>:v<N>``: when it happened and the user's credential version after it;
every token stamped with an older version (claim ``cv``) is refused
(docs/adr/0008-credential-versions.md). It lives for a token lifetime plus
:data:`CREDENTIAL_VERSION_MARGIN_SECONDS`, after which every token of an older version has
expired anyway. The time is there for code of the previous release, still running while a
deploy moves the functions over: it reads ``<epoch s>:<anything>`` as "issued before that
second, or in it" and so refuses the old tokens too, instead of failing on the value.

When the cache is down a check answers "not revoked" and logs a warning once: availability
of messaging is preferred over enforcing a logout during a cache outage
(docs/adr/0004-cache-failure-policy.md).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from chatflow.cache.client import CACHE_ERRORS, DegradedWarning, Redis
from chatflow.errors import Unavailable

CREDENTIAL_VERSION_MARGIN_SECONDS = 600
"""How much longer than a token lifetime a credential version is kept: a login that read
the old version just before the change issues its token a moment after it (bcrypt, a slow
container), and that token must still find the version that refuses it."""

# Raises the stored version, never lowers it: two password changes finishing out of order
# must leave the newer version, or the older change's token would outlive the newer one.
# A value in the format before credential versions ("<epoch s>[:<jti>]") is replaced: every
# token that cut-off refused has an older version (0) than any change made since.
# KEYS[1] = pwchanged:{user}; ARGV = version, epoch seconds now, expiry in seconds.
RAISE_VERSION_LUA = """
local current = redis.call('GET', KEYS[1])
local stored = current and tonumber(string.match(current, ':v(%d+)$'))
if stored and stored >= tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2] .. ':v' .. ARGV[1], 'EX', ARGV[3])
return 1
"""
_VERSION_MARK = ":v"


@dataclass(frozen=True, slots=True)
class TokenRef:
    """What a revocation check needs to know about a token."""

    jti: str  # the session's: the access token's, for a ticket
    user_id: str
    issued_at: int
    credential_version: int | None  # None: not known, so only the jti is judged


def password_change_key(user_id: str) -> str:
    return f"pwchanged:{{{user_id}}}"


class RevocationStore:
    def __init__(self, client: Redis) -> None:
        self._client = client
        self._raise_version = client.register_script(RAISE_VERSION_LUA)
        self._degraded = DegradedWarning("token revocation checks")

    def revoke(self, jti: str, expires_at: int) -> None:
        try:
            self._client.set(f"revoked:{jti}", b"1", exat=expires_at)
        except CACHE_ERRORS as exc:
            raise Unavailable("logout is unavailable right now; try again shortly") from exc

    def revoke_older_credentials(self, user_id: str, version: int, token_ttl: int) -> None:
        """Every token of the user with a credential version below ``version`` stops working.

        ``version`` is the one the password change committed with the new hash; the token
        that change returns carries it and stays valid.
        """
        ttl = token_ttl + CREDENTIAL_VERSION_MARGIN_SECONDS
        try:
            self._raise_version(
                keys=[password_change_key(user_id)], args=[version, int(time.time()), ttl]
            )
        except CACHE_ERRORS as exc:
            raise Unavailable(
                "the password was changed, but earlier sessions could not be ended (cache"
                " unavailable): log in with the new password and change it again shortly"
            ) from exc

    def is_revoked(
        self, jti: str, user_id: str, issued_at: int, credential_version: int = 0
    ) -> bool:
        """One round trip: the token's own revocation and the user's password change."""
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.exists(f"revoked:{jti}")
            pipe.get(password_change_key(user_id))
            revoked, changed = pipe.execute()
        except CACHE_ERRORS as exc:
            self._degraded.failed(exc)
            return False
        self._degraded.recovered()
        return bool(revoked) or cut_off_by_password_change(
            changed, issued_at, jti, credential_version
        )

    def revoked_among(self, tokens: Sequence[TokenRef]) -> list[bool] | None:
        """Which of many tokens are revoked, in one pipelined round trip for all of them
        (the sweeper's check of every connection); None when the cache cannot tell."""
        jtis = list(dict.fromkeys(t.jti for t in tokens))
        users = list(dict.fromkeys(t.user_id for t in tokens))
        if not tokens:
            return []
        try:
            pipe = self._client.pipeline(transaction=False)
            for jti in jtis:
                pipe.exists(f"revoked:{jti}")
            for user_id in users:
                pipe.get(password_change_key(user_id))
            results = pipe.execute()
        except CACHE_ERRORS as exc:
            self._degraded.failed(exc)
            return None
        self._degraded.recovered()
        revoked = dict(zip(jtis, results[: len(jtis)], strict=True))
        changed = dict(zip(users, results[len(jtis) :], strict=True))
        return [
            bool(revoked[t.jti])
            or (
                t.credential_version is not None
                and cut_off_by_password_change(
                    changed[t.user_id], t.issued_at, t.jti, t.credential_version
                )
            )
            for t in tokens
        ]

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


def cut_off_by_password_change(
    changed: bytes | str | None, issued_at: int, jti: str, credential_version: int
) -> bool:
    """Whether a token predates the user's last password change.

    ``changed`` is the ``pwchanged`` value: ``"<epoch s>:v<N>"``, N the version after the
    change (the token is cut off when its ``credential_version`` is older). Keys written
    before credential versions existed hold ``"<epoch s>"`` or ``"<epoch s>:<kept jti>"``
    and still cut off by ``issued_at`` and session ``jti`` until they expire (one token
    lifetime after the deploy); this branch can go once that has passed everywhere.
    """
    if changed is None:
        return False
    text = changed.decode() if isinstance(changed, bytes) else str(changed)
    cutoff, mark, version = text.partition(_VERSION_MARK)
    if mark and version.isdecimal():
        return credential_version < int(version)
    cutoff, _, kept = text.partition(":")
    return issued_at < int(cutoff) or (issued_at == int(cutoff) and bool(kept) and jti != kept)
