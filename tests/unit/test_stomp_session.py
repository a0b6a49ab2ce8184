"""Unit tests of StompSession's rules, with the in-memory fakes of chatflow.ws.fakes.

No PostgreSQL, Valkey or DynamoDB: every port of the session (connection table,
presence, publisher, frame guard, accounts, rooms, messages) is a fake that keeps the
real adapter's contract (see the fakes' module docstring). The same behaviour is checked
against the real services by tests/integration/test_ws_scenarios.py, test_ws_races.py and
test_bad_input.py; these tests pin the session's own decisions, one rule each.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from chatflow.settings import Settings
from chatflow.stomp import DEFAULT_LIMITS
from chatflow.ws import destinations
from chatflow.ws.deps import WsDeps
from chatflow.ws.fakes import (
    FakeAccounts,
    FakeGuard,
    FakeMessages,
    FakePresence,
    FakePublisher,
    FakeRooms,
    FakeTable,
    fake_subscription,
)
from chatflow.ws.identity import Identity, SessionCache
from chatflow.ws.session import Outcome, StompSession

NOW = 1_800_000_000
CID = "conn-1"
ROOM = uuid.UUID("11111111-1111-4111-8111-111111111111")
OTHER_ROOM = uuid.UUID("22222222-2222-4222-8222-222222222222")
ALICE = Identity(
    user_id=uuid.UUID("aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"),
    username="alice",
    jti="jti-alice",
    issued_at=NOW - 60,
    expires_at=NOW + 3600,
)


@dataclass
class World:
    table: FakeTable
    presence: FakePresence
    publisher: FakePublisher
    guard: FakeGuard
    accounts: FakeAccounts
    rooms: FakeRooms
    messages: FakeMessages
    sessions: SessionCache
    session: StompSession

    def frame(self, body: str, cid: str = CID, *, upgraded: bool = True) -> Outcome:
        """One WebSocket message; ``upgraded``: the identity came with the upgrade."""
        context = ALICE.authorizer_context() if upgraded else None
        return self.session.on_message(cid, body, dict(context) if context else None)


def stomp(command: str, *headers: tuple[str, str], body: str = "") -> str:
    lines = [command, *(f"{name}:{value}" for name, value in headers)]
    return "\n".join(lines) + "\n\n" + body + "\x00"


def connect(*headers: tuple[str, str]) -> str:
    return stomp("CONNECT", ("accept-version", "1.2"), ("host", "chatflow"), *headers)


def send(text: str = "hi", cmid: str | None = None, *headers: tuple[str, str]) -> str:
    payload: dict[str, str] = {"body": text}
    if cmid is not None:
        payload["clientMsgId"] = cmid
    return stomp(
        "SEND",
        ("destination", f"/app/rooms/{ROOM}"),
        ("receipt", "r1"),
        *headers,
        body=json.dumps(payload),
    )


def subscribe(sub_id: str = "s1", room: uuid.UUID = ROOM, *headers: tuple[str, str]) -> str:
    return stomp(
        "SUBSCRIBE",
        ("id", sub_id),
        ("destination", destinations.topic_of(room)),
        ("receipt", f"r-{sub_id}"),
        *headers,
    )


def errors_queue(sub_id: str = "e1") -> str:
    return stomp("SUBSCRIBE", ("id", sub_id), ("destination", destinations.ERRORS))


def only_error(out: Outcome) -> str:
    assert out.close
    assert [f.command for f in out.replies][-1] == "ERROR"
    return out.replies[-1].header("message") or ""


def commands(out: Outcome) -> list[str]:
    return [f.command for f in out.replies]


def build(
    *, max_connections: int = 20, max_subscriptions: int = 100, replay_max: int = 100
) -> World:
    settings = Settings(
        database_url="postgresql://unit@127.0.0.1/unit",
        redis_url="redis://127.0.0.1:6379/0",
        jwt_secret=SecretStr("unit-test-secret-that-is-long-enough-0123456789"),
        max_connections_per_user=max_connections,
        max_subscriptions_per_connection=max_subscriptions,
        replay_max=replay_max,
    )
    table = FakeTable(subscription_limit=max_subscriptions)
    presence = FakePresence()
    publisher = FakePublisher()
    guard = FakeGuard()
    accounts = FakeAccounts()
    rooms = FakeRooms()
    messages = FakeMessages(rooms, publisher)
    sessions = SessionCache()
    deps = WsDeps(
        settings=settings,
        table=table,
        presence=presence,
        publisher=publisher,
        guard=guard,
        accounts=accounts,
        rooms=rooms,
        messages=messages,
        sessions=sessions,
        subscription=fake_subscription,
        limits=DEFAULT_LIMITS,
        clock=lambda: float(NOW),
    )
    return World(
        table, presence, publisher, guard, accounts, rooms, messages, sessions, StompSession(deps)
    )


@pytest.fixture
def world() -> World:
    """Alice's socket, opened with a ticket (identity known since $connect), in ROOM."""
    w = build()
    w.table.open(CID, ALICE)
    w.rooms.add(ROOM, ALICE.user_id)
    return w


@pytest.fixture
def connected(world: World) -> World:
    out = world.frame(connect())
    assert commands(out) == ["CONNECTED"]
    return world


# -- CONNECT negotiation -----------------------------------------------------------------


def test_connect_answers_connected_with_version_session_server_and_user(world: World) -> None:
    out = world.frame(connect(("heart-beat", "10000,0")))
    frame = out.replies[0]
    assert frame.command == "CONNECTED"
    assert frame.header("version") == "1.2"
    assert frame.header("session") == CID
    assert frame.header("server") == "ChatFlow/0.1"
    assert frame.header("user-name") == "alice"
    assert frame.header("heart-beat") == "0,20000"
    assert world.table.connections[CID].state == "connected"
    assert world.presence.touches == [CID]


def test_connect_without_client_heartbeat_asks_for_none(world: World) -> None:
    assert world.frame(connect()).replies[0].header("heart-beat") == "0,0"


def test_stomp_command_is_connect(world: World) -> None:
    out = world.frame(stomp("STOMP", ("accept-version", "1.1,1.2")))
    assert out.replies[0].header("version") == "1.2"


def test_highest_common_version_is_picked(world: World) -> None:
    out = world.frame(stomp("CONNECT", ("accept-version", "1.0,1.1")))
    assert out.replies[0].header("version") == "1.1"
    assert out.version == "1.1"


def test_no_accept_version_means_stomp_1_0(world: World) -> None:
    assert world.frame(stomp("CONNECT")).version == "1.0"


def test_unsupported_version_is_refused(world: World) -> None:
    assert "unsupported STOMP version(s) '2.0'" in only_error(
        world.frame(stomp("CONNECT", ("accept-version", "2.0")))
    )


@pytest.mark.parametrize("beat", ["10000", "1,2,3", "-1,0", "\u0661\u0660,0", "\u00b2,0", " 1,0"])
def test_heartbeat_must_be_two_ascii_numbers(world: World, beat: str) -> None:
    assert "heart-beat header must be two non-negative integers" in only_error(
        world.frame(connect(("heart-beat", beat)))
    )


def test_second_connect_is_refused(connected: World) -> None:
    assert only_error(connected.frame(connect())) == "already connected"


def test_malformed_frame_is_an_error(world: World) -> None:
    assert only_error(world.frame("NOT A FRAME")).startswith("malformed frame:")


# -- frames before CONNECT ----------------------------------------------------------------


def test_upgraded_socket_may_subscribe_before_connect(world: World) -> None:
    out = world.frame(subscribe())
    assert commands(out) == ["RECEIPT"]
    assert world.table.connection_subscriptions(CID)[0].room_id == str(ROOM)


def test_socket_that_authenticates_in_connect_must_wait(world: World) -> None:
    world.table.open("anon", None)
    message = only_error(world.frame(subscribe(), "anon", upgraded=False))
    assert message.startswith("not connected: send CONNECT first")
    assert world.table.connection_subscriptions("anon") == []


def test_frame_after_connect_in_the_same_message_needs_connect_first(world: World) -> None:
    world.table.open("anon", None)
    token = world.accounts.issue(ALICE)
    out = world.frame(connect(("passcode", token)) + subscribe(), "anon", upgraded=False)
    assert commands(out) == ["CONNECTED", "RECEIPT"]


# -- authentication in CONNECT ---------------------------------------------------------------


def test_connect_with_bearer_token_indexes_and_connects(world: World) -> None:
    world.table.open("anon", None)
    token = world.accounts.issue(ALICE)
    out = world.frame(connect(("Authorization", f"Bearer {token}")), "anon", upgraded=False)
    assert commands(out) == ["CONNECTED"]
    assert "anon" in world.table.user_index[str(ALICE.user_id)]
    assert world.table.connections["anon"].user_id == str(ALICE.user_id)


def test_connect_without_credentials_is_refused(world: World) -> None:
    world.table.open("anon", None)
    assert only_error(world.frame(connect(), "anon", upgraded=False)).startswith(
        "authentication required"
    )


def test_connect_with_a_bad_token_is_refused(world: World) -> None:
    world.table.open("anon", None)
    message = only_error(world.frame(connect(("passcode", "nope")), "anon", upgraded=False))
    assert message == "authentication failed: invalid token"


def test_revocation_after_the_token_check_is_seen_at_connect(world: World) -> None:
    world.table.open("anon", None)
    token = world.accounts.issue(ALICE)
    world.accounts.revoke_after_authenticate.add(ALICE.jti)
    message = only_error(world.frame(connect(("passcode", token)), "anon", upgraded=False))
    assert message == "the token has been revoked: log in again and reconnect"


def test_frame_authenticated_connection_over_the_cap_is_refused() -> None:
    w = build(max_connections=1)
    w.table.open("first", ALICE)
    w.table.open("anon", None)
    token = w.accounts.issue(ALICE)
    message = only_error(w.frame(connect(("passcode", token)), "anon", upgraded=False))
    assert message.startswith("too many connections: a user may have at most 1")
    assert w.table.user_index[str(ALICE.user_id)] == {"first"}


# -- refused, revoked, expired, gone ---------------------------------------------------------


def test_refused_connection_answers_every_frame_with_error(world: World) -> None:
    world.table.open("over", ALICE, state="refused")
    assert only_error(world.frame(subscribe(), "over", upgraded=False)).startswith(
        "too many connections"
    )


def test_revoked_token_ends_the_session(connected: World) -> None:
    connected.guard.revoked.add(ALICE.jti)
    message = only_error(connected.frame(subscribe()))
    assert message == "the token has been revoked: log in again and reconnect"
    assert connected.table.connection_subscriptions(CID) == []


def test_expired_token_ends_the_session(world: World) -> None:
    expired = Identity(ALICE.user_id, "alice", "jti-old", NOW - 7200, NOW)
    world.table.open("old", expired)
    out = world.session.on_message("old", subscribe(), dict(expired.authorizer_context()))
    assert only_error(out) == "the token has expired: log in again and reconnect"


def test_connection_gone_before_connect_gets_nothing(world: World) -> None:
    world.table.delete_connection(CID)
    out = world.frame(connect())
    assert out.replies == [] and not out.close


def test_connection_gone_before_subscribe_gets_nothing(connected: World) -> None:
    connected.table.delete_connection(CID)
    out = connected.frame(subscribe())
    assert out.replies == [] and not out.close


# -- SEND ------------------------------------------------------------------------------


def test_send_stores_and_receipts_with_seq(connected: World) -> None:
    out = connected.frame(send("hello", "c-1"))
    frame = out.replies[0]
    assert frame.command == "RECEIPT"
    assert frame.header("receipt-id") == "r1"
    assert frame.header("x-seq") == "1"
    assert frame.header("x-duplicate") == "false"
    assert [m.body for m in connected.publisher.stored] == ["hello"]
    assert connected.guard.checks[-1] == (CID, 1)


def test_duplicate_client_msg_id_is_stored_once(connected: World) -> None:
    first = connected.frame(send("hello", "c-1")).replies[0]
    again = connected.frame(send("hello", "c-1")).replies[0]
    assert again.header("x-duplicate") == "true"
    assert again.header("x-message-id") == first.header("x-message-id")
    assert len(connected.messages.history[ROOM]) == 1


def test_send_without_receipt_gets_no_reply(connected: World) -> None:
    body = json.dumps({"body": "quiet"})
    out = connected.frame(stomp("SEND", ("destination", f"/app/rooms/{ROOM}"), body=body))
    assert out.replies == []
    assert len(connected.messages.history[ROOM]) == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("not json", "the SEND body must be JSON"),
        ('["x"]', 'a JSON object with a string "body"'),
        ('{"body": 1}', 'a JSON object with a string "body"'),
        ('{"body": "x", "clientMsgId": 5}', '"clientMsgId" must be a string'),
        ('{"body": "   "}', "must not be empty"),
    ],
)
def test_invalid_send_body_is_refused_in_words(connected: World, body: str, expected: str) -> None:
    frame = stomp("SEND", ("destination", f"/app/rooms/{ROOM}"), body=body)
    assert expected in only_error(connected.frame(frame))
    assert ROOM not in connected.messages.history or not connected.messages.history[ROOM]


def test_send_needs_a_known_destination(connected: World) -> None:
    assert "SEND needs a 'destination' header" in only_error(connected.frame(stomp("SEND")))
    wrong = stomp("SEND", ("destination", "/topic/x"))
    assert "unknown destination '/topic/x'" in only_error(connected.frame(wrong))


def test_refused_send_goes_to_the_error_queue_when_subscribed(connected: World) -> None:
    connected.frame(errors_queue())
    connected.rooms.members[ROOM].clear()
    out = connected.frame(send("hello"))
    assert not out.close
    reply = out.replies[0]
    assert reply.command == "MESSAGE"
    assert reply.header("subscription") == "e1"
    body = json.loads(reply.body)
    assert body["code"] == "not-found"
    assert body["receiptId"] == "r1"
    assert body["destination"] == f"/app/rooms/{ROOM}"


def test_rate_limited_send_goes_to_the_error_queue_with_retry_after(connected: World) -> None:
    connected.frame(errors_queue())
    connected.guard.send_budget = 0
    out = connected.frame(send("hello"))
    body = json.loads(out.replies[0].body)
    assert body["code"] == "rate-limited"
    assert body["retryAfter"] == 3
    assert ROOM not in connected.messages.history


def test_rate_limited_send_without_error_queue_is_an_error(connected: World) -> None:
    connected.guard.send_budget = 0
    assert only_error(connected.frame(send())) == "too many messages; try again in 3 s"


def test_database_outage_ends_the_session_asking_for_a_resend(connected: World) -> None:
    connected.messages.unavailable = True
    message = only_error(connected.frame(send("hello", "c-1")))
    assert "database unavailable" in message and "same clientMsgId" in message


# -- typing ------------------------------------------------------------------------------


def typing() -> str:
    return stomp("SEND", ("destination", f"/app/rooms/{ROOM}/typing"), ("receipt", "t1"))


def test_typing_of_a_subscriber_needs_no_membership_read(connected: World) -> None:
    connected.frame(subscribe())
    checks = connected.rooms.checks
    out = connected.frame(typing())
    assert commands(out) == ["RECEIPT"]
    assert connected.publisher.typing_events == [(ROOM, ALICE.user_id)]
    assert connected.rooms.checks == checks


def test_typing_of_a_member_not_yet_subscribed_goes_out(connected: World) -> None:
    assert commands(connected.frame(typing())) == ["RECEIPT"]
    assert connected.publisher.typing_events == [(ROOM, ALICE.user_id)]


def test_typing_of_a_non_member_is_refused(connected: World) -> None:
    connected.rooms.members[ROOM].clear()
    assert only_error(connected.frame(typing())) == "no such room"
    assert connected.publisher.typing_events == []


# -- SUBSCRIBE -----------------------------------------------------------------------------


def test_subscribe_stores_joins_presence_and_receipts(connected: World) -> None:
    out = connected.frame(subscribe())
    assert commands(out) == ["RECEIPT"]
    assert connected.presence.present(ROOM, ALICE.user_id)
    assert connected.publisher.presence_events == [(ROOM, ALICE.user_id, True)]
    assert connected.rooms.checks == 2  # before the write and after it


def test_subscribe_to_a_room_of_which_one_is_not_a_member(connected: World) -> None:
    assert only_error(connected.frame(subscribe("s1", OTHER_ROOM))) == "no such room"
    connected.rooms.add(OTHER_ROOM, public=True)
    assert only_error(connected.frame(subscribe("s2", OTHER_ROOM))) == "join the room first"
    assert connected.table.connection_subscriptions(CID) == []


def test_removal_between_the_two_checks_leaves_no_subscription(connected: World) -> None:
    connected.frame(errors_queue())
    connected.rooms.drop_after(ROOM, ALICE.user_id, checks=1)
    out = connected.frame(subscribe())
    assert json.loads(out.replies[0].body)["code"] == "not-found"
    rooms = [s.room_id for s in connected.table.connection_subscriptions(CID)]
    assert rooms == [None]  # only the error queue is left
    assert not connected.presence.present(ROOM, ALICE.user_id)
    assert connected.publisher.presence_events == [
        (ROOM, ALICE.user_id, True),
        (ROOM, ALICE.user_id, False),
    ]


def test_one_subscription_per_destination(connected: World) -> None:
    connected.frame(subscribe("s1"))
    message = only_error(connected.frame(subscribe("s2")))
    assert "already subscribed to" in message and "(subscription id 's1')" in message


def test_subscription_id_in_use_is_refused(connected: World) -> None:
    connected.frame(subscribe("s1"))
    connected.rooms.add(OTHER_ROOM, ALICE.user_id)
    assert only_error(connected.frame(subscribe("s1", OTHER_ROOM))) == (
        "subscription id 's1' is already in use"
    )


def test_too_many_subscriptions_is_refused() -> None:
    w = build(max_subscriptions=3)
    w.table.open(CID, ALICE)
    w.frame(errors_queue("e1"))
    w.frame(stomp("SUBSCRIBE", ("id", "n1"), ("destination", destinations.NOTIFICATIONS)))
    w.rooms.add(ROOM, ALICE.user_id)
    w.rooms.add(OTHER_ROOM, ALICE.user_id)
    assert commands(w.frame(subscribe("s1", ROOM))) == ["RECEIPT"]
    out = w.frame(subscribe("s2", OTHER_ROOM))
    body = json.loads(out.replies[0].body)
    assert body["code"] == "conflict"
    assert body["message"].startswith("too many subscriptions: at most 3")
    assert not w.presence.present(OTHER_ROOM, ALICE.user_id)


def test_subscribe_needs_id_and_a_known_destination(connected: World) -> None:
    assert "needs 'id' and 'destination'" in only_error(connected.frame(stomp("SUBSCRIBE")))
    wrong = stomp("SUBSCRIBE", ("id", "x"), ("destination", "/queue/x"))
    assert "unknown destination '/queue/x'" in only_error(connected.frame(wrong))


def test_replay_sends_missed_messages_then_a_marker(connected: World) -> None:
    for n in range(3):
        connected.messages.add(ROOM, f"m{n}", ALICE.user)
    out = connected.frame(subscribe("s1", ROOM, ("x-since-seq", "1")))
    assert commands(out) == ["MESSAGE", "MESSAGE", "MESSAGE", "RECEIPT"]
    assert [json.loads(f.body)["seq"] for f in out.replies[:2]] == [2, 3]
    assert out.replies[0].header("x-replay") == "true"
    marker = json.loads(out.replies[2].body)
    assert marker == {"type": "replay", "roomId": str(ROOM), "complete": True, "lastSeq": 3}


def test_replay_beyond_the_cap_says_incomplete() -> None:
    w = build(replay_max=2)
    w.table.open(CID, ALICE)
    w.rooms.add(ROOM, ALICE.user_id)
    for n in range(5):
        w.messages.add(ROOM, f"m{n}", ALICE.user)
    out = w.frame(subscribe("s1", ROOM, ("x-since-seq", "0")))
    marker = json.loads(out.replies[2].body)
    assert marker["complete"] is False and marker["lastSeq"] == 2


def test_replay_with_nothing_missed_keeps_the_given_seq(connected: World) -> None:
    out = connected.frame(subscribe("s1", ROOM, ("x-since-seq", "7")))
    assert json.loads(out.replies[0].body)["lastSeq"] == 7


@pytest.mark.parametrize("since", ["-1", "1.5", "\u0661", "", "x"])
def test_since_seq_must_be_ascii_digits(connected: World, since: str) -> None:
    out = connected.frame(subscribe("s1", ROOM, ("x-since-seq", since)))
    assert only_error(out).startswith("x-since-seq must be a non-negative integer")
    assert out.replies[-1].header("receipt-id") == "r-s1"


# -- UNSUBSCRIBE, DISCONNECT, refused commands -------------------------------------------------


def test_unsubscribe_removes_and_goes_offline(connected: World) -> None:
    connected.frame(subscribe("s1"))
    out = connected.frame(stomp("UNSUBSCRIBE", ("id", "s1"), ("receipt", "u1")))
    assert commands(out) == ["RECEIPT"]
    assert connected.table.connection_subscriptions(CID) == []
    assert connected.publisher.presence_events[-1] == (ROOM, ALICE.user_id, False)


def test_unsubscribe_of_an_unknown_id_still_receipts(connected: World) -> None:
    out = connected.frame(stomp("UNSUBSCRIBE", ("id", "nope"), ("receipt", "u1")))
    assert commands(out) == ["RECEIPT"]
    assert connected.publisher.presence_events == []


def test_unsubscribe_needs_an_id(connected: World) -> None:
    assert only_error(connected.frame(stomp("UNSUBSCRIBE"))) == "UNSUBSCRIBE needs an 'id' header"


def test_disconnect_receipts_and_closes(connected: World) -> None:
    out = connected.frame(stomp("DISCONNECT", ("receipt", "bye")) + subscribe())
    assert commands(out) == ["RECEIPT"] and out.close
    assert connected.table.connection_subscriptions(CID) == []


def test_ack_is_receipted(connected: World) -> None:
    assert commands(connected.frame(stomp("ACK", ("id", "1"), ("receipt", "a")))) == ["RECEIPT"]


@pytest.mark.parametrize("command", ["BEGIN", "COMMIT", "ABORT"])
def test_transactions_are_refused(connected: World, command: str) -> None:
    out = connected.frame(stomp(command, ("transaction", "t"), ("receipt", "x")))
    assert only_error(out) == "transactions are not supported"
    assert out.replies[-1].header("receipt-id") == "x"


@pytest.mark.parametrize("command", ["MESSAGE", "RECEIPT", "ERROR", "CONNECTED"])
def test_server_frames_are_refused(connected: World, command: str) -> None:
    assert only_error(connected.frame(stomp(command))) == f"'{command}' is a server frame"


def test_another_container_reads_the_identity_from_the_table_once(world: World) -> None:
    """A CONNECT-authenticated socket has no authorizer context: a container that did not
    handle its CONNECT learns who it is from the META item, then from its own cache."""
    world.table.open("anon", None)
    token = world.accounts.issue(ALICE)
    world.frame(connect(("passcode", token)), "anon", upgraded=False)
    world.sessions.drop("anon")
    reads = world.table.reads
    assert commands(world.frame(subscribe(), "anon", upgraded=False)) == ["RECEIPT"]
    assert commands(world.frame(typing(), "anon", upgraded=False)) == ["RECEIPT"]
    assert world.table.reads == reads + 1
    assert world.publisher.typing_events == [(ROOM, ALICE.user_id)]
