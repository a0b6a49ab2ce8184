"""The cache code on a real three-shard Valkey cluster, through ``open_redis(cluster=True)``.

ElastiCache Serverless is cluster-mode only. What breaks there and not on one server: a key
of another shard (``MOVED``), a script whose keys span slots (``CROSSSLOT``), a script
loaded on one shard and called on another (``NOSCRIPT``), and pipelines mixing shards.
Each store is driven here with many rooms and users, so its keys land on every shard.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.cluster import RedisCluster
from redis.crc import key_slot

from chatflow.cache.client import open_redis
from chatflow.cache.presence import online_user_ids, presence_key
from chatflow.cache.presence_writer import PresenceWriter, connection_key
from chatflow.cache.ratelimit import BucketPolicy, RateLimiter
from chatflow.cache.revocations import RevocationStore, TokenRef
from chatflow.errors import RateLimited
from chatflow.ws.guard import FrameGuard
from chatflow.ws.identity import Identity
from tests.helpers.valkey_cluster import SLOTS, ValkeyCluster

PER_SHARD = 4  # ids drawn until each of the three shards holds this many keys


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ValkeyCluster(Path(tmp_path_factory.mktemp("valkey-cluster"))) as cluster:
        yield cluster.url


@pytest.fixture
def client(cluster_url: str) -> Iterator[RedisCluster]:
    opened = open_redis(cluster_url, cluster=True)
    assert isinstance(opened, RedisCluster)
    opened.flushall()
    opened.script_flush()  # every test starts with no script loaded on any shard
    yield opened
    opened.close()


def shards_of(keys: list[str]) -> set[int]:
    """Which third of the slot space each key falls in: the three shards of the fixture."""
    return {key_slot(key.encode()) * 3 // SLOTS for key in keys}


def spread(key: Callable[[uuid.UUID], str]) -> list[uuid.UUID]:
    """Random ids, drawn until their keys put ``PER_SHARD`` on every shard.

    A fixed count of random ids misses a shard now and then (12 ids: about 2 % of runs),
    which would leave the cross-shard paths untested in that run.
    """
    found: dict[int, list[uuid.UUID]] = {0: [], 1: [], 2: []}
    while any(len(ids) < PER_SHARD for ids in found.values()):
        new = uuid.uuid4()
        (shard,) = shards_of([key(new)])
        if len(found[shard]) < PER_SHARD:
            found[shard].append(new)
    return [i for ids in found.values() for i in ids]


def identity(user: uuid.UUID) -> Identity:
    now = int(time.time())
    return Identity(user, "u" + user.hex[:8], uuid.uuid4().hex, now - 5, now + 3600)


def test_the_cluster_client_sees_three_shards(client: RedisCluster) -> None:
    primaries: list[Any] = client.get_primaries()  # type: ignore[no-untyped-call]
    assert len(primaries) == 3


def test_presence_transitions_on_rooms_of_every_shard(client: RedisCluster) -> None:
    writer = PresenceWriter(client, ttl_ms=60_000, sweep_interval_ms=60_000)
    rooms = spread(presence_key)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    assert shards_of([presence_key(r) for r in rooms]) == {0, 1, 2}
    for room in rooms:
        assert writer.join(room, alice, "a-1") is True
        assert writer.join(room, alice, "a-2") is False  # second tab: no second online
        assert writer.join(room, bob, "b-1") is True
        assert set(online_user_ids(client, room)) == {alice, bob}
    gone = writer.leave_all("a-1", alice, rooms)
    assert gone == []  # the other tab keeps alice online everywhere
    assert sorted(writer.leave_all("a-2", alice, rooms)) == sorted(rooms)
    for room in rooms:
        assert online_user_ids(client, room) == [bob]


def test_the_sweeper_expires_silent_connections_across_shards(client: RedisCluster) -> None:
    writer = PresenceWriter(client, ttl_ms=1_000, sweep_interval_ms=1_000)
    rooms = spread(presence_key)
    users = {room: uuid.uuid4() for room in rooms}
    start = int(time.time() * 1000)
    for room, user in users.items():
        writer.join(room, user, f"c-{user.hex}", now_ms=start)
    client.delete(*(connection_key(f"c-{user.hex}") for user in users.values()))
    report = writer.sweep(now_ms=start + 5_000)
    assert sorted(report.offline) == sorted(users.items())
    for room in rooms:
        assert online_user_ids(client, room, start + 5_000) == []


def test_revocations_and_tickets(client: RedisCluster) -> None:
    store = RevocationStore(client)
    expires = int(time.time()) + 600
    jtis = [i.hex for i in spread(lambda i: f"revoked:{i.hex}")]
    users = [str(uuid.uuid4()) for _ in jtis]
    assert shards_of([f"revoked:{j}" for j in jtis]) == {0, 1, 2}
    for jti, user in zip(jtis, users, strict=True):
        assert store.is_revoked(jti, user, int(time.time())) is False
        store.revoke(jti, expires)
        assert store.is_revoked(jti, user, int(time.time())) is True
        assert store.use_ticket_once(jti, expires) is True
        assert store.use_ticket_once(jti, expires) is False
    store.revoke_older_credentials(users[0], 1, token_ttl=600)
    assert store.is_revoked(uuid.uuid4().hex, users[0], int(time.time())) is True
    assert store.is_revoked(uuid.uuid4().hex, users[0], int(time.time()), 1) is False
    refs = [TokenRef(j, u, int(time.time()), 0) for j, u in zip(jtis, users, strict=True)]
    assert store.revoked_among(refs) == [True] * len(refs)


def test_rate_limits_load_their_script_on_each_shard(client: RedisCluster) -> None:
    limiter = RateLimiter(client)
    policy = BucketPolicy("send", 2, 0.001)
    subjects = [str(i) for i in spread(lambda i: f"rl:send:{{{i}}}")]
    assert shards_of([f"rl:send:{{{s}}}" for s in subjects]) == {0, 1, 2}
    for subject in subjects:
        limiter.check(policy, subject)
        limiter.check(policy, subject)
        with pytest.raises(RateLimited):
            limiter.check(policy, subject)


def test_the_frame_guard_pipeline_spans_shards(client: RedisCluster) -> None:
    def touch(pipe: Any, cid: str, user_id: str) -> None:
        pipe.set(connection_key(cid), user_id, px=60_000)

    guard = FrameGuard(client, touch, BucketPolicy("send", 3, 0.001))
    store = RevocationStore(client)
    for n in range(3 * PER_SHARD):
        who = identity(uuid.uuid4())
        assert guard.check(who, f"c{n}", sends=2) == guard.check(who, f"c{n}", sends=0)
        assert guard.check(who, f"c{n}", sends=2).retry_after is not None  # 2 + 2 > 3
        assert client.get(connection_key(f"c{n}")) == str(who.user_id).encode()
        store.revoke(who.jti, who.expires_at)
        assert guard.check(who, f"c{n}").revoked is True
