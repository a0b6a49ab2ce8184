"""Presence writer: heart-beats, joins, leaves and the sweep (docs/adr/0005-presence-heartbeats.md).

Liveness is per connection, not per room: ``pconn:{connectionId}`` holds the user id with
a TTL, so a heart-beat is one ``SET ... PX`` on one key however many rooms the connection
is in. The room sorted sets the reader uses (chatflow.cache.presence) get scores that
reach past the next sweep; the sweeper extends the members whose connection key is alive
and removes the others. Transitions (``online``/``offline``) come from Lua scripts on one
room's keys (chatflow.cache.presence_lua), so they are atomic and cluster-safe.

A cache outage never stops messaging: every method returns "no transition" and a warning
is logged once until the cache answers again (docs/adr/0004-cache-failure-policy.md).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chatflow.cache.client import CACHE_ERRORS, DegradedWarning, Redis
from chatflow.cache.presence import presence_key
from chatflow.cache.presence_lua import EXTEND_SCRIPT, JOIN_SCRIPT, REMOVE_SCRIPT, Batch

ROOMS_KEY = "presence:rooms"
"""Set of room ids that may hold presence, so the sweeper never needs SCAN."""

_NO_GUARD = 2**53  # max_score for an explicit leave: remove whatever the score


def connection_key(connection_id: str) -> str:
    """The liveness key of one WebSocket connection (its own hash tag: one slot)."""
    return f"pconn:{{{connection_id}}}"


def index_key(room_id: uuid.UUID | str) -> str:
    """The room's members by user (score 0, ordered by name), in the room's slot."""
    return f"{presence_key(room_id)}:users"


def member_of(user_id: uuid.UUID | str, connection_id: str) -> str:
    return f"{user_id}:{connection_id}"


@dataclass(slots=True)
class SweepReport:
    """What one sweep did; ``offline``/``online`` are the events to publish."""

    offline: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)
    online: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)
    rooms: int = 0
    checked: int = 0
    extended: int = 0
    removed: int = 0
    rooms_dropped: int = 0


class PresenceWriter:
    """Writes the presence layout that chatflow.cache.presence reads.

    Build one per process (the handlers cache it), so the outage warning is logged once.
    """

    def __init__(
        self, client: Redis, *, ttl_ms: int = 60_000, sweep_interval_ms: int = 60_000
    ) -> None:
        self._client = client
        self._ttl_ms = ttl_ms
        self._interval_ms = sweep_interval_ms
        self._degraded = DegradedWarning("presence updates")

    def queue_touch(self, pipe: Any, connection_id: str, user_id: str) -> None:
        """The heart-beat's command, queued on a caller's pipeline: the frame guard sends it
        in the same round trip as its revocation check (``chatflow.ws.guard``). The key and
        its TTL are this writer's alone, whoever sends the command."""
        pipe.set(connection_key(connection_id), user_id, px=self._ttl_ms)

    def touch(self, connection_id: str, user_id: uuid.UUID) -> None:
        """Heart-beat: keep the connection alive for one TTL (one command, one key)."""
        try:
            self._client.set(connection_key(connection_id), str(user_id), px=self._ttl_ms)
        except CACHE_ERRORS as exc:
            self._degraded.failed(exc)
            return
        self._degraded.recovered()

    def join(
        self,
        room_id: uuid.UUID,
        user_id: uuid.UUID,
        connection_id: str,
        now_ms: int | None = None,
    ) -> bool:
        """Mark the connection present in the room; True iff the user just came online.

        One round trip: it also refreshes the connection's liveness and registers the room
        for the sweeper, so SUBSCRIBE needs no separate heart-beat.
        """
        now = _now(now_ms)
        batch = Batch(self._client)
        batch.add("SET", connection_key(connection_id), str(user_id), "PX", self._ttl_ms)
        online = batch.script(
            JOIN_SCRIPT,
            [presence_key(room_id), index_key(room_id)],
            [str(user_id), member_of(user_id, connection_id), self._expiry(now), now],
        )
        batch.add("SADD", ROOMS_KEY, str(room_id))
        try:
            results = batch.run()
        except CACHE_ERRORS as exc:
            self._degraded.failed(exc)
            return False
        self._degraded.recovered()
        return int(results[online]) == 1

    def leave(
        self,
        room_id: uuid.UUID,
        user_id: uuid.UUID,
        connection_id: str,
        now_ms: int | None = None,
    ) -> bool:
        """Remove the connection from the room; True iff the user just went offline.

        Call it when the connection's last subscription to the room goes: the member is
        per connection, not per subscription.
        """
        return room_id in self.leave_all(connection_id, user_id, [room_id], now_ms, forget=False)

    def leave_all(
        self,
        connection_id: str,
        user_id: uuid.UUID,
        room_ids: Iterable[uuid.UUID],
        now_ms: int | None = None,
        *,
        forget: bool = True,
    ) -> list[uuid.UUID]:
        """The connection leaves every room (``$disconnect``); returns rooms gone offline.

        One round trip; with ``forget`` the connection's liveness key goes too.
        """
        now = _now(now_ms)
        rooms = list(dict.fromkeys(room_ids))
        member = member_of(user_id, connection_id)
        batch = Batch(self._client)
        if forget:
            batch.add("DEL", connection_key(connection_id))
        slots = [
            batch.script(REMOVE_SCRIPT, [presence_key(r), index_key(r)], [now, _NO_GUARD, member])
            for r in rooms
        ]
        try:
            results = batch.run()
        except CACHE_ERRORS as exc:
            self._degraded.failed(exc)
            return []
        self._degraded.recovered()
        user = str(user_id)
        return [
            room
            for room, slot in zip(rooms, slots, strict=True)
            if user in {_text(u) for u in results[slot][2]}
        ]

    def sweep(
        self, now_ms: int | None = None, *, batch: int = 100, member_limit: int = 1000
    ) -> SweepReport:
        """Extend live members, drop dead ones, forget empty rooms (the scheduled sweeper).

        Rooms go ``batch`` at a time, a few round trips each; a room gives at most
        ``member_limit`` members per run (the nearest to expiry first). On a cache error
        it stops and returns what was already done, so those events are not lost.
        """
        report = SweepReport()
        seen: set[str] = set()
        cursor = 0
        try:
            while True:
                cursor, raw = self._client.sscan(ROOMS_KEY, cursor, count=batch)
                fresh = [r for r in dict.fromkeys(_text(x) for x in raw) if r not in seen]
                seen.update(fresh)
                for start in range(0, len(fresh), batch):
                    self._sweep_rooms(
                        fresh[start : start + batch], _now(now_ms), member_limit, report
                    )
                if cursor == 0:
                    break
        except CACHE_ERRORS as exc:
            self._degraded.failed(exc)
            return report
        self._degraded.recovered()
        return report

    def _sweep_rooms(self, rooms: list[str], now: int, limit: int, report: SweepReport) -> None:
        horizon = now + self._interval_ms
        report.rooms += len(rooms)
        look = Batch(self._client)
        for room in rooms:
            key = presence_key(room)
            look.add("ZRANGE", key, "-inf", horizon, "BYSCORE", "LIMIT", 0, limit)
            look.add("EXISTS", key)
        found = look.run()
        due = {room: [_text(m) for m in found[2 * i]] for i, room in enumerate(rooms)}
        empty = [room for i, room in enumerate(rooms) if not found[2 * i + 1]]
        alive = self._alive({m for members in due.values() for m in members})
        act = Batch(self._client)
        slots: list[tuple[str, int, int]] = []
        for room, members in due.items():
            keys = [presence_key(room), index_key(room)]
            live = [m for m in members if m in alive]
            dead = [m for m in members if m not in alive]
            report.checked += len(members)
            ext = act.script(EXTEND_SCRIPT, keys, [now, self._expiry(now), *live]) if live else -1
            rem = act.script(REMOVE_SCRIPT, keys, [now, horizon, *dead]) if dead else -1
            slots.append((room, ext, rem))
        done = act.run() if slots else []
        for room, ext, rem in slots:
            if ext >= 0:
                report.extended += int(done[ext][0])
                report.online.extend(_pairs(room, done[ext][1]))
            if rem >= 0:
                report.removed += int(done[rem][1])
                report.offline.extend(_pairs(room, done[rem][2]))
                if int(done[rem][0]) == 0:
                    empty.append(room)
        report.rooms_dropped += self._forget(empty)

    def _alive(self, members: set[str]) -> set[str]:
        """Members whose connection key still names their user (one pipelined round trip)."""
        parsed = [(m, *m.split(":", 1)) for m in members if ":" in m]
        if not parsed:
            return set()
        batch = Batch(self._client)
        for _, _, conn in parsed:
            batch.add("GET", connection_key(conn))
        values = batch.run()
        return {
            m
            for (m, user, _), v in zip(parsed, values, strict=True)
            if v is not None and _text(v) == user
        }

    def _forget(self, rooms: list[str]) -> int:
        """Drop empty rooms from the registry, then re-add any that a join refilled meanwhile.

        The re-check comes after SREM, so a join racing the drop (ZADD then SADD) is
        never lost: either it sees the SREM done and its SADD wins, or the re-check sees it.
        """
        if not rooms:
            return 0
        self._client.srem(ROOMS_KEY, *rooms)
        check = Batch(self._client)
        for room in rooms:
            check.add("EXISTS", presence_key(room))
        refilled = [room for room, n in zip(rooms, check.run(), strict=True) if n]
        if refilled:
            self._client.sadd(ROOMS_KEY, *refilled)
        return len(rooms) - len(refilled)

    def _expiry(self, now: int) -> int:
        """A score that outlives the connection key and reaches the next sweep."""
        return now + self._ttl_ms + self._interval_ms


def _now(now_ms: int | None) -> int:
    return int(time.time() * 1000) if now_ms is None else now_ms


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(room: str, users: Iterable[object]) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(room, user) pairs as UUIDs, skipping anything that is not one."""
    pairs = []
    for user in users:
        try:
            pairs.append((uuid.UUID(room), uuid.UUID(_text(user))))
        except ValueError:
            continue
    return pairs
