"""Domain records to response models."""

from __future__ import annotations

from chatflow.api.schemas import MemberOut, MessageOut, PageOut, RoomOut, UserOut
from chatflow.models import Member, Message, Page, Room, User


def user_out(user: User) -> UserOut:
    return UserOut(id=user.id, username=user.username, display_name=user.display_name)


def room_out(room: Room) -> RoomOut:
    return RoomOut(
        id=room.id,
        name=room.name,
        topic=room.topic,
        visibility=room.visibility.value,
        role=room.role.value if room.role else None,
        last_seq=room.last_seq,
        unread=room.unread,
        created_at=room.created_at,
    )


def member_out(member: Member) -> MemberOut:
    return MemberOut(user=user_out(member.user), role=member.role.value, joined_at=member.joined_at)


def message_out(message: Message) -> MessageOut:
    return MessageOut.model_validate(message.as_json())


def page_out(page: Page) -> PageOut:
    return PageOut(
        items=[message_out(m) for m in page.items],
        next_before=page.next_before,
        next_after=page.next_after,
    )
