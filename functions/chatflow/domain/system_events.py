"""System messages (join, leave, removal, role change), stored in the room's sequence.

They are appended inside the caller's transaction, so the membership change and its
history line commit together or not at all.
"""

from __future__ import annotations

import uuid
from typing import Any

from chatflow.db.connection import Connection
from chatflow.models import Message, MessageKind, User


def append_system_message(
    conn: Connection, room_id: uuid.UUID, kind: MessageKind, subject: User, body: str
) -> Message:
    row: Any = conn.execute(
        "SELECT status, seq, id, created_at, edited_at, deleted_at, body"
        " FROM chatflow_append_message(%s, NULL, %s, %s, NULL, %s, %s)",
        (room_id, kind.value, body, subject.id, uuid.uuid4()),
    ).fetchone()
    if row is None or row[0] != "stored":
        raise RuntimeError(f"system message not stored: {row[0] if row else 'no row'}")
    return Message(
        room_id=room_id,
        seq=int(row[1]),
        id=row[2],
        kind=kind,
        sender=None,
        subject=subject,
        body=row[6],
        created_at=row[3],
        edited_at=None,
        deleted_at=None,
    )
