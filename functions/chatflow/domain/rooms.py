"""Rooms and their members: create, find, change, join, leave, manage, direct rooms."""

from __future__ import annotations

import uuid

import psycopg

from chatflow import validation
from chatflow.db.connection import Connection, Database
from chatflow.domain.access import (
    Access,
    require_manager,
    require_member,
    require_owner,
    room_access,
)
from chatflow.domain.rows import ROOM_COLUMNS, member_from, room_from
from chatflow.domain.system_events import append_system_message
from chatflow.errors import Conflict, Forbidden, InvalidInput, NotFound
from chatflow.models import Member, Message, MessageKind, Role, Room, User, Visibility
from chatflow.publisher import Publisher

SEARCH_LIMIT = 50
ROOMS_PAGE_DEFAULT = 100
ROOMS_PAGE_MAX = 200


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class RoomService:
    def __init__(self, db: Database, publisher: Publisher) -> None:
        self._db = db
        self._publisher = publisher

    # -- reading -------------------------------------------------------------------

    def _load(self, conn: Connection, room_id: uuid.UUID, user_id: uuid.UUID) -> Room:
        row = conn.execute(
            f"SELECT {ROOM_COLUMNS} FROM rooms r"  # noqa: S608 - constant fragment
            " LEFT JOIN room_members rm ON rm.room_id = r.id AND rm.user_id = %s"
            " WHERE r.id = %s",
            (user_id, room_id),
        ).fetchone()
        if row is None:
            raise NotFound("no such room")
        room = room_from(row)
        if room.role is None and room.visibility != Visibility.PUBLIC:
            raise NotFound("no such room")
        return room

    def get(self, user: User, room_id: uuid.UUID) -> Room:
        with self._db.connection() as conn:
            return self._load(conn, room_id, user.id)

    def require_manager(self, user: User, room_id: uuid.UUID) -> None:
        """Raise unless ``user`` may manage the room's members (owner or admin).

        Checked before anything is looked up on a manager's behalf, so that other people
        learn nothing from the answer (which usernames exist, for one).
        """
        with self._db.connection() as conn:
            require_manager(room_access(conn, room_id, user.id))

    def list_mine(
        self, user: User, after: uuid.UUID | None = None, limit: int = ROOMS_PAGE_DEFAULT
    ) -> tuple[list[Room], uuid.UUID | None]:
        """A keyset page of the caller's rooms, with unread counts from ``last_seq -
        last_read_seq`` (no counting), and the ``after`` of the next page (None: the last).

        Ordered by room id, which never changes: a room that gets a message while a client
        walks the pages cannot move to a page already read (skipped) or still to come
        (repeated), as it could in an order by activity. Clients sort for display; the
        ``(user_id, room_id)`` index serves each page as one range scan.
        """
        with self._db.connection() as conn:
            rows = conn.execute(
                f"SELECT {ROOM_COLUMNS} FROM room_members rm"  # noqa: S608
                " JOIN rooms r ON r.id = rm.room_id"
                " WHERE rm.user_id = %s AND rm.room_id > %s"
                " ORDER BY rm.room_id LIMIT %s",
                (user.id, after or uuid.UUID(int=0), limit + 1),
            ).fetchall()
        rooms = [room_from(row) for row in rows[:limit]]
        return rooms, (rooms[-1].id if len(rows) > limit else None)

    def search_public(self, user: User, query: str) -> list[Room]:
        """Public rooms whose name starts with ``query`` (case-insensitive), by name."""
        text = validation.single_line(query, "q", validation.ROOM_NAME_MAX, required=False)
        with self._db.connection() as conn:
            rows = conn.execute(
                f"SELECT {ROOM_COLUMNS} FROM rooms r"  # noqa: S608
                " LEFT JOIN room_members rm ON rm.room_id = r.id AND rm.user_id = %s"
                " WHERE r.visibility = 'public' AND lower(r.name) LIKE %s"
                " ORDER BY lower(r.name), r.id LIMIT %s",
                (user.id, _escape_like(text.lower()) + "%", SEARCH_LIMIT),
            ).fetchall()
        return [room_from(row) for row in rows]

    def require_member(self, user_id: uuid.UUID, room_id: uuid.UUID) -> Role:
        """One query: the caller's role, or NotFound/Forbidden as REST would answer."""
        with self._db.connection() as conn:
            return require_member(room_access(conn, room_id, user_id))

    def members(self, user: User, room_id: uuid.UUID) -> list[Member]:
        with self._db.connection() as conn:
            require_member(room_access(conn, room_id, user.id))
            rows = conn.execute(
                "SELECT u.id, u.username, u.display_name, rm.role, rm.joined_at"
                " FROM room_members rm JOIN users u ON u.id = rm.user_id"
                " WHERE rm.room_id = %s ORDER BY rm.joined_at, u.username",
                (room_id,),
            ).fetchall()
        return [member_from(row) for row in rows]

    # -- creating and changing -------------------------------------------------------

    def create(self, user: User, name: str, topic: str | None, visibility: str) -> Room:
        clean_name = validation.single_line(name, "name", validation.ROOM_NAME_MAX)
        clean_topic = validation.single_line(
            topic or "", "topic", validation.TOPIC_MAX, required=False
        )
        if visibility not in (Visibility.PUBLIC, Visibility.PRIVATE):
            raise InvalidInput(
                "visibility: must be 'public' or 'private'",
                {"visibility": "must be 'public' or 'private'"},
            )
        room_id = uuid.uuid4()
        with self._db.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO rooms (id, name, topic, visibility, created_by)"
                " VALUES (%s, %s, %s, %s, %s)",
                (room_id, clean_name, clean_topic, visibility, user.id),
            )
            conn.execute(
                "INSERT INTO room_members (room_id, user_id, role) VALUES (%s, %s, 'owner')",
                (room_id, user.id),
            )
            return self._load(conn, room_id, user.id)

    def update(self, user: User, room_id: uuid.UUID, name: str | None, topic: str | None) -> Room:
        with self._db.connection() as conn:
            access = room_access(conn, room_id, user.id)
            require_manager(access)
            if access.visibility == Visibility.DIRECT:
                raise Forbidden("direct rooms cannot be renamed")
            if name is not None:
                clean = validation.single_line(name, "name", validation.ROOM_NAME_MAX)
                conn.execute("UPDATE rooms SET name = %s WHERE id = %s", (clean, room_id))
            if topic is not None:
                clean = validation.single_line(topic, "topic", validation.TOPIC_MAX, False)
                conn.execute("UPDATE rooms SET topic = %s WHERE id = %s", (clean, room_id))
            room = self._load(conn, room_id, user.id)
        if name is not None or topic is not None:
            self._publisher.room_updated(room, user)
        return room

    def delete(self, user: User, room_id: uuid.UUID) -> None:
        with self._db.connection() as conn:
            require_owner(room_access(conn, room_id, user.id))
            # One statement: its snapshot lists the members the delete then removes (the
            # cascade), so every one of them is told, not only those subscribed right now.
            rows = conn.execute(
                "WITH gone AS (DELETE FROM rooms WHERE id = %s RETURNING id)"
                " SELECT rm.user_id FROM room_members rm WHERE rm.room_id = %s",
                (room_id, room_id),
            ).fetchall()
        self._publisher.room_deleted(room_id, [row[0] for row in rows])

    # -- membership -------------------------------------------------------------------

    def join(self, user: User, room_id: uuid.UUID) -> Room:
        """Join a public room; joining one you are in already changes nothing."""
        event: Message | None = None
        with self._db.connection() as conn:
            with conn.transaction():
                access = room_access(conn, room_id, user.id)
                if not access.is_member:
                    if access.visibility != Visibility.PUBLIC:
                        raise NotFound("no such room")
                    inserted = conn.execute(
                        "INSERT INTO room_members (room_id, user_id, role, last_read_seq)"
                        " SELECT id, %s, 'member', last_seq FROM rooms WHERE id = %s"
                        " ON CONFLICT DO NOTHING",
                        (user.id, room_id),
                    ).rowcount
                    if inserted:
                        event = append_system_message(
                            conn, room_id, MessageKind.MEMBER_JOINED, user, "joined"
                        )
                        # The joiner has seen their own join: it must not count as unread.
                        conn.execute(
                            "UPDATE room_members SET last_read_seq = %s"
                            " WHERE room_id = %s AND user_id = %s",
                            (event.seq, room_id, user.id),
                        )
            room = self._load(conn, room_id, user.id)
        if event is not None:
            self._publisher.message_stored(event)
        return room

    def leave(self, user: User, room_id: uuid.UUID) -> None:
        with self._db.connection() as conn, conn.transaction():
            access = room_access(conn, room_id, user.id)
            role = require_member(access)
            if access.visibility == Visibility.DIRECT:
                raise Conflict("direct rooms cannot be left")
            if role == Role.OWNER:
                raise Conflict(
                    "the owner cannot leave; give ownership to another member or delete the room"
                )
            event = self._remove(conn, room_id, user, "left")
        self._publisher.message_stored(event)
        self._publisher.member_removed(room_id, user.id)

    def add_member(self, actor: User, room_id: uuid.UUID, target: User, role: str | None) -> Member:
        wanted = Role(role) if role else Role.MEMBER
        with self._db.connection() as conn, conn.transaction():
            access = room_access(conn, room_id, actor.id)
            actor_role = require_manager(access)
            if access.visibility == Visibility.DIRECT:
                raise Forbidden("direct rooms have exactly two members")
            if wanted == Role.OWNER:
                raise InvalidInput(
                    "role: a room has one owner; change the owner's role instead",
                    {"role": "must be 'admin' or 'member'"},
                )
            if wanted == Role.ADMIN and actor_role != Role.OWNER:
                raise Forbidden("only the owner may make admins")
            try:
                with conn.transaction():
                    row = conn.execute(
                        "INSERT INTO room_members (room_id, user_id, role, last_read_seq)"
                        " SELECT id, %s, %s, last_seq FROM rooms WHERE id = %s"
                        " RETURNING joined_at",
                        (target.id, wanted.value, room_id),
                    ).fetchone()
            except psycopg.errors.UniqueViolation:
                raise Conflict(f"{target.username} is already a member") from None
            assert row is not None
            event = append_system_message(
                conn, room_id, MessageKind.MEMBER_JOINED, target, f"added by {actor.username}"
            )
        self._publisher.message_stored(event)
        self._publisher.added_to_room(room_id, target.id, actor)
        return Member(user=target, role=wanted, joined_at=row[0])

    def remove_member(self, actor: User, room_id: uuid.UUID, target_id: uuid.UUID) -> None:
        with self._db.connection() as conn, conn.transaction():
            access = room_access(conn, room_id, actor.id)
            actor_role = require_manager(access)
            if access.visibility == Visibility.DIRECT:
                raise Forbidden("direct rooms have exactly two members")
            target, target_role = self._member(conn, room_id, target_id)
            if target_role == Role.OWNER:
                raise Forbidden("nobody can remove the room's owner")
            if target_role == Role.ADMIN and actor_role != Role.OWNER:
                raise Forbidden("only the owner may remove an admin")
            reason = "left" if target.id == actor.id else f"removed by {actor.username}"
            event = self._remove(conn, room_id, target, reason)
        self._publisher.message_stored(event)
        self._publisher.member_removed(room_id, target_id)

    def change_role(
        self, actor: User, room_id: uuid.UUID, target_id: uuid.UUID, role: str
    ) -> Member:
        """Owner only. Making someone ``owner`` hands ownership over; the old owner is admin."""
        wanted = Role(role)
        events: list[Message] = []
        changed: list[tuple[uuid.UUID, Role]] = []
        with self._db.connection() as conn, conn.transaction():
            access = room_access(conn, room_id, actor.id)
            require_owner(access)
            if access.visibility == Visibility.DIRECT:
                raise Forbidden("direct rooms have no roles to change")
            target, current = self._member(conn, room_id, target_id)
            if target.id == actor.id:
                raise Conflict("give ownership to another member instead")
            if wanted == Role.OWNER:
                conn.execute(
                    "UPDATE room_members SET role = 'admin' WHERE room_id = %s AND user_id = %s",
                    (room_id, actor.id),
                )
                events.append(
                    append_system_message(
                        conn, room_id, MessageKind.ROLE_CHANGED, actor, Role.ADMIN.value
                    )
                )
                changed.append((actor.id, Role.ADMIN))
            row = conn.execute(
                "UPDATE room_members SET role = %s WHERE room_id = %s AND user_id = %s"
                " RETURNING joined_at",
                (wanted.value, room_id, target_id),
            ).fetchone()
            assert row is not None
            if current != wanted:
                events.append(
                    append_system_message(
                        conn, room_id, MessageKind.ROLE_CHANGED, target, wanted.value
                    )
                )
                changed.append((target.id, wanted))
        for event in events:
            self._publisher.message_stored(event)
        for member_id, new_role in changed:
            self._publisher.role_changed(room_id, member_id, new_role)
        return Member(user=target, role=wanted, joined_at=row[0])

    def direct_room(self, user: User, other: User) -> Room:
        """The one direct room of the pair, created on first use, the same every time."""
        if other.id == user.id:
            raise InvalidInput(
                "username: cannot open a direct room with yourself",
                {"username": "cannot open a direct room with yourself"},
            )
        low, high = sorted((user, other), key=lambda u: str(u.id))
        key = f"{low.id}:{high.id}"
        with self._db.connection() as conn:
            with conn.transaction():
                created = conn.execute(
                    "INSERT INTO rooms (id, name, visibility, created_by, direct_key)"
                    " VALUES (%s, %s, 'direct', %s, %s) ON CONFLICT (direct_key) DO NOTHING",
                    (uuid.uuid4(), f"{low.username}, {high.username}", user.id, key),
                ).rowcount
                found = conn.execute(
                    "SELECT id FROM rooms WHERE direct_key = %s", (key,)
                ).fetchone()
                assert found is not None
                conn.execute(
                    "INSERT INTO room_members (room_id, user_id, role)"
                    " VALUES (%s, %s, 'member'), (%s, %s, 'member') ON CONFLICT DO NOTHING",
                    (found[0], low.id, found[0], high.id),
                )
            room = self._load(conn, found[0], user.id)
        if created:
            # The other person did not ask for this room: their pages learn of it now.
            self._publisher.added_to_room(room.id, other.id, user)
        return room

    # -- helpers ------------------------------------------------------------------------

    def _member(
        self, conn: Connection, room_id: uuid.UUID, user_id: uuid.UUID
    ) -> tuple[User, Role]:
        row = conn.execute(
            "SELECT u.id, u.username, u.display_name, rm.role FROM room_members rm"
            " JOIN users u ON u.id = rm.user_id WHERE rm.room_id = %s AND rm.user_id = %s",
            (room_id, user_id),
        ).fetchone()
        if row is None:
            raise NotFound("no such member in this room")
        return User(id=row[0], username=row[1], display_name=row[2]), Role(row[3])

    def _remove(self, conn: Connection, room_id: uuid.UUID, user: User, reason: str) -> Message:
        conn.execute(
            "DELETE FROM room_members WHERE room_id = %s AND user_id = %s", (room_id, user.id)
        )
        return append_system_message(conn, room_id, MessageKind.MEMBER_LEFT, user, reason)


__all__ = ["Access", "RoomService"]
