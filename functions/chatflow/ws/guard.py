"""The per-message check of the frame path, in one Redis round trip.

Every inbound WebSocket message must (1) refuse a revoked token, (2) refresh the
connection's presence, and for SENDs (3) take rate-limit tokens. Done one by one that
is three round trips on the hottest path; here it is one non-transactional pipeline:
``EXISTS revoked:{jti}``, ``GET pwchanged:{user}``, the presence touch and, when there
are SENDs, ``EVAL`` of the token bucket (EVAL, not EVALSHA: redis-py pipelines check
script existence with an extra round trip, and the script text is small).
A cache outage lets traffic through and logs once (docs/adr/0004-cache-failure-policy.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chatflow.cache.client import CACHE_ERRORS, DegradedWarning, Redis
from chatflow.cache.ratelimit import TOKEN_BUCKET_LUA, BucketPolicy
from chatflow.cache.revocations import cut_off_by_password_change
from chatflow.ws.identity import Identity

TouchCommand = Callable[[Any, str, str], None]


@dataclass(frozen=True, slots=True)
class GuardResult:
    revoked: bool
    retry_after: int | None  # seconds, when the SENDs of this message were refused


class FrameGuard:
    def __init__(self, client: Redis, touch: TouchCommand, send_policy: BucketPolicy) -> None:
        self._client = client
        self._touch = touch
        self._policy = send_policy
        self._degraded = DegradedWarning("revocation checks, presence and rate limits")

    def check(self, identity: Identity, connection_id: str, sends: int = 0) -> GuardResult:
        pipe = self._client.pipeline(transaction=False)
        pipe.exists(f"revoked:{identity.jti}")
        pipe.get(f"pwchanged:{{{identity.user_id}}}")
        self._touch(pipe, connection_id, str(identity.user_id))
        if sends:
            key = f"rl:{self._policy.name}:{{{identity.user_id}}}"
            # execute_command, not pipe.eval: redis-py's cluster pipeline has no eval()
            queue: Callable[..., object] = pipe.execute_command  # untyped in redis-py
            queue(
                "EVAL",
                TOKEN_BUCKET_LUA,
                1,
                key,
                self._policy.capacity,
                self._policy.per_second / 1000,
                sends,
            )
        try:
            results = pipe.execute()
        except CACHE_ERRORS as exc:
            self._degraded.failed(exc)
            return GuardResult(revoked=False, retry_after=None)
        self._degraded.recovered()
        revoked = bool(results[0])
        changed = results[1]
        if cut_off_by_password_change(
            changed, identity.issued_at, identity.jti, identity.credential_version
        ):
            revoked = True
        retry_after = None
        if sends:
            allowed, wait_ms = results[3]
            if not int(allowed):
                retry_after = max(1, math.ceil(int(wait_ms) / 1000))
        return GuardResult(revoked=revoked, retry_after=retry_after)
