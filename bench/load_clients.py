"""One STOMP-over-WebSocket client of the load run, and what every client records.

A client opens the socket with ``Authorization: Bearer`` (the non-browser way, docs/protocol.md
§1), sends CONNECT, then SUBSCRIBE to ``/user/queue/errors`` and to its room in one WebSocket
message, and waits for the room's RECEIPT. From then on one reader task takes every frame:
MESSAGE frames of stored events (they carry ``seq``) are kept in arrival order for the
delivery check, RECEIPTs settle the SENDs that asked for them, refusals on the errors queue
are counted by code. The send loop is open-loop (a send is due at a fixed time whatever the
replies), with a bound on unanswered SENDs so that an overloaded stack is not flooded.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from chatflow.stomp import Frame, StompProtocolError, parse, serialize_text

SUBSCRIBE_RECEIPT = "sub"
ROOM_SUBSCRIPTION = "room"


class ClientFailed(Exception):
    """A client could not connect and subscribe; the run goes on without it."""


@dataclass
class Recorder:
    """What all clients observe, on one clock (``time.monotonic``) that starts at ``t0``."""

    t0: float = field(default_factory=time.monotonic)
    sent_at: dict[str, float] = field(default_factory=dict)  # message body -> SEND time
    latencies_ms: list[float] = field(default_factory=list)  # SEND -> MESSAGE, every copy
    receipt_ms: list[float] = field(default_factory=list)  # SEND -> RECEIPT
    sends_per_s: Counter[int] = field(default_factory=Counter)
    deliveries_per_s: Counter[int] = field(default_factory=Counter)
    bodies: dict[tuple[str, int], str] = field(default_factory=dict)  # (room, seq) -> body
    content_mismatches: int = 0

    def second(self, now: float) -> int:
        return int(now - self.t0)


@dataclass
class Send:
    """One SEND: its body (unique in the run), and how the server answered it."""

    body: str
    sent_at: float
    seq: int | None = None  # from the RECEIPT
    duplicate: bool = False
    refused: str | None = None  # the error code from /user/queue/errors


@dataclass
class Client:
    index: int
    room_id: str
    token: str
    interval: float
    recorder: Recorder
    heartbeat: float = 0.0  # seconds between heart-beats (bare EOLs) from the open on; 0: none
    arrivals: list[int] = field(default_factory=list)  # seq of stored events, arrival order
    seen: set[int] = field(default_factory=set)
    sends: list[Send] = field(default_factory=list)
    pending: dict[str, Send] = field(default_factory=dict)  # receipt id -> SEND
    skipped: int = 0  # sends not made because too many were unanswered
    errors: Counter[str] = field(default_factory=Counter)
    subscribed_at: float | None = None
    closed_at: float | None = None
    close_code: int | None = None
    ws: ClientConnection | None = None
    _connected: asyncio.Event = field(default_factory=asyncio.Event)
    _subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None
    _beats: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def open(self) -> bool:
        return self.ws is not None and self.closed_at is None

    async def start(self, ws_url: str, wait_s: float) -> None:
        """Open, CONNECT and SUBSCRIBE; raises :class:`ClientFailed` with the reason."""
        try:
            self.ws = await connect(
                ws_url,
                additional_headers={"Authorization": f"Bearer {self.token}"},
                subprotocols=["v12.stomp"],  # type: ignore[list-item]
                open_timeout=wait_s,
                ping_interval=None,
                max_size=2**20,
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise ClientFailed(f"open: {type(exc).__name__}: {exc}") from None
        self._reader = asyncio.create_task(self._read())
        if self.heartbeat > 0:
            # From the open on: a slow CONNECT (a cold worker) must not idle the socket out.
            self._beats = asyncio.create_task(self._heartbeat_loop())
        connect_frame = "CONNECT\naccept-version:1.2\nhost:chatflow\nheart-beat:0,0\n\n\x00"
        subscribe = (
            "SUBSCRIBE\nid:errors\ndestination:/user/queue/errors\n\n\x00"
            f"SUBSCRIBE\nid:{ROOM_SUBSCRIPTION}\ndestination:/topic/rooms/{self.room_id}\n"
            f"receipt:{SUBSCRIBE_RECEIPT}\n\n\x00"
        )
        try:
            await self.ws.send(connect_frame)
            await asyncio.wait_for(self._connected.wait(), wait_s)
            await self.ws.send(subscribe)
            await asyncio.wait_for(self._subscribed.wait(), wait_s)
            if self.closed_at is not None:
                raise ConnectionError(f"closed with {self.close_code}")
        except (TimeoutError, ConnectionError, ConnectionClosed) as exc:
            seen = ", ".join(sorted(self.errors)) or "nothing"
            await self.close()
            raise ClientFailed(f"handshake: {type(exc).__name__} {exc} (seen: {seen})") from None
        self.subscribed_at = time.monotonic()

    async def send_loop(
        self, start: float, duration: float, phase: float, max_unanswered: int
    ) -> None:
        """SENDs due at ``start + phase + k * interval`` until ``duration`` has passed."""
        rec = self.recorder
        k = 0
        while (due := start + phase + k * self.interval) < start + duration:
            k += 1
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if not self.open or self.ws is None:
                return
            if len(self.pending) >= max_unanswered:
                self.skipped += 1
                continue
            body = f"load c{self.index} n{k} {uuid.uuid4().hex[:8]}"
            receipt_id = f"m{k}"
            payload = json.dumps({"body": body, "clientMsgId": uuid.uuid4().hex})
            frame = Frame(
                "SEND",
                [
                    ("destination", f"/app/rooms/{self.room_id}"),
                    ("content-type", "application/json"),
                    ("receipt", receipt_id),
                ],
                payload.encode(),
            )
            now = time.monotonic()
            send = Send(body, now)
            self.pending[receipt_id] = send
            self.sends.append(send)
            rec.sent_at[body] = now
            rec.sends_per_s[rec.second(now)] += 1
            try:
                await self.ws.send(serialize_text(frame))
            except ConnectionClosed:
                return

    async def _heartbeat_loop(self) -> None:
        """A bare EOL every ``heartbeat`` seconds, as stompjs sends, until closed."""
        while not self._stop.is_set() and self.open and self.ws is not None:
            try:
                await asyncio.wait_for(self._stop.wait(), self.heartbeat)
            except TimeoutError:
                try:
                    await self.ws.send("\n")
                except ConnectionClosed:
                    return

    async def close(self) -> None:
        self._stop.set()
        if self.ws is not None:
            await self.ws.close()
        for task in (self._reader, self._beats):
            if task is not None:
                await task

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for data in self.ws:
                now = time.monotonic()
                try:
                    frames = parse(data).frames
                except StompProtocolError:
                    self.errors["unparsable frame"] += 1
                    continue
                for frame in frames:
                    self._on_frame(frame, now)
        except ConnectionClosed:
            pass
        finally:
            self.closed_at = time.monotonic()
            self.close_code = self.ws.close_code
            self._connected.set()  # a handshake still waiting fails at once
            self._subscribed.set()

    def _on_frame(self, frame: Frame, now: float) -> None:
        if frame.command == "MESSAGE":
            body: dict[str, Any] = json.loads(frame.body)
            if frame.header("subscription") == ROOM_SUBSCRIPTION:
                self._on_room_event(body, now)
            else:
                self._on_refusal(body)
        elif frame.command == "RECEIPT":
            self._on_receipt(frame, now)
        elif frame.command == "CONNECTED":
            self._connected.set()
        else:
            self.errors[f"ERROR {frame.header('message', '')}"] += 1

    def _on_room_event(self, body: dict[str, Any], now: float) -> None:
        seq = body.get("seq")
        if not isinstance(seq, int):
            return  # presence and typing are not stored
        rec = self.recorder
        self.arrivals.append(seq)
        self.seen.add(seq)
        text = str(body.get("body"))
        first = rec.bodies.setdefault((self.room_id, seq), text)
        if first != text:
            rec.content_mismatches += 1
        if body.get("type") == "message":
            rec.deliveries_per_s[rec.second(now)] += 1
            sent = rec.sent_at.get(text)
            if sent is not None:
                rec.latencies_ms.append((now - sent) * 1000)

    def _on_receipt(self, frame: Frame, now: float) -> None:
        receipt_id = frame.header("receipt-id")
        if receipt_id == SUBSCRIBE_RECEIPT:
            self._subscribed.set()
            return
        send = self.pending.pop(receipt_id or "", None)
        if send is None:
            return
        send.seq = int(frame.header("x-seq", "0") or 0)
        send.duplicate = frame.header("x-duplicate") == "true"
        self.recorder.receipt_ms.append((now - send.sent_at) * 1000)

    def _on_refusal(self, body: dict[str, Any]) -> None:
        code = str(body.get("code", "unknown"))
        self.errors[f"refused: {code}"] += 1
        send = self.pending.pop(str(body.get("receiptId")), None)
        if send is not None:
            send.refused = code
