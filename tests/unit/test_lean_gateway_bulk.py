"""post_many's buffer parser and request builder (no sockets): the same answers as the
blocking reader, whatever the chunking, and the same signed bytes as the blocking client."""

from __future__ import annotations

import pytest

from chatflow.ws.lean_bulk import PostRequests, parse_buffered
from chatflow.ws.lean_gateway import (
    Answer,
    Credentials,
    LeanConnectionsApi,
    ProtocolError,
    read_answer,
)
from tests.unit.test_lean_gateway_http import CHUNKED, GONE, feed

pytestmark = pytest.mark.unit

ANSWERS = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    GONE,
    CHUNKED,
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
]


def incremental(raw: bytes, step: int) -> tuple[Answer, int, int]:
    """Feed ``raw`` ``step`` bytes at a time; the answer, bytes used, and feeds needed."""
    for feeds, end in enumerate(range(step, len(raw) + step, step), start=1):
        parsed = parse_buffered(raw[:end], closed=False)
        if parsed is not None:
            return parsed[0], parsed[1], feeds
    raise AssertionError("never complete")


@pytest.mark.parametrize("step", [1, 7, 4096])
@pytest.mark.parametrize("raw", ANSWERS)
def test_buffered_answers_equal_the_blocking_readers(raw: bytes, step: int) -> None:
    answer, used, feeds = incremental(raw, step)
    assert answer == read_answer(feed(raw, 4096), "POST")
    assert used == len(raw)
    assert feeds == -(-len(raw) // step)  # complete exactly when its last byte arrives


def test_a_body_without_length_ends_when_the_server_closes() -> None:
    raw = b"HTTP/1.1 500 Error\r\n\r\nuntil the server closes"
    assert parse_buffered(raw, closed=False) is None
    assert parse_buffered(raw, closed=True) == (Answer(500, "", False), len(raw))


def test_bytes_after_the_answer_make_the_connection_unusable() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200"
    assert parse_buffered(raw, closed=False) == (Answer(200, "", False), len(raw) - 12)


def test_garbage_and_oversize_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError):
        parse_buffered(b"SSH-2.0-OpenSSH\r\n\r\n", closed=False)
    with pytest.raises(ProtocolError):
        parse_buffered(b"HTTP/1.1 200 OK\r\n" + b"x: y\r\n" * 20_000, closed=False)
    with pytest.raises(ProtocolError):
        parse_buffered(b"HTTP/1.1 200 OK\r\nContent-Length: 9999999\r\n\r\n", closed=False)


@pytest.mark.parametrize("token", [None, "session-token"])
@pytest.mark.parametrize("cid", ["L0SM9cOFvHcCIhw=", "a+b/c=", "id with spaces/é"])
def test_bulk_requests_are_the_blocking_clients_bytes(token: str | None, cid: str) -> None:
    keys = Credentials("AKIDEXAMPLE", "secret", token)
    times = [1_790_000_000.25, 1_790_000_000.75, 1_790_000_001.5]  # same second, then the next
    clock = iter(times * 2)
    api = LeanConnectionsApi(
        "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
        "eu-west-1",
        credentials=lambda: keys,
        clock=lambda: next(clock),
    )
    requests = PostRequests(api)
    body = b"MESSAGE\ndestination:/topic/x\n\nhi\x00"
    bulk = [requests.post(cid, body) for _ in times]
    assert bulk == [api._request("POST", cid, body) for _ in times]
    assert bulk[0] == bulk[1] != bulk[2]  # a new second, a new date and signature
