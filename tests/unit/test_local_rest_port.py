"""local/rest.py served by local/http11.py, as the REST port is: odd request targets.

API Gateway answers a request for ``/%00`` with 400; the local gateway used to raise
ValueError in the static-file look-up and drop the connection without an answer.
"""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

import pytest

from local.apigw_events import ApiInfo
from local.http11 import HttpRequest, HttpResponse, serve_connection
from local.rest import RestGateway

pytestmark = pytest.mark.unit


CONFIG = {"http": "http://127.0.0.1:3000", "ws": "ws://127.0.0.1:3001"}


async def _exchange(web_root: Path, raw: bytes) -> tuple[int, bytes]:
    """Send ``raw`` to a REST port serving ``web_root``; the status and the whole reply."""
    gateway = RestGateway((), {}, ApiInfo("local", "local", "localhost"), web_root, CONFIG)
    server = await asyncio.start_server(
        partial(serve_connection, handler=gateway.handle), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        reply = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        server.close()
        await server.wait_closed()
    assert reply, "the connection was dropped without an answer"
    return int(reply.split(b" ", 2)[1]), reply


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "index.html").write_text("<!doctype html><title>page</title>")
    return tmp_path


def _get(target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode("latin-1")


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/%00", 400),
        ("/a%00b.js", 400),
        ("/api/health%00", 400),
        ("/x?q=%00", 200),  # the query is the function's to judge (422 for a search)
        ("/\x01", 400),
        ("/\x7f", 400),
        ("/" + "a" * 300, 404),  # longer than any file name
        ("/" + "a/" * 3000, 404),  # longer than any path
        ("/" + "a" * 8193, 414),  # over 8 KiB, as API Gateway
        ("/%ff%fe.js", 404),  # not UTF-8: decoded with U+FFFD, no such file
        ("/%C0%AF..%C0%AF..%C0%AFetc/passwd", 200),  # overlong '/': no step out, the page
        ("/%2e%2e/%2e%2e/etc/passwd", 404),  # outside dist
        ("//[", 400),  # an authority that does not parse (urlsplit raises ValueError)
        ("http://[::1/", 400),
        ("/%zz", 200),  # not an escape: a client-side route of the page
    ],
)
def test_odd_targets_get_an_answer_as_api_gateway_gives(
    web_root: Path, target: str, status: int
) -> None:
    answer, reply = asyncio.run(_exchange(web_root, _get(target)))
    assert answer == status, reply[:200]


def test_a_bad_target_does_not_stop_the_port(web_root: Path) -> None:
    async def go() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        return await _exchange(web_root, _get("/%00")), await _exchange(web_root, _get("/"))

    (bad, _), (good, page) = asyncio.run(go())
    assert (bad, good) == (400, 200)
    assert page.endswith(b"<title>page</title>")


def test_a_raising_handler_gives_500_not_a_dropped_connection() -> None:
    async def failing(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("handler failed")

    async def go() -> bytes:
        server = await asyncio.start_server(
            partial(serve_connection, handler=failing), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_get("/x").replace(b"Connection: close\r\n", b""))
        reply = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        server.close()
        await server.wait_closed()
        return reply

    reply = asyncio.run(go())
    assert reply.startswith(b"HTTP/1.1 500 ")
    assert b"Connection: close" in reply


def _headers(reply: bytes) -> dict[str, str]:
    head = reply.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {name.lower(): value.strip() for name, _, value in (h.partition(":") for h in head)}


@pytest.mark.parametrize(
    "target", ["/", "/index.html", "/config.json", "/assets/app.js", "/rooms/x", "/missing.js"]
)
def test_the_page_and_its_files_carry_the_security_headers(web_root: Path, target: str) -> None:
    (web_root / "dist" / "assets").mkdir()
    (web_root / "dist" / "assets" / "app.js").write_text("export {};")
    _, reply = asyncio.run(_exchange(web_root, _get(target)))
    headers = _headers(reply)
    policy = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy
    assert "connect-src 'self' http://127.0.0.1:3000 ws://127.0.0.1:3001;" in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"


def test_the_not_built_page_has_no_inline_style_the_policy_would_block(tmp_path: Path) -> None:
    _, reply = asyncio.run(_exchange(tmp_path, _get("/")))
    assert b"ChatFlow local stack" in reply
    assert b"style=" not in reply and b"<script" not in reply
    assert "default-src 'none'" in _headers(reply)["content-security-policy"]
