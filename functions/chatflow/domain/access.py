"""Who may see and do what in a room: the one place membership is decided.

A private or direct room the caller is not a member of answers NotFound, exactly as
a room that does not exist, so room ids leak nothing. A public room is visible to
everyone, but reading or writing it still needs membership (Forbidden, "join first").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from chatflow.db.connection import Connection
from chatflow.errors import Forbidden, NotFound
from chatflow.models import Role, Visibility


@dataclass(frozen=True, slots=True)
class Access:
    visibility: Visibility
    role: Role | None

    @property
    def is_member(self) -> bool:
        return self.role is not None


def room_access(conn: Connection, room_id: uuid.UUID, user_id: uuid.UUID) -> Access:
    """The caller's view of the room; NotFound when they may not know it exists."""
    row = conn.execute(
        "SELECT r.visibility, rm.role FROM rooms r"
        " LEFT JOIN room_members rm ON rm.room_id = r.id AND rm.user_id = %s"
        " WHERE r.id = %s",
        (user_id, room_id),
    ).fetchone()
    if row is None:
        raise NotFound("no such room")
    access = Access(Visibility(row[0]), Role(row[1]) if row[1] else None)
    if not access.is_member and access.visibility != Visibility.PUBLIC:
        raise NotFound("no such room")
    return access


def require_member(access: Access) -> Role:
    if access.role is None:
        raise Forbidden("join the room first")
    return access.role


def require_manager(access: Access) -> Role:
    role = require_member(access)
    if not role.manages:
        raise Forbidden("only the room's owner or an admin may do this")
    return role


def require_owner(access: Access) -> Role:
    role = require_member(access)
    if role != Role.OWNER:
        raise Forbidden("only the room's owner may do this")
    return role


def not_member_error(conn: Connection, room_id: uuid.UUID, user_id: uuid.UUID) -> Exception:
    """The error for a write by a non-member: Forbidden if the room is public, else NotFound."""
    try:
        require_member(room_access(conn, room_id, user_id))
    except (Forbidden, NotFound) as exc:
        return exc
    return Forbidden("join the room first")
