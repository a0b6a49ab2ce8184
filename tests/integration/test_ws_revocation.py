"""Revoked tokens close the sockets that use them, even sockets that only listen.

Logout revokes one session (its access token's ``jti``); a password change every older
credential version. Either closes, within the REST request, every connection of the user
that uses a revoked token (ticket, bearer or CONNECT-frame authenticated): an ERROR frame
saying why, the @connections DELETE, and its subscriptions gone at once. The sweeper is
the backstop for a close that was missed.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from chatflow.cache.revocations import RevocationStore
from chatflow.stomp import Frame
from chatflow.ws.publisher import WebSocketPublisher
from tests.helpers import api as api_helpers
from tests.helpers.events import lambda_context
from tests.helpers.ws_harness import WsClient
from tests.integration.ws_world import World, bodies

REVOKED = "the token has been revoked: log in again and reconnect"


def _private_room_with(
    world: World, owner: api_helpers.TestUser, member: api_helpers.TestUser
) -> str:
    room = world.api.room(owner, visibility="private")
    added = world.api.call(
        "POST", f"/api/rooms/{room}/members", owner, {"username": member.username}
    )
    assert added.status_code == 201, added.text
    return room


def _login(world: World, user: api_helpers.TestUser, password: str) -> api_helpers.TestUser:
    answer = world.api.http.post(
        "/api/auth/login", json={"username": user.username, "password": password}
    )
    assert answer.status_code == 200, answer.text
    return api_helpers.TestUser(user.id, user.username, answer.json()["accessToken"])


def _open_in_connect_frame(world: World, user: api_helpers.TestUser) -> WsClient:
    """A socket opened without credentials that authenticates in its CONNECT frame."""
    client = world.gateway.connect()
    assert client is not None
    client.send("CONNECT", {"accept-version": "1.2", "Authorization": f"Bearer {user.token}"})
    assert [f.command for f in client.receive()] == ["CONNECTED"]
    return client


def _listen(world: World, client: WsClient, room: str) -> None:
    world.subscribe(client, room)
    assert "RECEIPT" in [f.command for f in client.receive()]


def _not_presence(frames: list[Frame]) -> list[Frame]:
    """Presence events (other sockets of the room coming and going) set aside."""
    return [f for f in frames if f.command != "MESSAGE" or not bodies([f], "presence")]


def _closed_with(client: WsClient, reason: str) -> None:
    frames = _not_presence(client.receive())
    assert [(f.command, f.header("message")) for f in frames] == [("ERROR", reason)]
    assert client.closed


def _closed_for_revocation(client: WsClient) -> None:
    _closed_with(client, REVOKED)


def _room_listeners(world: World, room: str) -> set[str]:
    table = world.runtime.table
    return {s.connection_id for page in table.room_subscriptions(room) for s in page}


def _said(world: World, author: api_helpers.TestUser, room: str, text: str) -> None:
    assert world.api.post_message(author, room, text).status_code == 201


def _messages(frames: list[Frame]) -> list[str]:
    return [b["body"] for b in bodies(frames, "message")]


def test_logout_closes_every_listening_socket_of_that_session_and_only_those(
    world: World,
) -> None:
    alice = world.api.user(password="alice password")
    bob = world.api.user()
    room = _private_room_with(world, bob, alice)
    other_session = _login(world, alice, "alice password")

    revoked = [world.open(alice), world.open(alice), _open_in_connect_frame(world, alice)]
    kept = world.open(other_session)
    for client in [*revoked, kept]:
        _listen(world, client, room)

    assert world.api.call("POST", "/api/auth/logout", alice).status_code == 204
    for client in revoked:
        _closed_for_revocation(client)
        assert world.runtime.table.get_connection(client.connection_id) is None
    assert _room_listeners(world, room) == {kept.connection_id}

    _said(world, bob, room, "after the logout")
    assert all(c.receive() == [] for c in revoked)
    assert _messages(kept.receive()) == ["after the logout"]
    assert not kept.closed
    world.say(kept, room, "still here", receipt="k")
    assert [f.header("receipt-id") for f in kept.receive() if f.command == "RECEIPT"] == ["k"]


def test_a_password_change_closes_every_connection_of_an_older_credential(world: World) -> None:
    alice = world.api.user(password="old password 1")
    bob = world.api.user()
    room = _private_room_with(world, bob, alice)
    laptop = _login(world, alice, "old password 1")
    old = [world.open(alice), world.open(laptop), _open_in_connect_frame(world, laptop)]
    for client in old:
        _listen(world, client, room)

    changed = world.api.call(
        "PUT",
        "/api/users/me/password",
        alice,
        {"currentPassword": "old password 1", "newPassword": "new password 2"},
    )
    assert changed.status_code == 200, changed.text
    for client in old:
        _closed_for_revocation(client)
    assert _room_listeners(world, room) == set()

    renewed = api_helpers.TestUser(alice.id, alice.username, changed.json()["accessToken"])
    fresh = world.open(renewed)
    _listen(world, fresh, room)
    _said(world, bob, room, "after the change")
    assert all(c.receive() == [] for c in old)
    assert _messages(fresh.receive()) == ["after the change"]
    assert not fresh.closed


def test_the_rooms_hear_that_a_revoked_user_went_offline(world: World) -> None:
    alice, bob = world.api.user(), world.api.user()
    room = world.api.room(bob)
    assert world.api.call("POST", f"/api/rooms/{room}/join", alice).is_success
    watcher = world.open(bob)
    _listen(world, watcher, room)
    a = world.open(alice)
    _listen(world, a, room)
    watcher.receive()
    assert world.api.call("POST", "/api/auth/logout", alice).status_code == 204
    offline = [(e["status"], e["user"]["id"]) for e in bodies(watcher.receive(), "presence")]
    assert offline == [("offline", alice.id)]


def test_the_sweeper_closes_connections_whose_token_was_revoked_or_expired(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backstop: revocations whose close was missed (here the REST side's close fails)
    and a token that expired; all found with one revocation check for every connection."""
    alice, carol, dave = world.api.user(), world.api.user(), world.api.user()
    room = world.api.room(dave)
    for member in (alice, carol):
        assert world.api.call("POST", f"/api/rooms/{room}/join", member).is_success

    def lost(self: WebSocketPublisher, *args: Any, **kwargs: Any) -> None:
        """The revocation is stored, the close never happens (the function timed out)."""

    logged_out = world.open(alice)
    changed = world.open(carol)
    expiring = world.open(dave)
    healthy = world.open(dave)
    for client in (logged_out, changed, expiring, healthy):
        _listen(world, client, room)

    monkeypatch.setattr(WebSocketPublisher, "tokens_revoked", lost)
    assert world.api.call("POST", "/api/auth/logout", alice).status_code == 204
    changed_password = world.api.call(
        "PUT",
        "/api/users/me/password",
        carol,
        {"currentPassword": "correct horse battery", "newPassword": "another horse battery"},
    )
    assert changed_password.status_code == 200
    monkeypatch.undo()
    table = world.runtime.table
    record = table.get_connection(expiring.connection_id)
    assert record is not None
    table.put_connection(dataclasses.replace(record, token_expires_at=int(time.time()) - 1))
    assert not any(c.closed for c in (logged_out, changed, expiring))

    checks: list[int] = []
    real = RevocationStore.revoked_among

    def counted(self: RevocationStore, tokens: Any) -> Any:
        checks.append(len(tokens))
        return real(self, tokens)

    monkeypatch.setattr(RevocationStore, "revoked_among", counted)
    sweeper = world.gateway.modules["handlers.presence_sweeper"]
    stats = sweeper.handler({"source": "aws.events"}, lambda_context("presence_sweeper"))

    assert stats["connectionsRevoked"] == 3, stats
    assert checks == [3]  # one check for the three live tokens (the expired one needs none)
    for client in (logged_out, changed):
        _closed_for_revocation(client)
    _closed_with(expiring, "the token has expired: log in again and reconnect")
    assert _room_listeners(world, room) == {healthy.connection_id}
    assert not healthy.closed


def test_a_logout_succeeds_when_closing_its_sockets_fails(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The revocation is what matters; the close is left to the sweeper (test above)."""
    alice = world.api.user()
    a = world.open(alice)

    def unavailable(user_id: str) -> list[str]:
        raise ConnectionError("DynamoDB is unreachable")

    monkeypatch.setattr(world.runtime.table, "user_connections", unavailable)
    assert world.api.call("POST", "/api/auth/logout", alice).status_code == 204
    assert world.api.call("GET", "/api/users/me", alice).status_code == 401
    assert not a.closed
    a.send_raw("\n")  # its next frame, a bare heart-beat, is refused
    _closed_for_revocation(a)
