"""The local WebSocket API Gateway and its @connections API, on one port.

The WebSocket side runs ``websockets``' sans-I/O protocol over our own streams, which gives
what API Gateway does at the frame level: 32 KB frames and 128 KB messages (close 1009),
binary frames refused (close 1003), fragments reassembled, pings answered. ``$connect``
runs the REQUEST authorizer, then the ``$connect`` function, before the handshake is
answered; the subprotocol is sent back only when ``$connect`` returned one. Each message
is its own invocation of the route's function (concurrently, as on AWS), carrying the
authorizer's context. A failing invocation sends the client API Gateway's
``{"message": "Internal server error", ...}`` and keeps the connection. Idle and lifetime
limits close with 1001; every end of a connection runs ``$disconnect`` with its close code.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from websockets.exceptions import InvalidState
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

from local.apigw_events import (
    ApiInfo,
    WsClient,
    authorizer_event,
    connect_event,
    disconnect_event,
    message_event,
    new_id,
)
from local.http11 import HttpRequest, HttpResponse
from local.template import Authorizer, WebSocketRoute
from local.workers import Console, FunctionPool

FRAME_LIMIT = 32 * 1024
MESSAGE_LIMIT = 128 * 1024
CLOSE_GRACE = 2.0
_MARKER = "/@connections/"


class Connection:
    """One open WebSocket connection: its protocol state, stream and bookkeeping."""

    def __init__(
        self, client: WsClient, protocol: ServerProtocol, writer: asyncio.StreamWriter
    ) -> None:
        self.client = client
        self.protocol = protocol
        self.writer = writer
        self.last_active = time.monotonic()
        self.last_active_epoch = time.time()
        self.opened = time.monotonic()
        self.server_close: tuple[int, str] | None = None
        self._fragments: list[bytes] = []

    @property
    def id(self) -> str:
        return self.client.connection_id

    @property
    def open(self) -> bool:
        return self.protocol.state is State.OPEN

    def touch(self) -> None:
        self.last_active = time.monotonic()
        self.last_active_epoch = time.time()

    def flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.writer.write(chunk)
            elif self.writer.can_write_eof():
                with contextlib.suppress(OSError):
                    self.writer.write_eof()

    def send(self, data: bytes) -> None:
        if _is_text(data):
            self.protocol.send_text(data)
        else:
            self.protocol.send_binary(data)
        self.touch()
        self.flush()

    def close(self, code: int, reason: str) -> None:
        if self.open:
            self.server_close = (code, reason)
            with contextlib.suppress(InvalidState):
                self.protocol.send_close(code, reason)
            self.flush()

    def assemble(self, frame: Frame) -> str | None:
        """The text of a complete message, or None while fragments are still coming."""
        if frame.opcode is Opcode.TEXT:
            self._fragments = [bytes(frame.data)]
        elif frame.opcode is Opcode.CONT:
            self._fragments.append(bytes(frame.data))
        if not frame.fin:
            return None
        data, self._fragments = b"".join(self._fragments), []
        return data.decode("utf-8")

    def close_code(self) -> tuple[int, str]:
        """What ``$disconnect`` reports: who closed, with which code."""
        if self.server_close is not None:
            return self.server_close
        received, sent = self.protocol.close_rcvd, self.protocol.close_sent
        if received is not None and self.protocol.close_rcvd_then_sent is not False:
            return int(received.code), received.reason
        if sent is not None:
            return int(sent.code), sent.reason
        return int(CloseCode.ABNORMAL_CLOSURE), ""


class WebSocketGateway:
    def __init__(
        self,
        routes: Mapping[str, WebSocketRoute],
        authorizer: Authorizer | None,
        pools: Mapping[str, FunctionPool],
        api: ApiInfo,
        console: Console,
        idle_timeout: float,
        max_lifetime: float,
    ) -> None:
        self.routes = routes
        self.authorizer = authorizer
        self.pools = pools
        self.api = api
        self.console = console
        self.idle_timeout = idle_timeout
        self.max_lifetime = max_lifetime
        self.connections: dict[str, Connection] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._named_routes = {k: r for k, r in routes.items() if not k.startswith("$")}

    # -- the @connections API -----------------------------------------------------------

    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        """:meth:`answer` for callers that await a handler."""
        return self.answer(request)

    def answer(self, request: HttpRequest) -> HttpResponse:
        """``POST|GET|DELETE [/{stage}]/@connections/{id}``, answered as API Gateway does.

        Synchronous (nothing here waits), so the port's protocol answers it in a callback.
        """
        path = request.path
        at = path.find(_MARKER)
        if at < 0:
            return HttpResponse.json(426, {"message": "Upgrade Required"}, Upgrade="websocket")
        connection = self.connections.get(path[at + len(_MARKER) :])
        if connection is None or not connection.open:
            return _aws_error(410, "GoneException")
        if request.method == "POST":
            return _post(connection, request.body)
        if request.method == "GET":
            return _describe(connection)
        if request.method == "DELETE":
            connection.close(int(CloseCode.NORMAL_CLOSURE), "")
            return HttpResponse(204)
        return _aws_error(405, "MethodNotAllowedException")

    # -- opening --------------------------------------------------------------------------

    async def handle_upgrade(
        self, request: HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        protocol = ServerProtocol(max_size=(MESSAGE_LIMIT, FRAME_LIMIT))
        protocol.receive_data(request.head)
        events = protocol.events_received()
        handshake = events[0] if events else None
        response = protocol.accept(handshake) if isinstance(handshake, Request) else None
        if response is None or response.status_code != 101:
            protocol.send_response(response or protocol.reject(400, "Bad handshake\n"))
            _write_all(protocol, writer)
            return
        target_query = request.query
        client = WsClient(
            connection_id=new_id(),
            connected_at=int(time.time() * 1000),
            source_ip=request.peer,
            user_agent=request.header("user-agent"),
            headers=[(k, v) for k, v in request.headers if k.lower() != "content-length"],
            query=parse_qsl(target_query, keep_blank_values=True),
        )
        rejection = await self._authorize_and_connect(client, protocol, response)
        if rejection is not None:
            protocol.send_response(rejection)
            _write_all(protocol, writer)
            return
        protocol.send_response(response)
        connection = Connection(client, protocol, writer)
        self.connections[client.connection_id] = connection
        connection.flush()
        try:
            await self._run(connection, reader)
        finally:
            self.connections.pop(client.connection_id, None)
            code, reason = connection.close_code()
            self._spawn(self._disconnect(client, code, reason))

    async def _authorize_and_connect(
        self, client: WsClient, protocol: ServerProtocol, response: Response
    ) -> Response | None:
        """Run the authorizer and ``$connect``; the rejection to send, or None to accept."""
        request_id = new_id()
        if self.authorizer is not None:
            pool = self.pools[self.authorizer.function]
            result = await pool.invoke(authorizer_event(self.api, client, request_id))
            if not result.ok:
                return _reject(protocol, 500, "Internal server error")
            policy = result.payload if isinstance(result.payload, dict) else {}
            if not _allows(policy):
                return _reject(protocol, 403, "Forbidden")
            client.authorizer = {
                **(policy.get("context") or {}),
                "principalId": policy.get("principalId"),
                "integrationLatency": 0,
            }
        route = self.routes.get("$connect")
        if route is None:
            return None
        result = await self.pools[route.function].invoke(
            connect_event(self.api, client, request_id), request_id
        )
        payload = result.payload if isinstance(result.payload, dict) else {}
        status = int(payload.get("statusCode") or 200) if result.ok else 500
        if not 200 <= status < 300:
            return _reject(protocol, status, "Forbidden" if status == 403 else "Refused")
        for key, value in (payload.get("headers") or {}).items():
            if key.lower() == "sec-websocket-protocol":
                response.headers["Sec-WebSocket-Protocol"] = str(value)
        return None

    # -- the open connection ----------------------------------------------------------

    async def _run(self, connection: Connection, reader: asyncio.StreamReader) -> None:
        closing_since: float | None = None
        while connection.protocol.state is not State.CLOSED:
            wait = self._time_left(connection, closing_since)
            try:
                # asyncio.timeout, not wait_for: no extra task for every message read.
                async with asyncio.timeout(max(wait, 0.01)):
                    data = await reader.read(65536)
            except TimeoutError:
                if closing_since is not None:
                    break  # the client never finished the closing handshake
                if self._time_left(connection, None) <= 0:
                    connection.close(int(CloseCode.GOING_AWAY), "Going away")
                    closing_since = time.monotonic()
                continue
            except ConnectionError:
                break
            if data:
                connection.protocol.receive_data(data)
            else:
                connection.protocol.receive_eof()
            for event in connection.protocol.events_received():
                if isinstance(event, Frame):
                    self._on_frame(connection, event)
            connection.flush()
            if not data:
                break
            if connection.protocol.state is State.CLOSING and closing_since is None:
                closing_since = time.monotonic()
        with contextlib.suppress(Exception):
            connection.writer.close()

    def _time_left(self, connection: Connection, closing_since: float | None) -> float:
        now = time.monotonic()
        if closing_since is not None:
            return closing_since + CLOSE_GRACE - now
        idle_end = connection.last_active + self.idle_timeout
        life_end = connection.opened + self.max_lifetime
        return min(idle_end, life_end) - now

    def _on_frame(self, connection: Connection, frame: Frame) -> None:
        if frame.opcode in (Opcode.PING, Opcode.PONG, Opcode.CLOSE):
            return
        connection.touch()
        if frame.opcode is Opcode.BINARY:
            connection.close(int(CloseCode.UNSUPPORTED_DATA), "Binary frames are not supported")
            return
        text = connection.assemble(frame)
        if text is not None and connection.open:
            self._spawn(self._message(connection.client, text))

    async def _message(self, client: WsClient, body: str) -> None:
        route = self._select_route(body)
        if route is None:
            return
        request_id = new_id()
        event = message_event(self.api, client, route.route_key, body, request_id)
        result = await self.pools[route.function].invoke(event, request_id)
        connection = self.connections.get(client.connection_id)
        if connection is None or not connection.open:
            return
        if not result.ok:
            error = {
                "message": "Internal server error",
                "connectionId": client.connection_id,
                "requestId": request_id,
            }
            connection.send(json.dumps(error).encode())
        elif route.two_way and isinstance(result.payload, dict) and result.payload.get("body"):
            connection.send(str(result.payload["body"]).encode())

    def _select_route(self, body: str) -> WebSocketRoute | None:
        """``$request.body.action`` when a message is JSON naming a route; else ``$default``."""
        named = self._named_routes
        if named:
            with contextlib.suppress(ValueError, AttributeError):
                action = json.loads(body).get("action")
                if isinstance(action, str) and action in named:
                    return named[action]
        return self.routes.get("$default")

    async def _disconnect(self, client: WsClient, code: int, reason: str) -> None:
        route = self.routes.get("$disconnect")
        if route is None:
            return
        request_id = new_id()
        event = disconnect_event(self.api, client, code, reason, request_id)
        await self.pools[route.function].invoke(event, request_id)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close_every(self, code: int, reason: str) -> int:
        """Close every open connection with ``code``; how many there were."""
        open_now = [c for c in self.connections.values() if c.open]
        for connection in open_now:
            connection.close(code, reason)
        return len(open_now)

    async def close_all(self) -> None:
        """Stop: tell every client the server is going away; let in-flight events finish."""
        for connection in list(self.connections.values()):
            connection.close(int(CloseCode.GOING_AWAY), "Going away")
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)


def _post(connection: Connection, data: bytes) -> HttpResponse:
    if len(data) > MESSAGE_LIMIT:
        return _aws_error(413, "PayloadTooLargeException")
    connection.send(data)
    return HttpResponse(200, b"", [("Content-Type", "application/json")])


def _is_text(data: bytes) -> bool:
    """Whether a posted message goes out as a text frame (valid UTF-8) or a binary one."""
    if data.isascii():  # STOMP frames almost always are; no decoding needed to tell
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _describe(connection: Connection) -> HttpResponse:
    client = connection.client
    return HttpResponse.json(
        200,
        {
            "connectedAt": _iso(client.connected_at / 1000),
            "lastActiveAt": _iso(connection.last_active_epoch),
            "identity": {"sourceIp": client.source_ip, "userAgent": client.user_agent},
        },
    )


def _allows(policy: dict[str, Any]) -> bool:
    statements = (policy.get("policyDocument") or {}).get("Statement") or []
    effects = {str(s.get("Effect", "")).lower() for s in statements if isinstance(s, dict)}
    return "allow" in effects and "deny" not in effects


def _reject(protocol: ServerProtocol, status: int, message: str) -> Response:
    response = protocol.reject(status, json.dumps({"message": message}))
    response.headers["Content-Type"] = "application/json"
    return response


def _write_all(protocol: ServerProtocol, writer: asyncio.StreamWriter) -> None:
    for chunk in protocol.data_to_send():
        if chunk:
            writer.write(chunk)


def _aws_error(status: int, name: str) -> HttpResponse:
    return HttpResponse.json(status, {"message": None}, x_amzn_ErrorType=name)


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
