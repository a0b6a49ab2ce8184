"""The WebSocket side when PostgreSQL or Redis goes away, at handler level."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from chatflow.db.migrate import apply_migrations
from chatflow.settings import Settings
from local.services import EmbeddedPostgres, EmbeddedValkey
from tests.integration.conftest import JWT_SECRET
from tests.integration.ws_world import World, bodies


@pytest.fixture
def own_pg(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    with EmbeddedPostgres(tmp_path / "pg") as server:
        assert isinstance(server, EmbeddedPostgres)
        apply_migrations(server.url)
        yield server


@pytest.fixture
def own_valkey(tmp_path: Path) -> Iterator[EmbeddedValkey]:
    with EmbeddedValkey(tmp_path / "valkey") as server:
        assert isinstance(server, EmbeddedValkey)
        yield server


@pytest.fixture
def settings(request: pytest.FixtureRequest, redis_url: str) -> Settings:
    """This module's worlds run on servers of their own, so they can be stopped."""
    pg = request.getfixturevalue("own_pg") if "pg" in request.node.name else None
    valkey = request.getfixturevalue("own_valkey") if "redis" in request.node.name else None
    database_url = pg.url if pg else request.getfixturevalue("clean_db")
    return Settings(
        database_url=database_url,
        redis_url=valkey.url if valkey else redis_url,
        jwt_secret=JWT_SECRET,  # type: ignore[arg-type]
        bcrypt_rounds=4,
    )


def test_pg_down_gives_error_and_no_receipt_then_the_retry_stores_once(
    world: World, own_pg: EmbeddedPostgres
) -> None:
    alice = world.api.user()
    room = world.api.room(alice)
    client = world.open(alice)
    world.say(client, room, "before", cmid="c-0", receipt="r0")
    assert [f.command for f in client.receive()] == ["RECEIPT"]

    own_pg.kill()
    world.say(client, room, "during", cmid="c-1", receipt="r1")
    frames = client.receive()
    assert [f.command for f in frames] == ["ERROR"]
    assert "same clientMsgId" in (frames[0].header("message") or "")
    assert frames[0].header("receipt-id") == "r1"
    assert client.closed

    own_pg.start()
    retry = world.open(alice)
    world.say(retry, room, "during", cmid="c-1", receipt="r2")
    world.say(retry, room, "during", cmid="c-1", receipt="r3")
    receipts = [f for f in retry.receive() if f.command == "RECEIPT"]
    assert [(r.header("x-seq"), r.header("x-duplicate")) for r in receipts] == [
        ("2", "false"),
        ("2", "true"),
    ]
    with psycopg.connect(own_pg.url) as conn:
        rows = conn.execute("SELECT body FROM messages ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == ["before", "during"]


def test_pg_down_a_subscribe_or_rest_call_is_told_unavailable_not_internal_error(
    world: World, own_pg: EmbeddedPostgres
) -> None:
    """The outage reaches the session and the REST layer as the domain's
    ``DatabaseUnavailable`` (the adapter translates the driver's error), so it is answered
    in words: 503 with Retry-After over REST, an ``unavailable`` error over STOMP."""
    alice = world.api.user()
    room = world.api.room(alice)
    client = world.open(alice, subscribe_errors=True)
    client.receive()
    own_pg.kill()
    world.subscribe(client, room)
    frames = client.receive()
    assert all("internal error" not in (f.header("message") or "") for f in frames)
    [refused] = bodies(frames, "error")
    assert refused["code"] == "unavailable"
    assert refused["message"] == "the database is unavailable; try again shortly"
    assert not client.closed
    answer = world.api.call("GET", f"/api/rooms/{room}", alice)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert answer.json()["type"].endswith("/unavailable")
    own_pg.start()
    world.subscribe(client, room, sub_id="again")
    assert "RECEIPT" in [f.command for f in client.receive()]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        found = [r.getMessage() for r in self.records if "cache" in r.getMessage()]
        self.records.clear()
        return found


def test_redis_down_messaging_keeps_working_and_warns_once(
    world: World, own_valkey: EmbeddedValkey
) -> None:
    alice, bob = world.api.user(), world.api.user()
    room = world.api.room(alice)
    world.api.call("POST", f"/api/rooms/{room}/join", bob)
    a, b = world.open(alice), world.open(bob)
    world.subscribe(a, room)
    world.subscribe(b, room)
    a.receive(), b.receive()

    own_valkey.stop()
    handler = _Records()
    logging.getLogger().addHandler(handler)
    try:
        world.say(a, room, "one", receipt="r1")
        first = handler.take()
        for i in range(5):
            world.say(a, room, f"more {i}", receipt=f"r{i + 2}")
            a.send_raw("\n")
        later = handler.take()
    finally:
        logging.getLogger().removeHandler(handler)
    assert [m["body"] for m in bodies(b.receive(), "message")] == [
        "one",
        "more 0",
        "more 1",
        "more 2",
        "more 3",
        "more 4",
    ]
    assert len([f for f in a.receive() if f.command == "RECEIPT"]) == 6
    assert 1 <= len(first) <= 3  # one per degraded component, at its first failure
    assert later == []
