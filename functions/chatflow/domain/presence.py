"""Who is online in a room, for members of that room."""

from __future__ import annotations

import uuid

from chatflow.cache.client import Redis
from chatflow.cache.presence import online_user_ids
from chatflow.db.connection import Database
from chatflow.domain.access import require_member, room_access
from chatflow.models import User


class PresenceService:
    def __init__(self, db: Database, cache: Redis) -> None:
        self._db = db
        self._cache = cache

    def online(self, user: User, room_id: uuid.UUID) -> list[User]:
        with self._db.connection() as conn:
            require_member(room_access(conn, room_id, user.id))
            ids = online_user_ids(self._cache, room_id)
            if not ids:
                return []
            rows = conn.execute(
                "SELECT u.id, u.username, u.display_name FROM users u"
                " JOIN room_members rm ON rm.user_id = u.id AND rm.room_id = %s"
                " WHERE u.id = ANY(%s) ORDER BY lower(u.username)",
                (room_id, ids),
            ).fetchall()
        return [User(id=r[0], username=r[1], display_name=r[2]) for r in rows]
