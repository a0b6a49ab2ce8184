"""The benchmark's fast @connections stand-in: keep-alive, delay, counters, pipelining."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.request
from collections.abc import Iterator

import pytest

from bench.fast_connections_endpoint import serve
from chatflow.ws.gateway import PostOutcome
from chatflow.ws.lean_gateway import Credentials, LeanConnectionsApi

pytestmark = pytest.mark.integration

KEYS = Credentials("AKIDEXAMPLE", "secret")


@pytest.fixture
def fast_endpoint() -> Iterator[str]:
    """The endpoint on its own loop in a thread (10 ms per post); its URL."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()
    url: list[str] = []

    async def run() -> None:
        server, address = await serve(0.01)
        url.append(address)
        started.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert started.wait(5)
    yield url[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(5)
    loop.close()


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url.rsplit("/", 1)[0] + "/_stats", timeout=5) as reply:  # noqa: S310
        document: dict[str, int] = json.load(reply)
    return document


def test_posts_are_answered_and_counted_on_kept_connections(fast_endpoint: str) -> None:
    api = LeanConnectionsApi(fast_endpoint, "us-east-1", credentials=lambda: KEYS)
    items = [(f"c{n}=", b"MESSAGE\n\nhi\x00") for n in range(60)]
    assert api.post_many(items, concurrency=8) == [PostOutcome.DELIVERED] * 60
    assert api.post_many(items, concurrency=8) == [PostOutcome.DELIVERED] * 60
    counted = stats(fast_endpoint)
    assert (counted["posts"], counted["attempts"], counted["connections"]) == (120, 120, 60)
    assert counted["maxInFlight"] == 8  # every worker waits on the delay at once
    assert counted["sockets"] - 1 == api.bulk_opened == 8  # reused; and the _stats one
    assert api.delete("c1=") is True
    api.close()


def test_pipelined_requests_are_answered_in_order(fast_endpoint: str) -> None:
    host, port = fast_endpoint.split("//")[1].split("/", maxsplit=1)[0].split(":")
    post = b"POST /bench/@connections/a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
    other = b"GET /nowhere HTTP/1.1\r\nHost: h\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(post + other)  # the 404 is ready first, but must come second
        received = b""
        while received.count(b"HTTP/1.1 ") < 2 or not received.endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 OK")
    assert received.index(b"HTTP/1.1 404") > 0
