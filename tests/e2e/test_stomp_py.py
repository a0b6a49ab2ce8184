"""The local stack through the real ``stomp.py`` client over WebSocket, used as released.

``stomp.WSStompConnection`` (stomp.py 8+, on the ``websocket-client`` package) opens
``ws://127.0.0.1:<port>/?ticket=...`` and speaks STOMP 1.2 as any Python client would. What
stomp.py cannot observe (the WebSocket close code, a gateway answer that is not a STOMP
frame) is checked with the ``websockets`` library next to it.

The session's stack closes connections idle for ``IDLE_TIMEOUT``; as a margin against slow
cold starts, each client sends a bare EOL heart-beat every
second through stomp.py's own transport, as its heart-beat loop does; a cold worker on a
busy machine can otherwise leave a connection silent long enough to be closed.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import stomp
from stomp.utils import Frame
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.conftest import IDLE_TIMEOUT, RunningStack

pytestmark = pytest.mark.e2e

PASSWORD = "e2e-password-1"
WAIT = 60.0
KEEPALIVE_SECONDS = 1.0
assert KEEPALIVE_SECONDS < IDLE_TIMEOUT


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def http(stack: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.http, timeout=60) as client:
        yield client


def _auth(http: httpx.Client, path: str, credentials: dict[str, str]) -> httpx.Response:
    """Register and login share a per-address limit (10 a minute) that the e2e suite, all
    from 127.0.0.1, can exhaust: wait as the 429 asks, as a well-behaved client does."""
    for _ in range(30):
        response = http.post(path, json=credentials)
        if response.status_code != 429:
            return response
        time.sleep(float(response.headers.get("Retry-After", "1")))
    return response


def _account(http: httpx.Client) -> Account:
    """Register, then log in as a returning user would; the login's token is the one used."""
    name = f"py{uuid.uuid4().hex[:10]}"
    credentials = {"username": name, "password": PASSWORD}
    registered = _auth(http, "/api/auth/register", credentials)
    assert registered.status_code == 201, registered.text
    login = _auth(http, "/api/auth/login", credentials)
    assert login.status_code == 200, login.text
    body = login.json()
    return Account(body["user"]["id"], name, body["accessToken"])


@pytest.fixture(scope="module")
def alice(http: httpx.Client) -> Account:
    return _account(http)


@pytest.fixture(scope="module")
def bob(http: httpx.Client) -> Account:
    return _account(http)


@pytest.fixture(scope="module")
def mallory(http: httpx.Client) -> Account:
    return _account(http)


def _room(http: httpx.Client, owner: Account, visibility: str = "public") -> str:
    created = http.post(
        "/api/rooms", json={"name": "stomp.py", "visibility": visibility}, headers=owner.auth
    )
    assert created.status_code == 201, created.text
    room_id: str = created.json()["id"]
    return room_id


def _join(http: httpx.Client, account: Account, room_id: str) -> None:
    joined = http.post(f"/api/rooms/{room_id}/join", headers=account.auth)
    assert joined.status_code == 200, joined.text


def _ticket(http: httpx.Client, account: Account) -> str:
    response = http.post("/api/auth/ws-ticket", headers=account.auth)
    assert response.status_code == 200, response.text
    ticket: str = response.json()["ticket"]
    return ticket


class Inbox(stomp.ConnectionListener):  # type: ignore[misc]
    """Every frame stomp.py hands its listener, in arrival order, for tests to wait on."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, Frame]] = []
        self.disconnected = False
        self._changed = threading.Condition()

    def _add(self, command: str, frame: Frame) -> None:
        with self._changed:
            self.frames.append((command, frame))
            self._changed.notify_all()

    def on_message(self, frame: Frame) -> None:
        self._add("MESSAGE", frame)

    def on_receipt(self, frame: Frame) -> None:
        self._add("RECEIPT", frame)

    def on_error(self, frame: Frame) -> None:
        self._add("ERROR", frame)

    def on_disconnected(self) -> None:
        with self._changed:
            self.disconnected = True
            self._changed.notify_all()

    def wait(self, wanted: Callable[[str, Frame], bool], what: str) -> Frame:
        """The first frame (from the start of the connection) that ``wanted`` accepts."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: next((f for c, f in self.frames if wanted(c, f)), None), WAIT
            )
        assert found is not None, f"no {what} among {[(c, f.body) for c, f in self.frames]}"
        return found

    def event(self, wanted: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        """The JSON body of the first MESSAGE that ``wanted`` accepts."""
        frame = self.wait(lambda c, f: c == "MESSAGE" and wanted(json.loads(f.body)), what)
        body: dict[str, Any] = json.loads(frame.body)
        return body

    def bodies(self) -> list[dict[str, Any]]:
        with self._changed:
            return [json.loads(f.body) for c, f in self.frames if c == "MESSAGE"]

    def wait_disconnected(self) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.disconnected, WAIT), "still connected"


class Client:
    """One stomp.py connection of one account, opened with a fresh ticket."""

    def __init__(
        self,
        stack: RunningStack,
        http: httpx.Client,
        account: Account,
        in_connect_frame: bool = False,
    ) -> None:
        """``in_connect_frame``: open the socket without a ticket and authenticate in the
        CONNECT frame (the token as ``passcode``), as Spring-style clients do."""
        self.account = account
        self.inbox = Inbox()
        path = "/" if in_connect_frame else f"/?ticket={_ticket(http, account)}"
        self.connection = stomp.WSStompConnection(
            [("127.0.0.1", stack.ws_port)],
            ws_path=path,
            reconnect_attempts_max=1,
            timeout=WAIT,
        )
        self.connection.set_listener("inbox", self.inbox)
        self._stop = threading.Event()
        self._keepalive = threading.Thread(target=self._beat, daemon=True)
        self._keepalive.start()  # before CONNECT: a cold worker may take seconds to answer it
        if in_connect_frame:
            self.connection.connect(passcode=account.token, wait=True)
        else:
            self.connection.connect(wait=True)

    def _beat(self) -> None:
        transport = self.connection.transport
        while not self._stop.wait(KEEPALIVE_SECONDS):
            if transport.socket is None or not transport.running:
                continue
            try:
                transport.transmit(Frame(None, {}, None))  # a bare EOL
            except Exception:  # noqa: S112 - the socket closed after the check
                continue

    def subscribe(self, room_id: str, since: int | None = None) -> str:
        """SUBSCRIBE with a receipt and wait for it: later sends are then seen."""
        sub_id = f"sub-{uuid.uuid4().hex[:8]}"
        receipt_id = f"s-{sub_id}"
        headers = {} if since is None else {"x-since-seq": str(since)}
        self.connection.subscribe(
            f"/topic/rooms/{room_id}", id=sub_id, headers=headers, receipt=receipt_id
        )
        self.receipt(receipt_id)
        return sub_id

    def say(self, room_id: str, text: str) -> int:
        """SEND with a receipt; the seq the receipt names once the message is stored."""
        receipt_id = f"m-{uuid.uuid4().hex[:8]}"
        body = json.dumps({"body": text, "clientMsgId": str(uuid.uuid4())})
        self.connection.send(
            f"/app/rooms/{room_id}", body, content_type="application/json", receipt=receipt_id
        )
        frame = self.receipt(receipt_id)
        assert frame.headers["x-duplicate"] == "false"
        return int(frame.headers["x-seq"])

    def receipt(self, receipt_id: str) -> Frame:
        return self.inbox.wait(
            lambda c, f: c == "RECEIPT" and f.headers.get("receipt-id") == receipt_id,
            f"RECEIPT {receipt_id}",
        )

    def heard(self, room_id: str, text: str) -> dict[str, Any]:
        return self.inbox.event(
            lambda b: b["type"] == "message" and b["roomId"] == room_id and b["body"] == text,
            f"message {text!r}",
        )

    def listen_only(self) -> None:
        """Send nothing more, not even the keep-alive: a socket that only listens, which
        the server has no frame of to check a revoked token on."""
        self._stop.set()
        self._keepalive.join(WAIT)

    def close(self) -> None:
        self._stop.set()
        if self.connection.is_connected():
            self.connection.disconnect()
        self._keepalive.join(WAIT)


@pytest.fixture
def clients(stack: RunningStack, http: httpx.Client) -> Iterator[Callable[..., Client]]:
    opened: list[Client] = []

    def open_client(account: Account, in_connect_frame: bool = False) -> Client:
        client = Client(stack, http, account, in_connect_frame)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


def _presence(account: Account, status: str) -> Callable[[dict[str, Any]], bool]:
    return lambda b: (
        b["type"] == "presence" and b["status"] == status and b["user"]["id"] == account.id
    )


def _membership(kind: str, account: Account) -> Callable[[dict[str, Any]], bool]:
    return lambda b: b["type"] == kind and b["subject"]["id"] == account.id


# -- chat, membership and presence -----------------------------------------------------------


def test_two_users_chat_both_ways(
    http: httpx.Client, clients: Callable[[Account], Client], alice: Account, bob: Account
) -> None:
    room = _room(http, alice)
    _join(http, bob, room)
    a, b = clients(alice), clients(bob)
    assert a.connection.is_connected() and b.connection.is_connected()
    a.subscribe(room)
    b.subscribe(room)

    hello = a.say(room, "hello bob")
    heard_by_bob = b.heard(room, "hello bob")
    assert (heard_by_bob["seq"], heard_by_bob["sender"]["username"]) == (hello, alice.username)
    reply = b.say(room, "hi alice")
    heard_by_alice = a.heard(room, "hi alice")
    assert (heard_by_alice["seq"], heard_by_alice["sender"]["id"]) == (reply, bob.id)
    assert reply > hello
    # Each side also gets its own message back on its subscription, with the same seq.
    assert a.heard(room, "hello bob")["seq"] == hello
    assert b.heard(room, "hi alice")["seq"] == reply


def test_joins_leaves_and_presence_reach_the_room(
    http: httpx.Client, clients: Callable[[Account], Client], alice: Account, bob: Account
) -> None:
    room = _room(http, alice)
    a = clients(alice)
    a.subscribe(room)
    a.inbox.event(_presence(alice, "online"), "alice online")

    _join(http, bob, room)
    joined = a.inbox.event(_membership("member_joined", bob), "bob joined")
    assert (joined["sender"], joined["body"]) == (None, "joined")

    b = clients(bob)
    b.subscribe(room)
    a.inbox.event(_presence(bob, "online"), "bob online")
    b.close()
    a.inbox.event(_presence(bob, "offline"), "bob offline")

    left = http.post(f"/api/rooms/{room}/leave", headers=bob.auth)
    assert left.status_code == 204, left.text
    gone = a.inbox.event(_membership("member_left", bob), "bob left")
    assert gone["seq"] > joined["seq"]
    kinds = [body["type"] for body in a.inbox.bodies() if body["type"] != "presence"]
    assert kinds == ["member_joined", "member_left"]


# -- recovery ------------------------------------------------------------------------------


def test_a_reconnect_with_x_since_seq_replays_exactly_the_missed_messages(
    http: httpx.Client, clients: Callable[[Account], Client], alice: Account, bob: Account
) -> None:
    room = _room(http, alice)
    _join(http, bob, room)
    a, b = clients(alice), clients(bob)
    a.subscribe(room)
    b.subscribe(room)
    b.say(room, "before the drop")
    seen = a.heard(room, "before the drop")["seq"]
    a.close()
    a.inbox.wait_disconnected()

    missed = [b.say(room, f"missed {n}") for n in range(3)]
    again = clients(alice)
    sub_id = again.subscribe(room, since=seen)
    marker = again.inbox.event(lambda body: body["type"] == "replay", "replay marker")
    assert marker == {"type": "replay", "roomId": room, "complete": True, "lastSeq": missed[-1]}

    replayed = [f for c, f in again.inbox.frames if c == "MESSAGE" and "x-replay" in f.headers]
    assert [json.loads(f.body)["seq"] for f in replayed] == missed
    assert [json.loads(f.body)["body"] for f in replayed] == [f"missed {n}" for n in range(3)]
    for frame in replayed:
        seq = json.loads(frame.body)["seq"]
        assert frame.headers["x-replay"] == "true"
        assert frame.headers["subscription"] == sub_id
        assert frame.headers["message-id"] == f"{room}:{seq}"
    # The marker comes after the replayed messages, and live traffic resumes after it.
    order = [c == "MESSAGE" and json.loads(f.body)["type"] for c, f in again.inbox.frames]
    assert order.index("replay") > max(i for i, t in enumerate(order) if t == "message")
    live = b.say(room, "back online")
    assert again.heard(room, "back online")["seq"] == live == missed[-1] + 1


# -- refusals and limits -------------------------------------------------------------------


def test_a_non_member_is_refused_a_private_room_as_if_it_did_not_exist(
    http: httpx.Client, clients: Callable[[Account], Client], alice: Account, mallory: Account
) -> None:
    private = _room(http, alice, "private")
    for room in (private, str(uuid.uuid4())):
        m = clients(mallory)
        m.connection.subscribe(f"/topic/rooms/{room}", id="peek", receipt="peek")
        error = m.inbox.wait(lambda c, f: c == "ERROR", "ERROR")
        assert error.headers["message"] == "no such room"
        assert error.headers["receipt-id"] == "peek"
        m.inbox.wait_disconnected()  # ERROR, then the server closes the connection


def test_an_oversized_frame_closes_the_connection_with_1009(
    stack: RunningStack, http: httpx.Client, clients: Callable[[Account], Client], alice: Account
) -> None:
    room = _room(http, alice)
    big = json.dumps({"body": "x" * (33 * 1024), "clientMsgId": "too-big"})

    a = clients(alice)
    a.connection.send(f"/app/rooms/{room}", big, content_type="application/json")
    a.inbox.wait_disconnected()  # stomp.py sees the close; its code is not exposed

    with connect(f"{stack.ws}/?ticket={_ticket(http, alice)}", open_timeout=WAIT) as raw:
        raw.send("CONNECT\naccept-version:1.2\nhost:chatflow\n\n\x00")
        assert str(raw.recv(timeout=WAIT)).startswith("CONNECTED\n")
        raw.send(f"SEND\ndestination:/app/rooms/{room}\n\n{big}\x00")
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                raw.recv(timeout=WAIT)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009

    history = http.get(f"/api/rooms/{room}/messages", headers=alice.auth)
    assert history.json()["items"] == []  # nothing of it was stored


# -- revoked tokens --------------------------------------------------------------------------

REVOKED = "the token has been revoked: log in again and reconnect"


def _login(http: httpx.Client, account: Account, password: str = PASSWORD) -> Account:
    """Another session of the same account (another device): its own token."""
    login = _auth(http, "/api/auth/login", {"username": account.username, "password": password})
    assert login.status_code == 200, login.text
    return Account(account.id, account.username, login.json()["accessToken"])


def _private_room_with(http: httpx.Client, owner: Account, member: Account) -> str:
    room = _room(http, owner, visibility="private")
    added = http.post(
        f"/api/rooms/{room}/members", json={"username": member.username}, headers=owner.auth
    )
    assert added.status_code == 201, added.text
    return room


def _post(http: httpx.Client, author: Account, room: str, text: str) -> None:
    posted = http.post(f"/api/rooms/{room}/messages", json={"body": text}, headers=author.auth)
    assert posted.status_code == 201, posted.text


def _closed_as_revoked(client: Client) -> None:
    """ERROR saying why, then the server closes the socket: without a frame from it."""
    client.inbox.wait(
        lambda c, f: c == "ERROR" and f.headers.get("message") == REVOKED, "ERROR revoked"
    )
    client.inbox.wait_disconnected()


def _never_heard(client: Client, text: str) -> bool:
    return all(body.get("body") != text for body in client.inbox.bodies())


def test_logout_closes_the_listening_sockets_of_that_session_and_no_other(
    http: httpx.Client, clients: Callable[..., Client]
) -> None:
    alice, bob = _account(http), _account(http)
    room = _private_room_with(http, bob, alice)
    other_session = _login(http, alice)
    revoked = [clients(alice), clients(alice, in_connect_frame=True)]
    kept = clients(other_session)
    for client in [*revoked, kept]:
        client.subscribe(room)
    for client in revoked:
        client.listen_only()

    assert http.post("/api/auth/logout", headers=alice.auth).status_code == 204
    for client in revoked:
        _closed_as_revoked(client)
    _post(http, bob, room, "after the logout")
    kept.heard(room, "after the logout")
    assert all(_never_heard(client, "after the logout") for client in revoked)
    kept.say(room, "the other session still works")
    assert kept.connection.is_connected()


def test_a_password_change_closes_every_listening_socket_of_older_credentials(
    http: httpx.Client, clients: Callable[..., Client]
) -> None:
    alice, bob = _account(http), _account(http)
    room = _private_room_with(http, bob, alice)
    laptop = _login(http, alice)
    old = [clients(alice), clients(laptop), clients(laptop, in_connect_frame=True)]
    for client in old:
        client.subscribe(room)
        client.listen_only()

    changed = http.put(
        "/api/users/me/password",
        json={"currentPassword": PASSWORD, "newPassword": "e2e-password-2"},
        headers=alice.auth,
    )
    assert changed.status_code == 200, changed.text
    for client in old:
        _closed_as_revoked(client)
    renewed = Account(alice.id, alice.username, changed.json()["accessToken"])
    fresh = clients(renewed)
    fresh.subscribe(room)
    _post(http, bob, room, "after the change")
    fresh.heard(room, "after the change")
    assert all(_never_heard(client, "after the change") for client in old)


# -- a failing handler -----------------------------------------------------------------------


def test_a_failing_handler_is_answered_as_api_gateway_does_and_the_stack_keeps_serving(
    stack: RunningStack,
    http: httpx.Client,
    clients: Callable[[Account], Client],
    alice: Account,
    bob: Account,
) -> None:
    """``--faults``: a frame carrying the marker makes the worker raise, or exit mid-event.

    API Gateway answers a failed ``$default`` integration with a JSON text message, not a
    STOMP frame, and keeps the connection; the sender is a raw client here because
    stomp.py has no way to hand such a message to its listener.
    """
    room = _room(http, alice)
    _join(http, bob, room)
    a, b = clients(alice), clients(bob)
    a.subscribe(room)
    b.subscribe(room)

    with connect(f"{stack.ws}/?ticket={_ticket(http, bob)}", open_timeout=WAIT) as raw:
        raw.send("CONNECT\naccept-version:1.2\nhost:chatflow\n\n\x00")
        session = str(raw.recv(timeout=WAIT)).split("session:", 1)[1].split("\n", 1)[0]
        for fault in ("raise", "crash"):
            body = json.dumps({"body": f"chatflow-fault:{fault}", "clientMsgId": fault})
            raw.send(f"SEND\ndestination:/app/rooms/{room}\nreceipt:{fault}\n\n{body}\x00")
            answer = json.loads(raw.recv(timeout=WAIT))
            assert answer["message"] == "Internal server error"
            assert (answer["connectionId"], bool(answer["requestId"])) == (session, True)
        # The same connection keeps working.
        raw.send(
            f"SEND\ndestination:/app/rooms/{room}\nreceipt:after\n\n"
            + json.dumps({"body": "after the faults", "clientMsgId": "after"})
            + "\x00"
        )
        replies = ""
        while "receipt-id:after" not in replies:
            replies += str(raw.recv(timeout=WAIT))
        stored_seq = int(replies.split("x-seq:", 1)[1].split("\n", 1)[0])

    assert a.heard(room, "after the faults")["seq"] == stored_seq
    # The stomp.py clients never saw the failed frames and still chat both ways.
    second = a.say(room, "still here")
    assert b.heard(room, "still here")["seq"] == second == stored_seq + 1
    assert a.say(room, "and again") == second + 1
    stored = http.get(f"/api/rooms/{room}/messages", headers=alice.auth).json()["items"]
    assert [m["body"] for m in stored if m["type"] == "message"] == [
        "after the faults",
        "still here",
        "and again",
    ]
