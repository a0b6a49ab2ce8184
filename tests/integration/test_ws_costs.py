"""Costs of the frame path, counted (not timed): round trips per heart-beat and per SEND.

A heart-beat must cost 0 PostgreSQL, 0 DynamoDB and 1 Redis round trip; a SEND at most
1 PostgreSQL round trip, 1 DynamoDB Query per page of subscriptions, 1 Redis call, plus
the @connections posts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import redis.connection

from tests.integration.ws_world import World


@contextmanager
def counting(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    counts: Counter[str] = Counter()
    real_execute: Any = psycopg.Connection.execute
    real_send: Any = redis.connection.Connection.send_packed_command

    def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["postgres"] += 1
        return real_execute(self, *args, **kwargs)

    def send(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["redis"] += 1
        return real_send(self, *args, **kwargs)

    def aws_call(event_name: str, **_: Any) -> None:
        counts["dynamodb"] += 1
        counts["dynamodb." + event_name.rsplit(".", 1)[-1]] += 1

    monkeypatch.setattr(psycopg.Connection, "execute", execute)
    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", send)
    events = world.runtime.table.client.meta.events
    events.register("before-call.dynamodb", aws_call)
    before = world.endpoint.summary()["attempts"]
    reader = world.runtime.table.reader  # room pages: the lean Query, not botocore
    lean_before = reader.requests
    try:
        yield counts
    finally:
        events.unregister("before-call.dynamodb", aws_call)
        counts["posts"] = world.endpoint.summary()["attempts"] - before
        lean_queries = reader.requests - lean_before
        counts["dynamodb"] += lean_queries
        counts["dynamodb.Query"] += lean_queries


def test_a_heartbeat_costs_one_redis_round_trip(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = world.api.user()
    room = world.api.room(alice)
    client = world.open(alice)
    world.subscribe(client, room)
    client.receive()
    with counting(world, monkeypatch) as counts:
        client.send_raw("\n")
    assert counts["postgres"] == 0
    assert counts["dynamodb"] == 0
    assert counts["redis"] == 1
    assert counts["posts"] == 0


def test_a_probe_costs_what_a_heartbeat_costs_plus_its_receipt(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The web client's heart-beat is ``ACK`` with a ``receipt`` (docs/protocol.md, "Probing
    the connection"): still no database, the same one Redis round trip (presence refreshed),
    and one post, the RECEIPT that proves the socket alive."""
    alice = world.api.user()
    room = world.api.room(alice)
    client = world.open(alice)
    world.subscribe(client, room)
    client.receive()
    with counting(world, monkeypatch) as counts:
        client.send("ACK", {"id": "probe", "subscription": "probe", "receipt": "probe-1"})
    assert counts["postgres"] == 0
    assert counts["dynamodb"] == 0
    assert counts["redis"] == 1
    assert counts["posts"] == 1
    assert [(f.command, f.header("receipt-id")) for f in client.receive()] == [
        ("RECEIPT", "probe-1")
    ]


def test_a_send_costs_one_statement_one_query_one_redis_call(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob, carol = world.api.user(), world.api.user(), world.api.user()
    room = world.api.room(alice)
    for member in (bob, carol):
        world.api.call("POST", f"/api/rooms/{room}/join", member)
    clients = [world.open(u) for u in (alice, bob, carol)]
    for client in clients:
        world.subscribe(client, room)
        client.receive()
    with counting(world, monkeypatch) as counts:
        world.say(clients[0], room, "counted", receipt="c")
    assert counts["postgres"] == 1
    assert counts["dynamodb"] == 1 and counts["dynamodb.Query"] == 1
    assert counts["redis"] == 1
    assert counts["posts"] == 3 + 1  # one MESSAGE per subscriber, one RECEIPT
    assert [b.receive()[0].command for b in clients[1:]] == ["MESSAGE", "MESSAGE"]
