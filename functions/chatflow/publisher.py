"""The real-time seam: the domain tells a Publisher what happened after it is stored.

Services call the publisher only after the transaction that stored the event has
committed, so a live subscriber never sees something history does not have.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from chatflow.models import Message, Room, User


class Publisher(Protocol):
    """Delivers stored events to live connections."""

    def message_stored(self, message: Message) -> None:
        """A message or a system event (join, leave, role change) got its seq."""

    def message_changed(self, message: Message) -> None:
        """A stored message was edited or deleted (tombstoned)."""

    def member_removed(self, room_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """The user lost access to the room: drop their subscriptions to it, notify them."""

    def room_deleted(self, room_id: uuid.UUID) -> None:
        """The room is gone: end every subscription to it."""

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

    def room_deleted(self, room_id: uuid.UUID) -> None:
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

    def room_deleted(self, room_id: uuid.UUID) -> None:
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
