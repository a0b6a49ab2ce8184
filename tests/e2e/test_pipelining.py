"""Pipelined frames and the per-socket caps, over real WebSockets on the local stack.

The local gateway runs several workers per function and hands each inbound message to
whichever is free, so frames sent back to back without waiting are handled at the same
time and in any order, as API Gateway does. A client that opens with a ticket may send
CONNECT, SUBSCRIBE and SEND without waiting for any answer and must get every answer.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from chatflow.stomp import Frame, parse
from tests.e2e.conftest import RunningStack

PASSWORD = "e2e-password-1"
ROUNDS = 12


@pytest.fixture(scope="module")
def http(stack: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.http, timeout=60) as client:
        yield client


def _user(http: httpx.Client) -> dict[str, str]:
    name = f"pl{uuid.uuid4().hex[:10]}"
    response = http.post("/api/auth/register", json={"username": name, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


def _room(http: httpx.Client, auth: dict[str, str]) -> str:
    response = http.post("/api/rooms", json={"name": "pipes", "visibility": "public"}, headers=auth)
    assert response.status_code == 201, response.text
    room: str = response.json()["id"]
    return room


def _open(stack: RunningStack, http: httpx.Client, auth: dict[str, str]) -> ClientConnection:
    ticket = http.post("/api/auth/ws-ticket", headers=auth).json()["ticket"]
    ws: ClientConnection = connect(
        f"{stack.ws}/?ticket={ticket}",
        subprotocols=[Subprotocol("v12.stomp")],
        open_timeout=60,
    )
    return ws


def _frame(command: str, headers: dict[str, str], body: str = "") -> str:
    lines = "".join(f"{k}:{v}\n" for k, v in headers.items())
    return f"{command}\n{lines}\n{body}\x00"


def _read_until(
    ws: ClientConnection, done: set[str], limit: int = 50, connected: bool = False
) -> list[Frame]:
    """Frames until every receipt id in ``done`` was answered (by a RECEIPT, or by an
    error on ``/user/queue/errors`` naming it) and, unless ``connected`` already, a
    CONNECTED arrived; or until an ERROR."""
    frames: list[Frame] = []
    waiting = set(done)
    for _ in range(limit):
        data = ws.recv(timeout=30)
        got = parse(data.encode() if isinstance(data, str) else data).frames
        frames.extend(got)
        for frame in got:
            if frame.command == "ERROR":
                return frames
            connected = connected or frame.command == "CONNECTED"
            waiting.discard(frame.header("receipt-id") or "")
            if frame.header("destination") == "/user/queue/errors":
                waiting.discard(json.loads(frame.body).get("receiptId") or "")
        if connected and not waiting:
            return frames
    return frames


def test_connect_subscribe_and_send_without_waiting_are_all_answered(
    stack: RunningStack, http: httpx.Client
) -> None:
    auth = _user(http)
    room = _room(http, auth)
    sent: list[str] = []
    for n in range(ROUNDS):
        ws = _open(stack, http, auth)
        text = f"pipelined {n}"
        body = json.dumps({"body": text, "clientMsgId": uuid.uuid4().hex})
        ws.send(_frame("CONNECT", {"accept-version": "1.2", "host": "chatflow"}))
        ws.send(
            _frame("SUBSCRIBE", {"id": "r", "destination": f"/topic/rooms/{room}", "receipt": "s"})
        )
        ws.send(_frame("SEND", {"destination": f"/app/rooms/{room}/typing", "receipt": "t"}, "{}"))
        ws.send(_frame("SEND", {"destination": f"/app/rooms/{room}", "receipt": "m"}, body))
        frames = _read_until(ws, {"s", "t", "m"})
        commands = [f.command for f in frames]
        assert "ERROR" not in commands, [(f.command, f.header("message")) for f in frames]
        assert commands.count("CONNECTED") == 1
        receipt = next(f for f in frames if f.header("receipt-id") == "m")
        assert receipt.header("x-seq")
        sent.append(text)
        ws.close()
    history = http.get(f"/api/rooms/{room}/messages?limit=100", headers=auth).json()["items"]
    assert sorted(m["body"] for m in history if m["type"] == "message") == sorted(sent)


def test_many_subscribes_to_one_room_on_one_socket_give_one_copy(
    stack: RunningStack, http: httpx.Client
) -> None:
    auth, other = _user(http), _user(http)
    room = _room(http, auth)
    assert http.post(f"/api/rooms/{room}/join", headers=other).status_code == 200
    ws = _open(stack, http, auth)
    ws.send(_frame("CONNECT", {"accept-version": "1.2", "host": "chatflow"}))
    ws.send(_frame("SUBSCRIBE", {"id": "e", "destination": "/user/queue/errors", "receipt": "e"}))
    _read_until(ws, {"e"})
    copies = 40
    for n in range(copies):
        headers = {"id": f"c{n}", "destination": f"/topic/rooms/{room}", "receipt": f"c{n}"}
        ws.send(_frame("SUBSCRIBE", headers))
    frames = _read_until(ws, {f"c{n}" for n in range(copies)}, 10 * copies, connected=True)
    refusals = [
        json.loads(f.body) for f in frames if f.command == "MESSAGE" and b'"error"' in f.body
    ]
    receipts = [f for f in frames if f.command == "RECEIPT"]
    assert len(receipts) == 1 and len(refusals) == copies - 1
    assert all("one subscription per destination" in r["message"] for r in refusals)
    for text in ("just once", "sentinel"):
        posted = http.post(f"/api/rooms/{room}/messages", json={"body": text}, headers=other)
        assert posted.status_code == 201
    copies_seen = 0
    try:
        for _ in range(10 * copies):
            data = ws.recv(timeout=30)
            frames = parse(data.encode() if isinstance(data, str) else data).frames
            copies_seen += sum(1 for f in frames if b'"just once"' in f.body)
            if any(b'"sentinel"' in f.body for f in frames):
                break
    except ConnectionClosed:
        pytest.fail("the socket was closed")
    assert copies_seen == 1
    ws.close()
