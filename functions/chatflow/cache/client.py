"""The Redis/Valkey client, with short timeouts so a dead cache cannot stall a request.

Callers treat the cache as optional where DESIGN.md lets them (presence, revocation
look-ups, rate limits) and log a warning once per container, not once per request,
when it is unreachable.
"""

from __future__ import annotations

import logging
import threading

import redis

logger = logging.getLogger(__name__)

Redis = redis.Redis


def open_redis(url: str) -> Redis:
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=1.0,
        socket_timeout=1.0,
        health_check_interval=30,
        decode_responses=False,
    )


class DegradedWarning:
    """Logs 'cache unavailable' once until the cache works again."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._warned = False
        self._lock = threading.Lock()

    def failed(self, exc: Exception) -> None:
        with self._lock:
            if self._warned:
                return
            self._warned = True
        logger.warning(
            "cache unavailable; %s degraded", self._what, extra={"error": type(exc).__name__}
        )

    def recovered(self) -> None:
        if self._warned:
            with self._lock:
                self._warned = False
            logger.info("cache reachable again; %s restored", self._what)


CACHE_ERRORS: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
