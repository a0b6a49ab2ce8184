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
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from http import HTTPStatus
from urllib.parse import SplitResult, unquote, urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 10 * 1024 * 1024
# API Gateway (behind CloudFront) refuses longer request targets with 414 URI Too Long.
MAX_TARGET = 8192
_REASONS = {status.value: status.phrase for status in HTTPStatus}
log = logging.getLogger("local.http")


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class HttpRequest:
    """One request. Its path and headers are looked up several times per request (every
    @connections POST of a fan-out comes through here), so both are worked out once."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    head: bytes  # the raw request head, for the WebSocket handshake
    body: bytes = b""
    peer: str = "127.0.0.1"

    @cached_property
    def _split(self) -> SplitResult | None:
        """None for the common origin-form target: a path alone, no query or fragment."""
        target = self.target
        plain = "?" not in target and "#" not in target and "\t" not in target
        if plain and target[:1] == "/" and target[:2] != "//":
            return None
        return urlsplit(target)

    @cached_property
    def path(self) -> str:
        split = self._split
        return unquote(self.target if split is None else split.path)

    @property
    def raw_path(self) -> str:
        split = self._split
        return self.target if split is None else split.path

    @property
    def query(self) -> str:
        split = self._split
        return "" if split is None else split.query

    @cached_property
    def _fields(self) -> dict[str, str]:
        """Header values by lower-case name; repeated fields joined with ", "."""
        fields: dict[str, str] = {}
        for key, value in self.headers:
            name = key.lower()
            fields[name] = f"{fields[name]}, {value}" if name in fields else value
        return fields

    def header(self, name: str) -> str | None:
        return self._fields.get(name.lower())

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
        lines = [f"HTTP/1.1 {self.status} {_REASONS.get(self.status, '')}"]
        names = {key.lower() for key, _ in self.headers}
        lines += [f"{key}: {value}" for key, value in self.headers]
        if "content-length" not in names and self.status not in (204, 304):
            lines.append(f"Content-Length: {len(self.body)}")
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only or self.status in (204, 304) else head + self.body


def parse_head(head: bytes, peer: str) -> HttpRequest:
    """The request line and header fields of a head ending with an empty line."""
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ", 2)
    except ValueError:
        raise HttpError(400, "malformed request line") from None
    check_target(target)
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(400, "malformed header")
        headers.append((name.strip(), value.strip()))
    return HttpRequest(method.upper(), target, version, headers, head, peer=peer)


def check_target(target: str) -> None:
    """Refuse, as API Gateway does, a request target nothing behind the gateway can take.

    A percent-encoded NUL in the path cannot be part of a file name or of a route
    (``Path`` raises ValueError on it), and raw control characters are not allowed in a
    request target at all (RFC 9112): both are 400. A NUL in the query string goes on to
    the function, whose validation answers it (422 for a search, say). A target over
    :data:`MAX_TARGET` bytes is 414. Percent-escapes that are not UTF-8 are left to the
    handlers: ``unquote`` replaces them with U+FFFD. A target whose authority does not parse
    (``//[``) is 400 too: ``urlsplit`` raises on it, which would drop the connection later.
    """
    if len(target) > MAX_TARGET:
        raise HttpError(414, "URI Too Long")
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in target):
        raise HttpError(400, "Bad Request")
    try:
        path = urlsplit(target).path
    except ValueError:  # an authority that does not parse: "//[", "http://[::1/"
        raise HttpError(400, "Bad Request") from None
    if "\x00" in unquote(path):
        raise HttpError(400, "Bad Request")


def body_length(request: HttpRequest) -> int:
    """How many body bytes follow the head: Content-Length only, at most MAX_BODY."""
    if request.header("transfer-encoding"):
        raise HttpError(411, "send a Content-Length")
    text = request.header("content-length") or "0"
    # ASCII digits only: int() would also take "+5", "5_0", " 5" and "²" is refused anyway
    if not (text.isascii() and text.isdigit()):
        raise HttpError(400, "malformed Content-Length")
    length = int(text)
    if length > MAX_BODY:
        raise HttpError(413, "request body too large")
    return length


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
    request = parse_head(head, peer)
    length = body_length(request)
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
            keep_alive = request.keep_alive
            try:
                response = await handler(request)
            except Exception:
                # As the WebSocket port does (local/http_protocol.py): an answer, not a
                # connection dropped without one.
                log.exception("request %s %s failed", request.method, request.target)
                response = HttpResponse.json(500, {"message": "Internal server error"})
                keep_alive = False
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
