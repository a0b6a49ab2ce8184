"""Faults the local gateway cannot produce, at handler level (tests/integration/ws_world.py).

The recording @connections endpoint answers 429 (throttled), 500 or 410 (gone) for chosen
connections, which the local gateway never does for a live one, and the in-process gateway
can deliver ``$disconnect`` twice, which API Gateway may do and the local gateway does not.
Real PostgreSQL, Valkey and moto's DynamoDB behind the handlers.
"""

from __future__ import annotations

import json

import psycopg
import pytest
import redis

from chatflow.settings import Settings
from local.limits import raised_write_limits
from tests.helpers.events import lambda_context, ws_disconnect_event
from tests.helpers.ws_harness import WsClient, wait_until
from tests.integration.conftest import JWT_SECRET
from tests.integration.ws_world import World, bodies

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(clean_db: str, redis_url: str, clean_redis: redis.Redis) -> Settings:
    return Settings(
        database_url=clean_db,
        redis_url=redis_url,
        jwt_secret=JWT_SECRET,  # type: ignore[arg-type]
        bcrypt_rounds=4,
        rate_auth_burst=1000,
        rate_send_burst=1000,
        rate_send_per_second=1000,
        **raised_write_limits(),  # type: ignore[arg-type]
    )


def _receipts(client: WsClient) -> list[tuple[str | None, str | None]]:
    return [
        (f.header("x-seq"), f.header("x-duplicate"))
        for f in client.receive()
        if f.command == "RECEIPT" and (f.header("receipt-id") or "").startswith("m")
    ]


def _stored(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT body FROM messages WHERE kind = 'message'").fetchall()
    return [row[0] for row in rows]


def test_subscribers_answering_429_500_and_410_cost_the_sender_nothing(
    world: World, settings: Settings
) -> None:
    sender, *others = [world.api.user() for _ in range(4)]
    room = world.api.room(sender)
    for user in others:
        assert world.api.call("POST", f"/api/rooms/{room}/join", user).status_code == 200
    a = world.open(sender)
    throttled, failing, gone = (world.open(user) for user in others)
    for client in (a, throttled, failing, gone):
        world.subscribe(client, room)
        client.receive()
    world.endpoint.throttle(throttled.connection_id, 2)
    world.endpoint.fail(failing.connection_id)
    world.endpoint.mark_gone(gone.connection_id)

    world.say(a, room, "hello", cmid="c-1", receipt="m1")
    [(seq, duplicate)] = _receipts(a)  # stored, whatever the subscribers answered
    assert duplicate == "false"
    assert wait_until(lambda: [m["body"] for m in bodies(throttled.receive(), "message")] != [])
    assert [m["body"] for m in bodies(throttled.inbox, "message")] == ["hello"]  # once
    assert bodies(failing.receive(), "message") == []
    table = world.runtime.table
    assert table.get_connection(gone.connection_id) is None  # 410: its items are removed
    assert table.connection_subscriptions(gone.connection_id) == []
    assert table.get_connection(failing.connection_id) is not None  # 500 proves nothing

    world.say(a, room, "hello", cmid="c-1", receipt="m2")  # a retry of the same message
    assert _receipts(a) == [(seq, "true")]
    assert _stored(settings.database_url) == ["hello"]
    assert bodies(throttled.receive(), "message") == []  # a duplicate is not fanned out again


def test_a_receipt_lost_on_the_way_is_recovered_by_resending_the_same_client_msg_id(
    world: World, settings: Settings
) -> None:
    sender = world.api.user()
    room = world.api.room(sender)
    first = world.open(sender)
    world.endpoint.fail(first.connection_id)  # every post to the sender fails: no RECEIPT
    world.say(first, room, "once", cmid="c-9", receipt="m1")
    assert first.receive() == []
    assert world.endpoint.attempts[first.connection_id] >= 1  # the RECEIPT was posted, and lost

    second = world.open(sender)  # the client gives up on the silent socket and reconnects
    world.say(second, room, "once", cmid="c-9", receipt="m2")
    [(seq, duplicate)] = _receipts(second)
    assert duplicate == "true"
    assert _stored(settings.database_url) == ["once"]
    history = world.api.call("GET", f"/api/rooms/{room}/messages", sender).json()["items"]
    assert [(str(m["seq"]), m["body"]) for m in history if m["type"] == "message"] == [
        (seq, "once")
    ]


def test_disconnect_delivered_twice_is_harmless(world: World) -> None:
    alice, bob = world.api.user(), world.api.user()
    room = world.api.room(alice)
    world.api.call("POST", f"/api/rooms/{room}/join", bob)
    a, b = world.open(alice), world.open(bob)
    world.subscribe(a, room)
    world.subscribe(b, room)
    a.receive(), b.receive()

    handler = world.gateway.modules["handlers.ws_disconnect"].handler
    event = ws_disconnect_event(b.connection_id, b.connected_at, b.authorizer, 1001)
    results = [handler(json.loads(json.dumps(event)), lambda_context()) for _ in range(2)]

    assert results == [{"statusCode": 200}, {"statusCode": 200}]
    presence = [(p["status"], p["user"]["id"]) for p in bodies(a.receive(), "presence")]
    assert presence == [("offline", bob.id)]  # one event, not two
    assert world.runtime.table.get_connection(b.connection_id) is None
    online = world.api.call("GET", f"/api/rooms/{room}/presence", alice).json()["online"]
    assert [u["id"] for u in online] == [alice.id]
