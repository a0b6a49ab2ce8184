"""The WebSocket port's HTTP side as an asyncio Protocol: @connections answered in callbacks.

Every stored message reaches each recipient through one @connections POST, so the local
gateway answers a few POSTs per message sent. Served by :func:`local.http11.serve_connection`
each one costs a task wake-up, futures and a drain; here a POST is read, answered and
written from ``data_received`` (``answer_now``, which must not block), and only what needs
awaiting goes to a task: requests ``answer_now`` leaves to the async ``handler``, and a
WebSocket upgrade, for which the connection is handed over to a StreamReader/StreamWriter
pair for the rest of its life. Requests on one connection are answered in order, as
HTTP/1.1 requires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from local.http11 import (
    Handler,
    HttpError,
    HttpRequest,
    HttpResponse,
    Upgrade,
    body_length,
    parse_head,
)

AnswerNow = Callable[[HttpRequest], HttpResponse | None]
log = logging.getLogger("local.http")


class HttpProtocol(asyncio.Protocol):
    """One client connection of the WebSocket port (see the module docstring)."""

    def __init__(
        self,
        answer_now: AnswerNow,
        handler: Handler,
        upgrade: Upgrade | None = None,
        limit: int = 2**20,
    ) -> None:
        """``upgrade`` None: an upgrade request is answered like any other request."""
        self.answer_now = answer_now
        self.handler = handler
        self.upgrade = upgrade
        self.limit = limit
        self.transport: asyncio.Transport | None = None
        self.peer = "127.0.0.1"
        self._buffer = bytearray()
        self._waiting: asyncio.Task[None] | None = None  # an async answer in progress
        self._eof = False

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else "127.0.0.1"

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiting is None:
            self._serve()

    def eof_received(self) -> bool | None:
        self._eof = True
        if self._waiting is None:
            self._serve()
        return True  # keep the transport open until what was asked is answered

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiting is not None:
            self._waiting.cancel()

    # -- requests ---------------------------------------------------------------------

    def _serve(self) -> None:
        """Answer every complete request in the buffer, in order, until one must wait."""
        transport = self.transport
        assert transport is not None
        while not transport.is_closing():
            try:
                request = self._next_request()
            except HttpError as exc:
                error = HttpResponse.json(exc.status, {"message": str(exc)})
                transport.write(error.serialize(False))
                transport.close()
                return
            if request is None:
                if self._eof:
                    transport.close()
                return
            if request.is_upgrade and self.upgrade is not None:
                self._hand_over(request, self.upgrade)
                return
            response = self.answer_now(request)
            if response is None:
                self._waiting = asyncio.ensure_future(self._answer_later(request))
                transport.pause_reading()
                return
            self._respond(request, response)

    def _next_request(self) -> HttpRequest | None:
        """A whole request taken from the buffer, or None until it has fully arrived."""
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > self.limit:
                raise HttpError(431, "request head too large")
            if self._eof and self._buffer.strip():
                raise HttpError(400, "incomplete request head")
            return None
        head = bytes(self._buffer[: end + 4])
        request = parse_head(head, self.peer)
        length = body_length(request)
        if len(self._buffer) < end + 4 + length:
            if self._eof:
                raise HttpError(400, "incomplete request body")
            return None
        request.body = bytes(self._buffer[end + 4 : end + 4 + length])
        del self._buffer[: end + 4 + length]
        return request

    def _respond(
        self, request: HttpRequest, response: HttpResponse, keep_alive: bool = True
    ) -> None:
        assert self.transport is not None
        keep_alive = keep_alive and request.keep_alive
        self.transport.write(response.serialize(keep_alive, head_only=request.method == "HEAD"))
        if not keep_alive:
            self.transport.close()

    async def _answer_later(self, request: HttpRequest) -> None:
        keep_alive = True
        try:
            response = await self.handler(request)
        except Exception:
            log.exception("request %s %s failed", request.method, request.target)
            response = HttpResponse.json(500, {"message": "Internal server error"})
            keep_alive = False
        finally:
            self._waiting = None
        if self.transport is None or self.transport.is_closing():
            return
        self._respond(request, response, keep_alive)
        if not self.transport.is_closing():
            self.transport.resume_reading()
            self._serve()

    def _hand_over(self, request: HttpRequest, upgrade: Upgrade) -> None:
        """From now on the connection is a WebSocket: streams, and ``upgrade`` drives it."""
        transport = self.transport
        assert transport is not None
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=self.limit)
        protocol = asyncio.StreamReaderProtocol(reader)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if self._buffer:
            reader.feed_data(bytes(self._buffer))
            self._buffer.clear()
        if self._eof:
            reader.feed_eof()
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        self._waiting = asyncio.ensure_future(_upgraded(upgrade, request, reader, writer))


async def _upgraded(
    upgrade: Upgrade,
    request: HttpRequest,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    """Run the WebSocket side to its end, then close the connection."""
    try:
        await upgrade(request, reader, writer)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
            await writer.wait_closed()
