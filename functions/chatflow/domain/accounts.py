"""Accounts: register, log in, change password, log out.

Every login pays one bcrypt verification, whether or not the username exists, so
response time does not reveal which usernames are taken.

A token carries the user's credential version (``users.credential_version``, claim ``cv``),
read in the same row as the password hash it was issued for. A password change bumps it
in the same UPDATE as the hash, so a login that verified the old password, however late it
issues its token, stamps the old version, which the revocation check refuses from then on
(docs/adr/0008-credential-versions.md). No database read is needed to refuse it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg

from chatflow import validation
from chatflow.cache.revocations import RevocationStore
from chatflow.db.connection import Database
from chatflow.domain.credentials import CredentialChecker
from chatflow.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from chatflow.models import User
from chatflow.publisher import NullPublisher, Publisher
from chatflow.security.passwords import hash_password, verify_or_waste
from chatflow.security.tokens import IssuedToken, TokenClaims, TokenService


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    token: IssuedToken


class AccountService:
    def __init__(
        self,
        db: Database,
        tokens: TokenService,
        revocations: RevocationStore,
        bcrypt_rounds: int,
        publisher: Publisher | None = None,
    ) -> None:
        self._db = db
        self._tokens = tokens
        self._revocations = revocations
        # The token checks the $connect authorizer also makes, without this service.
        self._credentials = CredentialChecker(tokens, revocations)
        self._rounds = bcrypt_rounds
        # Told when tokens are revoked, so live WebSocket connections using them are closed.
        self._publisher: Publisher = publisher if publisher is not None else NullPublisher()

    def register(self, username: str, password: str, display_name: str | None) -> Session:
        name = validation.username(username)
        validation.password(password)
        shown = validation.single_line(
            display_name if display_name is not None else name,
            "displayName",
            validation.DISPLAY_NAME_MAX,
        )
        user = User(id=uuid.uuid4(), username=name, display_name=shown)
        password_hash = hash_password(password, self._rounds)
        try:
            with self._db.connection() as conn:
                conn.execute(
                    "INSERT INTO users (id, username, display_name, password_hash)"
                    " VALUES (%s, %s, %s, %s)",
                    (user.id, user.username, user.display_name, password_hash),
                )
        except psycopg.errors.UniqueViolation:
            raise Conflict(f"the username '{name}' is taken") from None
        return Session(user, self._tokens.issue_access(user.id, user.username, user.display_name))

    def login(self, username: str, password: str) -> Session:
        row = None
        # A name that breaks the username rule cannot exist (and may hold a NUL, which
        # PostgreSQL refuses): skip the look-up but still pay the bcrypt verification.
        if validation.USERNAME_RE.fullmatch(username):
            with self._db.connection() as conn:
                # The credential version comes from the same row as the hash: a password
                # change updates both at once, so the version matches the hash verified.
                row = conn.execute(
                    "SELECT id, username, display_name, password_hash, credential_version"
                    " FROM users WHERE lower(username) = lower(%s)",
                    (username,),
                ).fetchone()
        stored = row[3] if row is not None else None
        if not verify_or_waste(password, stored, self._rounds) or row is None:
            raise Unauthenticated("wrong username or password")
        user = User(id=row[0], username=row[1], display_name=row[2])
        token = self._tokens.issue_access(user.id, user.username, user.display_name, row[4])
        return Session(user, token)

    def authenticate(self, token: str) -> TokenClaims:
        """Verify an access token and refuse it once revoked."""
        return self._credentials.authenticate(token)

    def session_revoked(
        self, jti: str, user_id: str, issued_at: int, credential_version: int = 0
    ) -> bool:
        """Whether the session (access token ``jti``) has been revoked since it was checked
        (``$connect`` asks again after indexing the new socket; see ws/runtime.py)."""
        return self._credentials.session_revoked(jti, user_id, issued_at, credential_version)

    def verify_ticket_once(self, ticket: str) -> TokenClaims:
        """A WebSocket ticket: valid, not used before, and its access token not revoked."""
        return self._credentials.verify_ticket_once(ticket)

    def me(self, user_id: uuid.UUID) -> User:
        user = self.find(user_id)
        if user is None:
            raise Unauthenticated("the account no longer exists")
        return user

    def find(self, user_id: uuid.UUID) -> User | None:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT id, username, display_name FROM users WHERE id = %s", (user_id,)
            ).fetchone()
        return None if row is None else User(id=row[0], username=row[1], display_name=row[2])

    def find_by_username(self, username: str) -> User:
        if not validation.USERNAME_RE.fullmatch(username):
            # Nobody can hold such a name; asking PostgreSQL could fail on a NUL character.
            raise NotFound(f"no user named '{username}'")
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT id, username, display_name FROM users WHERE lower(username) = lower(%s)",
                (username,),
            ).fetchone()
        if row is None:
            raise NotFound(f"no user named '{username}'")
        return User(id=row[0], username=row[1], display_name=row[2])

    def change_password(
        self, claims: TokenClaims, current_password: str, new_password: str
    ) -> Session:
        """Replace the password, end every earlier session, and return a fresh one.

        The hash and the credential version change in one UPDATE; the new version is then
        published to the cache, where every request's revocation look-up already goes, and
        every token of an older version (every token but those issued for the new
        password) stops working, over REST and WebSocket alike. Live WebSocket connections
        using such tokens are closed at once.
        """
        validation.password(new_password, "newPassword")
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT password_hash FROM users WHERE id = %s", (claims.user_id,)
            ).fetchone()
            if not verify_or_waste(current_password, row[0] if row else None, self._rounds):
                raise InvalidInput(
                    "currentPassword: does not match",
                    {"currentPassword": "does not match the current password"},
                )
            changed = conn.execute(
                "UPDATE users SET password_hash = %s,"
                " credential_version = credential_version + 1 WHERE id = %s"
                " RETURNING id, username, display_name, credential_version",
                (hash_password(new_password, self._rounds), claims.user_id),
            ).fetchone()
        if changed is None:
            raise Unauthenticated("the account no longer exists")
        user = User(id=changed[0], username=changed[1], display_name=changed[2])
        version = int(changed[3])
        self._revocations.revoke_older_credentials(str(user.id), version, self._tokens.access_ttl)
        self._publisher.tokens_revoked(user.id, older_than_version=version)
        fresh = self._tokens.issue_access(user.id, user.username, user.display_name, version)
        return Session(user, fresh)

    def logout(self, claims: TokenClaims) -> None:
        self._revocations.revoke(claims.jti, claims.expires_at)
        self._publisher.tokens_revoked(claims.user_id, jti=claims.jti)

    def issue_ticket(self, claims: TokenClaims) -> IssuedToken:
        return self._tokens.issue_ticket(claims)
