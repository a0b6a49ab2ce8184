"""The presence writer against a real Valkey, read back through the presence reader."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from chatflow.cache.client import open_redis
from chatflow.cache.presence import online_user_ids, presence_key
from chatflow.cache.presence_writer import (
    ROOMS_KEY,
    PresenceWriter,
    connection_key,
    index_key,
)

TTL_MS = 60_000
INTERVAL_MS = 60_000


class CountingConnection(redis.Connection):
    """A real connection that counts the requests it writes (one per round trip)."""

    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sent += 1
        send: Callable[..., None] = super().send_packed_command  # untyped in redis-py
        send(command, check_health)


@pytest.fixture
def writer(clean_redis: redis.Redis) -> PresenceWriter:
    return PresenceWriter(clean_redis, ttl_ms=TTL_MS, sweep_interval_ms=INTERVAL_MS)


@pytest.fixture
def counted(clean_redis: redis.Redis, redis_url: str) -> Iterator[redis.Redis]:
    """A client whose round trips are counted, already connected (handshake done)."""
    pool = redis.ConnectionPool.from_url(redis_url, connection_class=CountingConnection)
    client = redis.Redis(connection_pool=pool)
    client.ping()
    yield client
    client.close()


def now_ms() -> int:
    return int(time.time() * 1000)


def ids(n: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(n)]


def command_calls(client: redis.Redis) -> dict[str, int]:
    stats: dict[str, Any] = client.info("commandstats")
    return {name: int(value["calls"]) for name, value in stats.items()}


def command_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Server-side commands run between two snapshots, without the INFO calls themselves."""
    delta = {name: calls - before.get(name, 0) for name, calls in after.items()}
    return {name: n for name, n in delta.items() if n and name != "cmdstat_info"}


def test_second_tab_of_a_user_is_not_a_second_online(
    writer: PresenceWriter, clean_redis: redis.Redis
) -> None:
    room, alice, bob = ids(3)
    assert writer.join(room, alice, "a-1") is True
    assert writer.join(room, alice, "a-2") is False
    assert writer.join(room, alice, "a-1") is False  # the same connection again
    assert writer.join(room, bob, "b-1") is True
    assert set(online_user_ids(clean_redis, room)) == {alice, bob}


def test_offline_only_when_the_last_tab_leaves(
    writer: PresenceWriter, clean_redis: redis.Redis
) -> None:
    room, alice = ids(2)
    writer.join(room, alice, "a-1")
    writer.join(room, alice, "a-2")
    assert writer.leave(room, alice, "a-1") is False
    assert online_user_ids(clean_redis, room) == [alice]
    assert writer.leave(room, alice, "a-2") is True
    assert writer.leave(room, alice, "a-2") is False  # already gone: no second offline
    assert online_user_ids(clean_redis, room) == []
    assert writer.join(room, alice, "a-3") is True  # and online again afterwards


def test_the_reader_sees_exactly_what_the_writer_wrote(
    writer: PresenceWriter, clean_redis: redis.Redis
) -> None:
    room, other_room, alice, bob = ids(4)
    start = now_ms()
    writer.join(room, alice, "a-1", now_ms=start)
    writer.join(room, bob, "b-1", now_ms=start)
    writer.join(other_room, bob, "b-1", now_ms=start)
    members = clean_redis.zrange(presence_key(room), 0, -1, withscores=True)
    expiry = start + TTL_MS + INTERVAL_MS
    assert sorted(members) == sorted(
        [(f"{alice}:a-1".encode(), expiry), (f"{bob}:b-1".encode(), expiry)]
    )
    assert set(online_user_ids(clean_redis, room, now_ms=expiry - 1)) == {alice, bob}
    assert online_user_ids(clean_redis, room, now_ms=expiry) == []
    writer.leave(room, bob, "b-1")
    assert online_user_ids(clean_redis, room) == [alice]
    assert online_user_ids(clean_redis, other_room) == [bob]


def test_room_keys_share_the_room_hash_tag(
    writer: PresenceWriter, clean_redis: redis.Redis
) -> None:
    room, alice = ids(2)
    writer.join(room, alice, "conn-1")
    expected = {presence_key(room), index_key(room), connection_key("conn-1"), ROOMS_KEY}
    assert set(clean_redis.keys("*")) == {key.encode() for key in expected}
    assert key_slot(index_key(room).encode()) == key_slot(presence_key(room).encode())
    assert key_slot(presence_key(room).encode()) == key_slot(str(room).encode())
    assert key_slot(connection_key("conn-1").encode()) == key_slot(b"conn-1")


def test_touch_is_one_set_on_one_key_whatever_the_rooms(
    writer: PresenceWriter, clean_redis: redis.Redis, counted: redis.Redis
) -> None:
    alice = uuid.uuid4()
    rooms = ids(5)
    for room in rooms:
        writer.join(room, alice, "a-1")
    clean_redis.pexpire(connection_key("a-1"), 1000)
    scores_before = [clean_redis.zrange(presence_key(r), 0, -1, withscores=True) for r in rooms]
    counting = PresenceWriter(counted, ttl_ms=TTL_MS, sweep_interval_ms=INTERVAL_MS)
    sent_before = CountingConnection.sent
    stats_before = command_calls(clean_redis)

    counting.touch("a-1", alice)

    assert command_delta(stats_before, command_calls(clean_redis)) == {"cmdstat_set": 1}
    assert CountingConnection.sent - sent_before == 1
    assert clean_redis.get(connection_key("a-1")) == str(alice).encode()
    assert 1000 < clean_redis.pttl(connection_key("a-1")) <= TTL_MS
    assert [clean_redis.zrange(presence_key(r), 0, -1, withscores=True) for r in rooms] == (
        scores_before
    )


def test_join_leave_and_leave_all_take_one_round_trip_each(
    clean_redis: redis.Redis, counted: redis.Redis
) -> None:
    counting = PresenceWriter(counted, ttl_ms=TTL_MS, sweep_interval_ms=INTERVAL_MS)
    alice = uuid.uuid4()
    rooms = ids(4)
    for room in rooms:  # scripts are loaded by now
        counting.join(room, alice, "a-1")
    sent = CountingConnection.sent

    counting.join(rooms[0], alice, "a-2")
    counting.leave(rooms[0], alice, "a-2")
    counting.leave_all("a-1", alice, rooms)

    assert CountingConnection.sent - sent == 3


def test_leave_all_reports_the_rooms_where_the_user_went_offline(
    writer: PresenceWriter, clean_redis: redis.Redis
) -> None:
    lobby, team, quiet, alice = ids(4)
    for room in (lobby, team, quiet):
        writer.join(room, alice, "laptop")
    writer.join(team, alice, "phone")

    assert writer.leave_all("laptop", alice, [lobby, team, quiet]) == [lobby, quiet]

    assert clean_redis.exists(connection_key("laptop")) == 0
    assert online_user_ids(clean_redis, lobby) == []
    assert online_user_ids(clean_redis, team) == [alice]
    assert writer.leave_all("laptop", alice, [lobby, team, quiet]) == []


def test_sweep_removes_a_connection_whose_heart_beat_stopped(clean_redis: redis.Redis) -> None:
    short = PresenceWriter(clean_redis, ttl_ms=100, sweep_interval_ms=1000)
    room, alice, bob = ids(3)
    short.join(room, alice, "a-1")
    short.join(room, bob, "b-1")
    time.sleep(0.15)  # both connection keys expire
    short.touch("b-1", bob)  # bob's client is still heart-beating

    report = short.sweep()

    assert report.offline == [(room, alice)]
    assert (report.checked, report.removed, report.extended) == (2, 1, 1)
    assert online_user_ids(clean_redis, room) == [bob]
    assert short.sweep().offline == []  # offline once


def test_sweep_extends_live_members_past_their_first_expiry(
    writer: PresenceWriter, clean_redis: redis.Redis
) -> None:
    room, alice = ids(2)
    start = now_ms()
    writer.join(room, alice, "a-1", now_ms=start)
    first_expiry = start + TTL_MS + INTERVAL_MS
    sweep_at = start + INTERVAL_MS + 5_000  # the next sweep, a little late

    report = writer.sweep(now_ms=sweep_at)

    assert (report.extended, report.offline, report.online) == (1, [], [])
    assert online_user_ids(clean_redis, room, now_ms=first_expiry + 1) == [alice]
    new_expiry = sweep_at + TTL_MS + INTERVAL_MS
    assert clean_redis.zscore(presence_key(room), f"{alice}:a-1") == new_expiry


def test_sweep_leaves_members_that_are_not_due_alone(
    writer: PresenceWriter, clean_redis: redis.Redis
) -> None:
    room, alice = ids(2)
    start = now_ms()
    writer.join(room, alice, "a-1", now_ms=start)
    clean_redis.delete(connection_key("a-1"))  # dead, but its score is far from expiry

    report = writer.sweep(now_ms=start)

    assert (report.rooms, report.checked, report.removed) == (1, 0, 0)
    assert online_user_ids(clean_redis, room, now_ms=start) == [alice]


def test_sweep_drops_an_expired_member_of_a_vanished_connection(clean_redis: redis.Redis) -> None:
    short = PresenceWriter(clean_redis, ttl_ms=50, sweep_interval_ms=1000)
    room, alice = ids(2)
    short.join(room, alice, "a-1", now_ms=now_ms() - 600_000)  # the sweeper was away
    assert online_user_ids(clean_redis, room) == []
    time.sleep(0.1)

    report = short.sweep()

    assert report.offline == [(room, alice)]
    assert (report.removed, report.rooms_dropped) == (1, 1)
    assert clean_redis.keys("*") == []


def test_sweep_brings_back_an_expired_member_whose_connection_lives(
    writer: PresenceWriter, clean_redis: redis.Redis
) -> None:
    room, alice = ids(2)
    start = now_ms()
    writer.join(room, alice, "a-1", now_ms=start - 600_000)  # expired, key still alive
    assert online_user_ids(clean_redis, room, now_ms=start) == []

    report = writer.sweep(now_ms=start)

    assert (report.online, report.offline) == ([(room, alice)], [])
    assert online_user_ids(clean_redis, room, now_ms=start) == [alice]


def test_sweep_walks_many_rooms_in_batches(clean_redis: redis.Redis) -> None:
    writer = PresenceWriter(clean_redis, ttl_ms=TTL_MS, sweep_interval_ms=INTERVAL_MS)
    alice = uuid.uuid4()
    rooms = ids(250)
    for room in rooms:
        writer.join(room, alice, "a-1")
    clean_redis.delete(connection_key("a-1"))

    report = writer.sweep(now_ms=now_ms() + TTL_MS, batch=40)

    assert report.rooms == 250
    assert sorted(report.offline) == sorted((room, alice) for room in rooms)
    assert report.rooms_dropped == 250
    assert clean_redis.keys("*") == []


def test_sweep_forgets_empty_rooms_but_keeps_busy_ones(
    writer: PresenceWriter, clean_redis: redis.Redis
) -> None:
    empty, busy, alice = ids(3)
    writer.join(empty, alice, "a-1")
    writer.join(busy, alice, "a-2")
    writer.leave(empty, alice, "a-1")
    assert clean_redis.scard(ROOMS_KEY) == 2

    report = writer.sweep()

    assert report.rooms_dropped == 1
    assert clean_redis.smembers(ROOMS_KEY) == {str(busy).encode()}


def test_scripts_are_reloaded_when_the_server_lost_them(
    writer: PresenceWriter, clean_redis: redis.Redis
) -> None:
    room, alice = ids(2)
    clean_redis.script_flush()
    assert writer.join(room, alice, "a-1") is True
    clean_redis.script_flush()
    assert writer.leave_all("a-1", alice, [room]) == [room]


def join_at_once(
    writer: PresenceWriter, room: uuid.UUID, user: uuid.UUID, connection_ids: list[str]
) -> list[bool]:
    """Join from several connections released together by a barrier."""
    barrier = threading.Barrier(len(connection_ids))
    results: list[bool] = []

    def join(connection_id: str) -> None:
        barrier.wait()
        results.append(writer.join(room, user, connection_id))

    threads = [threading.Thread(target=join, args=(c,)) for c in connection_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_tabs_joining_at_once_give_one_online(writer: PresenceWriter) -> None:
    alice = uuid.uuid4()
    for _ in range(300):
        results = join_at_once(writer, uuid.uuid4(), alice, ["tab-1", "tab-2"])
        assert sorted(results) == [False, True]


def test_a_dead_cache_gives_no_transitions_and_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = PresenceWriter(open_redis(f"redis://127.0.0.1:{port}/0"))
    room, alice = ids(2)
    caplog.set_level(logging.WARNING)

    for _ in range(20):
        dead.touch("a-1", alice)
        assert dead.join(room, alice, "a-1") is False
        assert dead.leave(room, alice, "a-1") is False
        assert dead.leave_all("a-1", alice, [room]) == []
        report = dead.sweep()
        assert (report.offline, report.online, report.rooms) == ([], [], 0)

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == ["cache unavailable; presence updates degraded"]


def test_a_touch_queued_on_another_pipeline_is_the_writers_own(clean_redis: redis.Redis) -> None:
    """The frame guard sends the heart-beat in its own round trip; the key and its TTL
    still come from the writer (one owner of presence liveness)."""
    writer = PresenceWriter(clean_redis, ttl_ms=5_000)
    pipe = clean_redis.pipeline(transaction=False)
    pipe.exists("revoked:some-jti")  # the guard's other commands share the trip
    writer.queue_touch(pipe, "c1", "u1")
    assert pipe.execute() == [0, True]
    assert clean_redis.get(connection_key("c1")) == b"u1"
    assert 0 < clean_redis.pttl(connection_key("c1")) <= 5_000
