"""Lambda events and contexts for tests, in the shapes AWS sends them.

One module for every event a handler can receive, so a change in what API Gateway sends
is made once. The REST proxy shape follows the payload 1.0 samples published by AWS
(aws-lambda-go ``events/testdata/apigw-request.json``, powertools
``tests/events/apiGatewayProxyEvent.json``): single-value maps hold the last value of a
repeated header or query parameter, the multi-value maps hold all of them, and empty
query maps are ``None``, not ``{}``.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
REST_API_ID = "a1b2c3d4e5"
STAGE = "prod"
USER_AGENT = "chatflow-tests/1.0"

# -- Lambda context -------------------------------------------------------------------


@dataclass
class LambdaContext:
    """The attributes of the Python runtime's context object that handlers may read."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    timeout_ms: int = 30_000
    _deadline: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_ms / 1000

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"2024/01/01/[{self.function_version}]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_context(function_name: str = "chatflow-api") -> LambdaContext:
    """A fresh context with its own ``aws_request_id``, as each invocation gets."""
    return LambdaContext(function_name)


# -- REST API (payload 1.0) proxy integration -----------------------------------------

HeaderValues = str | Sequence[str]


def _multi(values: Mapping[str, HeaderValues]) -> dict[str, list[str]]:
    return {k: [v] if isinstance(v, str) else list(v) for k, v in values.items()}


def rest_proxy_event(
    method: str,
    path: str,
    body: Any = None,
    headers: Mapping[str, HeaderValues] | None = None,
    query: Mapping[str, HeaderValues] | None = None,
    source_ip: str = "203.0.113.9",
) -> dict[str, Any]:
    """A ``/{proxy+}`` REST API event for ``method path``.

    ``body`` may be a string (sent as is, so malformed JSON can be sent) or any other
    value (sent as JSON with ``Content-Type: application/json``). ``path`` may carry a
    query string; ``query`` adds to it.
    """
    raw_path, _, raw_query = path.partition("?")
    params: dict[str, list[str]] = {}
    for pair in filter(None, raw_query.split("&")):
        key, _, value = pair.partition("=")
        params.setdefault(key, []).append(value)
    for key, values in _multi(query or {}).items():
        params.setdefault(key, []).extend(values)

    text: str | None
    sent: dict[str, list[str]] = {
        "Accept": ["*/*"],
        "Host": [f"{REST_API_ID}.execute-api.{REGION}.amazonaws.com"],
        "User-Agent": [USER_AGENT],
        "X-Amzn-Trace-Id": [f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}"],
        "X-Forwarded-For": [source_ip],
        "X-Forwarded-Port": ["443"],
        "X-Forwarded-Proto": ["https"],
    }
    if body is None:
        text = None
    else:
        text = body if isinstance(body, str) else json.dumps(body)
        sent["Content-Type"] = ["application/json"]
        sent["Content-Length"] = [str(len(text.encode()))]
    sent.update(_multi(headers or {}))

    proxy = raw_path.lstrip("/")
    return {
        "resource": "/{proxy+}",
        "path": raw_path,
        "httpMethod": method.upper(),
        "headers": {k: v[-1] for k, v in sent.items()},
        "multiValueHeaders": sent,
        "queryStringParameters": {k: v[-1] for k, v in params.items()} or None,
        "multiValueQueryStringParameters": params or None,
        "pathParameters": {"proxy": proxy} if proxy else None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": REST_API_ID,
            "domainName": f"{REST_API_ID}.execute-api.{REGION}.amazonaws.com",
            "domainPrefix": REST_API_ID,
            "extendedRequestId": uuid.uuid4().hex[:16] + "=",
            "httpMethod": method.upper(),
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": source_ip,
                "user": None,
                "userAgent": USER_AGENT,
                "userArn": None,
            },
            "path": f"/{STAGE}{raw_path}",
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "requestTimeEpoch": int(time.time() * 1000),
            "resourceId": "abc123",
            "resourcePath": "/{proxy+}",
            "stage": STAGE,
        },
        "body": text,
        "isBase64Encoded": False,
    }


def json_body(result: Mapping[str, Any]) -> Any:
    """The decoded body of a proxy result."""
    return json.loads(result["body"])


# -- WebSocket API events -------------------------------------------------------------
# Built from the events captured from a real WebSocket API (tests/data/aws-events): the
# REQUEST authorizer's input, the $connect event (the authorizer request's headers, query
# and context plus the authorizer's output), $default and $disconnect.

WS_API_ID = "gy415nuibc"
WS_STAGE = "prod"
_SAMPLES = Path(__file__).resolve().parents[1] / "data" / "aws-events"


def _sample(name: str) -> dict[str, Any]:
    """A fresh copy of a captured event (tests/data/aws-events, see its README)."""
    loaded: dict[str, Any] = json.loads((_SAMPLES / name).read_text())
    return loaded


def _ws_context(
    route: str, event_type: str, connection_id: str, connected_at: int
) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {
        "routeKey": route,
        "eventType": event_type,
        "extendedRequestId": uuid.uuid4().hex[:16],
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
        "messageDirection": "IN",
        "stage": WS_STAGE,
        "connectedAt": connected_at,
        "requestTimeEpoch": now,
        "identity": {"userAgent": USER_AGENT, "sourceIp": "203.0.113.7"},
        "requestId": uuid.uuid4().hex[:16],
        "domainName": f"{WS_API_ID}.execute-api.{REGION}.amazonaws.com",
        "connectionId": connection_id,
        "apiId": WS_API_ID,
    }


def ws_authorizer_event(
    connection_id: str,
    ticket: str | None = None,
    authorization: str | None = None,
    protocols: str | None = "v12.stomp, v11.stomp, v10.stomp",
) -> dict[str, Any]:
    """The REQUEST authorizer's input on ``$connect``."""
    event = _sample("websocket-authorizer-request.json")
    connected_at = int(time.time() * 1000)
    headers: dict[str, str] = {
        k: v for k, v in event["headers"].items() if k != "Sec-WebSocket-Protocol"
    }
    headers["Host"] = f"{WS_API_ID}.execute-api.{REGION}.amazonaws.com"
    if protocols is not None:
        headers["Sec-WebSocket-Protocol"] = protocols
    if authorization is not None:
        headers["Authorization"] = authorization
    event["headers"] = headers
    event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    query = {"ticket": ticket} if ticket is not None else None
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    event["methodArn"] = (
        f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{WS_API_ID}/{WS_STAGE}/$connect"
    )
    event["requestContext"] = _ws_context("$connect", "CONNECT", connection_id, connected_at)
    return event


def ws_authorizer_output(policy: Mapping[str, Any]) -> dict[str, Any]:
    """What API Gateway puts in ``requestContext.authorizer`` of the connection's events."""
    return {
        "principalId": policy["principalId"],
        "integrationLatency": 12,
        **dict(policy.get("context") or {}),
    }


def ws_connect_event(
    authorizer_event: Mapping[str, Any], authorizer: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``$connect`` integration's event: the authorizer's request plus its output."""
    context = dict(authorizer_event["requestContext"])
    context["authorizer"] = dict(authorizer)
    return {
        "headers": dict(authorizer_event["headers"]),
        "multiValueHeaders": dict(authorizer_event["multiValueHeaders"]),
        "queryStringParameters": authorizer_event.get("queryStringParameters"),
        "multiValueQueryStringParameters": authorizer_event.get("multiValueQueryStringParameters"),
        "requestContext": context,
        "isBase64Encoded": False,
    }


def ws_message_event(
    connection_id: str, body: str, connected_at: int, authorizer: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A ``$default`` event (no headers, as captured)."""
    event = _sample("websocket-message.json")
    context = _ws_context("$default", "MESSAGE", connection_id, connected_at)
    context["messageId"] = uuid.uuid4().hex[:16]
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    event["requestContext"] = context
    event["body"] = body
    event["isBase64Encoded"] = False
    return event


def ws_disconnect_event(
    connection_id: str,
    connected_at: int,
    authorizer: Mapping[str, Any] | None,
    status_code: int = 1001,
    reason: str = "",
) -> dict[str, Any]:
    event = _sample("websocket-disconnect.json")
    context = _ws_context("$disconnect", "DISCONNECT", connection_id, connected_at)
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    event["requestContext"] = context
    return event


# -- Cold starts ----------------------------------------------------------------------


def function_environment(
    database_url: str, redis_url: str, jwt_secret: str, **overrides: str
) -> dict[str, str]:
    """The environment variables a deployment gives the functions (README.md, "Settings").

    ``overrides`` take setting names in any case (``rate_auth_burst="2"``).
    """
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "JWT_SECRET": jwt_secret,
        "BCRYPT_ROUNDS": "4",
        "LOG_LEVEL": "INFO",
    }
    env.update({k.upper(): v for k, v in overrides.items()})
    return env


@contextmanager
def cold_start(module_name: str) -> Iterator[ModuleType]:
    """Import a handler module as a new Lambda container would, and clean up after it.

    Handler modules read the environment and configure logging at import, so the
    cached settings and container are cleared first and the module is (re)imported
    afterwards. On exit the container's connections are closed and the root logger's
    handlers are restored, so no later test writes into a closed capture stream.
    """
    from chatflow.process import get_container
    from chatflow.settings import get_settings

    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    get_settings.cache_clear()
    get_container.cache_clear()
    try:
        if module_name in sys.modules:
            yield importlib.reload(sys.modules[module_name])
        else:
            yield importlib.import_module(module_name)
    finally:
        if get_container.cache_info().currsize:
            container = get_container()
            container.db.close()
            container.cache.close()
        get_container.cache_clear()
        get_settings.cache_clear()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
