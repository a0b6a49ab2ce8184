"""Message history, posting, editing, deleting, read positions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from chatflow.api.convert import message_out, page_out
from chatflow.api.deps import CurrentUser, RoomId, Services
from chatflow.api.schemas import (
    EditMessageIn,
    MessageOut,
    PageOut,
    PostMessageIn,
    ReadPositionIn,
    ReadPositionOut,
)
from chatflow.domain.messages import DEFAULT_PAGE, MAX_PAGE

router = APIRouter(tags=["messages"])
Seq = Annotated[int, Path(ge=1, le=2**62)]
Cursor = Annotated[int | None, Query(ge=0, le=2**62)]


@router.get("/rooms/{roomId}/messages", response_model=PageOut)
def history(
    room_id: RoomId,
    services: Services,
    user: CurrentUser,
    before: Cursor = None,
    after: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> PageOut:
    """A keyset page in ascending ``seq``: the newest without a cursor, else before/after it."""
    return page_out(services.messages.history(user, room_id, before, after, limit))


@router.post(
    "/rooms/{roomId}/messages",
    status_code=201,
    response_model=MessageOut,
    responses={200: {"model": MessageOut, "description": "a retry: the first copy"}},
)
def post_message(
    room_id: RoomId, body: PostMessageIn, services: Services, user: CurrentUser, response: Response
) -> MessageOut:
    """Store a message; a repeated ``clientMsgId`` answers 200 with the first copy."""
    result = services.messages.post(user, room_id, body.body, body.client_msg_id)
    if not result.created:
        response.status_code = 200
    return message_out(result.message)


@router.patch("/rooms/{roomId}/messages/{seq}", response_model=MessageOut)
def edit_message(
    room_id: RoomId, seq: Seq, body: EditMessageIn, services: Services, user: CurrentUser
) -> MessageOut:
    services.limiter.check(services.rates.edit, str(user.id))
    return message_out(services.messages.edit(user, room_id, seq, body.body))


@router.delete("/rooms/{roomId}/messages/{seq}", status_code=204, response_class=Response)
def delete_message(room_id: RoomId, seq: Seq, services: Services, user: CurrentUser) -> Response:
    services.limiter.check(services.rates.edit, str(user.id))
    services.messages.delete(user, room_id, seq)
    return Response(status_code=204)


@router.put("/rooms/{roomId}/read", response_model=ReadPositionOut)
def mark_read(
    room_id: RoomId, body: ReadPositionIn, services: Services, user: CurrentUser
) -> ReadPositionOut:
    return ReadPositionOut(last_read_seq=services.messages.mark_read(user, room_id, body.seq))
