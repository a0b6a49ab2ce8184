"""The real-time Publisher: stored events and ephemeral signals to live subscribers.

Implements ``chatflow.publisher.Publisher`` for the REST API and the STOMP session alike,
so a message posted over REST reaches WebSocket subscribers exactly as one sent over
STOMP. Every MESSAGE body is JSON with a ``type`` (DESIGN.md §3); stored events use the
message id ``<roomId>:<seq>`` so a client can de-duplicate by it as well as by ``seq``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Collection
from typing import Any, Protocol

from chatflow.models import Message, Role, Room, User
from chatflow.ws import destinations
from chatflow.ws.fanout_jobs import OutboundMessage

logger = logging.getLogger(__name__)

# How much of a direct message its notice carries: enough for a preview line, and the
# notice stays small whatever the message (up to MAX_MESSAGE_CHARS) is.
DIRECT_EXCERPT_CHARS = 140


class FanoutPort(Protocol):
    def to_room(self, room_id: str, render: Callable[[Any], bytes]) -> Any: ...
    def to_user(self, user_id: str, destination: str, render: Callable[[Any], bytes]) -> Any: ...


class DropPort(Protocol):
    def drop_user_from_room(self, room_id: str, user_id: str) -> list[Any]: ...
    def drop_room(self, room_id: str) -> list[Any]: ...


class PresenceLeavePort(Protocol):
    def leave(self, room_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool: ...


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _user(user: User) -> dict[str, str]:
    return {"id": str(user.id), "username": user.username, "displayName": user.display_name}


def frame_renderer(body: str, message_id: str) -> OutboundMessage:
    """A MESSAGE for every subscription (only ``subscription`` differs between them);
    a value an SQS fan-out job can carry for rooms above ``FANOUT_INLINE_MAX``."""
    return OutboundMessage(message_id=message_id, body=body)


class WebSocketPublisher:
    def __init__(self, fanout: FanoutPort, table: DropPort, presence: PresenceLeavePort) -> None:
        self._fanout = fanout
        self._table = table
        self._presence = presence

    # -- chatflow.publisher.Publisher ---------------------------------------------------------

    def message_stored(self, message: Message) -> None:
        body = _json(message.as_json())
        self._fanout.to_room(
            str(message.room_id), frame_renderer(body, f"{message.room_id}:{message.seq}")
        )

    def message_changed(self, message: Message) -> None:
        data = message.as_json()
        data["type"] = "message_updated"
        data["kind"] = message.kind.value
        self._fanout.to_room(str(message.room_id), frame_renderer(_json(data), str(uuid.uuid4())))

    def member_removed(self, room_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Drop the user's subscriptions to the room at once, then tell their devices."""
        dropped = self._table.drop_user_from_room(str(room_id), str(user_id))
        went_offline = False
        for sub in dropped:
            went_offline = self._presence.leave(room_id, user_id, sub.connection_id) or went_offline
        note = {"type": "removed_from_room", "roomId": str(room_id)}
        self._fanout.to_user(
            str(user_id), destinations.NOTIFICATIONS, frame_renderer(_json(note), str(uuid.uuid4()))
        )
        if went_offline:
            offline = {
                "type": "presence",
                "status": "offline",
                "roomId": str(room_id),
                "user": {"id": str(user_id)},
            }
            self._fanout.to_room(str(room_id), frame_renderer(_json(offline), str(uuid.uuid4())))

    def room_deleted(self, room_id: uuid.UUID, member_ids: Collection[uuid.UUID]) -> None:
        dropped = self._table.drop_room(str(room_id))
        note = _json({"type": "room_deleted", "roomId": str(room_id)})
        # Every member, not only those subscribed now: a page that lists the room without
        # watching it (or between two connections) must drop it as well.
        told = {str(m) for m in member_ids} | {sub.user_id for sub in dropped}
        for user_id in sorted(told):
            self._fanout.to_user(
                user_id, destinations.NOTIFICATIONS, frame_renderer(note, str(uuid.uuid4()))
            )
        for sub in dropped:
            self._presence.leave(room_id, uuid.UUID(sub.user_id), sub.connection_id)

    def room_updated(self, room: Room, by: User) -> None:
        data = {
            "type": "room_updated",
            "roomId": str(room.id),
            "name": room.name,
            "topic": room.topic,
            "by": _user(by),
        }
        self._fanout.to_room(str(room.id), frame_renderer(_json(data), str(uuid.uuid4())))

    # -- ephemeral signals ----------------------------------------------------------------------

    def presence(self, room_id: uuid.UUID, user: User, online: bool) -> None:
        data = {
            "type": "presence",
            "status": "online" if online else "offline",
            "roomId": str(room_id),
            "user": _user(user),
        }
        self._fanout.to_room(str(room_id), frame_renderer(_json(data), str(uuid.uuid4())))

    def typing(self, room_id: uuid.UUID, user: User) -> None:
        data = {"type": "typing", "roomId": str(room_id), "user": _user(user)}
        self._fanout.to_room(str(room_id), frame_renderer(_json(data), str(uuid.uuid4())))

    # -- notices on /user/queue/notifications (after the ephemeral signals: appended last) ------

    def added_to_room(self, room_id: uuid.UUID, user_id: uuid.UUID, by: User) -> None:
        self._notify(user_id, {"type": "added_to_room", "roomId": str(room_id), "by": _user(by)})

    def direct_message(self, message: Message, recipient_id: uuid.UUID) -> None:
        if message.sender is None:
            return
        note = {
            "type": "direct_message",
            "roomId": str(message.room_id),
            "seq": message.seq,
            "sender": _user(message.sender),
            "excerpt": message.body[:DIRECT_EXCERPT_CHARS],
        }
        self._notify(recipient_id, note)

    def role_changed(self, room_id: uuid.UUID, user_id: uuid.UUID, role: Role) -> None:
        self._notify(user_id, {"type": "role_changed", "roomId": str(room_id), "role": role.value})

    def _notify(self, user_id: uuid.UUID, note: dict[str, Any]) -> None:
        """One notice to every connection of the user subscribed to its notifications."""
        self._fanout.to_user(
            str(user_id), destinations.NOTIFICATIONS, frame_renderer(_json(note), str(uuid.uuid4()))
        )
