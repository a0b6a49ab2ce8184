"""JSON logs: one object per line, tagged with the Lambda request id, never a secret.

The account endpoints handle every secret the service knows (passwords, access tokens,
tickets, the signing key), so their logs are read in full, at DEBUG level, through the
real handler and its stdout log handler.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from chatflow.logs import JsonFormatter
from chatflow.settings import Settings
from tests.helpers.events import (
    cold_start,
    function_environment,
    json_body,
    lambda_context,
    rest_proxy_event,
)
from tests.integration.conftest import JWT_SECRET


class LoggedApi:
    """Invokes the handler and keeps what each invocation printed, by request id."""

    def __init__(self, handler: Any, capsys: pytest.CaptureFixture[str]) -> None:
        self._handler = handler
        self._capsys = capsys
        self.lines_by_request: dict[str, list[str]] = {}

    def __call__(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        context = lambda_context("chatflow-api")
        result: dict[str, Any] = self._handler(
            rest_proxy_event(method, path, body, headers), context
        )
        printed = self._capsys.readouterr().out
        self.lines_by_request[context.aws_request_id] = printed.splitlines()
        return result

    @property
    def output(self) -> str:
        return "\n".join(line for lines in self.lines_by_request.values() for line in lines)


@pytest.fixture
def start_logged_api(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[[], LoggedApi]]:
    """Cold-start the handler when called: from the test body, so that the log handler
    it installs writes to the stream ``capsys`` reads during the test call."""
    monkeypatch.delenv("JWT_SECRET_ARN", raising=False)
    env = function_environment(
        settings.database_url, settings.redis_url, JWT_SECRET, log_level="DEBUG"
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with ExitStack() as stack:

        def start() -> LoggedApi:
            module = stack.enter_context(cold_start("handlers.api"))
            capsys.readouterr()  # what the cold start printed belongs to no request
            return LoggedApi(module.handler, capsys)

        yield start


def test_account_flows_log_no_secret(start_logged_api: Callable[[], LoggedApi]) -> None:
    logged_api = start_logged_api()
    first_password, second_password, wrong_password = (
        "first-pa55word",
        "second-pa55word",
        "n0pe-n0pe",
    )
    secrets = [first_password, second_password, wrong_password, JWT_SECRET]

    registered = logged_api(
        "POST", "/api/auth/register", {"username": "dana", "password": first_password}
    )
    assert registered["statusCode"] == 201, registered["body"]
    secrets.append(json_body(registered)["accessToken"])

    login = logged_api("POST", "/api/auth/login", {"username": "dana", "password": first_password})
    assert login["statusCode"] == 200
    token = json_body(login)["accessToken"]
    secrets.append(token)

    refused = logged_api(
        "POST", "/api/auth/login", {"username": "dana", "password": wrong_password}
    )
    assert refused["statusCode"] == 401

    changed = logged_api(
        "PUT",
        "/api/users/me/password",
        {"currentPassword": first_password, "newPassword": second_password},
        token,
    )
    assert changed["statusCode"] == 200, changed["body"]
    token = json_body(changed)["accessToken"]
    secrets.append(token)

    ticket = logged_api("POST", "/api/auth/ws-ticket", token=token)
    assert ticket["statusCode"] == 200, ticket["body"]
    secrets.append(json_body(ticket)["ticket"])

    assert len(logged_api.lines_by_request) == 5
    for request_id, lines in logged_api.lines_by_request.items():
        assert lines, f"invocation {request_id} logged nothing"
        for line in lines:
            entry = json.loads(line)
            assert entry["requestId"] == request_id, line
    output = logged_api.output
    leaked = [i for i, secret in enumerate(secrets) if secret in output]
    assert leaked == [], f"secrets number {leaked} appear in the logs"


def test_formatter_masks_secret_looking_extras() -> None:
    record = logging.getLogger("chatflow.test").makeRecord(
        "chatflow.test",
        logging.INFO,
        __file__,
        1,
        "careless call",
        (),
        None,
        extra={
            "password": "hunter2-hunter2",
            "newPassword": "hunter3-hunter3",
            "accessToken": "eyJ.access.token",
            "ticket": "eyJ.ws.ticket",
            "Authorization": "Bearer eyJ.header",
            "jwt_secret": "the-signing-key",
            "passcode": "stomp-passcode",
            "username": "erin",
            "status": 201,
        },
    )
    line = JsonFormatter("chatflow-test").format(record)
    entry = json.loads(line)
    masked = ["password", "newPassword", "accessToken", "ticket", "Authorization", "jwt_secret"]
    assert {key: entry[key] for key in [*masked, "passcode"]} == dict.fromkeys(
        [*masked, "passcode"], "***"
    )
    assert entry["username"] == "erin"
    assert entry["status"] == 201
    for value in ("hunter2", "hunter3", "eyJ", "the-signing-key", "stomp-passcode"):
        assert value not in line
