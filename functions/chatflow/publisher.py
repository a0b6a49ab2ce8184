"""The real-time seam: the domain tells a Publisher what happened after it is stored.

Services call the publisher only after the transaction that stored the event has
committed, so a live subscriber never sees something history does not have.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Protocol

from chatflow.models import Message, Role, Room, User


class Publisher(Protocol):
    """Delivers stored events to live connections."""

    def message_stored(self, message: Message) -> None:
        """A message or a system event (join, leave, role change) got its seq."""

    def message_changed(self, message: Message) -> None:
        """A stored message was edited or deleted (tombstoned)."""

    def member_removed(self, room_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """The user lost access to the room: drop their subscriptions to it, notify them."""

    def room_deleted(self, room_id: uuid.UUID, member_ids: Collection[uuid.UUID]) -> None:
        """The room is gone: end every subscription to it and tell every one of
        ``member_ids`` (its members just before the delete), subscribed to it or not."""

    def room_updated(self, room: Room, by: User) -> None:
        """The room's name or topic changed (not stored in the sequence: history keeps
        messages, the room itself says what it is called now)."""

    def tokens_revoked(
        self,
        user_id: uuid.UUID,
        *,
        jti: str | None = None,
        older_than_version: int | None = None,
    ) -> None:
        """Tokens of the user stopped working (logout: the session ``jti``; password change:
        every credential version below ``older_than_version``): close the live connections
        that use them and drop their subscriptions, without waiting for them to send."""

    def added_to_room(self, room_id: uuid.UUID, user_id: uuid.UUID, by: User) -> None:
        """``by`` made ``user_id`` a member (an added member, or the other person of a direct
        room just created): their pages list the room at once."""

    def direct_message(self, message: Message, recipient_id: uuid.UUID) -> None:
        """A message was stored in a direct room: a notice to the other person."""

    def role_changed(self, room_id: uuid.UUID, user_id: uuid.UUID, role: Role) -> None:
        """The member's role in the room changed: a notice to that member."""


class NullPublisher:
    """Publishes nothing, on purpose.

    Used where no WebSocket API is configured (``CONNECTIONS_TABLE`` empty): a REST-only
    deployment, and the REST tests. Clients then see new messages through history
    reads only.
    """

    def message_stored(self, message: Message) -> None:
        return None

    def message_changed(self, message: Message) -> None:
        return None

    def member_removed(self, room_id: uuid.UUID, user_id: uuid.UUID) -> None:
        return None

    def room_deleted(self, room_id: uuid.UUID, member_ids: Collection[uuid.UUID]) -> None:
        return None

    def room_updated(self, room: Room, by: User) -> None:
        return None

    def tokens_revoked(
        self,
        user_id: uuid.UUID,
        *,
        jti: str | None = None,
        older_than_version: int | None = None,
    ) -> None:
        return None

    def added_to_room(self, room_id: uuid.UUID, user_id: uuid.UUID, by: User) -> None:
        return None

    def direct_message(self, message: Message, recipient_id: uuid.UUID) -> None:
        return None

    def role_changed(self, room_id: uuid.UUID, user_id: uuid.UUID, role: Role) -> None:
        return None


class RecordingPublisher:
    """Keeps what it is told, for tests of the services."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def message_stored(self, message: Message) -> None:
        self.events.append(("stored", message))

    def message_changed(self, message: Message) -> None:
        self.events.append(("changed", message))

    def member_removed(self, room_id: uuid.UUID, user_id: uuid.UUID) -> None:
        self.events.append(("removed", (room_id, user_id)))

    def room_deleted(self, room_id: uuid.UUID, member_ids: Collection[uuid.UUID]) -> None:
        self.events.append(("deleted", room_id))

    def room_updated(self, room: Room, by: User) -> None:
        self.events.append(("updated", (room, by)))

    def tokens_revoked(
        self,
        user_id: uuid.UUID,
        *,
        jti: str | None = None,
        older_than_version: int | None = None,
    ) -> None:
        self.events.append(("tokens_revoked", (user_id, jti, older_than_version)))

    def added_to_room(self, room_id: uuid.UUID, user_id: uuid.UUID, by: User) -> None:
        self.events.append(("added", (room_id, user_id, by)))

    def direct_message(self, message: Message, recipient_id: uuid.UUID) -> None:
        self.events.append(("direct", (message, recipient_id)))

    def role_changed(self, room_id: uuid.UUID, user_id: uuid.UUID, role: Role) -> None:
        self.events.append(("role", (room_id, user_id, role)))
