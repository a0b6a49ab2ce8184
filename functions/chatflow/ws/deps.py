"""What the STOMP session needs, as small Protocols, gathered in one dataclass.

The concrete adapters (DynamoDB connection table, Redis presence, @connections fan-out)
satisfy these structurally; tests of the session logic can swap any of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from chatflow.domain.accounts import AccountService
from chatflow.domain.messages import MessageService
from chatflow.domain.rooms import RoomService
from chatflow.models import Message, User
from chatflow.settings import Settings
from chatflow.stomp import Limits
from chatflow.ws.guard import FrameGuard
from chatflow.ws.identity import SessionCache


class SubscriptionLike(Protocol):
    @property
    def connection_id(self) -> str: ...
    @property
    def subscription_id(self) -> str: ...
    @property
    def destination(self) -> str: ...
    @property
    def room_id(self) -> str | None: ...
    @property
    def user_id(self) -> str: ...


class ConnectionRecordLike(Protocol):
    @property
    def user_id(self) -> str: ...
    @property
    def username(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def stomp_version(self) -> str: ...
    @property
    def jti(self) -> str: ...
    @property
    def token_issued_at(self) -> int: ...
    @property
    def token_expires_at(self) -> int: ...


class TablePort(Protocol):
    def get_connection(self, connection_id: str) -> Any: ...
    def mark_connected(
        self,
        connection_id: str,
        user_id: str,
        username: str,
        token_expires_at: int,
        token_issued_at: int,
        jti: str,
        stomp_version: str,
        display_name: str | None = None,
        credential_version: int = 0,
        *,
        indexed: bool = False,
    ) -> None: ...
    def index_user_connection(
        self, connection_id: str, user_id: str, limit: int, expires_at: int | None = None
    ) -> bool: ...
    def add_subscription(self, sub: Any) -> None: ...
    def remove_subscription(self, connection_id: str, subscription_id: str) -> Any: ...
    def connection_subscriptions(self, connection_id: str) -> list[Any]: ...


class PresencePort(Protocol):
    def touch(self, connection_id: str, user_id: uuid.UUID) -> None: ...
    def join(self, room_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool: ...
    def leave(self, room_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool: ...


class LivePublisher(Protocol):
    def message_stored(self, message: Message) -> None: ...
    def presence(self, room_id: uuid.UUID, user: User, online: bool) -> None: ...
    def typing(self, room_id: uuid.UUID, user: User) -> None: ...


SubscriptionFactory = Callable[[str, str, str, uuid.UUID | None, uuid.UUID], Any]


@dataclass
class WsDeps:
    settings: Settings
    table: TablePort
    presence: PresencePort
    publisher: LivePublisher
    guard: FrameGuard
    accounts: AccountService
    rooms: RoomService
    messages: MessageService
    sessions: SessionCache
    subscription: SubscriptionFactory
    limits: Limits
    clock: Callable[[], float]
