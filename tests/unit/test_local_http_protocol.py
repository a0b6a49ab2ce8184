"""local/http_protocol.py: the WebSocket port's HTTP side, over a real loopback socket."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from local.http11 import HttpRequest, HttpResponse
from local.http_protocol import HttpProtocol

pytestmark = pytest.mark.unit

Scenario = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class _Server:
    """Answers ``/now/...`` in the callback, ``/later/...`` from the async handler."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.upgraded: list[bytes] = []

    def answer_now(self, request: HttpRequest) -> HttpResponse | None:
        if request.path.startswith("/later/"):
            return None
        self.order.append(request.path)
        return HttpResponse(200, request.body or request.path.encode())

    async def handler(self, request: HttpRequest) -> HttpResponse:
        await asyncio.sleep(0.01)  # a real wait: later requests must not overtake it
        if request.path == "/later/fail":
            raise RuntimeError("handler failed")
        self.order.append(request.path)
        return HttpResponse(201, request.path.encode())

    async def upgrade(
        self, request: HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
        self.upgraded.append(request.path.encode())
        while data := await reader.read(1024):
            self.upgraded.append(data)
            writer.write(data.upper())


def _run(scenario: Scenario) -> _Server:
    server_side = _Server()

    async def go() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: HttpProtocol(
                server_side.answer_now, server_side.handler, server_side.upgrade, limit=4096
            ),
            "127.0.0.1",
            0,
        )
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await asyncio.wait_for(scenario(reader, writer), 10)
        finally:
            writer.close()
            server.close()
            await server.wait_closed()

    asyncio.run(go())
    return server_side


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return status, head, await reader.readexactly(length)


def _post(path: str, body: bytes = b"", extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def test_pipelined_requests_are_answered_in_order_even_when_one_must_wait() -> None:
    async def scenario(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = _post("/now/1", b"one") + _post("/later/2") + _post("/now/3", b"three")
        writer.write(data[:7])  # a head split across reads
        await asyncio.sleep(0.01)
        writer.write(data[7:])
        answers = [await _answer(reader) for _ in range(3)]
        assert [(status, body) for status, _, body in answers] == [
            (200, b"one"),
            (201, b"/later/2"),
            (200, b"three"),
        ]
        assert all(b"Connection: keep-alive" in head for _, head, _ in answers)

    server = _run(scenario)
    assert server.order == ["/now/1", "/later/2", "/now/3"]


def test_a_body_arriving_in_pieces_is_read_whole() -> None:
    async def scenario(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = _post("/now/x", b"0123456789")
        for at in range(0, len(data), 5):
            writer.write(data[at : at + 5])
            await asyncio.sleep(0.005)
        assert (await _answer(reader))[2] == b"0123456789"

    _run(scenario)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /now/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
        (b"GET /now/x HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET /now/x HTTP/1.1\r\nX: " + b"a" * 5000, 431),
        # API Gateway's answers to a NUL or a control character in the target
        (b"GET /now/%00 HTTP/1.1\r\n\r\n", 400),
        (b"GET /%00 HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", 400),
        (b"POST /now/@connections/a%00b HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400),
        (b"GET /now/\x01 HTTP/1.1\r\n\r\n", 400),
        (b"GET //[ HTTP/1.1\r\n\r\n", 400),
        # a length int() would read but HTTP does not allow
        (b"POST /now/x HTTP/1.1\r\nContent-Length: +1\r\n\r\nx", 400),
        (b"POST /now/x HTTP/1.1\r\nContent-Length: 0_1\r\n\r\nx", 400),
        (b"POST /now/x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    ],
)
def test_bad_requests_are_refused_and_the_connection_closed(raw: bytes, status: int) -> None:
    async def scenario(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(raw)
        answer_status, head, _ = await _answer(reader)
        assert answer_status == status
        assert b"Connection: close" in head
        assert await reader.read() == b""

    _run(scenario)


def test_a_failing_handler_gives_500_and_closes() -> None:
    async def scenario(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(_post("/later/fail") + _post("/now/never"))
        status, head, _ = await _answer(reader)
        assert status == 500 and b"Connection: close" in head
        assert await reader.read() == b""

    server = _run(scenario)
    assert server.order == []


def test_connection_close_is_honoured_and_head_gets_no_body() -> None:
    async def scenario(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HEAD /now/h HTTP/1.1\r\n\r\n" + _post("/now/c", b"c", "Connection: close\r\n")
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: 6" in head
        status, head, body = await _answer(reader)  # the HEAD answer carried no body
        assert (status, body) == (200, b"c") and b"Connection: close" in head
        assert await reader.read() == b""

    _run(scenario)


def test_an_upgrade_hands_the_connection_and_what_follows_to_streams() -> None:
    async def scenario(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            _post("/now/before", b"b")
            + b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nearly"
        )
        assert (await _answer(reader))[2] == b"b"
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        assert await reader.readexactly(5) == b"EARLY"
        writer.write(b"later")
        assert await reader.readexactly(5) == b"LATER"

    server = _run(scenario)
    assert server.upgraded[:3] == [b"/ws", b"early", b"later"]


def test_the_client_closing_after_its_request_still_gets_the_answer() -> None:
    async def scenario(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(_post("/later/slow") + _post("/now/n"))
        writer.write_eof()
        assert [(await _answer(reader))[0] for _ in range(2)] == [201, 200]
        assert await reader.read() == b""

    _run(scenario)


def test_without_an_upgrade_handler_an_upgrade_request_is_an_ordinary_request() -> None:
    answered: list[str] = []

    def answer_now(request: HttpRequest) -> HttpResponse | None:
        answered.append(request.path)
        return HttpResponse(426, b"no")

    async def never(request: HttpRequest) -> HttpResponse:
        raise AssertionError("answered at once")

    async def go() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: HttpProtocol(answer_now, never), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        status, _, body = await asyncio.wait_for(_answer(reader), 10)
        assert (status, body) == (426, b"no")
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(go())
    assert answered == ["/ws"]
