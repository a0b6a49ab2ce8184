"""A cheap @connections stand-in for benchmarks: one asyncio loop, one Protocol per socket.

On AWS the @connections endpoint is API Gateway's: a post costs the Lambda that sends it
its own CPU only, and the endpoint's work is done elsewhere. The recording test endpoint
(``tests/helpers/connections_endpoint.py``, a ``ThreadingHTTPServer``) spends several
times the poster's CPU per request (a thread wake-up, ``email``-based header parsing) on
the same 2 cores as the benchmark, so a fan-out benchmark against it measures the
endpoint as much as the fan-out. This one parses a request head with a few ``bytes``
operations and answers each POST after a fixed delay with ``loop.call_later`` (no thread,
no task), so the delay stays what API Gateway's latency would be and the CPU left is the
poster's.

It speaks HTTP/1.1 with keep-alive, answers requests of one socket in order (pipelined
requests are queued), answers ``POST|GET|DELETE .../@connections/{id}`` with 200/204, and
``GET /_stats`` with the counters (posts, attempts, connections, maxInFlight, sockets).
It records counts only, not bodies: the tests of delivery use the recording endpoint.

    python -m bench.fast_connections_endpoint --delay-ms 20   # prints its URL, then serves
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections import deque
from dataclasses import dataclass

MARKERS = (b"/@connections/", b"/%40connections/")
HEAD_MAX = 64 * 1024
OK_EMPTY = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n"
NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"
_NOT_FOUND_BODY = b'{"message": "NotFoundException"}'
NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nx-amzn-ErrorType: NotFoundException\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    % (len(_NOT_FOUND_BODY), _NOT_FOUND_BODY)
)
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


@dataclass
class Counters:
    """What the endpoint saw: every POST, and how many waited for their answer at once."""

    posts: int = 0
    attempts: int = 0
    sockets: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    connections: set[bytes] | None = None

    def summary(self) -> dict[str, int]:
        return {
            "posts": self.posts,
            "attempts": self.attempts,
            "connections": len(self.connections or ()),
            "maxInFlight": self.max_in_flight,
            "sockets": self.sockets,
        }


class _Socket(asyncio.Protocol):
    """One client socket: parse requests as they arrive, answer them in arrival order."""

    def __init__(self, counters: Counters, delay: float) -> None:
        self.counters = counters
        self.delay = delay
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.pending: deque[list[bytes | None]] = deque()  # answers, None until ready

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.counters.sockets += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head = self.buf[:end]
            length = _content_length(head)
            if length < 0:
                self._send_now(BAD_REQUEST)
                return
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length :]
            self._answer(head)
        if len(self.buf) > HEAD_MAX:
            self._send_now(BAD_REQUEST)

    def _answer(self, head: bytes) -> None:
        method, _, rest = head.partition(b" ")
        target = rest.partition(b" ")[0]
        slot: list[bytes | None] = [None]
        self.pending.append(slot)
        if target == b"/_stats":
            body = json.dumps(self.counters.summary()).encode()
            slot[0] = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        elif (cid := _connection_id(target)) is None:
            slot[0] = NOT_FOUND
        elif method == b"POST":
            counters = self.counters
            counters.attempts += 1
            counters.in_flight += 1
            counters.max_in_flight = max(counters.max_in_flight, counters.in_flight)
            if counters.connections is None:
                counters.connections = set()
            counters.connections.add(cid)
            self.loop.call_later(self.delay, self._posted, slot)
            return
        else:
            slot[0] = NO_CONTENT if method == b"DELETE" else OK_EMPTY
        self._flush()

    def _posted(self, slot: list[bytes | None]) -> None:
        self.counters.in_flight -= 1
        self.counters.posts += 1
        slot[0] = OK_EMPTY
        self._flush()

    def _flush(self) -> None:
        """Write the answers that are ready, in request order (HTTP/1.1 pipelining)."""
        while self.pending and (answer := self.pending[0][0]) is not None:
            self.pending.popleft()
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(answer)

    def _send_now(self, answer: bytes) -> None:
        if self.transport is not None:
            self.transport.write(answer)
            self.transport.close()
        self.buf = b""

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def _content_length(head: bytes) -> int:
    """The request's Content-Length (0 when absent), or -1 when it cannot be read."""
    at = head.lower().find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    value = head[at + 17 :].split(b"\r\n", 1)[0].strip()
    return int(value) if value.isdigit() else -1


def _connection_id(target: bytes) -> bytes | None:
    for marker in MARKERS:
        at = target.find(marker)
        if at >= 0:
            return target[at + len(marker) :]
    return None


async def serve(delay: float, port: int = 0) -> tuple[asyncio.Server, str]:
    """Start serving on 127.0.0.1; the server and the URL a client is given (with a stage)."""
    counters = Counters()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Socket(counters, delay), "127.0.0.1", port, backlog=4096
    )
    bound = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{bound}/bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    async def run() -> None:
        server, url = await serve(args.delay_ms / 1000, args.port)
        print(url, flush=True)
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
