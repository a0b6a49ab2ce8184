"""The real-time Publisher: stored events and ephemeral signals to live subscribers.

Implements ``chatflow.publisher.Publisher`` for the REST API and the STOMP session alike,
so a message posted over REST reaches WebSocket subscribers exactly as one sent over
STOMP. Every MESSAGE body is JSON with a ``type`` (docs/protocol.md §4); stored events use the
message id ``<roomId>:<seq>`` so a client can de-duplicate by it as well as by ``seq``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Collection, Iterable
from typing import Any, Protocol

from chatflow.models import Message, Role, Room, User
from chatflow.stomp import error, serialize
from chatflow.ws import destinations
from chatflow.ws.connections import ConnectionRecord, Subscription
from chatflow.ws.fanout_jobs import OutboundMessage
from chatflow.ws.gateway import ConnectionsApi

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


class ConnectionsPort(DropPort, Protocol):
    """The table reads and deletes that closing a user's connections needs."""

    def user_connections(self, user_id: str) -> list[str]: ...
    def get_connection(self, cid: str) -> ConnectionRecord | None: ...
    def delete_connection(self, cid: str) -> list[Subscription]: ...


class PresenceLeavePort(Protocol):
    def leave(self, room_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool: ...
    def leave_all(
        self, connection_id: str, user_id: uuid.UUID, room_ids: Iterable[uuid.UUID]
    ) -> list[uuid.UUID]: ...


REVOKED_TOKEN_MESSAGE = "the token has been revoked: log in again and reconnect"
EXPIRED_TOKEN_MESSAGE = "the token has expired: log in again and reconnect"


def uses_revoked_token(
    record: ConnectionRecord, jti: str | None, older_than_version: int | None
) -> bool:
    """Whether the connection of ``record`` was opened with a token that is now revoked:
    the session ``jti`` a logout revoked, or a credential version a password change ended
    (items written before versions were recorded count as version 0, as their tokens do)."""
    if jti is not None and record.jti == jti:
        return True
    if older_than_version is None or record.jti is None:
        return False
    return (record.credential_version or 0) < older_than_version


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _user(user: User) -> dict[str, str]:
    return {"id": str(user.id), "username": user.username, "displayName": user.display_name}


def frame_renderer(body: str, message_id: str) -> OutboundMessage:
    """A MESSAGE for every subscription (only ``subscription`` differs between them);
    a value an SQS fan-out job can carry for rooms above ``FANOUT_INLINE_MAX``."""
    return OutboundMessage(message_id=message_id, body=body)


class WebSocketPublisher:
    def __init__(
        self,
        fanout: FanoutPort,
        table: ConnectionsPort,
        presence: PresenceLeavePort,
        api: ConnectionsApi,
    ) -> None:
        self._fanout = fanout
        self._table = table
        self._presence = presence
        self._api = api  # to close connections (ERROR, then the @connections DELETE)

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

    # -- revoked tokens ---------------------------------------------------------------------

    def tokens_revoked(
        self,
        user_id: uuid.UUID,
        *,
        jti: str | None = None,
        older_than_version: int | None = None,
    ) -> None:
        """Close every connection of the user that uses a token just revoked.

        The revocation is already stored, so every frame these connections send is refused;
        this closes the ones that only listen. Connections are found through the user's
        partition and picked by their META item. A table or @connections failure here
        leaves them to the sweeper, which closes connections of revoked tokens every minute.
        """
        try:
            connections = self._table.user_connections(str(user_id))
        except Exception:
            logger.warning("revoked connections left to the sweeper", exc_info=True)
            return
        for cid in connections:
            try:
                record = self._table.get_connection(cid)
                if record is not None and uses_revoked_token(record, jti, older_than_version):
                    self.close_connection(record, REVOKED_TOKEN_MESSAGE)
            except Exception:
                logger.warning("revoked connection %s left to the sweeper", cid, exc_info=True)

    def close_connection(self, record: ConnectionRecord, reason: str) -> None:
        """Drop the connection's items first (no later message is routed to it, and its
        rooms hear that its user went offline), then send ERROR ``reason`` and close it.
        ``$disconnect`` follows and finds nothing left to delete."""
        cid = record.connection_id
        try:
            removed = self._table.delete_connection(cid)
            if record.user_id is not None:
                user_id = uuid.UUID(record.user_id)
                rooms = sorted({uuid.UUID(s.room_id) for s in removed if s.room_id is not None})
                shown = record.display_name or record.username or ""
                user = User(id=user_id, username=record.username or "", display_name=shown)
                for room_id in self._presence.leave_all(cid, user_id, rooms):
                    self.presence(room_id, user, online=False)
        finally:
            self._api.post(cid, serialize(error(reason)))
            self._api.delete(cid)

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
