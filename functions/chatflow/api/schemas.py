"""Request and response bodies of the REST API, in camelCase on the wire.

Requests forbid unknown fields and never coerce types (``"123"`` is not a number), so a
client's mistake is reported instead of guessed at. Lengths here are upper bounds that
keep bodies small; the domain's rules (``chatflow.validation``) give the exact words.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from pydantic.alias_generators import to_camel


class _In(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=False, extra="forbid", strict=True
    )


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


# -- requests -------------------------------------------------------------------------


class RegisterIn(_In):
    username: StrictStr = Field(max_length=64)
    password: StrictStr = Field(max_length=256)
    display_name: StrictStr | None = Field(default=None, max_length=256)


class LoginIn(_In):
    username: StrictStr = Field(max_length=64)
    password: StrictStr = Field(max_length=256)


class ChangePasswordIn(_In):
    current_password: StrictStr = Field(max_length=256)
    new_password: StrictStr = Field(max_length=256)


class CreateRoomIn(_In):
    name: StrictStr = Field(max_length=256)
    topic: StrictStr | None = Field(default=None, max_length=1024)
    visibility: Literal["public", "private"] = "public"


class UpdateRoomIn(_In):
    name: StrictStr | None = Field(default=None, max_length=256)
    topic: StrictStr | None = Field(default=None, max_length=1024)


class AddMemberIn(_In):
    username: StrictStr = Field(max_length=64)
    role: Literal["admin", "member"] | None = None


class ChangeRoleIn(_In):
    role: Literal["owner", "admin", "member"]


class DirectRoomIn(_In):
    username: StrictStr = Field(max_length=64)


class PostMessageIn(_In):
    body: StrictStr = Field(max_length=65536)
    client_msg_id: StrictStr | None = Field(default=None, max_length=256)


class EditMessageIn(_In):
    body: StrictStr = Field(max_length=65536)


class ReadPositionIn(_In):
    seq: StrictInt = Field(ge=0, le=2**62)


# -- responses ------------------------------------------------------------------------


class UserOut(_Out):
    id: UUID
    username: str
    display_name: str


class AuthOut(_Out):
    user: UserOut
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class TicketOut(_Out):
    ticket: str
    expires_in: int


class RoomOut(_Out):
    id: UUID
    name: str
    topic: str
    visibility: Literal["public", "private", "direct"]
    role: Literal["owner", "admin", "member"] | None
    last_seq: int
    unread: int
    created_at: datetime


class RoomPageOut(_Out):
    """One page of the caller's rooms; ``nextAfter`` is the ``after`` of the next (null:
    this is the last). Treat it as opaque."""

    items: list[RoomOut]
    next_after: UUID | None


class MemberOut(_Out):
    user: UserOut
    role: Literal["owner", "admin", "member"]
    joined_at: datetime


class MessageOut(_Out):
    seq: int
    id: UUID
    room_id: UUID
    type: Literal["message", "member_joined", "member_left", "role_changed"]
    sender: UserOut | None
    subject: UserOut | None = Field(
        default=None, description="For system messages: the member the event is about."
    )
    body: str
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    client_msg_id: str | None = Field(
        default=None,
        description="The clientMsgId the sender stored the message with; null for system"
        " messages and messages posted without one.",
    )


class PageOut(_Out):
    items: list[MessageOut]
    next_before: int | None
    next_after: int | None


class ReadPositionOut(_Out):
    last_read_seq: int


class PresenceOut(_Out):
    online: list[UserOut]


class HealthOut(_Out):
    status: Literal["ok", "degraded"]
    postgres: Literal["ok", "down"]
    redis: Literal["ok", "down"]


class ProblemOut(BaseModel):
    """RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None
