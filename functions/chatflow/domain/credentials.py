"""Credential checks: an access token or a WebSocket ticket, verified and not revoked.

These are the checks the ``$connect`` authorizer makes, kept apart from
:class:`~chatflow.domain.accounts.AccountService` (which delegates to them) because that
service also registers users and changes passwords in PostgreSQL: the authorizer needs
only the token service and the revocation store, and importing this module loads neither
psycopg nor anything of the WebSocket runtime (tests/unit/test_import_budget.py).
"""

from __future__ import annotations

from chatflow.cache.revocations import RevocationStore
from chatflow.errors import Unauthenticated
from chatflow.security.tokens import TokenClaims, TokenService


class CredentialChecker:
    """Verifies tokens and tickets against one token service and one revocation store."""

    def __init__(self, tokens: TokenService, revocations: RevocationStore) -> None:
        self._tokens = tokens
        self._revocations = revocations

    def authenticate(self, token: str) -> TokenClaims:
        """Verify an access token and refuse it once revoked."""
        claims = self._tokens.verify_access(token)
        if self._revocations.is_revoked(
            claims.jti, str(claims.user_id), claims.issued_at, claims.credential_version
        ):
            raise Unauthenticated("the token has been revoked")
        return claims

    def session_revoked(
        self, jti: str, user_id: str, issued_at: int, credential_version: int = 0
    ) -> bool:
        """Whether the session (access token ``jti``) has been revoked since it was checked."""
        return self._revocations.is_revoked(jti, user_id, issued_at, credential_version)

    def verify_ticket_once(self, ticket: str) -> TokenClaims:
        """A WebSocket ticket: valid, not used before, and its access token not revoked."""
        claims = self._tokens.verify_ticket(ticket)
        if not self._revocations.use_ticket_once(claims.jti, claims.expires_at):
            raise Unauthenticated("the ticket was already used")
        if self._revocations.is_revoked(
            claims.session_jti, str(claims.user_id), claims.issued_at, claims.credential_version
        ):
            raise Unauthenticated("the token has been revoked")
        return claims
