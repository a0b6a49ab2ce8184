"""Just enough HTTP/1.1 for the local gateway: requests with a Content-Length body, keep-alive.

The WebSocket port must answer both WebSocket upgrades and the @connections API (POST with
a body) on one socket, and no server at hand does both with per-frame control of the
WebSocket side; so both ports read requests with this small parser, and the WebSocket
port hands upgrades to ``websockets``' sans-I/O protocol (see :mod:`local.websocket`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 10 * 1024 * 1024


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class HttpRequest:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    head: bytes  # the raw request head, for the WebSocket handshake
    body: bytes = b""
    peer: str = "127.0.0.1"

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.target).path)

    @property
    def raw_path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        return urlsplit(self.target).query

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        found = [value for key, value in self.headers if key.lower() == lowered]
        return ", ".join(found) if found else None

    @property
    def keep_alive(self) -> bool:
        connection = (self.header("connection") or "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection

    @property
    def is_upgrade(self) -> bool:
        return (self.header("upgrade") or "").lower() == "websocket"


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, status: int, document: object, **headers: str) -> HttpResponse:
        extra = [(k.replace("_", "-"), v) for k, v in headers.items()]
        return cls(
            status, json.dumps(document).encode(), [("Content-Type", "application/json"), *extra]
        )

    def serialize(self, keep_alive: bool, head_only: bool = False) -> bytes:
        reason = (
            HTTPStatus(self.status).phrase if self.status in HTTPStatus._value2member_map_ else ""
        )
        lines = [f"HTTP/1.1 {self.status} {reason}"]
        names = {key.lower() for key, _ in self.headers}
        lines += [f"{key}: {value}" for key, value in self.headers]
        if "content-length" not in names and self.status not in (204, 304):
            lines.append(f"Content-Length: {len(self.body)}")
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only or self.status in (204, 304) else head + self.body


async def read_request(reader: asyncio.StreamReader, peer: str) -> HttpRequest | None:
    """The next request on the connection; None when the client closed it."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise HttpError(400, "incomplete request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise HttpError(431, "request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ", 2)
    except ValueError:
        raise HttpError(400, "malformed request line") from None
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(400, "malformed header")
        headers.append((name.strip(), value.strip()))
    request = HttpRequest(method.upper(), target, version, headers, head, peer=peer)
    if request.header("transfer-encoding"):
        raise HttpError(411, "send a Content-Length")
    length = int(request.header("content-length") or 0)
    if length > MAX_BODY:
        raise HttpError(413, "request body too large")
    if length:
        request.body = await reader.readexactly(length)
    return request


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]
Upgrade = Callable[[HttpRequest, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    handler: Handler,
    upgrade: Upgrade | None = None,
) -> None:
    """Answer requests on one connection until it closes; hand a WebSocket upgrade over."""
    peer_info = writer.get_extra_info("peername")
    peer = str(peer_info[0]) if peer_info else "127.0.0.1"
    try:
        while True:
            try:
                request = await read_request(reader, peer)
            except HttpError as exc:
                writer.write(HttpResponse.json(exc.status, {"message": str(exc)}).serialize(False))
                break
            if request is None:
                break
            if request.is_upgrade and upgrade is not None:
                await upgrade(request, reader, writer)
                return
            response = await handler(request)
            keep_alive = request.keep_alive
            writer.write(response.serialize(keep_alive, head_only=request.method == "HEAD"))
            await writer.drain()
            if not keep_alive:
                break
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
            await writer.wait_closed()
