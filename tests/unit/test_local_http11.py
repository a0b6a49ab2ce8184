"""local/http11.py: requests are read once and answer the same as urllib would parse them."""

from __future__ import annotations

import asyncio
from urllib.parse import unquote, urlsplit

import pytest

from local.http11 import HttpRequest, HttpResponse, read_request
from local.websocket import _is_text

pytestmark = pytest.mark.unit


def _read(raw: bytes) -> HttpRequest:
    async def go() -> HttpRequest:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        request = await read_request(reader, "10.0.0.1")
        assert request is not None
        return request

    return asyncio.run(go())


@pytest.mark.parametrize(
    "target",
    [
        "/@connections/abc",
        "/prod/@connections/Ab_cD-eF%3D",  # how signed clients send API Gateway's ids
        "/a%20b/c",
        "/x?y=1&z=%2F",
        "/a#fragment",
        "//host/path",
        "http://127.0.0.1:3001/@connections/id?q",
        "/a;b=1",
    ],
)
def test_path_and_query_are_those_urllib_gives(target: str) -> None:
    request = HttpRequest("GET", target, "HTTP/1.1", [], b"")
    split = urlsplit(target)
    assert (request.path, request.raw_path, request.query) == (
        unquote(split.path),
        split.path,
        split.query,
    )


def test_a_post_is_read_with_its_body_and_headers_by_any_case() -> None:
    raw = (
        b"POST /@connections/abc%3D HTTP/1.1\r\nHost: x\r\nX-Amz-Date: 1\r\n"
        b"Accept: a\r\naccept: b\r\nContent-Length: 5\r\n\r\nhello"
    )
    request = _read(raw)
    assert request.method == "POST"
    assert request.path == "/@connections/abc="
    assert request.body == b"hello"
    assert request.peer == "10.0.0.1"
    assert request.header("x-amz-date") == request.header("X-AMZ-DATE") == "1"
    assert request.header("accept") == "a, b"  # repeated fields, joined in order
    assert request.header("missing") is None
    assert request.keep_alive and not request.is_upgrade


def test_connection_close_and_upgrade_are_seen() -> None:
    raw = b"GET / HTTP/1.1\r\nConnection: close, Upgrade\r\nUpgrade: WebSocket\r\n\r\n"
    request = _read(raw)
    assert not request.keep_alive
    assert request.is_upgrade


def test_a_response_carries_its_reason_and_length() -> None:
    wire = HttpResponse(410, b"{}", [("Content-Type", "application/json")]).serialize(True)
    head, body = wire.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 410 Gone"
    assert b"Content-Length: 2" in lines and b"Connection: keep-alive" in lines
    assert body == b"{}"
    assert HttpResponse(599).serialize(False).startswith(b"HTTP/1.1 599 \r\n")


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"MESSAGE\ndestination:/topic/rooms/1\n\n{}\x00", True),
        ('MESSAGE\n\n{"body":"h\u00e9llo \U0001f600"}\x00'.encode(), True),
        (b"\xff\xfe\x00binary", False),
        (b"", True),
    ],
)
def test_posted_data_goes_out_as_text_exactly_when_it_is_utf8(data: bytes, text: bool) -> None:
    assert _is_text(data) is text
