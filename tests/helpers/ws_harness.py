"""An in-process stand-in for API Gateway's WebSocket side, for handler-level tests.

It does what API Gateway does around the handlers — runs the REQUEST authorizer on
``$connect``, passes its context on every later event, hands each inbound message to
``$default`` and calls ``$disconnect`` — with events in the captured shapes
(``tests.helpers.events``). Outbound frames are what the handlers POSTed to the recording
@connections endpoint; a DELETE there closes the connection.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from chatflow.stomp import Frame, parse, serialize
from tests.helpers.connections_endpoint import ConnectionsEndpoint
from tests.helpers.events import (
    lambda_context,
    ws_authorizer_event,
    ws_authorizer_output,
    ws_connect_event,
    ws_disconnect_event,
    ws_message_event,
)

WS_HANDLERS = (
    "handlers.ws_authorizer",
    "handlers.ws_connect",
    "handlers.ws_frame",
    "handlers.ws_disconnect",
    "handlers.presence_sweeper",
    "handlers.fanout_worker",
)


@dataclass
class WsClient:
    gateway: Gateway
    connection_id: str
    authorizer: dict[str, Any]
    connected_at: int
    subprotocol: str | None
    _seen: int = 0
    inbox: list[Frame] = field(default_factory=list)

    def send_raw(self, data: str) -> None:
        self.gateway.message(self, data)

    def send(self, command: str, headers: dict[str, str] | None = None, body: str = "") -> None:
        frame = Frame(command, list((headers or {}).items()), body.encode())
        self.send_raw(serialize(frame).decode())

    def receive(self) -> list[Frame]:
        """Frames posted to this connection since the last call."""
        posts = self.gateway.endpoint.delivered().get(self.connection_id, [])
        fresh: list[Frame] = []
        for data in posts[self._seen :]:
            fresh.extend(parse(data).frames)
        self._seen = len(posts)
        self.inbox.extend(fresh)
        return fresh

    @property
    def closed(self) -> bool:
        return self.connection_id in self.gateway.endpoint.deleted

    def disconnect(self, status: int = 1000) -> None:
        self.gateway.disconnect(self, status)


class Gateway:
    def __init__(self, endpoint: ConnectionsEndpoint, modules: dict[str, ModuleType]) -> None:
        self.endpoint = endpoint
        self.modules = modules

    def _call(self, name: str, event: dict[str, Any]) -> Any:
        return self.modules[name].handler(event, lambda_context(name.rsplit(".", maxsplit=1)[-1]))

    def connect(
        self,
        ticket: str | None = None,
        bearer: str | None = None,
        protocols: str | None = "v12.stomp, v11.stomp, v10.stomp",
    ) -> WsClient | None:
        """Open a connection; None when the authorizer denies it (HTTP 403 for the client)."""
        cid = uuid.uuid4().hex[:12] + "="
        auth_event = ws_authorizer_event(
            cid, ticket, f"Bearer {bearer}" if bearer else None, protocols
        )
        policy = self._call("handlers.ws_authorizer", auth_event)
        effect = policy["policyDocument"]["Statement"][0]["Effect"]
        if effect != "Allow":
            return None
        authorizer = ws_authorizer_output(policy)
        result = self._call("handlers.ws_connect", ws_connect_event(auth_event, authorizer))
        if result.get("statusCode") != 200:
            return None
        protocol = (result.get("headers") or {}).get("Sec-WebSocket-Protocol")
        connected_at = int(auth_event["requestContext"]["connectedAt"])
        return WsClient(self, cid, authorizer, connected_at, protocol)

    def message(self, client: WsClient, data: str) -> None:
        if client.closed:
            raise ConnectionError(f"connection {client.connection_id} is closed")
        event = ws_message_event(client.connection_id, data, client.connected_at, client.authorizer)
        result = self._call("handlers.ws_frame", event)
        assert result == {"statusCode": 200}
        if client.closed:
            self.disconnect(client, 1005)

    def disconnect(self, client: WsClient, status: int = 1000) -> None:
        event = ws_disconnect_event(
            client.connection_id, client.connected_at, client.authorizer, status
        )
        self._call("handlers.ws_disconnect", event)


@contextmanager
def ws_functions(env: dict[str, str], monkeypatch: Any) -> Iterator[dict[str, ModuleType]]:
    """Import the WebSocket handlers as a fresh Lambda container would, with ``env``."""
    from chatflow.process import get_container
    from chatflow.settings import get_settings
    from chatflow.ws.runtime import get_runtime

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    get_settings.cache_clear()
    get_container.cache_clear()
    get_runtime.cache_clear()
    modules: dict[str, ModuleType] = {}
    try:
        for name in WS_HANDLERS:
            if name in sys.modules:
                modules[name] = importlib.reload(sys.modules[name])
            else:
                modules[name] = importlib.import_module(name)
        yield modules
    finally:
        if get_runtime.cache_info().currsize:
            runtime = get_runtime()
            runtime.container.db.close()
            runtime.container.cache.close()
        get_runtime.cache_clear()
        get_settings.cache_clear()
        get_container.cache_clear()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def wait_until(predicate: Any, attempts: int = 50) -> bool:
    """Poll a condition a bounded number of times (fan-out posts run on threads)."""
    for _ in range(attempts):
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())
