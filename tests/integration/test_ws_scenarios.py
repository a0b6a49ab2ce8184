"""The WebSocket side end to end at handler level: real event shapes, real PostgreSQL,
Valkey and DynamoDB (moto), and an @connections endpoint that records what was posted."""

from __future__ import annotations

import json
import time

from chatflow.stomp import Frame
from tests.integration.ws_world import World, bodies


def _commands(frames: list[Frame]) -> list[str]:
    return [f.command for f in frames]


def test_subprotocol_is_picked_and_returned(world: World) -> None:
    user = world.api.user()
    client = world.gateway.connect(ticket=world.ticket(user), protocols="v10.stomp, v12.stomp")
    assert client is not None and client.subprotocol == "v12.stomp"
    bare = world.gateway.connect(ticket=world.ticket(user), protocols=None)
    assert bare is not None and bare.subprotocol is None


def test_two_users_chat_both_ways(world: World) -> None:
    alice, bob = world.api.user("alice"), world.api.user("bob")
    room = world.api.room(alice)
    assert world.api.call("POST", f"/api/rooms/{room}/join", bob).status_code == 200
    a, b = world.open(alice), world.open(bob)
    world.subscribe(a, room)
    world.subscribe(b, room)
    a.receive(), b.receive()

    world.say(a, room, "hello bob", receipt="m1")
    got_a, got_b = a.receive(), b.receive()
    receipt = next(f for f in got_a if f.command == "RECEIPT")
    assert receipt.header("receipt-id") == "m1"
    seq = int(receipt.header("x-seq") or 0)
    [msg] = bodies(got_b, "message")
    assert msg["body"] == "hello bob" and msg["seq"] == seq
    assert msg["sender"]["username"] == "alice"
    assert bodies(got_a, "message")[0]["seq"] == seq  # the sender's own subscription too

    world.say(b, room, "hi alice", receipt="m2")
    [reply] = bodies(a.receive(), "message")
    assert reply["body"] == "hi alice" and reply["seq"] == seq + 1
    frame = next(f for f in a.inbox if f.command == "MESSAGE" and b"hi alice" in f.body)
    assert frame.header("subscription") == "r"
    assert frame.header("content-type") == "application/json"
    assert frame.header("message-id") == f"{room}:{seq + 1}"
    history = world.api.call("GET", f"/api/rooms/{room}/messages", alice).json()["items"]
    assert [m["body"] for m in history if m["type"] == "message"] == ["hello bob", "hi alice"]


def test_message_posted_over_rest_reaches_subscribers(world: World) -> None:
    alice = world.api.user()
    room = world.api.room(alice)
    a = world.open(alice)
    world.subscribe(a, room)
    a.receive()
    assert world.api.post_message(alice, room, "from rest").status_code == 201
    assert [m["body"] for m in bodies(a.receive(), "message")] == ["from rest"]


def test_non_member_can_neither_subscribe_send_nor_read(world: World) -> None:
    owner, stranger = world.api.user(), world.api.user()
    room = world.api.room(owner, visibility="private")
    s = world.open(stranger)
    world.subscribe(s, room)
    [err] = s.receive()
    assert err.command == "ERROR" and err.header("message") == "no such room"
    assert s.closed

    s2 = world.open(stranger)
    world.say(s2, room, "let me in")
    [err2] = s2.receive()
    assert err2.command == "ERROR" and err2.header("message") == "no such room"
    assert err2.header("receipt-id") == "m"
    assert world.api.call("GET", f"/api/rooms/{room}/messages", stranger).status_code == 404
    assert world.api.call("GET", f"/api/rooms/{room}", owner).json()["lastSeq"] == 0


def test_request_errors_go_to_the_error_queue_when_subscribed(world: World) -> None:
    owner, stranger = world.api.user(), world.api.user()
    room = world.api.room(owner)
    s = world.open(stranger, subscribe_errors=True)
    world.say(s, room, "not joined yet")
    [note] = bodies(s.receive(), "error")
    assert note["code"] == "forbidden" and note["message"] == "join the room first"
    assert not s.closed


def test_removed_member_receives_nothing_more(world: World) -> None:
    owner, member = world.api.user(), world.api.user()
    room = world.api.room(owner, visibility="private")
    added = world.api.call(
        "POST", f"/api/rooms/{room}/members", owner, {"username": member.username}
    )
    assert added.status_code == 201
    o, m = world.open(owner), world.open(member)
    m.send("SUBSCRIBE", {"id": "n", "destination": "/user/queue/notifications"})
    world.subscribe(o, room)
    world.subscribe(m, room)
    world.say(o, room, "before")
    assert [x["body"] for x in bodies(m.receive(), "message")] == ["before"]
    o.receive()

    removed = world.api.call("DELETE", f"/api/rooms/{room}/members/{member.id}", owner)
    assert removed.status_code == 204
    notes = bodies(m.receive())
    assert {"type": "removed_from_room", "roomId": room} in notes
    world.say(o, room, "after")
    assert bodies(m.receive(), "message") == []
    assert [x["body"] for x in bodies(o.receive(), "message")] == ["after"]
    assert world.runtime.table.connection_subscriptions(m.connection_id)[0].room_id is None


def test_reconnect_with_since_seq_gets_exactly_the_missed_messages(world: World) -> None:
    alice, bob = world.api.user(), world.api.user()
    room = world.api.room(alice)
    world.api.call("POST", f"/api/rooms/{room}/join", bob)
    b = world.open(bob)
    world.subscribe(b, room)
    world.api.post_message(alice, room, "seen")
    last_seen = bodies(b.receive(), "message")[-1]["seq"]
    b.disconnect()
    for text in ("missed 1", "missed 2", "missed 3"):
        world.api.post_message(alice, room, text)

    b2 = world.open(bob)
    world.subscribe(b2, room, **{"x-since-seq": str(last_seen)})
    frames = b2.receive()
    replayed = [json.loads(f.body) for f in frames if f.header("x-replay") == "true"]
    assert [m["body"] for m in replayed] == ["missed 1", "missed 2", "missed 3"]
    assert [m["seq"] for m in replayed] == [last_seen + 1, last_seen + 2, last_seen + 3]
    [marker] = bodies(frames, "replay")
    assert marker == {"type": "replay", "roomId": room, "complete": True, "lastSeq": last_seen + 3}


def test_replay_beyond_the_limit_says_incomplete(world: World) -> None:
    alice = world.api.user()
    room = world.api.room(alice)
    for i in range(world.runtime.settings.replay_max + 5):
        world.api.post_message(alice, room, f"m{i}")
    a = world.open(alice)
    world.subscribe(a, room, **{"x-since-seq": "0"})
    frames = a.receive()
    assert len([f for f in frames if f.header("x-replay") == "true"]) == 100
    [marker] = bodies(frames, "replay")
    assert marker["complete"] is False and marker["lastSeq"] == 100


def test_repeated_client_msg_id_is_stored_once(world: World) -> None:
    alice = world.api.user()
    room = world.api.room(alice)
    a = world.open(alice)
    world.say(a, room, "once", cmid="cm-1", receipt="r1")
    world.say(a, room, "once", cmid="cm-1", receipt="r2")
    receipts = [f for f in a.receive() if f.command == "RECEIPT"]
    assert [r.header("x-seq") for r in receipts] == ["1", "1"]
    assert [r.header("x-duplicate") for r in receipts] == ["false", "true"]
    items = world.api.call("GET", f"/api/rooms/{room}/messages", alice).json()["items"]
    assert [m["body"] for m in items] == ["once"]


def test_gone_connection_is_cleaned_and_only_it(world: World) -> None:
    alice, bob = world.api.user(), world.api.user()
    room = world.api.room(alice)
    world.api.call("POST", f"/api/rooms/{room}/join", bob)
    a, b = world.open(alice), world.open(bob)
    world.subscribe(a, room)
    world.subscribe(b, room)
    world.endpoint.mark_gone(b.connection_id)
    world.say(a, room, "anyone?")
    assert any(f.command == "RECEIPT" for f in a.receive())
    assert world.runtime.table.get_connection(b.connection_id) is None
    assert world.runtime.table.get_connection(a.connection_id) is not None
    subs = [
        s.connection_id for page in world.runtime.table.room_subscriptions(room, 100) for s in page
    ]
    assert subs == [a.connection_id]


def test_token_expiry_mid_session_ends_it(world: World) -> None:
    alice = world.api.user()
    room = world.api.room(alice)
    a = world.open(alice)
    world.runtime.session._d.clock = lambda: time.time() + 10 * 86400
    world.say(a, room, "too late")
    [err] = a.receive()
    assert err.command == "ERROR" and "expired" in (err.header("message") or "")
    assert a.closed
    assert world.api.call("GET", f"/api/rooms/{room}", alice).json()["lastSeq"] == 0


def test_logout_ends_the_websocket_session(world: World) -> None:
    """The socket is closed by the logout itself, without waiting for it to send."""
    alice = world.api.user()
    a = world.open(alice)
    assert world.api.call("POST", "/api/auth/logout", alice).status_code == 204
    [err] = a.receive()
    assert err.command == "ERROR" and "revoked" in (err.header("message") or "")
    assert a.closed


def test_presence_with_two_tabs_of_one_user(world: World) -> None:
    alice, bob = world.api.user("alice"), world.api.user("bob")
    room = world.api.room(bob)
    world.api.call("POST", f"/api/rooms/{room}/join", alice)
    watcher = world.open(bob)
    world.subscribe(watcher, room)
    watcher.receive()

    tab1, tab2 = world.open(alice), world.open(alice)
    world.subscribe(tab1, room)
    world.subscribe(tab2, room)
    events = bodies(watcher.receive(), "presence")
    assert [(e["status"], e["user"]["username"]) for e in events] == [("online", "alice")]
    online = world.api.call("GET", f"/api/rooms/{room}/presence", bob).json()["online"]
    assert sorted(u["username"] for u in online) == ["alice", "bob"]

    tab1.disconnect()
    assert bodies(watcher.receive(), "presence") == []
    tab2.receive()
    tab2.send("DISCONNECT", {"receipt": "bye"})
    assert _commands(tab2.receive()) == ["RECEIPT"]
    assert tab2.closed
    events = bodies(watcher.receive(), "presence")
    assert [(e["status"], e["user"]["id"]) for e in events] == [("offline", alice.id)]


def test_typing_is_fanned_out_and_never_stored(world: World) -> None:
    alice, bob = world.api.user(), world.api.user()
    room = world.api.room(alice)
    world.api.call("POST", f"/api/rooms/{room}/join", bob)
    a, b = world.open(alice), world.open(bob)
    world.subscribe(a, room)
    world.subscribe(b, room)
    b.receive()
    a.send("SEND", {"destination": f"/app/rooms/{room}/typing"}, "{}")
    [typing] = bodies(b.receive(), "typing")
    assert typing["user"]["id"] == alice.id
    last = world.api.call("GET", f"/api/rooms/{room}", alice).json()["lastSeq"]
    assert last == 1  # bob's join only


def test_frames_before_connect_and_anonymous_connect(world: World) -> None:
    user = world.api.user()
    anon = world.gateway.connect()
    assert anon is not None
    anon.send("SUBSCRIBE", {"id": "1", "destination": "/user/queue/notifications"})
    [err] = anon.receive()
    assert err.command == "ERROR" and "CONNECT" in (err.header("message") or "")

    spring = world.gateway.connect()
    assert spring is not None
    spring.send("CONNECT", {"accept-version": "1.2", "Authorization": f"Bearer {user.token}"})
    [connected] = spring.receive()
    assert connected.command == "CONNECTED"
    assert connected.header("user-name") == user.username
    assert connected.header("version") == "1.2"
    assert connected.header("heart-beat") == "0,0"

    nobody = world.gateway.connect()
    assert nobody is not None
    nobody.send("CONNECT", {"accept-version": "1.2", "passcode": "not-a-token"})
    [refused] = nobody.receive()
    assert refused.command == "ERROR" and nobody.closed


def test_tickets_are_single_use_and_checked(world: World) -> None:
    user = world.api.user()
    ticket = world.ticket(user)
    assert world.gateway.connect(ticket=ticket) is not None
    assert world.gateway.connect(ticket=ticket) is None  # replayed
    assert world.gateway.connect(ticket=ticket[:-2] + "xx") is None  # tampered
    assert world.gateway.connect(ticket=user.token) is None  # an access token is no ticket
    assert world.gateway.connect(bearer=user.token) is not None
    assert world.gateway.connect(bearer=ticket) is None


def test_malformed_frames_get_error_and_close(world: World) -> None:
    user = world.api.user()
    for raw in ("FOO\n\n\x00", "SEND\ndestination:/x\n\nno terminator", "\x00\x00garbage"):
        client = world.open(user)
        client.send_raw(raw)
        frames = client.receive()
        assert _commands(frames) == ["ERROR"], raw
        assert client.closed


def test_stomp_command_version_negotiation_and_ack(world: World) -> None:
    user = world.api.user()
    client = world.gateway.connect(ticket=world.ticket(user))
    assert client is not None
    client.send("STOMP", {"accept-version": "1.0,1.1", "host": "chatflow"})
    [connected] = client.receive()
    assert connected.command == "CONNECTED" and connected.header("version") == "1.1"
    client.send("ACK", {"id": "x", "receipt": "a"})
    client.send("NACK", {"id": "y", "receipt": "n"})
    assert [(f.command, f.header("receipt-id")) for f in client.receive()] == [
        ("RECEIPT", "a"),
        ("RECEIPT", "n"),
    ]
    old = world.gateway.connect(ticket=world.ticket(user))
    assert old is not None
    old.send("CONNECT", {"accept-version": "2.0"})
    [refused] = old.receive()
    assert refused.command == "ERROR" and "unsupported" in (refused.header("message") or "")


def test_deleted_room_ends_every_subscription_on_every_device(world: World) -> None:
    owner, member = world.api.user(), world.api.user()
    room = world.api.room(owner)
    world.api.call("POST", f"/api/rooms/{room}/join", member)
    phone, laptop = world.open(member), world.open(member)
    for device in (phone, laptop):
        device.send("SUBSCRIBE", {"id": "n", "destination": "/user/queue/notifications"})
        world.subscribe(device, room)
        device.receive()
    assert world.api.call("DELETE", f"/api/rooms/{room}", owner).status_code == 204
    for device in (phone, laptop):
        assert {"type": "room_deleted", "roomId": room} in bodies(device.receive())
        subs = world.runtime.table.connection_subscriptions(device.connection_id)
        assert [s.destination for s in subs] == ["/user/queue/notifications"]
    assert list(world.runtime.table.room_subscriptions(room, 100)) in ([], [[]])


def test_presence_and_typing_show_the_display_name(world: World) -> None:
    alice, bob = world.api.user(display_name="Alice Liddell"), world.api.user()
    room = world.api.room(bob)
    world.api.call("POST", f"/api/rooms/{room}/join", alice)
    watcher = world.open(bob)
    world.subscribe(watcher, room)
    watcher.receive()

    a = world.open(alice)  # a ticket: the identity comes through the authorizer context
    world.subscribe(a, room)
    [online] = bodies(watcher.receive(), "presence")
    assert online["user"] == {
        "id": alice.id,
        "username": alice.username,
        "displayName": "Alice Liddell",
    }
    a.receive()
    a.send("SEND", {"destination": f"/app/rooms/{room}/typing"}, "{}")
    [typing] = bodies(watcher.receive(), "typing")
    assert typing["user"]["displayName"] == "Alice Liddell"
    # without a display name the username stands in, as before
    b_typing = world.open(bob)
    world.subscribe(b_typing, room, sub_id="again")
    b_typing.receive()
    b_typing.send("SEND", {"destination": f"/app/rooms/{room}/typing"}, "{}")
    [plain] = [e for e in bodies(a.receive(), "typing") if e["user"]["id"] == bob.id]
    assert plain["user"]["displayName"] == bob.username


def test_a_rename_reaches_subscribers_at_once(world: World) -> None:
    alice, bob = world.api.user(), world.api.user()
    room = world.api.room(alice, name="before")
    world.api.call("POST", f"/api/rooms/{room}/join", bob)
    watcher = world.open(bob)
    world.subscribe(watcher, room)
    watcher.receive()
    renamed = world.api.call("PATCH", f"/api/rooms/{room}", alice, {"name": "after"})
    assert renamed.status_code == 200, renamed.text
    [event] = bodies(watcher.receive(), "room_updated")
    assert event["roomId"] == room
    assert (event["name"], event["topic"]) == ("after", renamed.json()["topic"])
    assert event["by"]["id"] == alice.id
    refused = world.api.call("PATCH", f"/api/rooms/{room}", bob, {"name": "mine now"})
    assert refused.status_code == 403
    assert bodies(watcher.receive(), "room_updated") == []


def test_a_session_opened_in_the_connect_frame_keeps_the_display_name(world: World) -> None:
    """No authorizer context: the identity is read back from the connection table."""
    alice, bob = world.api.user(display_name="Alice Liddell"), world.api.user()
    room = world.api.room(bob)
    world.api.call("POST", f"/api/rooms/{room}/join", alice)
    watcher = world.open(bob)
    world.subscribe(watcher, room)
    watcher.receive()
    plain = world.gateway.connect()
    assert plain is not None
    plain.send("CONNECT", {"accept-version": "1.2", "Authorization": f"Bearer {alice.token}"})
    assert [f.command for f in plain.receive()] == ["CONNECTED"]
    world.runtime.sessions.drop(plain.connection_id)  # as if the next frame hit a new container
    world.subscribe(plain, room)
    [online] = bodies(watcher.receive(), "presence")
    assert online["user"]["displayName"] == "Alice Liddell"
