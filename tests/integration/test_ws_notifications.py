"""Notices on ``/user/queue/notifications`` and the ``clientMsgId`` of stored messages, at
handler level (real PostgreSQL, Valkey, moto's DynamoDB, the recording @connections endpoint).

Each notice must reach every connection of the person it is for (a phone and a laptop here)
and nobody else: a bystander with two devices of their own, subscribed to their notices as
well, must get none of them.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from chatflow.ws.publisher import DIRECT_EXCERPT_CHARS
from tests.helpers.api import TestUser
from tests.helpers.ws_harness import WsClient
from tests.integration.test_ws_costs import counting
from tests.integration.ws_world import World, bodies

NOTIFICATIONS = "/user/queue/notifications"


def _devices(world: World, user: TestUser) -> list[WsClient]:
    """Two connections of ``user``, both subscribed to their notices and drained."""
    devices = []
    for _ in range(2):
        client = world.open(user)
        client.send("SUBSCRIBE", {"id": "n", "destination": NOTIFICATIONS, "receipt": "n"})
        assert [f.command for f in client.receive()] == ["RECEIPT"]
        devices.append(client)
    return devices


def _notices(client: WsClient) -> list[dict[str, Any]]:
    return [
        json.loads(f.body)
        for f in client.receive()
        if f.command == "MESSAGE" and f.header("destination") == NOTIFICATIONS
    ]


def _user_json(world: World, user: TestUser) -> dict[str, str]:
    me = world.api.call("GET", "/api/users/me", user).json()
    return {"id": me["id"], "username": me["username"], "displayName": me["displayName"]}


def test_being_added_to_a_room_reaches_every_device_of_the_added_member(world: World) -> None:
    owner, member, bystander = world.api.user(), world.api.user(), world.api.user()
    room = world.api.room(owner, visibility="private")
    mine, theirs, others = (
        _devices(world, member),
        _devices(world, owner),
        _devices(world, bystander),
    )
    added = world.api.call(
        "POST", f"/api/rooms/{room}/members", owner, {"username": member.username}
    )
    assert added.status_code == 201, added.text
    expected = {"type": "added_to_room", "roomId": room, "by": _user_json(world, owner)}
    for device in mine:
        assert _notices(device) == [expected]
    for device in theirs + others:
        assert _notices(device) == []


def test_a_new_direct_room_is_announced_to_the_other_person_once(world: World) -> None:
    alice, bob, bystander = world.api.user(), world.api.user(), world.api.user()
    bobs, alices, others = _devices(world, bob), _devices(world, alice), _devices(world, bystander)
    first = world.api.call("POST", "/api/dms", alice, {"username": bob.username})
    assert first.status_code in (200, 201), first.text
    room = first.json()["id"]
    expected = {"type": "added_to_room", "roomId": room, "by": _user_json(world, alice)}
    for device in bobs:
        assert _notices(device) == [expected]
    # The same pair again, from either side: the room exists, nobody is added, no notice.
    world.api.call("POST", "/api/dms", alice, {"username": bob.username})
    world.api.call("POST", "/api/dms", bob, {"username": alice.username})
    for device in bobs + alices + others:
        assert _notices(device) == []


def test_a_direct_message_notifies_the_other_person_with_an_excerpt(world: World) -> None:
    alice, bob, bystander = world.api.user(), world.api.user(), world.api.user()
    room = world.api.call("POST", "/api/dms", alice, {"username": bob.username}).json()["id"]
    bobs, alices, others = _devices(world, bob), _devices(world, alice), _devices(world, bystander)
    sender = world.open(alice)
    text = "é" * 150 + " the end"
    world.say(sender, room, text, cmid="dm-1", receipt="m1")
    [stored] = [f for f in sender.receive() if f.command == "RECEIPT"]
    seq = int(stored.header("x-seq") or 0)
    expected = {
        "type": "direct_message",
        "roomId": room,
        "seq": seq,
        "sender": _user_json(world, alice),
        "excerpt": "é" * DIRECT_EXCERPT_CHARS,
    }
    for device in bobs:
        assert _notices(device) == [expected]
    for device in alices + others:
        assert _notices(device) == []
    # A retry of the same clientMsgId stores nothing and notifies nobody again; a post over
    # REST into the direct room notifies like a SEND.
    world.say(sender, room, text, cmid="dm-1", receipt="m2")
    assert [f.header("x-duplicate") for f in sender.receive()] == ["true"]
    assert world.api.post_message(bob, room, "over rest").status_code == 201
    for device in bobs + others:
        assert _notices(device) == []
    for device in alices:
        assert [n["excerpt"] for n in _notices(device)] == ["over rest"]


def test_messages_in_other_rooms_notify_nobody(world: World) -> None:
    alice, bob = world.api.user(), world.api.user()
    public = world.api.room(alice)
    private = world.api.room(alice, visibility="private")
    world.api.call("POST", f"/api/rooms/{public}/join", bob)
    world.api.call("POST", f"/api/rooms/{private}/members", alice, {"username": bob.username})
    bobs = _devices(world, bob)
    sender = world.open(alice)
    for room in (public, private):
        world.say(sender, room, "not direct")
    assert [f.command for f in sender.receive()] == ["RECEIPT", "RECEIPT"]
    for device in bobs:
        assert _notices(device) == []


def test_a_send_into_a_direct_room_costs_one_statement(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Knowing that the room is direct, and who the other person is, costs no extra round
    trip: the append returns the room's direct_key. The notice costs one Query (the other
    person's notification subscriptions) and one post per device."""
    alice, bob = world.api.user(), world.api.user()
    room = world.api.call("POST", "/api/dms", alice, {"username": bob.username}).json()["id"]
    _devices(world, bob)
    sender = world.open(alice)
    with counting(world, monkeypatch) as counts:
        world.say(sender, room, "counted", receipt="c")
    assert counts["postgres"] == 1
    assert counts["redis"] == 1
    # The room's subscribers (none) and the other person's notification subscriptions.
    assert counts["dynamodb.Query"] == 2
    assert counts["posts"] == 2 + 1  # the notice to each of bob's devices, the RECEIPT


def test_a_role_change_reaches_the_member_whose_role_changed(world: World) -> None:
    owner, member, bystander = world.api.user(), world.api.user(), world.api.user()
    room = world.api.room(owner)
    for user in (member, bystander):
        world.api.call("POST", f"/api/rooms/{room}/join", user)
    mine, owners, others = (
        _devices(world, member),
        _devices(world, owner),
        _devices(world, bystander),
    )
    path = f"/api/rooms/{room}/members/{member.id}"
    assert world.api.call("PATCH", path, owner, {"role": "admin"}).status_code == 200
    for device in mine:
        assert _notices(device) == [{"type": "role_changed", "roomId": room, "role": "admin"}]
    for device in owners + others:
        assert _notices(device) == []
    # The same role again changes nothing and says nothing.
    assert world.api.call("PATCH", path, owner, {"role": "admin"}).status_code == 200
    for device in mine:
        assert _notices(device) == []
    # Handing ownership over changes two roles: both people hear of their own.
    assert world.api.call("PATCH", path, owner, {"role": "owner"}).status_code == 200
    for device in mine:
        assert _notices(device) == [{"type": "role_changed", "roomId": room, "role": "owner"}]
    for device in owners:
        assert _notices(device) == [{"type": "role_changed", "roomId": room, "role": "admin"}]
    for device in others:
        assert _notices(device) == []


def test_a_deleted_room_is_announced_to_members_not_subscribed_to_it(world: World) -> None:
    owner, member, stranger = world.api.user(), world.api.user(), world.api.user()
    room = world.api.room(owner)
    world.api.call("POST", f"/api/rooms/{room}/join", member)
    # Only the notices, not the room: a page that lists the room without watching it yet.
    mine, strangers = _devices(world, member), _devices(world, stranger)
    assert world.api.call("DELETE", f"/api/rooms/{room}", owner).status_code == 204
    for device in mine:
        assert _notices(device) == [{"type": "room_deleted", "roomId": room}]
    for device in strangers:
        assert _notices(device) == []


def test_stored_messages_carry_their_client_msg_id_live_replayed_and_in_history(
    world: World,
) -> None:
    alice, bob = world.api.user(), world.api.user()
    room = world.api.room(alice)
    world.api.call("POST", f"/api/rooms/{room}/join", bob)
    watcher = world.open(bob)
    world.subscribe(watcher, room)
    watcher.receive()
    sender = world.open(alice)
    cmid = f"c-{uuid.uuid4().hex}"
    world.say(sender, room, "with an id", cmid=cmid)
    [live] = bodies(watcher.receive(), "message")
    assert live["clientMsgId"] == cmid
    assert world.api.post_message(alice, room, "without one").status_code == 201

    late = world.open(bob)
    world.subscribe(late, room, **{"x-since-seq": "0"})
    replayed = {m["body"]: m for m in bodies(late.receive()) if "seq" in m}
    assert replayed["with an id"]["clientMsgId"] == cmid
    assert replayed["without one"]["clientMsgId"] is None
    assert replayed["joined"]["clientMsgId"] is None  # bob's join, a system event

    items = world.api.call("GET", f"/api/rooms/{room}/messages", alice).json()["items"]
    by_body = {m["body"]: m["clientMsgId"] for m in items}
    assert by_body == {"joined": None, "with an id": cmid, "without one": None}
    seq = live["seq"]
    edited = world.api.call(
        "PATCH", f"/api/rooms/{room}/messages/{seq}", alice, {"body": "edited"}
    ).json()
    assert edited["clientMsgId"] == cmid
    [update] = bodies(watcher.receive(), "message_updated")
    assert update["clientMsgId"] == cmid
