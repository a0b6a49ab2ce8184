"""The lean client's HTTP/1.1 reader, fed byte by byte and in one piece (no sockets)."""

from __future__ import annotations

import http.client
from collections.abc import Callable

import pytest

from chatflow.ws.lean_gateway import Answer, ProtocolError, read_answer, request_bytes

pytestmark = pytest.mark.unit


def feed(data: bytes, step: int) -> Callable[[int], bytes]:
    """A ``recv`` that returns ``data`` ``step`` bytes at a time, then b"" (closed)."""
    chunks = [data[i : i + step] for i in range(0, len(data), step)]

    def recv(_: int) -> bytes:
        return chunks.pop(0) if chunks else b""

    return recv


GONE = (
    b"HTTP/1.1 410 Gone\r\nx-amzn-ErrorType: GoneException:http://internal.amazon.com/\r\n"
    b"Content-Type: application/json\r\nContent-Length: 31\r\n\r\n"
    b'{"message":"GoneException xyz"}'
)
CHUNKED = (
    b"HTTP/1.1 429 Too Many Requests\r\nTransfer-Encoding: chunked\r\n"
    b"X-Amzn-ErrorType: LimitExceededException\r\n\r\n"
    b"5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n"
)


@pytest.mark.parametrize("step", [1, 7, 4096])
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Answer(200, "", True)),
        (GONE, Answer(410, "GoneException", True)),
        (CHUNKED, Answer(429, "LimitExceededException", True)),
        (b"HTTP/1.1 204 No Content\r\n\r\n", Answer(204, "", True)),
        (
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
            Answer(200, "", False),
        ),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", Answer(200, "", False)),
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
            Answer(200, "", True),
        ),
        (b"HTTP/1.1 500 Error\r\n\r\nuntil the server closes", Answer(500, "", False)),
    ],
)
def test_answers_are_read_whatever_the_chunking(raw: bytes, expected: Answer, step: int) -> None:
    assert read_answer(feed(raw, step), "POST") == expected


def test_bytes_after_the_answer_make_the_connection_unusable() -> None:
    """Bytes received past the answer (the pool's readability check catches later ones)."""
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200"
    assert read_answer(feed(raw, 4096), "POST") == Answer(200, "", False)


def test_a_connection_closed_mid_answer_is_an_error() -> None:
    with pytest.raises(http.client.RemoteDisconnected):
        read_answer(feed(GONE[:-5], 64), "POST")
    with pytest.raises(http.client.RemoteDisconnected):
        read_answer(feed(b"", 1), "POST")


def test_garbage_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        read_answer(feed(b"SSH-2.0-OpenSSH\r\n\r\n", 64), "POST")
    with pytest.raises(ProtocolError):
        read_answer(feed(b"HTTP/1.1 200 OK\r\n" + b"x: y\r\n" * 20_000, 4096), "POST")


def test_the_request_is_one_buffer_with_its_length() -> None:
    headers = [("Host", "h"), ("Authorization", "a")]
    assert request_bytes("POST", "/s/@connections/c%3D", headers, b"hi") == (
        b"POST /s/@connections/c%3D HTTP/1.1\r\nHost: h\r\nAuthorization: a\r\n"
        b"Content-Length: 2\r\n\r\nhi"
    )
    assert request_bytes("GET", "/p", [("Host", "h")], b"") == b"GET /p HTTP/1.1\r\nHost: h\r\n\r\n"
