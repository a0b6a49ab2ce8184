"""In-memory fakes of the STOMP session's ports (``chatflow.ws.deps``), for unit tests.

``StompSession`` is a function of (connection state, message) -> (replies, side effects);
these fakes let tests/unit/test_stomp_session.py drive it without PostgreSQL, Valkey or
DynamoDB. Each fake keeps the contract of the real adapter that it stands for, because a
fake that is kinder than the real thing proves nothing:

- :class:`FakeTable` refuses a subscription exactly when the DynamoDB transaction would
  (:mod:`chatflow.ws.table_errors`: a used id, a second subscription to a destination,
  the cap, a connection that is gone), in the same order of precedence, and counts user
  connections against the cap after indexing, as ``ConnectionTable`` does.
- :class:`FakeRooms` answers NotFound for a private room a user is not in and Forbidden for
  a public one, as ``chatflow.domain.access`` does; it can drop a member after a number of
  checks, to replay the race of a removal between the session's two membership checks.
- :class:`FakeMessages` validates with the same rules as ``MessageService``, stores once per
  clientMsgId, and raises ``DatabaseUnavailable`` (as the DB adapter does) when told the
  database is down.
- :class:`FakePresence` is true per connection, not per subscription, like PresenceWriter.

The integration tests (tests/integration/test_ws_*.py) keep checking the real adapters.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from chatflow import validation
from chatflow.domain.messages import PostResult
from chatflow.errors import DatabaseUnavailable, Forbidden, NotFound, Unauthenticated
from chatflow.models import Message, MessageKind, Role, User
from chatflow.security.tokens import TokenClaims
from chatflow.ws.guard import GuardResult
from chatflow.ws.identity import Identity
from chatflow.ws.table_errors import (
    AlreadySubscribed,
    DuplicateSubscription,
    TooManySubscriptions,
    UnknownConnection,
)


@dataclass(frozen=True, slots=True)
class FakeSubscription:
    """One stored subscription, shaped like ``connections.Subscription``."""

    connection_id: str
    subscription_id: str
    destination: str
    room_id: str | None
    user_id: str


def fake_subscription(
    cid: str, sub_id: str, destination: str, room_id: uuid.UUID | None, user_id: uuid.UUID
) -> FakeSubscription:
    """The ``WsDeps.subscription`` factory for the fakes (runtime's builds the table's)."""
    return FakeSubscription(
        cid, sub_id, destination, str(room_id) if room_id else None, str(user_id)
    )


@dataclass(frozen=True, slots=True)
class FakeConnection:
    """The META item of one connection, shaped like ``connections.ConnectionRecord``."""

    connection_id: str
    state: str = "open"
    user_id: str | None = None
    username: str | None = None
    token_expires_at: int | None = None
    token_issued_at: int | None = None
    jti: str | None = None
    stomp_version: str | None = None
    display_name: str | None = None
    credential_version: int | None = None
    offered_version: str | None = None
    user_indexed: bool = False  # indexed under its user at $connect


class FakeTable:
    """The connection table: META items, subscriptions and the user index, in dicts."""

    def __init__(self, subscription_limit: int = 100) -> None:
        self.subscription_limit = subscription_limit
        self.connections: dict[str, FakeConnection] = {}
        self.subscriptions: dict[str, dict[str, FakeSubscription]] = {}
        self.user_index: dict[str, set[str]] = {}
        self.reads = 0  # get_connection calls: the frame path should read META rarely

    # -- what $connect and the tests arrange ------------------------------------------

    def open(
        self,
        cid: str,
        identity: Identity | None = None,
        *,
        offered_version: str | None = None,
        state: str = "open",
    ) -> None:
        """``Runtime.register_connection``: the META item, indexed when the identity is known."""
        self.connections[cid] = FakeConnection(
            cid,
            state=state,
            user_id=str(identity.user_id) if identity else None,
            username=identity.username if identity else None,
            token_expires_at=identity.expires_at if identity else None,
            token_issued_at=identity.issued_at if identity else None,
            jti=identity.jti if identity else None,
            display_name=identity.display_name if identity else None,
            credential_version=identity.credential_version if identity else None,
            offered_version=offered_version,
            user_indexed=identity is not None,
        )
        self.subscriptions[cid] = {}
        if identity is not None and state != "refused":
            self.user_index.setdefault(str(identity.user_id), set()).add(cid)

    def delete_connection(self, cid: str) -> list[FakeSubscription]:
        """``$disconnect``: every item of the connection goes. Idempotent."""
        self.connections.pop(cid, None)
        for connections in self.user_index.values():
            connections.discard(cid)
        return list(self.subscriptions.pop(cid, {}).values())

    # -- TablePort ----------------------------------------------------------------------

    def get_connection(self, connection_id: str) -> FakeConnection | None:
        self.reads += 1
        return self.connections.get(connection_id)

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
    ) -> None:
        record = self.connections.get(connection_id)
        if record is None:
            raise UnknownConnection(connection_id)
        if not indexed:
            self.user_index.setdefault(user_id, set()).add(connection_id)
        self.connections[connection_id] = replace(
            record,
            state="connected",
            user_id=user_id,
            username=username,
            token_expires_at=token_expires_at,
            token_issued_at=token_issued_at,
            jti=jti,
            stomp_version=stomp_version,
            display_name=display_name if display_name is not None else record.display_name,
            credential_version=credential_version,
        )

    def index_user_connection(
        self, connection_id: str, user_id: str, limit: int, expires_at: int | None = None
    ) -> bool:
        """Write the index first, count after; one over the cap takes its index back."""
        if expires_at is None and connection_id not in self.connections:
            raise UnknownConnection(connection_id)
        held = self.user_index.setdefault(user_id, set())
        held.add(connection_id)
        if len(held) <= limit:
            return True
        held.discard(connection_id)
        return False

    def add_subscription(self, sub: FakeSubscription) -> None:
        """The conditions of the subscribing transaction, explained as the table does."""
        cid = sub.connection_id
        held = self.subscriptions.get(cid, {})
        if held.get(sub.subscription_id) == sub:
            return  # a retried transaction whose first attempt was applied
        if sub.subscription_id in held:
            raise DuplicateSubscription(sub.subscription_id)
        holder = next((s for s in held.values() if s.destination == sub.destination), None)
        if holder is not None:
            raise AlreadySubscribed(sub.destination, holder.subscription_id)
        if cid not in self.connections:
            raise UnknownConnection(cid)
        if len(held) >= self.subscription_limit:
            raise TooManySubscriptions(self.subscription_limit)
        held[sub.subscription_id] = sub

    def remove_subscription(
        self, connection_id: str, subscription_id: str
    ) -> FakeSubscription | None:
        return self.subscriptions.get(connection_id, {}).pop(subscription_id, None)

    def connection_subscriptions(self, connection_id: str) -> list[FakeSubscription]:
        return list(self.subscriptions.get(connection_id, {}).values())


class FakePresence:
    """Who is present where, per connection; ``touches`` counts liveness refreshes."""

    def __init__(self) -> None:
        self.rooms: dict[uuid.UUID, dict[uuid.UUID, set[str]]] = {}
        self.touches: list[str] = []

    def touch(self, connection_id: str, user_id: uuid.UUID) -> None:
        self.touches.append(connection_id)

    def join(self, room_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool:
        """True iff the user just came online in the room."""
        present = self.rooms.setdefault(room_id, {}).setdefault(user_id, set())
        first = not present
        present.add(connection_id)
        return first

    def leave(self, room_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool:
        """True iff the user just went offline in the room (its last connection left)."""
        present = self.rooms.get(room_id, {}).get(user_id)
        if not present or connection_id not in present:
            return False
        present.discard(connection_id)
        return not present

    def present(self, room_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        return bool(self.rooms.get(room_id, {}).get(user_id))


@dataclass
class FakePublisher:
    """Records what would go out to subscribers."""

    stored: list[Message] = field(default_factory=list)
    presence_events: list[tuple[uuid.UUID, uuid.UUID, bool]] = field(default_factory=list)
    typing_events: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)

    def message_stored(self, message: Message) -> None:
        self.stored.append(message)

    def presence(self, room_id: uuid.UUID, user: User, online: bool) -> None:
        self.presence_events.append((room_id, user.id, online))

    def typing(self, room_id: uuid.UUID, user: User) -> None:
        self.typing_events.append((room_id, user.id))


class FakeGuard:
    """The frame guard: revoked jtis, and a SEND budget per user (None: unlimited)."""

    def __init__(self, send_budget: int | None = None, retry_after: int = 3) -> None:
        self.revoked: set[str] = set()
        self.send_budget = send_budget
        self.retry_after = retry_after
        self.checks: list[tuple[str, int]] = []

    def check(self, identity: Identity, connection_id: str, sends: int = 0) -> GuardResult:
        self.checks.append((connection_id, sends))
        retry_after = None
        if sends and self.send_budget is not None:
            if sends > self.send_budget:
                retry_after = self.retry_after
            else:
                self.send_budget -= sends
        return GuardResult(revoked=identity.jti in self.revoked, retry_after=retry_after)


class FakeAccounts:
    """Tokens known by their text; a revoked jti is refused by both checks.

    ``revoke_after_authenticate``: jtis revoked just after their token was verified, the
    race that ``StompSession`` closes by asking ``session_revoked`` once the socket is
    recorded as the token's.
    """

    def __init__(self) -> None:
        self.tokens: dict[str, TokenClaims] = {}
        self.revoked: set[str] = set()
        self.revoke_after_authenticate: set[str] = set()

    def issue(self, identity: Identity) -> str:
        token = f"token-{identity.jti}"
        self.tokens[token] = TokenClaims(
            user_id=identity.user_id,
            username=identity.username,
            jti=identity.jti,
            issued_at=identity.issued_at,
            expires_at=identity.expires_at,
            kind="access",
            display_name=identity.display_name,
            credential_version=identity.credential_version,
        )
        return token

    def authenticate(self, token: str) -> TokenClaims:
        claims = self.tokens.get(token)
        if claims is None:
            raise Unauthenticated("invalid token")
        if claims.jti in self.revoked:
            raise Unauthenticated("the token has been revoked")
        if claims.jti in self.revoke_after_authenticate:
            self.revoked.add(claims.jti)
        return claims

    def session_revoked(
        self, jti: str, user_id: str, issued_at: int, credential_version: int = 0
    ) -> bool:
        return jti in self.revoked


class FakeRooms:
    """Rooms with members; ``drop_after`` removes a member after that many checks."""

    def __init__(self) -> None:
        self.members: dict[uuid.UUID, dict[uuid.UUID, Role]] = {}
        self.public: set[uuid.UUID] = set()
        self.checks = 0
        self._drops: dict[tuple[uuid.UUID, uuid.UUID], int] = {}

    def add(self, room_id: uuid.UUID, *users: uuid.UUID, public: bool = False) -> None:
        room = self.members.setdefault(room_id, {})
        for user_id in users:
            room[user_id] = Role.MEMBER
        if public:
            self.public.add(room_id)

    def drop_after(self, room_id: uuid.UUID, user_id: uuid.UUID, checks: int) -> None:
        """The member is removed once ``checks`` membership checks of them have passed."""
        self._drops[(room_id, user_id)] = checks

    def require_member(self, user_id: uuid.UUID, room_id: uuid.UUID) -> Role:
        self.checks += 1
        room = self.members.get(room_id)
        role = room.get(user_id) if room is not None else None
        left = self._drops.get((room_id, user_id))
        if left is not None and role is not None:
            if left <= 0:
                del self.members[room_id][user_id]
                del self._drops[(room_id, user_id)]
                role = None
            else:
                self._drops[(room_id, user_id)] = left - 1
        if role is not None:
            return role
        if room_id in self.public:
            raise Forbidden("join the room first")
        raise NotFound("no such room")


class FakeMessages:
    """Rooms' histories in lists; one stored copy per (room, sender, clientMsgId)."""

    def __init__(self, rooms: FakeRooms, publisher: FakePublisher, max_chars: int = 4000) -> None:
        self._rooms = rooms
        self._publisher = publisher
        self._max_chars = max_chars
        self.history: dict[uuid.UUID, list[Message]] = {}
        self.unavailable = False

    def post(
        self,
        user: User,
        room_id: uuid.UUID,
        body: str,
        client_msg_id: str | None,
        rate_checked: bool = False,
    ) -> PostResult:
        text = validation.message_body(body, self._max_chars)
        cmid = validation.client_msg_id(client_msg_id)
        if self.unavailable:
            raise DatabaseUnavailable()
        self._rooms.require_member(user.id, room_id)
        stored = self.history.setdefault(room_id, [])
        if cmid is not None:
            for earlier in stored:
                same_sender = earlier.sender is not None and earlier.sender.id == user.id
                if same_sender and earlier.client_msg_id == cmid:
                    return PostResult(earlier, created=False)
        message = self.add(room_id, text, user, cmid)
        self._publisher.message_stored(message)
        return PostResult(message, created=True)

    def add(
        self, room_id: uuid.UUID, text: str, sender: User, client_msg_id: str | None = None
    ) -> Message:
        """Store a message directly (history the tests arrange)."""
        stored = self.history.setdefault(room_id, [])
        message = Message(
            room_id=room_id,
            seq=len(stored) + 1,
            id=uuid.uuid4(),
            kind=MessageKind.MESSAGE,
            sender=sender,
            subject=None,
            body=text,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
            edited_at=None,
            deleted_at=None,
            client_msg_id=client_msg_id,
        )
        stored.append(message)
        return message

    def since(
        self, user_id: uuid.UUID, room_id: uuid.UUID, after: int, limit: int
    ) -> Sequence[Message]:
        return [m for m in self.history.get(room_id, []) if m.seq > after][:limit]
