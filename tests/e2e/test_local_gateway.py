"""The local stack as clients see it: real HTTP, WebSocket and boto3 clients on loopback."""

from __future__ import annotations

import json
import re
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.e2e.conftest import IDLE_TIMEOUT, RunningStack

pytestmark = pytest.mark.e2e

PASSWORD = "e2e-password-1"
CONNECT_FRAME = "CONNECT\naccept-version:1.2\nhost:chatflow\n\n\x00"


@pytest.fixture(scope="module")
def http(stack: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.http, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def token(http: httpx.Client) -> str:
    name = f"ws{uuid.uuid4().hex[:10]}"
    response = http.post("/api/auth/register", json={"username": name, "password": PASSWORD})
    assert response.status_code == 201, response.text
    access: str = response.json()["accessToken"]
    return access


def _ticket(http: httpx.Client, token: str) -> str:
    response = http.post("/api/auth/ws-ticket", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    ticket: str = response.json()["ticket"]
    return ticket


def _open(stack: RunningStack, http: httpx.Client, token: str, **kwargs: Any) -> ClientConnection:
    ws: ClientConnection = connect(
        f"{stack.ws}/?ticket={_ticket(http, token)}", open_timeout=60, **kwargs
    )
    return ws


def _stomp_connect(ws: ClientConnection) -> str:
    """CONNECT, and the connection id that CONNECTED names as its session."""
    ws.send(CONNECT_FRAME)
    reply = str(ws.recv(timeout=30))
    assert reply.startswith("CONNECTED\n"), reply
    match = re.search(r"^session:(.+)$", reply, re.MULTILINE)
    assert match is not None
    return match.group(1)


def _close_code(ws: ClientConnection) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=30)
    assert closed.value.rcvd is not None
    return int(closed.value.rcvd.code)


def _management(stack: RunningStack) -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=stack.connections,
        region_name="us-east-1",
        aws_access_key_id="e2e",
        aws_secret_access_key="e2e-secret",
    )


# -- REST ---------------------------------------------------------------------------------


def test_rest_round_trip_register_then_login(http: httpx.Client) -> None:
    name = f"rest{uuid.uuid4().hex[:10]}"
    registered = http.post("/api/auth/register", json={"username": name, "password": PASSWORD})
    assert registered.status_code == 201
    assert registered.headers["x-amzn-requestid"]
    login = http.post("/api/auth/login", json={"username": name, "password": PASSWORD})
    assert login.status_code == 200
    me = http.get(
        "/api/users/me", headers={"Authorization": f"Bearer {login.json()['accessToken']}"}
    )
    assert me.json()["username"] == name


def test_paths_outside_the_rest_routes_are_the_web_page_or_refused(
    stack: RunningStack, http: httpx.Client
) -> None:
    assert "ChatFlow" in http.get("/").text
    assert http.get("/config.json").json()["ws"] == stack.ws
    refused = http.post("/not-a-route")
    assert (refused.status_code, refused.json()) == (
        403,
        {"message": "Missing Authentication Token"},
    )


@pytest.mark.parametrize("port", ["http_port", "ws_port"])
@pytest.mark.parametrize("target", ["/%00", "/api/health%00", "/a%00b?ticket=x"])
def test_a_nul_in_the_target_is_answered_400_on_both_ports(
    stack: RunningStack, http: httpx.Client, port: str, target: str
) -> None:
    """API Gateway answers 400; the local gateway used to drop the connection unanswered."""
    with socket.create_connection(("127.0.0.1", getattr(stack, port)), timeout=30) as raw:
        raw.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n".encode())
        reply = b""
        while chunk := raw.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 "), reply[:200]
    assert http.get("/api/health").status_code == 200  # and the stack keeps serving


# -- WebSocket handshake and frames -------------------------------------------------------


def test_subprotocol_is_echoed_only_when_offered(
    stack: RunningStack, http: httpx.Client, token: str
) -> None:
    with _open(stack, http, token, subprotocols=["v12.stomp", "v11.stomp"]) as ws:
        assert ws.subprotocol == "v12.stomp"
        assert _stomp_connect(ws)
    with _open(stack, http, token) as ws:
        assert ws.subprotocol is None
        assert ws.response is not None
        assert ws.response.headers.get("Sec-WebSocket-Protocol") is None
        assert _stomp_connect(ws)


def test_a_bad_ticket_is_refused_by_the_authorizer(stack: RunningStack) -> None:
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as refused:
        connect(f"{stack.ws}/?ticket=not-a-ticket", open_timeout=60)
    assert refused.value.response.status_code == 403


def test_a_frame_over_32_kb_closes_with_1009(
    stack: RunningStack, http: httpx.Client, token: str
) -> None:
    with _open(stack, http, token) as ws:
        ws.send("x" * (32 * 1024 + 1))
        assert _close_code(ws) == 1009


def test_a_message_of_several_frames_may_exceed_32_kb(
    stack: RunningStack, http: httpx.Client, token: str
) -> None:
    with _open(stack, http, token) as ws:
        cid = _stomp_connect(ws)
        # 64 KB in 16 KB fragments: within the 128 KB message limit.
        ws.send(iter(["\n" * (16 * 1024)] * 4))
        info = _management(stack).get_connection(ConnectionId=cid)
        assert info["ConnectedAt"]


def test_a_binary_frame_closes_with_1003(
    stack: RunningStack, http: httpx.Client, token: str
) -> None:
    with _open(stack, http, token) as ws:
        ws.send(b"\x00\x01binary")
        assert _close_code(ws) == 1003


def test_an_idle_connection_is_closed_with_1001(
    stack: RunningStack, http: httpx.Client, token: str
) -> None:
    with _open(stack, http, token) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=IDLE_TIMEOUT * 5)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1001, "Going away")


# -- @connections -------------------------------------------------------------------------


def test_connections_api_post_get_delete_and_gone(
    stack: RunningStack, http: httpx.Client, token: str
) -> None:
    api = _management(stack)
    with _open(stack, http, token) as ws:
        cid = _stomp_connect(ws)
        api.post_to_connection(ConnectionId=cid, Data=b"hello from boto3")  # SigV4-signed
        assert ws.recv(timeout=30) == "hello from boto3"
        info = api.get_connection(ConnectionId=cid)
        assert info["Identity"]["SourceIp"] == "127.0.0.1"
        api.delete_connection(ConnectionId=cid)
        assert _close_code(ws) == 1000
    with pytest.raises(api.exceptions.GoneException):
        api.post_to_connection(ConnectionId=cid, Data=b"too late")
    with pytest.raises(api.exceptions.GoneException):
        api.get_connection(ConnectionId="unknown-connection")
    with pytest.raises(api.exceptions.GoneException):
        api.delete_connection(ConnectionId="unknown-connection")


# -- faults ---------------------------------------------------------------------------------


def test_a_raising_rest_handler_gives_502_and_the_stack_keeps_serving(http: httpx.Client) -> None:
    failed = http.get("/api/health", headers={"x-fault": "chatflow-fault:raise"})
    assert (failed.status_code, failed.json()) == (502, {"message": "Internal server error"})
    crashed = http.get("/api/health", headers={"x-fault": "chatflow-fault:crash"})
    assert crashed.status_code == 502
    assert http.get("/api/health").status_code == 200


def test_a_failing_frame_handler_gives_internal_server_error_and_the_connection_lives(
    stack: RunningStack, http: httpx.Client, token: str
) -> None:
    with _open(stack, http, token) as ws:
        cid = _stomp_connect(ws)
        ws.send("SEND\ndestination:/app/nowhere\n\nchatflow-fault:raise\x00")
        error = json.loads(ws.recv(timeout=30))
        assert error["message"] == "Internal server error"
        assert error["connectionId"] == cid
        assert error["requestId"]
        ws.send("SEND\ndestination:/app/nowhere\n\nchatflow-fault:crash\x00")
        assert json.loads(ws.recv(timeout=30))["message"] == "Internal server error"
        _management(stack).post_to_connection(ConnectionId=cid, Data=b"still open")
        assert ws.recv(timeout=30) == "still open"


# -- logs and restarts ----------------------------------------------------------------------


def test_each_worker_logs_one_cold_start(stack: RunningStack) -> None:
    log = stack.log()
    for function in ("chatflow-api", "chatflow-ws-authorizer", "chatflow-ws-connect"):
        cold = re.findall(rf"^\[{function}\] cold start: worker \d+ \(pid (\d+)\)", log, re.M)
        reports = re.findall(rf"^\[{function} \S+\] REPORT RequestId: ", log, re.M)
        with_init = re.findall(rf"^\[{function} \S+\] REPORT .* Init Duration: ", log, re.M)
        assert cold, function
        assert len(set(cold)) == len(cold) == len(with_init), function
        assert len(reports) > len(cold), function  # the other invocations were warm


def test_data_persists_across_a_restart(stack: RunningStack, http: httpx.Client) -> None:
    name = f"keep{uuid.uuid4().hex[:10]}"
    credentials = {"username": name, "password": PASSWORD}
    assert http.post("/api/auth/register", json=credentials).status_code == 201
    stack.stop()
    stack.start()
    with httpx.Client(base_url=stack.http, timeout=60) as fresh:
        assert fresh.post("/api/auth/login", json=credentials).status_code == 200
