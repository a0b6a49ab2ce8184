"""The events API Gateway hands to Lambda, in the shapes it really sends.

REST proxy events follow payload format 1.0 (single-value maps keep the last value, empty
query maps are null); WebSocket events follow the captured samples in tests/data/aws-events:
``$connect`` and the REQUEST authorizer's input carry the handshake's headers and query,
``$default`` carries none, ``$disconnect`` carries a few plus the close code and reason.
Ids look like API Gateway's (base64 text), because handlers may log or store them.
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from local.http11 import HttpRequest

ACCOUNT_ID = "000000000000"


def new_id() -> str:
    """An id in API Gateway's style: 16 characters of URL-safe base64."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode()


def request_time(epoch_ms: int) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000))


def _multi(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        single[key] = value
        multi.setdefault(key, []).append(value)
    return single, multi


@dataclass(frozen=True)
class ApiInfo:
    api_id: str
    stage: str
    domain: str
    region: str = "us-east-1"


def _body(data: bytes) -> tuple[str | None, bool]:
    if not data:
        return None, False
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(data).decode(), True


def rest_event(
    request: HttpRequest,
    api: ApiInfo,
    resource: str,
    path_parameters: dict[str, str] | None,
    request_id: str,
) -> dict[str, Any]:
    """A REST API proxy event (payload 1.0) for ``request`` matched to ``resource``."""
    headers, multi_headers = _multi(request.headers)
    query, multi_query = _multi(parse_qsl(request.query, keep_blank_values=True))
    body, encoded = _body(request.body)
    now = int(time.time() * 1000)
    user_agent = request.header("user-agent")
    return {
        "resource": resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": api.api_id,
            "domainName": api.domain,
            "domainPrefix": api.api_id,
            "extendedRequestId": new_id(),
            "httpMethod": request.method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": request.peer,
                "user": None,
                "userAgent": user_agent,
                "userArn": None,
            },
            "path": f"/{api.stage}{request.path}",
            "protocol": request.version,
            "requestId": request_id,
            "requestTime": request_time(now),
            "requestTimeEpoch": now,
            "resourceId": new_id()[:6].lower(),
            "resourcePath": resource,
            "stage": api.stage,
        },
        "body": body,
        "isBase64Encoded": encoded,
    }


@dataclass
class WsClient:
    """What API Gateway remembers of a WebSocket connection for its events."""

    connection_id: str
    connected_at: int  # epoch ms
    source_ip: str
    user_agent: str | None
    headers: list[tuple[str, str]]
    query: list[tuple[str, str]]
    authorizer: dict[str, Any] | None = None


def ws_context(
    api: ApiInfo, client: WsClient, route_key: str, event_type: str, request_id: str
) -> dict[str, Any]:
    now = int(time.time() * 1000)
    context: dict[str, Any] = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(now),
        "messageDirection": "IN",
        "stage": api.stage,
        "connectedAt": client.connected_at,
        "requestTimeEpoch": now,
        "identity": {"userAgent": client.user_agent, "sourceIp": client.source_ip},
        "requestId": request_id,
        "domainName": api.domain,
        "connectionId": client.connection_id,
        "apiId": api.api_id,
    }
    if client.authorizer is not None:
        context["authorizer"] = client.authorizer
    return context


def authorizer_event(api: ApiInfo, client: WsClient, request_id: str) -> dict[str, Any]:
    """The REQUEST authorizer's input on ``$connect``."""
    headers, multi_headers = _multi(client.headers)
    query, multi_query = _multi(client.query)
    return {
        "type": "REQUEST",
        "methodArn": (
            f"arn:aws:execute-api:{api.region}:{ACCOUNT_ID}:{api.api_id}/{api.stage}/$connect"
        ),
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "stageVariables": {},
        "requestContext": ws_context(api, client, "$connect", "CONNECT", request_id),
    }


def connect_event(api: ApiInfo, client: WsClient, request_id: str) -> dict[str, Any]:
    headers, multi_headers = _multi(client.headers)
    query, multi_query = _multi(client.query)
    event: dict[str, Any] = {
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "requestContext": ws_context(api, client, "$connect", "CONNECT", request_id),
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = multi_query
    return event


def message_event(
    api: ApiInfo, client: WsClient, route_key: str, body: str, request_id: str
) -> dict[str, Any]:
    context = ws_context(api, client, route_key, "MESSAGE", request_id)
    context["messageId"] = new_id()
    return {"requestContext": context, "body": body, "isBase64Encoded": False}


def disconnect_event(
    api: ApiInfo, client: WsClient, code: int, reason: str, request_id: str
) -> dict[str, Any]:
    context = ws_context(api, client, "$disconnect", "DISCONNECT", request_id)
    context["disconnectStatusCode"] = code
    context["disconnectReason"] = reason
    headers = {
        "Host": api.domain,
        "x-api-key": "",
        "X-Forwarded-For": "",
        "x-restapi": "",
    }
    return {
        "headers": headers,
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }
