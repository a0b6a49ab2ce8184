"""Post-deploy smoke test: REST health, then a STOMP round trip over the WebSocket API.

    python scripts/smoke.py --http https://abc.execute-api.us-east-1.amazonaws.com/prod \\
        --ws wss://def.execute-api.us-east-1.amazonaws.com/prod

Works against any ChatFlow endpoint (AWS, LocalStack, the local stack). It registers a
throwaway user, creates a private room, opens the WebSocket with a ticket, and checks
CONNECT -> CONNECTED, SUBSCRIBE, SEND -> MESSAGE (and the RECEIPT). Exit status 0 means
the deployment serves both APIs end to end; anything else prints what failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "functions"))

import websockets

from chatflow.stomp import Frame, parse, serialize_text

SUBSCRIPTION = "smoke-0"


class SmokeFailure(RuntimeError):
    """A step of the smoke test did not do what a healthy deployment does."""


def request(
    base: str, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    """One JSON request with urllib; returns (status, decoded body or None)."""
    url = base.rstrip("/") + path
    if not url.startswith(("http://", "https://")):
        raise SmokeFailure(f"not an http(s) URL: {url}")
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - scheme checked
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=15) as response:  # noqa: S310
            raw = response.read()
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        status = exc.code
    return status, (json.loads(raw) if raw else None)


def expect(status: int, wanted: int, what: str, body: Any) -> None:
    if status != wanted:
        raise SmokeFailure(f"{what}: HTTP {status} (wanted {wanted}): {body}")


def prepare(http: str) -> tuple[str, str]:
    """Health, a throwaway user, a private room and a WebSocket ticket."""
    status, body = request(http, "GET", "/api/health")
    expect(status, 200, "GET /api/health", body)
    suffix = secrets.token_hex(5)
    status, body = request(
        http,
        "POST",
        "/api/auth/register",
        {"username": f"smoke{suffix}", "password": secrets.token_urlsafe(18)},
    )
    expect(status, 201, "register", body)
    token = str(body["accessToken"])
    status, body = request(
        http, "POST", "/api/rooms", {"name": f"smoke {suffix}", "visibility": "private"}, token
    )
    expect(status, 201, "create room", body)
    room_id = str(body["id"])
    status, body = request(http, "POST", "/api/auth/ws-ticket", None, token)
    expect(status, 200, "ws-ticket", body)
    return room_id, str(body["ticket"])


async def next_frame(socket: Any, wait_seconds: float) -> Frame:
    """The next non-heart-beat frame; ERROR frames fail the test with their message."""
    while True:
        data = await asyncio.wait_for(socket.recv(), wait_seconds)
        for frame in parse(data).frames:
            if frame.command == "ERROR":
                raise SmokeFailure(f"ERROR frame: {frame.header('message')}")
            return frame


async def round_trip(ws: str, room_id: str, ticket: str, wait_seconds: float) -> int:
    """CONNECT, SUBSCRIBE, SEND; returns the stored message's seq once it comes back."""
    url = ws.rstrip("/") + "?" + urllib.parse.urlencode({"ticket": ticket})
    text = f"smoke {uuid.uuid4()}"
    async with websockets.connect(url, subprotocols=[websockets.Subprotocol("v12.stomp")]) as sock:
        host = urllib.parse.urlsplit(ws).hostname or "chatflow"
        await sock.send(
            serialize_text(
                Frame(
                    "CONNECT",
                    [("accept-version", "1.2"), ("host", host), ("heart-beat", "0,0")],
                )
            )
        )
        connected = await next_frame(sock, wait_seconds)
        if connected.command != "CONNECTED":
            raise SmokeFailure(f"wanted CONNECTED, got {connected.command}")
        destination = f"/topic/rooms/{room_id}"
        # API Gateway may run the $default invocations of one connection's frames in any
        # order: the SEND goes only once the subscription is known to be stored.
        await sock.send(
            serialize_text(
                Frame(
                    "SUBSCRIBE",
                    [("id", SUBSCRIPTION), ("destination", destination), ("receipt", "smoke-sub")],
                )
            )
        )
        while True:  # room events (presence) may come before the receipt
            frame = await next_frame(sock, wait_seconds)
            if frame.command == "RECEIPT" and frame.header("receipt-id") == "smoke-sub":
                break
        body = json.dumps({"body": text, "clientMsgId": str(uuid.uuid4())}).encode()
        await sock.send(
            serialize_text(
                Frame(
                    "SEND",
                    [
                        ("destination", f"/app/rooms/{room_id}"),
                        ("content-type", "application/json"),
                        ("receipt", "smoke-send"),
                    ],
                    body,
                )
            )
        )
        seq: int | None = None
        receipted = False
        while seq is None or not receipted:
            frame = await next_frame(sock, wait_seconds)
            if frame.command == "RECEIPT" and frame.header("receipt-id") == "smoke-send":
                receipted = True
            elif frame.command == "MESSAGE" and frame.header("subscription") == SUBSCRIPTION:
                payload = json.loads(frame.body)
                if payload.get("type") == "message" and payload.get("body") == text:
                    seq = int(payload["seq"])
        await sock.send(serialize_text(Frame("DISCONNECT")))
        return seq


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ChatFlow post-deploy smoke test")
    parser.add_argument("--http", required=True, help="REST base URL (…/api is appended)")
    parser.add_argument("--ws", required=True, help="WebSocket URL (wss://… or ws://…)")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds per frame")
    args = parser.parse_args(argv)
    try:
        room_id, ticket = prepare(args.http)
        print("REST: health, register, room, ticket ok")
        seq = asyncio.run(round_trip(args.ws, room_id, ticket, args.timeout))
    except (SmokeFailure, OSError, TimeoutError, websockets.WebSocketException) as exc:
        print(f"smoke test FAILED: {exc!r}", file=sys.stderr)
        return 1
    print(f"WebSocket: CONNECTED, SUBSCRIBE, SEND -> MESSAGE seq={seq} and RECEIPT ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
