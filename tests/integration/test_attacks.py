"""Attacks, one test each, against the REST API and the STOMP ``$default`` route with
real services: forged, expired, tampered, replayed and revoked credentials; guessing
other rooms' ids; oversized frames and bodies; header injection through STOMP escapes;
SQL and script payloads; and password guessing against the login rate limit.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from chatflow.api.app import create_app
from chatflow.container import build_container
from chatflow.security.tokens import TokenService
from chatflow.settings import Settings
from chatflow.stomp import Frame, serialize
from tests.helpers.api import ApiClient, TestUser
from tests.integration.conftest import JWT_SECRET
from tests.integration.ws_world import World, bodies

pytestmark = pytest.mark.integration

ISSUER, AUDIENCE = "chatflow", "chatflow-api"
SQL = "'; DROP TABLE messages; --"
SCRIPT = "<script>alert(document.cookie)</script>"


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(user: TestUser, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": user.id,
        "name": user.username,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 3600,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    claims.update(changes)
    return claims


def _refused_everywhere(world: World, token: str) -> None:
    """REST 401, the $connect authorizer denies, and STOMP CONNECT gets ERROR."""
    me = world.api.http.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401, me.text
    assert me.headers["content-type"] == "application/problem+json"
    assert world.gateway.connect(bearer=token) is None
    anonymous = world.gateway.connect()
    assert anonymous is not None
    anonymous.send("CONNECT", {"accept-version": "1.2", "Authorization": f"Bearer {token}"})
    [refused] = anonymous.receive()
    assert refused.command == "ERROR" and "authentication failed" in (
        refused.header("message") or ""
    )
    assert anonymous.closed


# -- tokens ---------------------------------------------------------------------------


def test_alg_none_token_is_refused(world: World) -> None:
    user = world.api.user()
    forged = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(user))}."
    _refused_everywhere(world, forged)


def test_token_signed_with_another_key_is_refused(world: World) -> None:
    user = world.api.user()
    forged = jwt.encode(_claims(user), "another-secret-of-the-same-length-0123456789", "HS256")
    _refused_everywhere(world, forged)


def test_expired_token_is_refused(world: World) -> None:
    user = world.api.user()
    old = int(time.time()) - 7200
    expired = jwt.encode(_claims(user, iat=old, exp=old + 3600), JWT_SECRET, "HS256")
    response = world.api.http.get("/api/users/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    _refused_everywhere(world, expired)


def test_tampered_payload_with_the_original_signature_is_refused(world: World) -> None:
    victim, attacker = world.api.user(), world.api.user()
    header, _payload, signature = attacker.token.split(".")
    as_victim = _claims(victim)
    tampered = f"{header}.{_b64(as_victim)}.{signature}"
    _refused_everywhere(world, tampered)
    assert world.api.call("GET", "/api/users/me", attacker).json()["id"] == attacker.id


def test_replayed_ws_ticket_is_refused(world: World) -> None:
    user = world.api.user()
    ticket = world.ticket(user)
    assert world.gateway.connect(ticket=ticket) is not None
    assert world.gateway.connect(ticket=ticket) is None


def test_expired_ws_ticket_is_refused(world: World) -> None:
    user = world.api.user()
    an_hour_ago = time.time() - 3600
    past = TokenService(lambda: JWT_SECRET, ISSUER, AUDIENCE, 86400, 60, clock=lambda: an_hour_ago)
    access = past.issue_access(uuid.UUID(user.id), user.username)
    ticket = past.issue_ticket(access.claims).token
    assert world.gateway.connect(ticket=ticket) is None
    fresh = past.issue_ticket(access.claims)  # the same service, a ticket never used
    assert fresh.claims.expires_at < time.time()
    assert world.gateway.connect(ticket=fresh.token) is None


def test_revoked_token_is_refused_on_rest_and_on_an_open_session(world: World) -> None:
    user = world.api.user()
    room = world.api.room(user)
    session = world.open(user)
    assert world.api.call("POST", "/api/auth/logout", user).status_code == 204
    assert world.api.call("GET", "/api/users/me", user).status_code == 401
    assert world.api.call("GET", f"/api/rooms/{room}", user).status_code == 401
    [err] = session.receive()  # closed by the logout, before it could send anything
    assert err.command == "ERROR" and "revoked" in (err.header("message") or "")
    assert session.closed
    assert world.gateway.connect(bearer=user.token) is None


# -- guessing room ids ----------------------------------------------------------------


def test_guessed_room_ids_look_missing_over_rest(world: World) -> None:
    owner, guesser = world.api.user(), world.api.user()
    private = world.api.room(owner, visibility="private")
    paths = ["", "/messages", "/members", "/presence"]
    for path in paths:
        missing = world.api.call("GET", f"/api/rooms/{uuid.uuid4()}{path}", guesser)
        hidden = world.api.call("GET", f"/api/rooms/{private}{path}", guesser)
        assert missing.status_code == hidden.status_code == 404, path
        assert missing.json() == hidden.json(), path
    for method, path, body in [
        ("POST", "/join", None),
        ("POST", "/messages", {"body": "hi"}),
        ("PATCH", "", {"name": "mine now"}),
        ("DELETE", "", None),
    ]:
        hidden = world.api.call(method, f"/api/rooms/{private}{path}", guesser, body)
        missing = world.api.call(method, f"/api/rooms/{uuid.uuid4()}{path}", guesser, body)
        assert hidden.status_code == missing.status_code == 404, (method, path)
        assert hidden.json() == missing.json()
    assert world.api.call("GET", f"/api/rooms/{private}", owner).json()["lastSeq"] == 0


def test_guessed_room_ids_get_no_such_room_over_stomp(world: World) -> None:
    owner, guesser = world.api.user(), world.api.user()
    private = world.api.room(owner, visibility="private")
    for room in (private, str(uuid.uuid4())):
        subscriber = world.open(guesser)
        world.subscribe(subscriber, room)
        [err] = subscriber.receive()
        assert err.command == "ERROR" and err.header("message") == "no such room"
        sender = world.open(guesser)
        world.say(sender, room, "let me in")
        [err] = sender.receive()
        assert err.command == "ERROR" and err.header("message") == "no such room"
        assert sender.closed and subscriber.closed
    assert world.api.call("GET", f"/api/rooms/{private}", owner).json()["lastSeq"] == 0


# -- sizes ----------------------------------------------------------------------------


def test_oversized_stomp_frame_gets_error_and_stores_nothing(world: World) -> None:
    user = world.api.user()
    room = world.api.room(user)
    client = world.open(user)
    body = json.dumps({"body": "x" * (33 * 1024)})
    client.send("SEND", {"destination": f"/app/rooms/{room}", "receipt": "big"}, body)
    [err] = client.receive()
    assert err.command == "ERROR" and "too large" in (err.header("message") or "")
    assert client.closed
    assert world.api.call("GET", f"/api/rooms/{room}", user).json()["lastSeq"] == 0


def test_oversized_rest_body_gets_413(world: World) -> None:
    user = world.api.user()
    room = world.api.room(user)
    body = json.dumps({"body": "x" * (64 * 1024)}).encode()
    response = world.api.http.post(
        f"/api/rooms/{room}/messages",
        content=body,
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert world.api.call("GET", f"/api/rooms/{room}", user).json()["lastSeq"] == 0


# -- header injection -----------------------------------------------------------------

MESSAGE_HEADERS = {"destination", "message-id", "subscription", "content-type", "content-length"}


def test_escaped_newlines_in_headers_never_become_headers(world: World) -> None:
    alice, bob = world.api.user(), world.api.user()
    room = world.api.room(alice)
    world.api.call("POST", f"/api/rooms/{room}/join", bob)
    a, b = world.open(alice), world.open(bob)
    world.subscribe(a, room)
    world.subscribe(b, room)
    a.receive(), b.receive()

    sneaky = "r1\nx-injected:1\n\nMESSAGE"
    injected_body = "hi\n\nMESSAGE\ndestination:/topic/rooms/x\n\nforged"
    world.say(a, room, injected_body, receipt=sneaky)  # the harness escapes: r1\nx-injected\c1
    [receipt] = [f for f in a.receive() if f.command == "RECEIPT"]
    assert receipt.header("receipt-id") == sneaky
    assert {name for name, _ in receipt.headers} == {
        "receipt-id",
        "x-seq",
        "x-message-id",
        "x-duplicate",
    }
    delivered = b.receive()
    assert [f.command for f in delivered] == ["MESSAGE"]
    assert {name for name, _ in delivered[0].headers} == MESSAGE_HEADERS
    assert bodies(delivered, "message")[0]["body"] == injected_body


def test_escaped_characters_in_destinations_are_refused(world: World) -> None:
    user = world.api.user()
    room = world.api.room(user)
    for destination in (
        f"/topic/rooms/{room}\n",
        f"/topic/rooms/{room}\nx-injected:1",
        f"/topic/rooms/{room}\\",
        f"/topic/rooms/{room}:",
    ):
        client = world.open(user)
        world.subscribe(client, room, destination=destination)
        [err] = client.receive()
        assert err.command == "ERROR" and "unknown destination" in (err.header("message") or "")
        assert "x-injected" not in {name for name, _ in err.headers}
        assert client.closed
    subs = [s for page in world.runtime.table.room_subscriptions(room, 100) for s in page]
    assert subs == []


def test_raw_carriage_return_in_a_stomp_10_header_gets_error(world: World) -> None:
    """Nothing is escaped on a STOMP 1.0 session: a CR inside a header could not be echoed
    back in ``receipt-id`` and used to crash the frame handler."""
    user = world.api.user()
    client = world.gateway.connect(bearer=user.token)
    assert client is not None
    client.send("CONNECT", {"accept-version": "1.0"})
    assert [f.command for f in client.receive()] == ["CONNECTED"]
    client.send_raw("ACK\nid:1\nreceipt:a\rx-injected:1\n\n\x00")
    [err] = client.receive()
    assert err.command == "ERROR" and "carriage return" in (err.header("message") or "")
    assert client.closed


# -- payloads -------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [SQL, SCRIPT, "1' OR '1'='1", "<img src=x onerror=alert(1)>"])
def test_hostile_payloads_are_stored_and_returned_byte_identical(
    world: World, payload: str
) -> None:
    alice, bob = world.api.user(), world.api.user()
    room = world.api.room(alice)
    world.api.call("POST", f"/api/rooms/{room}/join", bob)
    a, b = world.open(alice), world.open(bob)
    world.subscribe(b, room)
    b.receive()

    world.say(a, room, payload)
    assert world.api.post_message(alice, room, payload).status_code == 201
    live = [f for f in b.receive() if f.command == "MESSAGE"]
    expected = json.dumps(payload).encode()  # the exact JSON string, escaped only as JSON
    assert [m["body"] for m in bodies(live, "message")] == [payload, payload]
    assert all(expected in frame.body for frame in live)
    history = world.api.http.get(f"/api/rooms/{room}/messages", headers=alice.headers)
    assert history.headers["content-type"] == "application/json"
    assert [m["body"] for m in history.json()["items"] if m["type"] == "message"] == [
        payload,
        payload,
    ]
    assert expected in history.content


# -- password guessing ----------------------------------------------------------------


@pytest.fixture
def guarded(settings: Settings) -> Iterator[tuple[TestClient, TestClient, ApiClient]]:
    """The API with the production-like login limit (5 attempts, then 1 a minute), seen
    from two client addresses."""
    strict = settings.model_copy(update={"rate_auth_burst": 5, "rate_auth_per_minute": 1})
    built = build_container(strict)
    app = create_app(lambda: built)
    with (
        TestClient(app, client=("203.0.113.7", 40000)) as attacker,
        TestClient(app, client=("198.51.100.9", 40000)) as bystander,
    ):
        yield attacker, bystander, ApiClient(bystander)
    built.db.close()
    built.cache.close()


def test_login_brute_force_hits_the_rate_limit_per_address(
    guarded: tuple[TestClient, TestClient, ApiClient],
) -> None:
    attacker, bystander, api = guarded
    victim = api.user("victim", password="the real password")
    statuses = []
    for guess in range(8):
        response = attacker.post(
            "/api/auth/login", json={"username": "victim", "password": f"guess {guess}"}
        )
        statuses.append(response.status_code)
    assert statuses == [401] * 5 + [429] * 3  # the burst, then nothing (1 a minute)
    blocked = attacker.post(
        "/api/auth/login", json={"username": "victim", "password": "the real password"}
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    assert blocked.headers["content-type"] == "application/problem+json"
    other = bystander.post(
        "/api/auth/login", json={"username": "victim", "password": "the real password"}
    )
    assert other.status_code == 200 and other.json()["user"]["id"] == victim.id


def test_unknown_frame_in_a_message_never_reaches_other_frames(world: World) -> None:
    """A frame after a fatal one in the same WebSocket message is never executed."""
    user = world.api.user()
    room = world.api.room(user)
    client = world.open(user)
    good = Frame("SEND", [("destination", f"/app/rooms/{room}")], b'{"body":"later"}')
    client.send_raw("BEGIN\ntransaction:t\n\n\x00" + serialize(good).decode())
    [err] = client.receive()
    assert err.command == "ERROR" and client.closed
    assert world.api.call("GET", f"/api/rooms/{room}", user).json()["lastSeq"] == 0
