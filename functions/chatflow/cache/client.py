"""The Redis/Valkey client, with short timeouts so a dead cache cannot stall a request.

Callers treat the cache as optional where docs/adr/0004-cache-failure-policy.md lets
them (presence, revocation look-ups, rate limits) and log a warning once per container,
not once per request, when it is unreachable.

ElastiCache Serverless exists only in cluster mode: its endpoint answers ``MOVED`` for keys
of other shards, which a plain client cannot follow. ``REDIS_CLUSTER=true`` (set by the CDK
app) makes :func:`open_redis` build redis-py's cluster client instead. Every key that a
script or a pipeline groups carries a hash tag, so the code is the same for both clients
(tests/integration/test_redis_cluster.py runs it on a real three-shard cluster).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, TypeAlias

import redis
from redis.exceptions import ClusterError, RedisClusterException

if TYPE_CHECKING:
    from redis.cluster import RedisCluster

    Redis: TypeAlias = redis.Redis | RedisCluster
else:
    Redis = redis.Redis

logger = logging.getLogger(__name__)

TIMEOUTS = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}


def open_redis(url: str, cluster: bool = False) -> Redis:
    """A client for ``url``: one server, or (``cluster``) a cluster found from this node.

    The cluster client is imported only when asked for: it is not needed on the single-node
    runtimes (local stack, tests) and costs import time at cold start.
    """
    if cluster:
        from redis.cluster import RedisCluster

        return RedisCluster.from_url(url, decode_responses=False, **TIMEOUTS)
    return redis.Redis.from_url(url, health_check_interval=30, decode_responses=False, **TIMEOUTS)


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


CACHE_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    ClusterError,  # a shard down or slots moving (after the client's own retries)
    RedisClusterException,  # no node of the cluster reachable
)
