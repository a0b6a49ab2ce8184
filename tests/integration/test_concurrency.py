"""Concurrent writers of one room: no deadlock, no lost or doubled seq."""

from __future__ import annotations

import threading
import uuid

import psycopg

from chatflow.container import Container, build_container
from chatflow.models import User
from chatflow.settings import Settings


def _user(container: Container) -> User:
    session = container.accounts.register(f"u{uuid.uuid4().hex[:10]}", "password-123", None)
    return session.user


def test_concurrent_joins_and_posts_of_one_room(settings: Settings) -> None:
    pooled = build_container(settings.model_copy(update={"db_pool_max": 12}))
    try:
        owner = _user(pooled)
        room = pooled.rooms.create(owner, "busy", None, "public")
        joiners = [_user(pooled) for _ in range(10)]
        errors: list[BaseException] = []
        start = threading.Barrier(len(joiners))

        def join_and_post(user: User) -> None:
            try:
                start.wait()
                pooled.rooms.join(user, room.id)
                pooled.messages.post(user, room.id, "hi", None)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=join_and_post, args=(u,)) for u in joiners]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with psycopg.connect(settings.database_url) as conn:
            seqs = [
                r[0]
                for r in conn.execute(
                    "SELECT seq FROM messages WHERE room_id = %s ORDER BY seq", (room.id,)
                ).fetchall()
            ]
        assert seqs == list(range(1, 2 * len(joiners) + 1))
    finally:
        pooled.db.close()
        pooled.cache.close()
