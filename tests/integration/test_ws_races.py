"""Frames, membership and connections racing each other, at handler level.

API Gateway may run several ``$default`` invocations of one connection at once and in
any order, and a REST call may land between any two steps of a frame. These tests put
the other party's action exactly between two steps (a hook on the port the session
calls), at every step that matters, and also let many threads loose at once; real
PostgreSQL, Valkey and DynamoDB (moto) throughout.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chatflow.ws.session import StompSession
from tests.helpers.api import TestUser
from tests.helpers.ws_harness import WsClient
from tests.integration.ws_world import World, bodies

pytestmark = pytest.mark.integration


@pytest.fixture
def ws_env_overrides() -> dict[str, str]:
    return {"DB_POOL_MAX": "8", "MAX_CONNECTIONS_PER_USER": "50"}


def _commands(client: WsClient) -> list[str]:
    return [f.command for f in client.receive()]


def _room_subscriptions(world: World, room: str, user: TestUser) -> list[Any]:
    return [
        sub
        for page in world.runtime.table.room_subscriptions(room)
        for sub in page
        if sub.user_id == user.id
    ]


def _private_room_with(world: World) -> tuple[TestUser, TestUser, str]:
    alice, bob = world.api.user(), world.api.user()
    room = world.api.room(alice, visibility="private")
    added = world.api.call("POST", f"/api/rooms/{room}/members", alice, {"username": bob.username})
    assert added.status_code == 201, added.text
    return alice, bob, room


def _remove(world: World, alice: TestUser, room: str, bob: TestUser) -> None:
    response = world.api.call("DELETE", f"/api/rooms/{room}/members/{bob.id}", alice)
    assert response.status_code == 204, response.text


class Hook:
    """Wrap one method of an object so that ``action`` runs once, right after the
    wrapped call number ``at`` (1-based) returned or raised."""

    def __init__(self, target: Any, name: str, at: int, action: Callable[[], None]) -> None:
        self.calls = 0
        self.fired = False
        original = getattr(target, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            try:
                return original(*args, **kwargs)
            finally:
                if self.calls == at and not self.fired:
                    self.fired = True
                    action()

        self._target, self._name, self._original = target, name, original
        setattr(target, name, wrapped)

    def remove(self) -> None:
        setattr(self._target, self._name, self._original)


@pytest.fixture
def hooks() -> Iterator[list[Hook]]:
    made: list[Hook] = []
    yield made
    for hook in made:
        hook.remove()


# ----------------------------------------------------------- removal races subscription

# Where the removal lands inside the SUBSCRIBE: after its first membership check (the
# window that let a subscription survive), after the subscription was written, and after
# the second check.
STEPS = [
    ("rooms", "require_member", 1),
    ("table", "add_subscription", 1),
    ("rooms", "require_member", 2),
]


@pytest.mark.parametrize(("port", "method", "at"), STEPS)
def test_removal_at_any_step_of_a_subscribe_leaves_no_subscription(
    world: World, hooks: list[Hook], port: str, method: str, at: int
) -> None:
    alice, bob, room = _private_room_with(world)
    watcher = world.open(alice)
    world.subscribe(watcher, room, sub_id="w")
    b = world.open(bob, subscribe_errors=True)
    b.receive()
    target = getattr(world.runtime.session._d, port)
    hooks.append(Hook(target, method, at, lambda: _remove(world, alice, room, bob)))
    world.subscribe(b, room, sub_id="late")
    assert hooks[0].fired
    assert _room_subscriptions(world, room, bob) == []
    assert not b.closed
    b.receive()
    watcher.receive()
    world.say(watcher, room, "after the removal")
    assert "after the removal" in [m["body"] for m in bodies(watcher.receive(), "message")]
    assert bodies(b.receive(), "message") == []
    b.send("SEND", {"destination": f"/app/rooms/{room}/typing", "receipt": "t"}, "{}")
    assert bodies(watcher.receive(), "typing") == []


def test_room_deleted_during_a_subscribe_leaves_no_subscription(
    world: World, hooks: list[Hook]
) -> None:
    alice, bob, room = _private_room_with(world)
    b = world.open(bob, subscribe_errors=True)

    def delete_room() -> None:
        assert world.api.call("DELETE", f"/api/rooms/{room}", alice).status_code == 204

    hooks.append(Hook(world.runtime.session._d.rooms, "require_member", 1, delete_room))
    world.subscribe(b, room)
    assert _room_subscriptions(world, room, bob) == []
    assert [e["code"] for e in bodies(b.receive(), "error")] == ["not-found"]


class SocketPlayer(threading.Thread):
    """One socket of the user, with a session object of its own, subscribing to the room
    and unsubscribing again in a loop. Once the removal has started, the first SUBSCRIBE
    that is still acknowledged stays (it straddled the removal, the case that leaked), and
    a refused one ends the loop too."""

    def __init__(self, deps: Any, client: WsClient, room: str, removal: threading.Event) -> None:
        super().__init__()
        self.session = StompSession(deps)
        self.client = client
        self.room = room
        self.removal = removal
        self.receipts = 0
        self.rounds = 0
        self.kept: str | None = None
        self.errors: list[BaseException] = []

    def frame(self, text: str) -> list[str]:
        outcome = self.session.on_message(self.client.connection_id, text, self.client.authorizer)
        return [f.command for f in outcome.replies]

    def run(self) -> None:
        destination = f"/topic/rooms/{self.room}"
        try:
            for n in range(1, 2000):
                self.rounds = n
                started_during_removal = self.removal.is_set()
                replies = self.frame(
                    f"SUBSCRIBE\nid:s{n}\ndestination:{destination}\nreceipt:s{n}\n\n\x00"
                )
                if "RECEIPT" not in replies:
                    return  # refused: the removal is visible
                self.receipts += 1
                if self.removal.is_set() and not started_during_removal:
                    self.kept = f"s{n}"
                    return
                self.frame(f"UNSUBSCRIBE\nid:s{n}\n\n\x00")
        except BaseException as exc:
            self.errors.append(exc)


def test_many_subscribes_racing_a_removal_leave_no_subscription(world: World) -> None:
    """Threads play one user's sockets, each subscribing and unsubscribing in a loop as
    fast as it can, while the user is removed; the SUBSCRIBEs in flight when the removal
    starts are left standing. Every round must end with no subscription of the user to
    the room. Each thread has its own session object (as each Lambda container has), all
    sharing the real adapters."""
    deps = world.runtime.session._d
    straddled = 0
    for round_no in range(12):
        alice, bob, room = _private_room_with(world)
        sockets = [world.open(bob, subscribe_errors=True) for _ in range(4)]
        removal = threading.Event()
        players = [SocketPlayer(deps, client, room, removal) for client in sockets]
        for player in players:
            player.start()
        for _ in range(500):  # every socket has been round its loop a few times
            if all(p.rounds >= 3 for p in players):
                break
            threading.Event().wait(0.01)
        removal.set()
        _remove(world, alice, room, bob)
        for player in players:
            player.join(timeout=60)
        assert [e for p in players for e in p.errors] == []
        assert all(p.receipts > 0 for p in players), f"round {round_no}"
        straddled += sum(1 for p in players if p.kept is not None)
        assert _room_subscriptions(world, room, bob) == [], f"round {round_no}"
        for client in sockets:
            client.disconnect()
    assert straddled > 0  # some SUBSCRIBEs were acknowledged while the removal ran


# ---------------------------------------------------------------- pipelined frames


def _pipelined(world: World, client: WsClient, room: str) -> None:
    """SUBSCRIBE, SEND and CONNECT as three messages, handled in the worst order:
    everything before the CONNECT that a client sent first."""
    client.send("SUBSCRIBE", {"id": "r", "destination": f"/topic/rooms/{room}", "receipt": "s"})
    body = json.dumps({"body": "pipelined", "clientMsgId": uuid.uuid4().hex})
    client.send("SEND", {"destination": f"/app/rooms/{room}", "receipt": "m"}, body)
    client.send("CONNECT", {"accept-version": "1.2", "heart-beat": "10000,0"})


@pytest.mark.parametrize("opened_with", ["ticket", "bearer"])
def test_frames_before_connect_are_answered_when_the_upgrade_carried_the_identity(
    world: World, opened_with: str
) -> None:
    alice = world.api.user()
    room = world.api.room(alice)
    if opened_with == "ticket":
        client = world.gateway.connect(ticket=world.ticket(alice))
    else:
        client = world.gateway.connect(bearer=alice.token)
    assert client is not None
    _pipelined(world, client, room)
    frames = client.receive()
    assert [f.command for f in frames if f.command != "MESSAGE"] == [
        "RECEIPT",
        "RECEIPT",
        "CONNECTED",
    ]
    receipt = next(f for f in frames if f.header("receipt-id") == "m")
    stored = world.api.call("GET", f"/api/rooms/{room}/messages", alice).json()["items"]
    [message] = [m for m in stored if m["type"] == "message"]
    assert message["body"] == "pipelined" and str(message["seq"]) == receipt.header("x-seq")
    assert [m["body"] for m in bodies(frames, "message")] == ["pipelined"]
    assert not client.closed
    world.say(client, room, "after CONNECTED", receipt="m2")
    assert "RECEIPT" in _commands(client)


def test_frames_before_connect_are_refused_when_connect_itself_authenticates(
    world: World,
) -> None:
    """Only such a socket may refuse them: its identity is not known before CONNECT."""
    alice = world.api.user()
    room = world.api.room(alice)
    client = world.gateway.connect()
    assert client is not None
    client.send("SUBSCRIBE", {"id": "r", "destination": f"/topic/rooms/{room}", "receipt": "s"})
    [error] = client.receive()
    assert error.command == "ERROR"
    assert (error.header("message") or "").startswith("not connected: send CONNECT first")
    assert client.closed


def test_typing_handled_before_its_subscribe_keeps_the_socket(world: World) -> None:
    alice, bob = world.api.user(), world.api.user()
    room = world.api.room(alice)
    assert world.api.call("POST", f"/api/rooms/{room}/join", bob).status_code == 200
    watcher = world.open(alice)
    world.subscribe(watcher, room)
    watcher.receive()
    b = world.open(bob)  # no error queue: a refusal would be a fatal ERROR
    b.send("SEND", {"destination": f"/app/rooms/{room}/typing", "receipt": "t"}, "{}")
    world.subscribe(b, room)
    assert [c for c in _commands(b) if c != "MESSAGE"] == ["RECEIPT", "RECEIPT"]
    assert not b.closed
    assert [t["user"]["id"] for t in bodies(watcher.receive(), "typing")] == [bob.id]


def test_typing_of_a_non_member_is_still_refused(world: World) -> None:
    alice, mallory = world.api.user(), world.api.user()
    room = world.api.room(alice, visibility="private")
    watcher = world.open(alice)
    world.subscribe(watcher, room)
    watcher.receive()
    m = world.open(mallory, subscribe_errors=True)
    m.send("SEND", {"destination": f"/app/rooms/{room}/typing", "receipt": "t"}, "{}")
    assert [e["code"] for e in bodies(m.receive(), "error")] == ["not-found"]
    assert bodies(watcher.receive(), "typing") == []


# ------------------------------------------------------------- no handler exception


def _no_internal_error(client: WsClient) -> list[str]:
    frames = client.receive()
    assert all("internal error" not in (f.header("message") or "") for f in frames), frames
    return [f.command for f in frames]


@pytest.mark.parametrize(
    "frame",
    [
        ("CONNECT", {"accept-version": "1.2"}),
        ("SUBSCRIBE", {"id": "n", "destination": "/user/queue/notifications", "receipt": "s"}),
    ],
)
def test_frames_on_a_connection_gone_meanwhile_raise_nothing(
    world: World, frame: tuple[str, dict[str, str]]
) -> None:
    """``$disconnect`` ran first (the socket closed at once); the frame's invocation
    comes after it, as API Gateway allows."""
    alice = world.api.user()
    client = world.gateway.connect(ticket=world.ticket(alice))
    assert client is not None
    world.runtime.forget_connection(client.connection_id)
    client.send(*frame)
    assert _no_internal_error(client) == []
    assert world.runtime.table.get_connection(client.connection_id) is None
    assert world.runtime.table.user_connections(alice.id) == []


@pytest.mark.parametrize("digits", ["\u00b2", "\u2460", "\u0661", "\U0001d7d9", "1_0", " 1", "+1"])
def test_numbers_in_headers_take_ascii_digits_only(world: World, digits: str) -> None:
    alice = world.api.user()
    room = world.api.room(alice)
    world.api.post_message(alice, room, "stored")
    client = world.open(alice)
    headers = {"id": "r", "destination": f"/topic/rooms/{room}", "x-since-seq": digits}
    client.send("SUBSCRIBE", {**headers, "receipt": "s"})
    frames = client.receive()
    assert [f.command for f in frames] == ["ERROR"], frames
    assert "ASCII digits" in (frames[0].header("message") or "")
    assert _room_subscriptions(world, room, alice) == []


@pytest.mark.parametrize("beat", ["\u0661,0", "1_0,0", "10000", "1,2,3", "-1,0"])
def test_heart_beat_header_takes_ascii_digits_only(world: World, beat: str) -> None:
    alice = world.api.user()
    client = world.gateway.connect(ticket=world.ticket(alice))
    assert client is not None
    client.send("CONNECT", {"accept-version": "1.2", "heart-beat": beat})
    frames = client.receive()
    assert [f.command for f in frames] == ["ERROR"]
    assert "heart-beat" in (frames[0].header("message") or "")


# ------------------------------------------------------------------------ caps


@pytest.mark.parametrize("ws_env_overrides", [{"MAX_SUBSCRIPTIONS_PER_CONNECTION": "4"}])
def test_one_socket_gets_one_copy_of_a_room_and_a_bounded_number_of_subscriptions(
    world: World,
) -> None:
    alice, bob = world.api.user(), world.api.user()
    rooms = [world.api.room(alice, name=f"r{n}") for n in range(4)]
    a = world.open(alice, subscribe_errors=True)
    for n in range(20):  # many ids, one room
        world.subscribe(a, rooms[0], sub_id=f"copy{n}")
    answers = a.receive()
    assert sum(1 for f in answers if f.command == "RECEIPT") == 1
    errors = bodies(answers, "error")
    assert len(errors) == 19 and {e["code"] for e in errors} == {"conflict"}
    assert "one subscription per destination" in errors[0]["message"]
    for n, room in enumerate(rooms[1:], start=1):
        world.subscribe(a, room, sub_id=f"room{n}")
    answers = a.receive()
    # errors queue + 3 rooms = the cap of 4: the last room is refused, in words
    assert sum(1 for f in answers if f.command == "RECEIPT") == 2
    [over] = bodies(answers, "error")
    assert over["code"] == "conflict" and "at most 4" in over["message"]
    assert not a.closed
    # the other member's delivery is untouched, and alice gets exactly one copy
    b = world.open(bob)
    assert world.api.call("POST", f"/api/rooms/{rooms[0]}/join", bob).status_code == 200
    a.receive()
    world.say(b, rooms[0], "one copy")
    assert [m["body"] for m in bodies(a.receive(), "message")] == ["one copy"]


@pytest.mark.parametrize("ws_env_overrides", [{"MAX_CONNECTIONS_PER_USER": "3"}])
def test_connections_over_the_users_cap_get_a_clear_error(world: World) -> None:
    alice, bob = world.api.user(), world.api.user()
    opened = [world.open(alice) for _ in range(3)]
    extra = world.gateway.connect(ticket=world.ticket(alice))
    assert extra is not None  # the upgrade succeeds so that the reason can be told
    extra.send("CONNECT", {"accept-version": "1.2"})
    [error] = extra.receive()
    assert error.command == "ERROR" and "at most 3" in (error.header("message") or "")
    assert extra.closed
    framed = world.gateway.connect()  # authenticating in CONNECT counts the same
    assert framed is not None
    framed.send("CONNECT", {"accept-version": "1.2", "Authorization": f"Bearer {alice.token}"})
    assert [f.command for f in framed.receive()] == ["ERROR"]
    world.open(bob)  # another user is not affected
    opened[0].disconnect()
    world.open(alice)  # a closed connection frees its place
    assert len(world.runtime.table.user_connections(alice.id)) == 3


def test_a_socket_opening_while_its_token_is_revoked_is_refused(world: World) -> None:
    """The authorizer let the token through; the logout lands before ``$connect`` ran.
    ``$connect`` indexes the socket under its user and then checks the token again, so
    a revocation either sees the socket (and closes it) or is seen by ``$connect``."""
    from tests.helpers.events import (
        lambda_context,
        ws_authorizer_event,
        ws_authorizer_output,
        ws_connect_event,
    )

    alice = world.api.user()
    modules = world.gateway.modules
    cid = uuid.uuid4().hex[:12] + "="
    auth_event = ws_authorizer_event(cid, None, f"Bearer {alice.token}")
    policy = modules["handlers.ws_authorizer"].handler(auth_event, lambda_context("authorizer"))
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert world.api.call("POST", "/api/auth/logout", alice).status_code == 204
    event = ws_connect_event(auth_event, ws_authorizer_output(policy))
    result = modules["handlers.ws_connect"].handler(event, lambda_context("connect"))
    assert result["statusCode"] == 401
    assert world.runtime.table.get_connection(cid) is None
    assert world.runtime.table.user_connections(alice.id) == []


def test_a_connect_frame_racing_a_logout_cannot_leave_a_listening_socket(
    world: World, hooks: list[Hook]
) -> None:
    """The CONNECT frame's token is checked, then the logout lands (and sweeps the user's
    sockets, finding this one not yet recorded as the token's) before CONNECT is stored:
    the check after storing it refuses the socket."""
    alice = world.api.user()
    client = world.gateway.connect()
    assert client is not None

    def logout() -> None:
        assert world.api.call("POST", "/api/auth/logout", alice).status_code == 204

    hooks.append(Hook(world.runtime.session._d.accounts, "authenticate", 1, logout))
    client.send("CONNECT", {"accept-version": "1.2", "Authorization": f"Bearer {alice.token}"})
    assert hooks[0].fired
    [error] = client.receive()
    assert error.command == "ERROR" and "revoked" in (error.header("message") or "")
    assert client.closed


def test_a_socket_opened_before_the_user_index_existed_is_indexed_at_connect(
    world: World,
) -> None:
    """A ticket socket whose ``$connect`` ran on the release before this one (no user index,
    no ``userIndexed`` mark): its CONNECT writes the index, so removals and user queues
    find it."""
    from chatflow.ws.connections import ConnectionRecord

    alice = world.api.user()
    client = world.gateway.connect(ticket=world.ticket(alice))
    assert client is not None
    table = world.runtime.table
    record = table.get_connection(client.connection_id)
    assert record is not None
    table.remove_user_connection(client.connection_id, alice.id)
    table.put_connection(
        ConnectionRecord(
            client.connection_id,
            record.connected_at,
            user_id=record.user_id,
            username=record.username,
            token_expires_at=record.token_expires_at,
            token_issued_at=record.token_issued_at,
            jti=record.jti,
        )
    )
    assert table.user_connections(alice.id) == []
    client.send("CONNECT", {"accept-version": "1.2"})
    assert [f.command for f in client.receive()] == ["CONNECTED"]
    assert table.user_connections(alice.id) == [client.connection_id]
