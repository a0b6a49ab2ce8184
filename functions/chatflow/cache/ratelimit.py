"""Token buckets in Redis, one Lua script, one round trip per check.

The script reads the bucket, refills it by the time elapsed (server clock, so callers
on different hosts agree), takes a token if there is one, and writes it back with an
expiry of one full refill, all atomically. A denied call gets the whole seconds until
the next token, which becomes the ``Retry-After`` header. A cache outage lets the
request through and logs a warning once: rate limits protect the service, and
refusing all traffic during an outage would be the larger harm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chatflow.cache.client import CACHE_ERRORS, DegradedWarning, Redis
from chatflow.errors import RateLimited

TOKEN_BUCKET_LUA = """
local key = KEYS[1]
local capacity = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then
  tokens = capacity
  ts = now
end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * per_ms)
local allowed = 0
local wait_ms = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait_ms = math.ceil((cost - tokens) / per_ms)
end
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', key, math.ceil(capacity / per_ms) + 1000)
return {allowed, wait_ms}
"""


@dataclass(frozen=True, slots=True)
class BucketPolicy:
    """``capacity`` tokens, refilled at ``per_second`` tokens per second."""

    name: str
    capacity: int
    per_second: float


class RateLimiter:
    def __init__(self, client: Redis) -> None:
        self._script = client.register_script(TOKEN_BUCKET_LUA)
        self._degraded = DegradedWarning("rate limiting")

    def check(self, policy: BucketPolicy, subject: str, cost: int = 1) -> None:
        """Take ``cost`` tokens from ``subject``'s bucket or raise RateLimited."""
        key = f"rl:{policy.name}:{{{subject}}}"
        try:
            allowed, wait_ms = self._script(
                keys=[key], args=[policy.capacity, policy.per_second / 1000.0, cost]
            )
        except CACHE_ERRORS as exc:
            self._degraded.failed(exc)
            return
        self._degraded.recovered()
        if not int(allowed):
            retry_after = max(1, math.ceil(int(wait_ms) / 1000))
            raise RateLimited(
                f"too many requests; try again in {retry_after} s", retry_after=retry_after
            )
