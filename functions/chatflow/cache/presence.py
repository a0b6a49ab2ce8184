"""Presence in Redis: one sorted set per room, ``presence:{roomId}``.

Members are ``userId:connectionId`` and scores the connection's expiry in epoch
milliseconds. A user is online in a room while any of their connections has a score in
the future. The hash tag ``{roomId}`` keeps a room's keys in one cluster slot. This
module reads the layout; chatflow.cache.presence_writer (heart-beats, join, leave,
sweep) writes exactly this shape.
"""

from __future__ import annotations

import time
import uuid

from chatflow.cache.client import CACHE_ERRORS, DegradedWarning, Redis

_degraded = DegradedWarning("presence")


def presence_key(room_id: uuid.UUID | str) -> str:
    return f"presence:{{{room_id}}}"


def online_user_ids(
    client: Redis, room_id: uuid.UUID, now_ms: int | None = None
) -> list[uuid.UUID]:
    """Users with at least one unexpired connection in the room (empty if the cache is down)."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    try:
        members = client.zrangebyscore(presence_key(room_id), f"({now}", "+inf")
    except CACHE_ERRORS as exc:
        _degraded.failed(exc)
        return []
    _degraded.recovered()
    seen: dict[uuid.UUID, None] = {}
    for member in members:
        raw = member if isinstance(member, bytes) else str(member).encode()
        user_part = raw.split(b":", 1)[0]
        try:
            seen[uuid.UUID(user_part.decode())] = None
        except ValueError:
            continue
    return list(seen)
