"""The benchmark's WebSocket client: ``websockets``' sans-I/O protocol on an asyncio Protocol.

The benchmark's clients share the machine with the stack they measure, so their CPU per
delivery counts against the result. ``websockets``' asyncio connection hands every
message to a reader task through a queue (a task wake-up per message); here a message is
handed to a callback straight from ``data_received``, with the same RFC 6455 framing
(masking, fragments, ping/pong, the closing handshake) done by the same library.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidState
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

OnMessage = Callable[[str | bytes, float], None]  # a whole message, and when it arrived


class WebSocketClient(asyncio.Protocol):
    """One client connection; ``on_message`` gets each text (str) or binary message."""

    def __init__(self, protocol: ClientProtocol, on_message: OnMessage) -> None:
        self.protocol = protocol
        self.on_message = on_message
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self._parts: list[bytes] = []
        self._text = False

    @classmethod
    async def connect(
        cls,
        url: str,
        subprotocols: Sequence[Subprotocol],
        on_message: OnMessage,
        wait_s: float,
    ) -> WebSocketClient:
        """Open and complete the handshake, each within ``wait_s`` seconds."""
        uri = parse_uri(url)
        protocol = ClientProtocol(uri, subprotocols=subprotocols, max_size=None)
        loop = asyncio.get_running_loop()
        _, client = await asyncio.wait_for(
            loop.create_connection(lambda: cls(protocol, on_message), uri.host, uri.port),
            wait_s,
        )
        await asyncio.wait_for(client.opened, wait_s)
        return client

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.protocol.receive_data(data)
        self._events(now)

    def eof_received(self) -> bool | None:
        self.protocol.receive_eof()
        self._events(time.perf_counter())
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during the handshake: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    # -- use --------------------------------------------------------------------------

    def send_text(self, data: bytes) -> None:
        """Send ``data`` (UTF-8) as one text message."""
        self.protocol.send_text(data)
        self._flush()

    async def close(self) -> None:
        """The closing handshake, then the TCP connection (after 5 s at most)."""
        if self.protocol.state is State.OPEN:
            with contextlib.suppress(InvalidState):
                self.protocol.send_close()
            self._flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.closed), 5)
        if self.transport is not None:
            self.transport.close()

    # -- inside -----------------------------------------------------------------------

    def _events(self, now: float) -> None:
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                failed = self.protocol.handshake_exc
                if failed is not None:
                    self.opened.set_exception(failed)
                elif not self.opened.done():
                    self.opened.set_result(None)
            elif isinstance(event, Frame):
                self._frame(event, now)
        self._flush()  # pongs and the close reply

    def _frame(self, frame: Frame, now: float) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            self._text = frame.opcode is Opcode.TEXT
            self._parts = [bytes(frame.data)]
        elif frame.opcode is Opcode.CONT:
            self._parts.append(bytes(frame.data))
        else:
            return
        if frame.fin:
            data, self._parts = b"".join(self._parts), []
            self.on_message(data.decode("utf-8") if self._text else data, now)

    def _flush(self) -> None:
        if self.transport is None:
            return
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.transport.write(chunk)
            elif self.transport.can_write_eof():
                self.transport.write_eof()
        if self.protocol.close_expected() and self.protocol.state is State.CLOSED:
            self.transport.close()
