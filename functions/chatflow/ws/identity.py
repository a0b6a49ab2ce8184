"""Who is on a WebSocket connection, without a database read on the frame path.

The REQUEST authorizer puts the identity into its context; API Gateway hands that
context to every later event of the connection, so most frames know their user for
free. Connections that authenticate in the STOMP CONNECT frame have no authorizer
context; their identity is read once from the connection table and then kept in this
container's memory (a bounded cache; a miss only costs one DynamoDB read).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from chatflow.models import User
from chatflow.security.tokens import TokenClaims


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: uuid.UUID
    username: str
    jti: str  # the access token whose revocation ends the session
    issued_at: int
    expires_at: int
    display_name: str | None = None  # from the token; None: show the username
    credential_version: int = 0  # the token's ``cv``: a password change refuses older ones

    @property
    def user(self) -> User:
        shown = self.display_name or self.username
        return User(id=self.user_id, username=self.username, display_name=shown)

    @classmethod
    def from_claims(cls, claims: TokenClaims) -> Identity:
        return cls(
            user_id=claims.user_id,
            username=claims.username,
            jti=claims.session_jti,
            issued_at=claims.issued_at,
            expires_at=claims.session_expires_at,
            display_name=claims.display_name,
            credential_version=claims.credential_version,
        )

    def authorizer_context(self) -> dict[str, str | int]:
        """The authorizer's context map (API Gateway allows strings, numbers, booleans)."""
        context: dict[str, str | int] = {
            "userId": str(self.user_id),
            "username": self.username,
            "jti": self.jti,
            "iat": self.issued_at,
            "exp": self.expires_at,
            "cv": self.credential_version,
        }
        if self.display_name is not None:
            context["displayName"] = self.display_name
        return context

    @classmethod
    def from_authorizer(cls, context: dict[str, Any] | None) -> Identity | None:
        """Read the identity back from ``requestContext.authorizer``; None when anonymous."""
        if not context or not context.get("userId"):
            return None
        try:
            return cls(
                user_id=uuid.UUID(str(context["userId"])),
                username=str(context["username"]),
                jti=str(context["jti"]),
                issued_at=int(context["iat"]),
                expires_at=int(context["exp"]),
                display_name=str(context["displayName"]) if "displayName" in context else None,
                # absent in the context of a connection authorized before the claim existed
                credential_version=int(context.get("cv", 0)),
            )
        except (KeyError, ValueError, TypeError):
            return None


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What a frame needs to know about its connection: who, and which STOMP version."""

    identity: Identity | None
    version: str  # "" until CONNECTED was sent
    wire_version: str = "1.2"  # how to escape before CONNECTED: the subprotocol picked
    refused: bool = False  # the user had too many connections when this one opened
    # USER#/CONN# was written at $connect; False for a socket opened by a release before
    # that (during a deploy), whose CONNECT must write it
    user_indexed: bool = True

    @property
    def escaping_version(self) -> str:
        return self.version or self.wire_version


class SessionCache:
    """connectionId -> SessionInfo, least recently used first out."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._items: OrderedDict[str, SessionInfo] = OrderedDict()
        self._capacity = capacity

    def get(self, connection_id: str) -> SessionInfo | None:
        info = self._items.get(connection_id)
        if info is not None:
            self._items.move_to_end(connection_id)
        return info

    def put(self, connection_id: str, info: SessionInfo) -> None:
        self._items[connection_id] = info
        self._items.move_to_end(connection_id)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def drop(self, connection_id: str) -> None:
        self._items.pop(connection_id, None)
