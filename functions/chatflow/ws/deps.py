"""What the STOMP session needs, as small Protocols, gathered in one dataclass.

Each Protocol names exactly the calls ``StompSession`` makes, no more: the concrete
adapters and services (DynamoDB connection table, Valkey presence and frame guard,
@connections publisher, the account, room and message services) satisfy them
structurally, and ``chatflow.ws.fakes`` holds in-memory fakes of every one of them for
the session's unit tests (tests/unit/test_stomp_session.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from chatflow.models import Message, Role, User
from chatflow.settings import Settings
from chatflow.stomp import Limits
from chatflow.ws.identity import Identity, SessionCache

if TYPE_CHECKING:  # types only: the frame path must not import them through this module
    from chatflow.domain.messages import PostResult
    from chatflow.security.tokens import TokenClaims
    from chatflow.ws.guard import GuardResult


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
    def remove_subscription(
        self, connection_id: str, subscription_id: str
    ) -> SubscriptionLike | None: ...
    def connection_subscriptions(self, connection_id: str) -> Sequence[SubscriptionLike]: ...


class PresencePort(Protocol):
    def touch(self, connection_id: str, user_id: uuid.UUID) -> None: ...
    def join(self, room_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool: ...
    def leave(self, room_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool: ...


class LivePublisher(Protocol):
    def message_stored(self, message: Message) -> None: ...
    def presence(self, room_id: uuid.UUID, user: User, online: bool) -> None: ...
    def typing(self, room_id: uuid.UUID, user: User) -> None: ...


class GuardPort(Protocol):
    """The per-message check: revoked token, presence refresh, SEND rate limit."""

    def check(self, identity: Identity, connection_id: str, sends: int = 0) -> GuardResult: ...


class AccountsPort(Protocol):
    """Token checks: a CONNECT that carries its token, and revocation after indexing."""

    def authenticate(self, token: str) -> TokenClaims: ...
    def session_revoked(
        self, jti: str, user_id: str, issued_at: int, credential_version: int = 0
    ) -> bool: ...


class RoomsPort(Protocol):
    """Membership: the role, or NotFound (private room) / Forbidden (public, not joined)."""

    def require_member(self, user_id: uuid.UUID, room_id: uuid.UUID) -> Role: ...


class MessagesPort(Protocol):
    """Storing a SEND (idempotent by clientMsgId) and the replay of ``x-since-seq``."""

    def post(
        self,
        user: User,
        room_id: uuid.UUID,
        body: str,
        client_msg_id: str | None,
        rate_checked: bool = False,
    ) -> PostResult: ...
    def since(
        self, user_id: uuid.UUID, room_id: uuid.UUID, after: int, limit: int
    ) -> Sequence[Message]: ...


SubscriptionFactory = Callable[[str, str, str, uuid.UUID | None, uuid.UUID], Any]


@dataclass
class WsDeps:
    settings: Settings
    table: TablePort
    presence: PresencePort
    publisher: LivePublisher
    guard: GuardPort
    accounts: AccountsPort
    rooms: RoomsPort
    messages: MessagesPort
    sessions: SessionCache
    subscription: SubscriptionFactory
    limits: Limits
    clock: Callable[[], float]
