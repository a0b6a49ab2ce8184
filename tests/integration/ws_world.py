"""A whole WebSocket world for handler-level scenarios: PostgreSQL, Valkey, moto's
DynamoDB, the recording @connections endpoint, the handlers, and a REST client that
shares the handlers' container (so REST actions reach live subscribers)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chatflow.api.app import create_app
from chatflow.stomp import Frame
from chatflow.ws.connections import ConnectionTable
from chatflow.ws.runtime import Runtime, get_runtime
from local.limits import raised_write_limits_env
from tests.helpers.api import ApiClient, TestUser
from tests.helpers.connections_endpoint import ConnectionsEndpoint
from tests.helpers.ws_harness import Gateway, WsClient, ws_functions
from tests.integration.conftest import JWT_SECRET


@dataclass
class World:
    gateway: Gateway
    api: ApiClient
    runtime: Runtime
    endpoint: ConnectionsEndpoint

    def ticket(self, user: TestUser) -> str:
        response = self.api.call("POST", "/api/auth/ws-ticket", user)
        assert response.status_code == 200, response.text
        ticket: str = response.json()["ticket"]
        return ticket

    def open(self, user: TestUser, subscribe_errors: bool = False) -> WsClient:
        client = self.gateway.connect(ticket=self.ticket(user))
        assert client is not None
        client.send("CONNECT", {"accept-version": "1.2", "heart-beat": "10000,0"})
        assert [f.command for f in client.receive()] == ["CONNECTED"]
        if subscribe_errors:
            client.send("SUBSCRIBE", {"id": "errors", "destination": "/user/queue/errors"})
        return client

    def subscribe(self, client: WsClient, room_id: str, sub_id: str = "r", **extra: str) -> None:
        headers = {"id": sub_id, "destination": f"/topic/rooms/{room_id}", "receipt": "s"}
        headers.update(extra)
        client.send("SUBSCRIBE", headers)

    def say(
        self, client: WsClient, room_id: str, text: str, cmid: str | None = None, receipt: str = "m"
    ) -> None:
        body = json.dumps({"body": text, "clientMsgId": cmid or uuid.uuid4().hex})
        client.send(
            "SEND",
            {
                "destination": f"/app/rooms/{room_id}",
                "receipt": receipt,
                "content-type": "application/json",
            },
            body,
        )


def bodies(frames: list[Frame], kind: str | None = None) -> list[dict[str, Any]]:
    found = []
    for frame in frames:
        if frame.command != "MESSAGE":
            continue
        data: dict[str, Any] = json.loads(frame.body)
        if kind is None or data.get("type") == kind:
            found.append(data)
    return found


@pytest.fixture
def ws_env_overrides() -> dict[str, str]:
    """Environment changes for one module's world (override this fixture)."""
    return {}


@pytest.fixture
def world(
    settings: Any,
    conn_table: ConnectionTable,
    moto_endpoint: str,
    connections_endpoint: ConnectionsEndpoint,
    monkeypatch: pytest.MonkeyPatch,
    ws_env_overrides: dict[str, str],
) -> Iterator[World]:
    env = {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "JWT_SECRET": JWT_SECRET,
        "BCRYPT_ROUNDS": "4",
        "CONNECTIONS_TABLE": conn_table.name,
        "WS_MANAGEMENT_ENDPOINT": connections_endpoint.url,
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_REGION": "us-east-1",
        "RATE_AUTH_BURST": "1000",
        "RATE_SEND_BURST": "1000",
        "RATE_SEND_PER_SECOND": "1000",
        **raised_write_limits_env(),
        "LOG_LEVEL": "WARNING",
        **ws_env_overrides,
    }
    with ws_functions(env, monkeypatch) as modules:
        runtime = get_runtime()
        app = create_app(lambda: runtime.container)
        with TestClient(app, raise_server_exceptions=False) as http:
            yield World(
                Gateway(connections_endpoint, modules),
                ApiClient(http),
                runtime,
                connections_endpoint,
            )
