"""Plain domain records shared by the services, the REST API and the STOMP layer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    DIRECT = "direct"


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"

    @property
    def manages(self) -> bool:
        """Owners and admins manage members and settings."""
        return self in (Role.OWNER, Role.ADMIN)


class MessageKind(StrEnum):
    MESSAGE = "message"
    MEMBER_JOINED = "member_joined"
    MEMBER_LEFT = "member_left"
    ROLE_CHANGED = "role_changed"


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    username: str
    display_name: str


@dataclass(frozen=True, slots=True)
class Room:
    id: UUID
    name: str
    topic: str
    visibility: Visibility
    role: Role | None
    last_seq: int
    unread: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Member:
    user: User
    role: Role
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class Message:
    room_id: UUID
    seq: int
    id: UUID
    kind: MessageKind
    sender: User | None
    subject: User | None
    body: str
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    # The sender's idempotency key, so a client can tell which of its sends a stored copy
    # is even when the RECEIPT never reached it (null for system events and posts without).
    client_msg_id: str | None = None

    def as_json(self) -> dict[str, object]:
        """The wire shape of docs/protocol.md §4, shared by REST responses and STOMP MESSAGE
        bodies (live and replayed alike)."""
        return {
            "type": self.kind.value,
            "seq": self.seq,
            "id": str(self.id),
            "roomId": str(self.room_id),
            "sender": _user_json(self.sender),
            "subject": _user_json(self.subject),
            "body": self.body,
            "createdAt": _iso(self.created_at),
            "editedAt": _iso(self.edited_at),
            "deletedAt": _iso(self.deleted_at),
            "clientMsgId": self.client_msg_id,
        }


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Message]
    next_before: int | None
    next_after: int | None


def _user_json(user: User | None) -> dict[str, str] | None:
    if user is None:
        return None
    return {"id": str(user.id), "username": user.username, "displayName": user.display_name}


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat().replace("+00:00", "Z")
