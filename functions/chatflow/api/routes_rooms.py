"""Rooms, members and direct rooms."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from chatflow.api.convert import member_out, room_out, user_out
from chatflow.api.deps import CurrentUser, RoomId, Services, UserId
from chatflow.api.schemas import (
    AddMemberIn,
    ChangeRoleIn,
    CreateRoomIn,
    DirectRoomIn,
    MemberOut,
    PresenceOut,
    RoomOut,
    RoomPageOut,
    UpdateRoomIn,
)
from chatflow.domain.rooms import ROOMS_PAGE_DEFAULT, ROOMS_PAGE_MAX

router = APIRouter(tags=["rooms"])


@router.post("/rooms", status_code=201, response_model=RoomOut)
def create_room(body: CreateRoomIn, services: Services, user: CurrentUser) -> RoomOut:
    services.limiter.check(services.rates.room, str(user.id))
    return room_out(services.rooms.create(user, body.name, body.topic, body.visibility))


@router.get("/rooms", response_model=RoomPageOut)
def my_rooms(
    services: Services,
    user: CurrentUser,
    after: Annotated[
        UUID | None, Query(description="the nextAfter of the page before; none: the first")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=ROOMS_PAGE_MAX)] = ROOMS_PAGE_DEFAULT,
) -> RoomPageOut:
    """The rooms I am in, a keyset page at a time, in a fixed order (room id): follow
    ``nextAfter`` until it is null to have them all."""
    rooms, next_after = services.rooms.list_mine(user, after, limit)
    return RoomPageOut(items=[room_out(r) for r in rooms], next_after=next_after)


@router.get("/rooms/public", response_model=list[RoomOut])
def search_public_rooms(
    services: Services,
    user: CurrentUser,
    q: Annotated[str, Query(max_length=80, description="name prefix, case-insensitive")] = "",
) -> list[RoomOut]:
    return [room_out(r) for r in services.rooms.search_public(user, q)]


@router.get("/rooms/{roomId}", response_model=RoomOut)
def get_room(room_id: RoomId, services: Services, user: CurrentUser) -> RoomOut:
    return room_out(services.rooms.get(user, room_id))


@router.patch("/rooms/{roomId}", response_model=RoomOut)
def update_room(
    room_id: RoomId, body: UpdateRoomIn, services: Services, user: CurrentUser
) -> RoomOut:
    return room_out(services.rooms.update(user, room_id, body.name, body.topic))


@router.delete("/rooms/{roomId}", status_code=204, response_class=Response)
def delete_room(room_id: RoomId, services: Services, user: CurrentUser) -> Response:
    services.rooms.delete(user, room_id)
    return Response(status_code=204)


@router.post("/rooms/{roomId}/join", response_model=RoomOut)
def join_room(room_id: RoomId, services: Services, user: CurrentUser) -> RoomOut:
    services.limiter.check(services.rates.membership, str(user.id))
    return room_out(services.rooms.join(user, room_id))


@router.post("/rooms/{roomId}/leave", status_code=204, response_class=Response)
def leave_room(room_id: RoomId, services: Services, user: CurrentUser) -> Response:
    services.limiter.check(services.rates.membership, str(user.id))
    services.rooms.leave(user, room_id)
    return Response(status_code=204)


@router.get("/rooms/{roomId}/members", response_model=list[MemberOut])
def list_members(room_id: RoomId, services: Services, user: CurrentUser) -> list[MemberOut]:
    return [member_out(m) for m in services.rooms.members(user, room_id)]


@router.post("/rooms/{roomId}/members", status_code=201, response_model=MemberOut)
def add_member(
    room_id: RoomId, body: AddMemberIn, services: Services, user: CurrentUser
) -> MemberOut:
    services.limiter.check(services.rates.membership, str(user.id))
    # Only a manager learns whether the username exists (404); others get 404 for a room
    # they are not in and 403 for one they cannot manage, whatever the username.
    services.rooms.require_manager(user, room_id)
    target = services.accounts.find_by_username(body.username)
    return member_out(services.rooms.add_member(user, room_id, target, body.role))


@router.patch("/rooms/{roomId}/members/{userId}", response_model=MemberOut)
def change_role(
    room_id: RoomId, user_id: UserId, body: ChangeRoleIn, services: Services, user: CurrentUser
) -> MemberOut:
    services.limiter.check(services.rates.membership, str(user.id))
    return member_out(services.rooms.change_role(user, room_id, user_id, body.role))


@router.delete("/rooms/{roomId}/members/{userId}", status_code=204, response_class=Response)
def remove_member(
    room_id: RoomId, user_id: UserId, services: Services, user: CurrentUser
) -> Response:
    services.limiter.check(services.rates.membership, str(user.id))
    services.rooms.remove_member(user, room_id, user_id)
    return Response(status_code=204)


@router.get("/rooms/{roomId}/presence", response_model=PresenceOut)
def room_presence(room_id: RoomId, services: Services, user: CurrentUser) -> PresenceOut:
    return PresenceOut(online=[user_out(u) for u in services.presence.online(user, room_id)])


@router.post("/dms", response_model=RoomOut)
def direct_room(body: DirectRoomIn, services: Services, user: CurrentUser) -> RoomOut:
    services.limiter.check(services.rates.dm, str(user.id))
    other = services.accounts.find_by_username(body.username)
    return room_out(services.rooms.direct_room(user, other))
