"""Row-to-record mapping and the SELECT fragments that produce those rows."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from chatflow.models import Member, Message, MessageKind, Role, Room, User, Visibility

USER_COLUMNS = "u.id, u.username, u.display_name"

ROOM_COLUMNS = """r.id, r.name, r.topic, r.visibility, rm.role, r.last_seq,
    GREATEST(r.last_seq - COALESCE(rm.last_read_seq, r.last_seq), 0) AS unread, r.created_at"""

MESSAGE_SELECT = """
SELECT m.room_id, m.seq, m.id, m.kind, m.body, m.created_at, m.edited_at, m.deleted_at,
       s.id, s.username, s.display_name, j.id, j.username, j.display_name, m.client_msg_id
FROM messages m
LEFT JOIN users s ON s.id = m.sender_id
LEFT JOIN users j ON j.id = m.subject_id
"""


def user_from(row: tuple[Any, ...], offset: int = 0) -> User | None:
    if row[offset] is None:
        return None
    return User(id=row[offset], username=row[offset + 1], display_name=row[offset + 2])


def room_from(row: tuple[Any, ...]) -> Room:
    return Room(
        id=row[0],
        name=row[1],
        topic=row[2],
        visibility=Visibility(row[3]),
        role=Role(row[4]) if row[4] is not None else None,
        last_seq=int(row[5]),
        unread=int(row[6]),
        created_at=row[7],
    )


def member_from(row: tuple[Any, ...]) -> Member:
    user = user_from(row)
    assert user is not None
    return Member(user=user, role=Role(row[3]), joined_at=row[4])


def message_from(row: tuple[Any, ...]) -> Message:
    body = "" if row[7] is not None else row[4]
    return Message(
        room_id=row[0],
        seq=int(row[1]),
        id=row[2],
        kind=MessageKind(row[3]),
        body=body,
        created_at=row[5],
        edited_at=row[6],
        deleted_at=row[7],
        sender=user_from(row, 8),
        subject=user_from(row, 11),
        client_msg_id=row[14],
    )


def as_uuid(value: object) -> UUID:
    assert isinstance(value, UUID)
    return value
