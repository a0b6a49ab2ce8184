"""The REST API and the migration step through their real Lambda handlers.

The other API tests call the FastAPI app directly; these go through ``handlers.api``
as Lambda runs it: settings from the environment at import, a REST proxy event in,
a proxy result out. That covers what Mangum adds (the caller's address, the request
id from the Lambda context, the result shape) and the handler's own wiring.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import psycopg
import pytest

from chatflow.db.migrate import discover
from chatflow.settings import Settings
from tests.helpers.events import (
    cold_start,
    function_environment,
    json_body,
    lambda_context,
    rest_proxy_event,
)
from tests.integration.conftest import JWT_SECRET

Invoke = Callable[..., dict[str, Any]]


@pytest.fixture
def start_api(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> Iterator[Callable[..., Invoke]]:
    """Cold-start ``handlers.api`` with extra environment; returns a proxy-event caller."""
    with ExitStack() as stack:

        def start(**env: str) -> Invoke:
            monkeypatch.delenv("JWT_SECRET_ARN", raising=False)
            values = function_environment(
                settings.database_url, settings.redis_url, JWT_SECRET, **env
            )
            for key, value in values.items():
                monkeypatch.setenv(key, value)
            module = stack.enter_context(cold_start("handlers.api"))

            def invoke(
                method: str,
                path: str,
                body: Any = None,
                token: str | None = None,
                source_ip: str = "203.0.113.9",
                request_id: str | None = None,
            ) -> dict[str, Any]:
                headers = {"Authorization": f"Bearer {token}"} if token else None
                event = rest_proxy_event(method, path, body, headers, source_ip=source_ip)
                context = lambda_context("chatflow-api")
                if request_id is not None:
                    context.aws_request_id = request_id
                result: dict[str, Any] = module.handler(event, context)
                return result

            return invoke

        yield start


@pytest.fixture
def invoke(start_api: Callable[..., Invoke]) -> Invoke:
    return start_api()


def test_a_conversation_through_proxy_events(invoke: Invoke) -> None:
    credentials = {"username": "alice", "password": "alice-password"}
    registered = invoke("POST", "/api/auth/register", {**credentials, "displayName": "Alice"})
    assert registered["statusCode"] == 201, registered["body"]
    assert registered["headers"]["content-type"] == "application/json"
    assert registered["isBase64Encoded"] is False
    assert isinstance(registered["body"], str)

    login = invoke("POST", "/api/auth/login", {"username": "ALICE", "password": "alice-password"})
    assert login["statusCode"] == 200
    token = json_body(login)["accessToken"]

    created = invoke("POST", "/api/rooms", {"name": "general", "visibility": "public"}, token)
    assert created["statusCode"] == 201, created["body"]
    room = json_body(created)
    assert room["role"] == "owner"

    client_msg_id = str(uuid.uuid4())
    posted = invoke(
        "POST",
        f"/api/rooms/{room['id']}/messages",
        {"body": "hello, world", "clientMsgId": client_msg_id},
        token,
    )
    assert posted["statusCode"] == 201, posted["body"]
    message = json_body(posted)
    assert message["sender"]["username"] == "alice"

    history = invoke("GET", f"/api/rooms/{room['id']}/messages?limit=10", token=token)
    assert history["statusCode"] == 200
    items = json_body(history)["items"]
    assert [(m["seq"], m["body"]) for m in items if m["type"] == "message"] == [
        (message["seq"], "hello, world")
    ]


def test_unknown_route_is_a_404_problem(invoke: Invoke) -> None:
    result = invoke("GET", "/api/no-such-thing")
    assert result["statusCode"] == 404
    assert result["headers"]["content-type"] == "application/problem+json"
    assert result["isBase64Encoded"] is False
    assert json_body(result)["status"] == 404


def test_malformed_json_is_a_400_problem(invoke: Invoke) -> None:
    result = invoke("POST", "/api/auth/register", '{"username": "bob", "password": ')
    assert result["statusCode"] == 400
    assert result["headers"]["content-type"] == "application/problem+json"
    assert json_body(result)["type"].endswith("/malformed-json")


def test_request_id_is_the_lambda_request_id(invoke: Invoke) -> None:
    request_id = str(uuid.uuid4())
    result = invoke("GET", "/api/health", request_id=request_id)
    assert result["statusCode"] == 200, result["body"]
    assert result["headers"]["x-request-id"] == request_id


def test_auth_rate_limit_is_per_source_ip(start_api: Callable[..., Invoke]) -> None:
    invoke = start_api(rate_auth_burst="2", rate_auth_per_minute="1")
    credentials = {"username": "carol", "password": "carol-password"}
    busy, other = "198.51.100.7", "198.51.100.8"

    assert invoke("POST", "/api/auth/register", credentials, source_ip=busy)["statusCode"] == 201
    assert invoke("POST", "/api/auth/login", credentials, source_ip=busy)["statusCode"] == 200
    limited = invoke("POST", "/api/auth/login", credentials, source_ip=busy)
    assert limited["statusCode"] == 429
    assert limited["headers"]["content-type"] == "application/problem+json"
    assert int(limited["headers"]["retry-after"]) >= 1

    assert invoke("POST", "/api/auth/login", credentials, source_ip=other)["statusCode"] == 200


# -- migrations -----------------------------------------------------------------------


def _custom_resource_event(request_type: str, physical_id: str | None = None) -> dict[str, Any]:
    """A CloudFormation custom resource request as the provider framework passes it on."""
    stack = "arn:aws:cloudformation:us-east-1:123456789012:stack/chatflow/1a2b3c4d"
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:chatflow-migrate",
        "ResponseURL": "https://cloudformation-custom-resource-response.example/",
        "StackId": stack,
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": "Schema",
        "ResourceType": "Custom::ChatFlowSchema",
        "ResourceProperties": {"Version": "1"},
    }
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id
    return event


@pytest.fixture
def empty_database_url(pg_server_url: str) -> Iterator[str]:
    """A database of its own with nothing in it, dropped afterwards."""
    name = f"chatflow_migrate_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield psycopg.conninfo.make_conninfo(pg_server_url, dbname=name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {str(row[0]) for row in rows}


@pytest.fixture
def migrate_handler(
    monkeypatch: pytest.MonkeyPatch, empty_database_url: str, redis_url: str
) -> Iterator[Callable[[dict[str, Any]], dict[str, Any]]]:
    monkeypatch.delenv("JWT_SECRET_ARN", raising=False)
    for key, value in function_environment(empty_database_url, redis_url, JWT_SECRET).items():
        monkeypatch.setenv(key, value)
    with cold_start("handlers.migrate") as module:

        def run(event: dict[str, Any]) -> dict[str, Any]:
            result: dict[str, Any] = module.handler(event, lambda_context("chatflow-migrate"))
            return result

        yield run


def test_migrations_apply_once(
    migrate_handler: Callable[[dict[str, Any]], dict[str, Any]], empty_database_url: str
) -> None:
    versions = [m.version for m in discover()]
    first = migrate_handler(_custom_resource_event("Create"))
    assert first["applied"] == versions
    assert first["Data"] == {"applied": len(versions)}
    assert {"users", "rooms", "room_members", "messages"} <= _tables(empty_database_url)

    again = migrate_handler(_custom_resource_event("Update", first["PhysicalResourceId"]))
    assert again["applied"] == []
    assert again["Data"] == {"applied": 0}
    assert again["PhysicalResourceId"] == first["PhysicalResourceId"]

    assert migrate_handler({})["applied"] == []


def test_stack_deletion_leaves_the_database_alone(
    migrate_handler: Callable[[dict[str, Any]], dict[str, Any]], empty_database_url: str
) -> None:
    result = migrate_handler(_custom_resource_event("Delete", "chatflow-schema"))
    assert result == {"PhysicalResourceId": "chatflow-schema"}
    assert _tables(empty_database_url) == set()
