"""Messages: post (idempotent), history (keyset pages), edit, delete, read positions.

Posting is one round trip to PostgreSQL: ``chatflow_append_message`` locks the room's
sequence, checks membership, answers a retried ``clientMsgId`` with the first copy and
stores the message, all in one statement; it also returns the room's ``direct_key``, so a
message in a direct room notifies the other person without a second query. The REST API
and the STOMP SEND path both come through ``post``, so the rules are the same on both.
"""

from __future__ import annotations

import uuid
from typing import Any

from chatflow import validation
from chatflow.cache.ratelimit import BucketPolicy, RateLimiter
from chatflow.db.connection import Database
from chatflow.domain.access import not_member_error, require_manager, require_member, room_access
from chatflow.domain.rows import MESSAGE_SELECT, message_from
from chatflow.errors import Forbidden, InvalidInput, NotFound
from chatflow.models import Message, MessageKind, Page, User
from chatflow.publisher import Publisher

MAX_PAGE = 100
DEFAULT_PAGE = 50


class PostResult:
    """A stored message, and whether this call stored it or found an earlier copy."""

    __slots__ = ("created", "message")

    def __init__(self, message: Message, created: bool) -> None:
        self.message = message
        self.created = created


class MessageService:
    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        limiter: RateLimiter | None,
        send_policy: BucketPolicy,
        max_chars: int,
    ) -> None:
        self._db = db
        self._publisher = publisher
        self._limiter = limiter
        self._send_policy = send_policy
        self._max_chars = max_chars

    def post(
        self,
        user: User,
        room_id: uuid.UUID,
        body: str,
        client_msg_id: str | None,
        rate_checked: bool = False,
    ) -> PostResult:
        """Store one message. ``rate_checked``: the caller already took the send token
        (the STOMP path does it in the same Redis round trip as its other per-frame checks).
        """
        text = validation.message_body(body, self._max_chars)
        cmid = validation.client_msg_id(client_msg_id)
        if self._limiter is not None and not rate_checked:
            self._limiter.check(self._send_policy, str(user.id))
        with self._db.connection() as conn:
            row: Any = conn.execute(
                "SELECT * FROM chatflow_append_message(%s, %s, 'message', %s, %s, NULL, %s)",
                (room_id, user.id, text, cmid, uuid.uuid4()),
            ).fetchone()
            status = row[0]
            if status == "no_room":
                raise NotFound("no such room")
            if status == "not_member":
                raise not_member_error(conn, room_id, user.id)
        sender = User(id=user.id, username=row[7] or user.username, display_name=row[8] or "")
        message = Message(
            room_id=room_id,
            seq=int(row[1]),
            id=row[2],
            kind=MessageKind.MESSAGE,
            sender=sender,
            subject=None,
            body=row[6],
            created_at=row[3],
            edited_at=row[4],
            deleted_at=row[5],
            client_msg_id=cmid,
        )
        created = status == "stored"
        if created:
            self._publisher.message_stored(message)
            peer = direct_peer(row[9], user.id)
            if peer is not None:
                self._publisher.direct_message(message, peer)
        return PostResult(message, created)

    def history(
        self,
        user: User,
        room_id: uuid.UUID,
        before: int | None = None,
        after: int | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> Page:
        """One keyset page, ascending by seq; the newest page when no cursor is given."""
        if before is not None and after is not None:
            raise InvalidInput(
                "give either 'before' or 'after', not both",
                {"before": "not together with 'after'", "after": "not together with 'before'"},
            )
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(
                f"limit: between 1 and {MAX_PAGE}", {"limit": f"between 1 and {MAX_PAGE}"}
            )
        with self._db.connection() as conn:
            require_member(room_access(conn, room_id, user.id))
            if after is not None:
                rows = conn.execute(
                    MESSAGE_SELECT + " WHERE m.room_id = %s AND m.seq > %s ORDER BY m.seq LIMIT %s",
                    (room_id, after, limit + 1),
                ).fetchall()
                more_after = len(rows) > limit
                items = [message_from(r) for r in rows[:limit]]
                more_before = (items[0].seq if items else after + 1) > 1
            else:
                rows = conn.execute(
                    MESSAGE_SELECT
                    + " WHERE m.room_id = %s AND m.seq < %s ORDER BY m.seq DESC LIMIT %s",
                    (room_id, before if before is not None else 2**62, limit + 1),
                ).fetchall()
                more_before = len(rows) > limit
                items = [message_from(r) for r in reversed(rows[:limit])]
                more_after = (
                    before is not None
                    and bool(items)
                    and self._has_after(conn, room_id, items[-1].seq)
                )
        return Page(
            items=items,
            next_before=items[0].seq if items and more_before else None,
            next_after=items[-1].seq if items and more_after else None,
        )

    @staticmethod
    def _has_after(conn: Any, room_id: uuid.UUID, seq: int) -> bool:
        row = conn.execute("SELECT last_seq > %s FROM rooms WHERE id = %s", (seq, room_id))
        found = row.fetchone()
        return bool(found and found[0])

    def since(
        self, user_id: uuid.UUID, room_id: uuid.UUID, after: int, limit: int
    ) -> list[Message]:
        """Replay for a reconnecting subscriber: stored messages after ``after``, oldest first.

        The caller has checked membership already (at SUBSCRIBE); this reads one page.
        """
        with self._db.connection() as conn:
            rows = conn.execute(
                MESSAGE_SELECT + " WHERE m.room_id = %s AND m.seq > %s ORDER BY m.seq LIMIT %s",
                (room_id, after, limit),
            ).fetchall()
        return [message_from(r) for r in rows]

    def edit(self, user: User, room_id: uuid.UUID, seq: int, body: str) -> Message:
        text = validation.message_body(body, self._max_chars)
        with self._db.connection() as conn:
            require_member(room_access(conn, room_id, user.id))
            current = self._get(conn, room_id, seq)
            if current.kind != MessageKind.MESSAGE or current.sender is None:
                raise Forbidden("system messages cannot be edited")
            if current.sender.id != user.id:
                raise Forbidden("only the sender may edit a message")
            if current.deleted_at is not None:
                raise NotFound("the message was deleted")
            conn.execute(
                "UPDATE messages SET body = %s, edited_at = now() WHERE room_id = %s AND seq = %s",
                (text, room_id, seq),
            )
            changed = self._get(conn, room_id, seq)
        self._publisher.message_changed(changed)
        return changed

    def delete(self, user: User, room_id: uuid.UUID, seq: int) -> Message:
        """Tombstone a message: it keeps its seq, loses its body. Senders, admins, owners."""
        with self._db.connection() as conn:
            access = room_access(conn, room_id, user.id)
            require_member(access)
            current = self._get(conn, room_id, seq)
            if current.kind != MessageKind.MESSAGE:
                raise Forbidden("system messages cannot be deleted")
            is_sender = current.sender is not None and current.sender.id == user.id
            if not is_sender:
                require_manager(access)
            if current.deleted_at is not None:
                return current
            conn.execute(
                "UPDATE messages SET body = '', deleted_at = now() WHERE room_id = %s AND seq = %s",
                (room_id, seq),
            )
            changed = self._get(conn, room_id, seq)
        self._publisher.message_changed(changed)
        return changed

    def mark_read(self, user: User, room_id: uuid.UUID, seq: int) -> int:
        """Move the read position forward (never back); returns the stored position."""
        if seq < 0:
            raise InvalidInput("seq: must not be negative", {"seq": "must not be negative"})
        with self._db.connection() as conn:
            require_member(room_access(conn, room_id, user.id))
            row = conn.execute(
                "UPDATE room_members rm SET last_read_seq = GREATEST(rm.last_read_seq, %s)"
                " FROM rooms r WHERE r.id = rm.room_id AND rm.room_id = %s AND rm.user_id = %s"
                " AND %s <= r.last_seq RETURNING rm.last_read_seq",
                (seq, room_id, user.id, seq),
            ).fetchone()
        if row is None:
            raise InvalidInput(
                "seq: beyond the room's last message", {"seq": "beyond the room's last message"}
            )
        return int(row[0])

    @staticmethod
    def _get(conn: Any, room_id: uuid.UUID, seq: int) -> Message:
        row = conn.execute(
            MESSAGE_SELECT + " WHERE m.room_id = %s AND m.seq = %s", (room_id, seq)
        ).fetchone()
        if row is None:
            raise NotFound("no such message")
        return message_from(row)


def direct_peer(direct_key: str | None, sender_id: uuid.UUID) -> uuid.UUID | None:
    """The other member of a direct room, from its ``direct_key`` (``"<low id>:<high id>"``,
    NULL for other rooms) that the append returns: no query to learn who to notify."""
    if direct_key is None:
        return None
    low, _, high = direct_key.partition(":")
    return uuid.UUID(high if low == str(sender_id) else low)
