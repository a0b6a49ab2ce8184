"""The lean @connections client against a real HTTP endpoint that records what it got."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest

from chatflow.ws.connections import ConnectionRecord, ConnectionTable, Subscription
from chatflow.ws.fanout import Fanout
from chatflow.ws.fanout_jobs import OutboundMessage
from chatflow.ws.gateway import PostOutcome
from chatflow.ws.lean_bulk import HttpConnection
from chatflow.ws.lean_gateway import (
    Credentials,
    GatewayError,
    LeanConnectionsApi,
    NotSent,
    _closed_by_peer,
    build_connections_api,
)
from tests.helpers.connections_endpoint import ConnectionsEndpoint

pytest_plugins = ["tests.integration.ws_fixtures"]
pytestmark = pytest.mark.integration

CID = "L0SM9cOFvHcCIhw="  # API Gateway ids end with '=': percent-encoded in the path
KEYS = Credentials("AKIDEXAMPLE", "secret", "session-token")


class CountingEndpoint(ConnectionsEndpoint):
    """The recording endpoint, also counting TCP connections and keeping request heads.

    ``idle_timeout`` makes the server close a keep-alive connection left idle that long.
    """

    def __init__(self, idle_timeout: float | None = None) -> None:
        super().__init__()
        self.tcp_connections = 0
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        handler: Any = self._server.RequestHandlerClass
        outer = self

        class Counting(handler):  # type: ignore[misc]
            timeout = idle_timeout

            def setup(self) -> None:
                super().setup()
                with outer._lock:
                    outer.tcp_connections += 1

            def parse_request(self) -> bool:
                parsed: bool = super().parse_request()
                with outer._lock:
                    outer.requests.append((self.command, self.path, dict(self.headers.items())))
                return parsed

        self._server.RequestHandlerClass = Counting


@contextmanager
def counting(idle_timeout: float | None = None) -> Iterator[CountingEndpoint]:
    server = CountingEndpoint(idle_timeout)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def endpoint() -> Iterator[CountingEndpoint]:
    with counting() as server:
        yield server


def lean(url: str, **kwargs: Any) -> LeanConnectionsApi:
    return LeanConnectionsApi(url, "us-east-1", credentials=lambda: KEYS, backoff=0.001, **kwargs)


def test_post_is_delivered_with_botocores_signature(
    endpoint: CountingEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = lean(endpoint.url)
    body = b"MESSAGE\n\nhi\x00"
    assert api.post(CID, body) is PostOutcome.DELIVERED
    assert endpoint.delivered() == {CID: [body]}
    assert (api.stats.posts, api.stats.delivered, api.stats.retries) == (1, 1, 0)
    [(method, path, headers)] = endpoint.requests
    assert (method, path) == ("POST", "/test/@connections/L0SM9cOFvHcCIhw%3D")
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token," in headers["Authorization"]
    assert headers["X-Amz-Security-Token"] == KEYS.token
    assert headers["Authorization"] == _botocore_signature(method, path, headers, body, monkeypatch)


def _botocore_signature(
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """What botocore's signer computes for the request the endpoint received."""
    import datetime

    import botocore.auth
    import botocore.credentials
    from botocore.awsrequest import AWSRequest

    at = datetime.datetime.strptime(headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    request = AWSRequest(method=method, url=f"http://{headers['Host']}{path}", data=body)
    creds = botocore.credentials.Credentials(KEYS.access_key, KEYS.secret_key, KEYS.token)
    signer = botocore.auth.SigV4Auth(creds, "execute-api", "us-east-1")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: at)
    signer.add_auth(request)
    return str(request.headers["Authorization"])


def test_gone_connection_answers_gone_and_is_not_retried(endpoint: CountingEndpoint) -> None:
    endpoint.mark_gone("c1")
    api = lean(endpoint.url)
    assert api.post("c1", b"x") is PostOutcome.GONE
    assert endpoint.attempts["c1"] == 1
    assert (api.stats.posts, api.stats.gone, api.stats.retries) == (1, 1, 0)


def test_throttled_post_is_retried_once_then_delivered(endpoint: CountingEndpoint) -> None:
    endpoint.throttle("c1", times=1)
    api = lean(endpoint.url)
    assert api.post("c1", b"x") is PostOutcome.DELIVERED
    assert endpoint.attempts["c1"] == 2
    assert endpoint.delivered() == {"c1": [b"x"]}
    assert (api.stats.posts, api.stats.retries, api.stats.delivered) == (2, 1, 1)


def test_throttling_that_does_not_stop_fails_after_the_attempts(
    endpoint: CountingEndpoint,
) -> None:
    endpoint.throttle("c1", times=10)
    api = lean(endpoint.url, attempts=3)
    assert api.post("c1", b"x") is PostOutcome.FAILED
    assert endpoint.attempts["c1"] == 3
    assert (api.stats.posts, api.stats.retries, api.stats.failed) == (3, 2, 1)


def test_server_error_fails_and_is_not_retried(endpoint: CountingEndpoint) -> None:
    endpoint.fail("c1")
    api = lean(endpoint.url)
    assert api.post("c1", b"x") is PostOutcome.FAILED
    assert endpoint.attempts["c1"] == 1
    assert (api.stats.posts, api.stats.failed, api.stats.retries) == (1, 1, 0)


def test_refused_connection_is_retried_then_failed() -> None:
    with ConnectionsEndpoint() as closed:
        url = closed.url
    api = lean(url, attempts=2)
    assert api.post("c1", b"x") is PostOutcome.FAILED
    assert (api.stats.posts, api.stats.retries, api.stats.failed) == (2, 1, 1)
    with pytest.raises(NotSent):
        api.exists("c1")


def test_delete_and_exists(endpoint: CountingEndpoint) -> None:
    api = lean(endpoint.url)
    assert api.exists(CID)
    assert api.delete(CID)
    assert endpoint.deleted == [CID]
    assert not api.exists(CID)
    assert not api.delete(CID)


def test_unexpected_answer_to_a_probe_raises(endpoint: CountingEndpoint) -> None:
    with pytest.raises(GatewayError) as caught:
        lean(endpoint.url)._probe("PUT", "c1")  # the endpoint has no PUT
    assert caught.value.status == 501


def test_pool_reuses_its_connections(endpoint: CountingEndpoint) -> None:
    api = lean(endpoint.url, max_pool_connections=4)
    with ThreadPoolExecutor(max_workers=16) as workers:
        outcomes = list(workers.map(lambda n: api.post(f"c{n}", b"x"), range(200)))
    assert outcomes == [PostOutcome.DELIVERED] * 200
    assert endpoint.summary()["posts"] == 200
    assert endpoint.tcp_connections == api.pool.opened
    assert 1 <= endpoint.tcp_connections <= 4
    assert endpoint.max_in_flight <= 4


def test_connection_closed_by_the_server_is_replaced_before_use() -> None:
    with counting(idle_timeout=0.05) as endpoint:
        api = lean(endpoint.url, max_pool_connections=1)
        assert api.post("c1", b"a") is PostOutcome.DELIVERED
        idle = api.pool._idle[0]
        for _ in range(200):  # until the server has closed its end
            if _closed_by_peer(idle):
                break
            time.sleep(0.01)
        assert _closed_by_peer(idle)
        assert api.post("c1", b"b") is PostOutcome.DELIVERED
        assert endpoint.delivered() == {"c1": [b"a", b"b"]}
        assert (api.pool.opened, endpoint.tcp_connections, api.stats.failed) == (2, 2, 0)


def test_fanout_through_the_lean_client_deletes_only_gone_connections(
    conn_table: ConnectionTable, endpoint: CountingEndpoint
) -> None:
    topic = "/topic/rooms/r1"
    for n in range(30):
        cid = f"c{n:02}="
        conn_table.put_connection(ConnectionRecord(cid, 1_700_000_000_000, user_id=f"u{n}"))
        conn_table.add_subscription(Subscription(cid, "s", topic, "r1", f"u{n}"), 1_700_007_800)
    endpoint.mark_gone("c07=")
    api = lean(endpoint.url, max_pool_connections=8)
    fanout = Fanout(conn_table, api, max_workers=8, connections=8)
    stats = fanout.to_room("r1", OutboundMessage("m", "{}"))
    assert (stats.recipients, stats.posts, stats.gone, stats.failed) == (30, 30, 1, 0)
    assert len(endpoint.delivered()) == 29
    assert conn_table.get_connection("c07=") is None
    assert conn_table.get_connection("c08=") is not None
    assert endpoint.tcp_connections <= 8


def test_the_setting_chooses_the_client(endpoint: CountingEndpoint, aws_credentials: None) -> None:
    from chatflow.ws.gateway import BotoConnectionsApi

    chosen = build_connections_api("lean", endpoint.url, "us-east-1")
    assert isinstance(chosen, LeanConnectionsApi)
    assert chosen.post(CID, b"x") is PostOutcome.DELIVERED  # env credentials (fixtures)
    assert isinstance(
        build_connections_api("botocore", endpoint.url, "us-east-1"), BotoConnectionsApi
    )


# --------------------------------------------------------------------------- post_many


def test_post_many_delivers_with_botocores_signature_in_item_order(
    endpoint: CountingEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = lean(endpoint.url)
    items = [(CID, b"MESSAGE\n\nhi\x00"), ("c2", b"b"), ("c3", b"c")]
    assert api.post_many(items, concurrency=2) == [PostOutcome.DELIVERED] * 3
    assert endpoint.delivered() == {cid: [data] for cid, data in items}
    assert (api.stats.posts, api.stats.delivered, api.stats.retries) == (3, 3, 0)
    assert api.pool.opened == 0  # the event loop's own connections, not the thread pool's
    [(method, path, headers)] = [r for r in endpoint.requests if r[1].endswith("%3D")]
    assert (method, path) == ("POST", "/test/@connections/L0SM9cOFvHcCIhw%3D")
    signature = _botocore_signature(method, path, headers, items[0][1], monkeypatch)
    assert headers["Authorization"] == signature


def test_post_many_gone_is_not_retried_and_stops_that_connection(
    endpoint: CountingEndpoint,
) -> None:
    endpoint.mark_gone("c1")
    api = lean(endpoint.url)
    items = [("c1", b"a"), ("c2", b"b"), ("c1", b"c")]
    assert api.post_many(items, concurrency=4) == [
        PostOutcome.GONE,
        PostOutcome.DELIVERED,
        PostOutcome.GONE,  # not sent: the connection is gone
    ]
    assert endpoint.attempts["c1"] == 1
    assert (api.stats.posts, api.stats.gone, api.stats.delivered, api.stats.retries) == (2, 1, 1, 0)


def test_post_many_throttled_post_is_retried_once_then_delivered_once(
    endpoint: CountingEndpoint,
) -> None:
    endpoint.throttle("c1", times=1)
    api = lean(endpoint.url)
    assert api.post_many([("c1", b"x"), ("c2", b"y")], 2) == [PostOutcome.DELIVERED] * 2
    assert endpoint.attempts["c1"] == 2
    assert endpoint.delivered() == {"c1": [b"x"], "c2": [b"y"]}
    assert (api.stats.posts, api.stats.retries, api.stats.delivered) == (3, 1, 2)


def test_post_many_server_error_is_not_retried(endpoint: CountingEndpoint) -> None:
    endpoint.fail("c1")
    api = lean(endpoint.url)
    assert api.post_many([("c1", b"x"), ("c2", b"y")], 2) == [
        PostOutcome.FAILED,
        PostOutcome.DELIVERED,
    ]
    assert endpoint.attempts["c1"] == 1
    assert (api.stats.posts, api.stats.failed, api.stats.retries) == (2, 1, 0)


def test_post_many_refused_connection_is_retried_then_failed() -> None:
    with ConnectionsEndpoint() as closed:
        url = closed.url
    api = lean(url, attempts=2)
    assert api.post_many([("c1", b"x"), ("c2", b"y")], 4) == [PostOutcome.FAILED] * 2
    assert (api.stats.posts, api.stats.retries, api.stats.failed) == (4, 2, 2)


def test_post_many_uses_at_most_concurrency_connections_and_keeps_them(
    endpoint: CountingEndpoint,
) -> None:
    api = lean(endpoint.url)
    items = [(f"c{n}", b"x") for n in range(200)]
    assert api.post_many(items, concurrency=4) == [PostOutcome.DELIVERED] * 200
    assert 1 <= endpoint.tcp_connections == api.bulk_opened <= 4
    assert endpoint.max_in_flight <= 4
    opened = endpoint.tcp_connections
    assert api.post_many(items, concurrency=4) == [PostOutcome.DELIVERED] * 200
    assert endpoint.tcp_connections == opened  # the next call reuses them
    assert endpoint.summary()["posts"] == 400
    api.close()


def test_post_many_keeps_each_connections_order(endpoint: CountingEndpoint) -> None:
    endpoint.delay = 0.002  # so that posts overlap
    api = lean(endpoint.url)
    items = [(f"c{n % 10}", str(n // 10).encode()) for n in range(100)]  # interleaved
    assert api.post_many(items, concurrency=8) == [PostOutcome.DELIVERED] * 100
    expected = [str(k).encode() for k in range(10)]
    assert endpoint.delivered() == {f"c{n}": expected for n in range(10)}


def test_post_many_replaces_a_connection_the_server_closed() -> None:
    with counting(idle_timeout=0.05) as endpoint:
        api = lean(endpoint.url)
        assert api.post_many([("c1", b"a")], 1) == [PostOutcome.DELIVERED]
        [conn] = api.bulk_idle
        for _ in range(200):  # until the server has closed its end
            if _closed_by_peer_stream(api, conn):
                break
            time.sleep(0.01)
        assert api.post_many([("c1", b"b")], 1) == [PostOutcome.DELIVERED]
        assert endpoint.delivered() == {"c1": [b"a", b"b"]}
        assert (api.bulk_opened, endpoint.tcp_connections, api.stats.failed) == (2, 2, 0)
        api.close()


def _closed_by_peer_stream(api: LeanConnectionsApi, conn: HttpConnection) -> bool:
    """Whether the loop, run briefly, has seen the server close the idle connection."""
    assert api._loop is not None
    api._loop.run_until_complete(asyncio.sleep(0.001))
    return not conn.usable


def test_post_many_unfinished_at_the_total_timeout_is_failed(endpoint: CountingEndpoint) -> None:
    endpoint.delay = 0.5
    api = lean(endpoint.url, bulk_timeout=0.05)
    assert api.post_many([("c1", b"x"), ("c2", b"y")], 1) == [PostOutcome.FAILED] * 2
    assert (api.stats.posts, api.stats.failed, api.stats.delivered) == (1, 2, 0)
    assert api.bulk_idle == []  # the interrupted connection is not reused


def test_post_many_inside_a_running_loop_posts_on_threads(endpoint: CountingEndpoint) -> None:
    api = lean(endpoint.url)

    async def inside() -> list[PostOutcome]:
        return api.post_many([("c1", b"a"), ("c2", b"b"), ("c1", b"c")], 2)

    assert asyncio.run(inside()) == [PostOutcome.DELIVERED] * 3
    assert endpoint.delivered() == {"c1": [b"a", b"c"], "c2": [b"b"]}
    assert (api.bulk_opened, api.stats.posts) == (0, 3)
    assert 1 <= api.pool.opened <= 2


def test_post_many_late_answer_fails_after_the_read_timeout_unretried(
    endpoint: CountingEndpoint,
) -> None:
    endpoint.delay = 0.4
    api = lean(endpoint.url, read_timeout=0.05, bulk_timeout=5.0)
    assert api.post_many([("c1", b"x")], 1) == [PostOutcome.FAILED]
    assert endpoint.attempts["c1"] == 1  # written: it may arrive, so it is not sent again
    assert (api.stats.posts, api.stats.failed, api.stats.retries) == (1, 1, 0)
    assert api.bulk_idle == []  # an answer may still come on it: not reused
