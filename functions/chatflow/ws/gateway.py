"""The API Gateway @connections client: server -> client frames, and connection probes.

One botocore client per process, shared by every posting thread (botocore clients are
thread-safe) and sized so that ``max_pool_connections`` posts can be in flight at once.

Retries are ours, not botocore's, because a retried POST that had in fact been delivered
shows the client a duplicate frame. So botocore retries nothing, and we retry only when the
frame certainly did not reach the connection: a 429 (LimitExceededException: API Gateway
refused it) or a connection that could not be opened. A read timeout or a 5xx after the
request was sent may have delivered it: those count as FAILED and are not retried.

``GoneException`` (410) is a subclass of ``ClientError`` and is caught first: it means the
client went away, and the caller deletes that connection's items.
"""

from __future__ import annotations

import enum
import random
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi.client import ApiGatewayManagementApiClient

RETRYABLE_CODES = frozenset({"LimitExceededException", "ThrottlingException", "TooManyRequests"})
DEFAULT_ATTEMPTS = 3


class PostOutcome(enum.Enum):
    DELIVERED = "delivered"
    GONE = "gone"  # 410: the connection no longer exists
    FAILED = "failed"  # anything else; the frame may or may not have arrived


class ConnectionsApi(Protocol):
    """What fan-out and the handlers need from the @connections API."""

    def post(self, cid: str, data: bytes) -> PostOutcome: ...

    def delete(self, cid: str) -> bool: ...

    def exists(self, cid: str) -> bool: ...


@dataclass
class GatewayStats:
    """Counters of @connections calls (thread-safe), read by tests and benchmarks."""

    posts: int = 0  # POST requests sent, retries included
    delivered: int = 0
    gone: int = 0
    failed: int = 0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def reset(self) -> None:
        with self._lock:
            self.posts = self.delivered = self.gone = self.failed = self.retries = 0


class BotoConnectionsApi:
    """:class:`ConnectionsApi` over botocore's ``apigatewaymanagementapi`` client.

    ``endpoint_url`` is ``https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`` on AWS
    (``WS_MANAGEMENT_ENDPOINT``) or the local gateway's. Timeouts are short: a post that
    takes seconds holds a fan-out thread that other recipients are waiting for.
    """

    def __init__(
        self,
        endpoint_url: str,
        region: str | None = None,
        max_pool_connections: int = 64,
        connect_timeout: float = 1.0,
        read_timeout: float = 3.0,
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = 0.02,
        client: ApiGatewayManagementApiClient | None = None,
    ) -> None:
        self.stats = GatewayStats()
        self._attempts = max(1, attempts)
        self._backoff = backoff
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "apigatewaymanagementapi",
                endpoint_url=endpoint_url,
                region_name=region,
                config=Config(
                    max_pool_connections=max_pool_connections,
                    connect_timeout=connect_timeout,
                    read_timeout=read_timeout,
                    retries={"total_max_attempts": 1, "mode": "standard"},
                ),
            )
        self.client = client
        self._gone = client.exceptions.GoneException

    def post(self, cid: str, data: bytes) -> PostOutcome:
        """Send ``data`` as one WebSocket message; retried only while surely undelivered."""
        for attempt in range(self._attempts):
            self.stats.add(posts=1)
            try:
                self.client.post_to_connection(ConnectionId=cid, Data=data)
            except self._gone:
                self.stats.add(gone=1)
                return PostOutcome.GONE
            except ClientError as exc:
                if not _throttled(exc) or attempt + 1 == self._attempts:
                    self.stats.add(failed=1)
                    return PostOutcome.FAILED
            except (EndpointConnectionError, ConnectTimeoutError):
                if attempt + 1 == self._attempts:
                    self.stats.add(failed=1)
                    return PostOutcome.FAILED
            except Exception:  # read timeout, reset after sending: maybe delivered
                self.stats.add(failed=1)
                return PostOutcome.FAILED
            else:
                self.stats.add(delivered=1)
                return PostOutcome.DELIVERED
            self.stats.add(retries=1)
            time.sleep(self._backoff * 2**attempt * random.uniform(0.5, 1.5))  # noqa: S311
        raise AssertionError("unreachable")  # pragma: no cover

    def delete(self, cid: str) -> bool:
        """Close the connection (kick, DISCONNECT); False when it was already gone."""
        try:
            self.client.delete_connection(ConnectionId=cid)
        except self._gone:
            return False
        return True

    def exists(self, cid: str) -> bool:
        """Whether API Gateway still knows the connection (the sweeper's probe)."""
        try:
            self.client.get_connection(ConnectionId=cid)
        except self._gone:
            return False
        return True


def _throttled(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.get("Code") in RETRYABLE_CODES or status == 429
