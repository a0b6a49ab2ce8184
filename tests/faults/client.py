"""Clients for the fault suite: REST calls, a STOMP link, and a sender that retries.

:class:`RetryingSender` is what a well-behaved chat client does: it sends each message with
a ``clientMsgId`` and a ``receipt`` and waits for the RECEIPT; on ERROR, a closed socket,
API Gateway's "Internal server error" or silence it reconnects when needed and sends the
*same* ``clientMsgId`` again, until a RECEIPT comes. Every attempt and failure is written to
a :class:`Ledger`, which the tests compare with the stored history (tests/faults/checks.py).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from chatflow.stomp import Frame, parse, serialize_text

PASSWORD = "fault-suite-password"
RECEIPT_WAIT = 3.0  # seconds before an unanswered SEND is given up and retried
SETUP_WAIT = 15.0  # CONNECT and SUBSCRIBE may meet a worker's cold start
BACKOFF = 0.25  # seconds between attempts
UNAVAILABLE_ATTEMPTS = 20
MAX_ATTEMPTS = 80  # 80 x (0.25 s + the failure itself): longer than any outage the tests cause


@dataclass(frozen=True)
class Account:
    user_id: str
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Rest:
    """The few REST calls the suite needs, against the stack's HTTP port.

    A 503 ("the database is unavailable; try again shortly") is retried, as its text asks:
    after a PostgreSQL restart each warm API worker answers one before it reconnects.
    ``unavailable`` counts them.
    """

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60)
        self.unavailable = 0

    def close(self) -> None:
        self.http.close()

    def call(
        self, method: str, path: str, account: Account | None, **kwargs: Any
    ) -> httpx.Response:
        headers = account.headers if account else {}
        for _ in range(UNAVAILABLE_ATTEMPTS):
            reply = self.http.request(method, path, headers=headers, **kwargs)
            if reply.status_code != 503:
                return reply
            self.unavailable += 1
            time.sleep(BACKOFF)
        return reply

    def register(self) -> Account:
        name = f"f{uuid.uuid4().hex[:12]}"
        reply = self.call(
            "POST", "/api/auth/register", None, json={"username": name, "password": PASSWORD}
        )
        assert reply.status_code == 201, reply.text
        body = reply.json()
        return Account(body["user"]["id"], name, body["accessToken"])

    def room(self, owner: Account, *members: Account) -> str:
        reply = self.call(
            "POST", "/api/rooms", owner, json={"name": "faults", "visibility": "public"}
        )
        assert reply.status_code == 201, reply.text
        room_id: str = reply.json()["id"]
        for member in members:
            joined = self.call("POST", f"/api/rooms/{room_id}/join", member)
            assert joined.status_code in (200, 201, 204), joined.text
        return room_id

    def ticket(self, account: Account) -> str:
        try:
            reply = self.call("POST", "/api/auth/ws-ticket", account)
        except httpx.HTTPError:
            raise LinkBroken("ticket-unreachable") from None
        if reply.status_code != 200:
            raise LinkBroken(f"ticket-{reply.status_code}")
        ticket: str = reply.json()["ticket"]
        return ticket

    def history(self, account: Account, room_id: str) -> list[dict[str, Any]]:
        """Every stored item of the room, oldest first, page by page."""
        items: list[dict[str, Any]] = []
        after: int | None = 0
        while after is not None:
            reply = self.call(
                "GET",
                f"/api/rooms/{room_id}/messages",
                account,
                params={"after": after, "limit": 100},
            )
            assert reply.status_code == 200, reply.text
            page = reply.json()
            items.extend(page["items"])
            after = page["nextAfter"]
        return items

    def online(self, account: Account, room_id: str) -> set[str]:
        reply = self.call("GET", f"/api/rooms/{room_id}/presence", account)
        assert reply.status_code == 200, reply.text
        return {user["id"] for user in reply.json()["online"]}


class LinkBroken(Exception):
    """The attempt failed; ``kind`` says how (``error``, ``closed-1012``, ``refused-500``...)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class StompLink:
    """One WebSocket with a STOMP session on it."""

    def __init__(self, ws_url: str, ticket: str) -> None:
        self._context = contextlib.ExitStack()
        try:
            self.ws: ClientConnection = self._context.enter_context(
                connect(f"{ws_url}/?ticket={ticket}", open_timeout=30)
            )
        except InvalidStatus as exc:
            raise LinkBroken(f"refused-{exc.response.status_code}") from None
        except (OSError, WebSocketException, TimeoutError):
            raise LinkBroken("unreachable") from None
        self._frames: deque[Frame] = deque()
        self.inbox: list[Frame] = []
        try:
            self.send(
                "CONNECT", {"accept-version": "1.2", "host": "chatflow", "heart-beat": "1000,0"}
            )
            connected = self.next_frame(SETUP_WAIT)
        except LinkBroken:
            self._context.close()
            raise
        if connected.command != "CONNECTED":
            self._context.close()
            raise LinkBroken("connect-refused")
        self.session = connected.header("session") or ""

    def send(self, command: str, headers: dict[str, str], body: str = "") -> None:
        frame = Frame(command, list(headers.items()), body.encode())
        self.send_raw(serialize_text(frame))

    def send_raw(self, text: str) -> None:
        try:
            self.ws.send(text)
        except ConnectionClosed as exc:
            raise LinkBroken(_closed(exc)) from None

    def next_frame(self, timeout: float = RECEIPT_WAIT) -> Frame:
        """The next frame; ERROR, a close, an internal error or silence raise LinkBroken."""
        deadline = time.monotonic() + timeout
        while not self._frames:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LinkBroken("timeout")
            try:
                data = self.ws.recv(timeout=left)
            except TimeoutError:
                raise LinkBroken("timeout") from None
            except ConnectionClosed as exc:
                raise LinkBroken(_closed(exc)) from None
            text = data if isinstance(data, str) else data.decode()
            if text.startswith("{"):  # API Gateway's answer when the function failed
                raise LinkBroken("internal-error")
            self._frames.extend(parse(text).frames)
        frame = self._frames.popleft()
        if frame.command == "ERROR":
            raise LinkBroken("error")
        return frame

    def subscribe(self, room_id: str, sub_id: str = "room") -> None:
        self.send(
            "SUBSCRIBE",
            {"id": sub_id, "destination": f"/topic/rooms/{room_id}", "receipt": f"s-{sub_id}"},
        )
        while (frame := self.next_frame(SETUP_WAIT)).command != "RECEIPT":
            self.inbox.append(frame)

    def events(self, wait: float) -> list[dict[str, Any]]:
        """The JSON bodies of the MESSAGE frames seen so far and within ``wait`` seconds."""
        with contextlib.suppress(LinkBroken):
            while True:
                self.inbox.append(self.next_frame(wait))
        return [json.loads(f.body) for f in self.inbox if f.command == "MESSAGE"]

    def close(self, reason: str = "") -> None:
        self.ws.close(1000, reason)
        self._context.close()

    def abort(self) -> None:
        """Vanish: drop the TCP connection without a WebSocket close."""
        self.ws.socket.close()


def _closed(exc: ConnectionClosed) -> str:
    return f"closed-{exc.rcvd.code}" if exc.rcvd is not None else "closed"


@dataclass
class Ledger:
    """What the clients did: attempts, failures, and the seq of every RECEIPT."""

    bodies: dict[str, str] = field(default_factory=dict)  # clientMsgId -> body
    receipts: dict[str, list[int]] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    acknowledged_as_duplicate: int = 0  # RECEIPTs with x-duplicate:true (stored earlier)

    def merge(self, other: Ledger) -> None:
        self.bodies.update(other.bodies)
        for cmid, seqs in other.receipts.items():
            self.receipts.setdefault(cmid, []).extend(seqs)
        self.attempts.update(other.attempts)
        self.failures.update(other.failures)
        self.connections += other.connections
        self.acknowledged_as_duplicate += other.acknowledged_as_duplicate

    @property
    def retried(self) -> set[str]:
        return {cmid for cmid, n in self.attempts.items() if n > 1}

    @property
    def retries(self) -> int:
        return sum(n - 1 for n in self.attempts.values())


class RetryingSender:
    """Sends messages one at a time, each until it is acknowledged."""

    def __init__(
        self, ws_url: str, rest: Rest, account: Account, room_id: str, ledger: Ledger
    ) -> None:
        self.ws_url = ws_url
        self.rest = rest
        self.account = account
        self.room_id = room_id
        self.ledger = ledger
        self.link: StompLink | None = None

    def deliver(self, client_msg_id: str, text: str) -> int:
        """Send until a RECEIPT comes; its ``x-seq``."""
        self.ledger.bodies[client_msg_id] = text
        body = json.dumps({"body": text, "clientMsgId": client_msg_id})
        for attempt in range(MAX_ATTEMPTS):
            self.ledger.attempts[client_msg_id] += 1
            try:
                seq, duplicate = self._attempt(f"{client_msg_id}#{attempt}", body)
            except LinkBroken as failure:
                self.ledger.failures[failure.kind] += 1
                if failure.kind != "internal-error":  # the socket stays open after that one
                    self.drop()
                time.sleep(BACKOFF)
                continue
            self.ledger.receipts.setdefault(client_msg_id, []).append(seq)
            self.ledger.acknowledged_as_duplicate += duplicate
            return seq
        raise AssertionError(f"{client_msg_id} unacknowledged after {MAX_ATTEMPTS} attempts")

    def _attempt(self, receipt_id: str, body: str) -> tuple[int, bool]:
        link = self.connect()
        link.send(
            "SEND",
            {
                "destination": f"/app/rooms/{self.room_id}",
                "content-type": "application/json",
                "receipt": receipt_id,
            },
            body,
        )
        while True:
            frame = link.next_frame()
            if frame.command == "RECEIPT" and frame.header("receipt-id") == receipt_id:
                seq = int(frame.header("x-seq") or "-1")
                return seq, frame.header("x-duplicate") == "true"

    def connect(self) -> StompLink:
        if self.link is None:
            self.link = StompLink(self.ws_url, self.rest.ticket(self.account))
            self.ledger.connections += 1
        return self.link

    def drop(self) -> None:
        link, self.link = self.link, None
        if link is not None:
            with contextlib.suppress(Exception):  # already broken; nothing to tell
                link.close()
