"""HS256 JWTs: access tokens for the API and short-lived tickets for the WebSocket URL.

Access tokens and tickets carry different audiences, so a ticket (which travels in a
URL and may end up in logs of proxies) can never be used as an API token, and an
access token is refused where a ticket is expected only if the caller asks for one.
Issuer, audience, expiry and the algorithm are all checked; ``alg=none`` and every
algorithm other than HS256 are rejected by PyJWT's explicit ``algorithms`` list.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import jwt

from chatflow.errors import Unauthenticated

if TYPE_CHECKING:
    from chatflow.settings import Settings

ALGORITHM = "HS256"
TICKET_AUDIENCE_SUFFIX = "-ws-ticket"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says: whose it is, its id for revocation, and its expiry."""

    user_id: uuid.UUID
    username: str
    jti: str
    issued_at: int
    expires_at: int
    kind: str  # "access" or "ticket"
    # For a ticket: the access token it was issued from. Its jti is what logout revokes and
    # its expiry bounds the WebSocket session; the ticket's own expiry only bounds its use.
    parent_jti: str | None = None
    parent_expires_at: int | None = None
    # Shown in presence and typing events, which are sent without a database read. None in
    # tokens issued before the claim existed: readers fall back to the username.
    display_name: str | None = None
    # The user's credential version when the token (or its access token, for a ticket) was
    # issued: a password change bumps it, and every token of an older version is refused.
    # Tokens issued before the claim existed have none: they count as version 0.
    credential_version: int = 0

    @property
    def session_jti(self) -> str:
        """The token id whose revocation ends a session opened with these claims."""
        return self.parent_jti or self.jti

    @property
    def session_expires_at(self) -> int:
        return self.parent_expires_at or self.expires_at


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int
    claims: TokenClaims


class TokenService:
    """Issues and verifies tokens with one secret, issuer and audience."""

    def __init__(
        self,
        secret: Callable[[], str],
        issuer: str,
        audience: str,
        ttl_seconds: int,
        ticket_ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds
        self._ticket_ttl = min(ticket_ttl_seconds, 60)
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenService:
        """The deployment's token service; one recipe for every process kind."""
        return cls(
            jwt_secret_provider(settings),
            settings.jwt_issuer,
            settings.jwt_audience,
            settings.jwt_ttl_seconds,
            settings.ws_ticket_ttl_seconds,
        )

    @property
    def access_ttl(self) -> int:
        return self._ttl

    def issue_access(
        self,
        user_id: uuid.UUID,
        username: str,
        display_name: str | None = None,
        credential_version: int = 0,
    ) -> IssuedToken:
        """``credential_version`` is the one read with the password hash that was checked."""
        extra: dict[str, str | int] = {"cv": credential_version}
        if display_name is not None:
            extra["dn"] = display_name
        return self._issue(user_id, username, self._audience, self._ttl, "access", extra)

    def issue_ticket(self, access: TokenClaims) -> IssuedToken:
        """A ticket of at most 60 s that never outlives the token it was issued from."""
        now = int(self._clock())
        ttl = max(1, min(self._ticket_ttl, access.expires_at - now))
        return self._issue(
            access.user_id,
            access.username,
            self._audience + TICKET_AUDIENCE_SUFFIX,
            ttl,
            "ticket",
            {
                "pjti": access.jti,
                "pexp": access.expires_at,
                "cv": access.credential_version,
                **({} if access.display_name is None else {"dn": access.display_name}),
            },
        )

    def verify_access(self, token: str) -> TokenClaims:
        return self._verify(token, self._audience, "access")

    def verify_ticket(self, token: str) -> TokenClaims:
        return self._verify(token, self._audience + TICKET_AUDIENCE_SUFFIX, "ticket")

    def _issue(
        self,
        user_id: uuid.UUID,
        username: str,
        audience: str,
        ttl: int,
        kind: str,
        extra: dict[str, str | int] | None = None,
    ) -> IssuedToken:
        now = int(self._clock())
        parent = extra or {}
        claims = TokenClaims(
            user_id,
            username,
            uuid.uuid4().hex,
            now,
            now + ttl,
            kind,
            str(parent["pjti"]) if "pjti" in parent else None,
            int(parent["pexp"]) if "pexp" in parent else None,
            str(parent["dn"]) if "dn" in parent else None,
            int(parent.get("cv", 0)),
        )
        payload: dict[str, str | int] = {
            "sub": str(user_id),
            "name": username,
            "jti": claims.jti,
            "iat": now,
            "exp": claims.expires_at,
            "iss": self._issuer,
            "aud": audience,
            **parent,
        }
        token = jwt.encode(payload, self._secret(), algorithm=ALGORITHM)
        return IssuedToken(token, ttl, claims)

    def _verify(self, token: str, audience: str, kind: str) -> TokenClaims:
        try:
            payload = jwt.decode(
                token,
                self._secret(),
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self._issuer,
                options={"require": ["sub", "jti", "iat", "exp", "iss", "aud"]},
                leeway=0,
            )
            user_id = uuid.UUID(str(payload["sub"]))
            name = payload.get("name")
            if not isinstance(name, str) or not isinstance(payload["jti"], str):
                raise jwt.InvalidTokenError("malformed claims")
            parent_jti = payload.get("pjti")
            parent_exp = payload.get("pexp")
            if kind == "ticket" and (not isinstance(parent_jti, str) or parent_exp is None):
                raise jwt.InvalidTokenError("a ticket names its access token")
            display_name = payload.get("dn")
            if display_name is not None and not isinstance(display_name, str):
                raise jwt.InvalidTokenError("malformed claims")
            version = payload.get("cv", 0)
            if isinstance(version, bool) or not isinstance(version, int) or version < 0:
                raise jwt.InvalidTokenError("malformed claims")
            return TokenClaims(
                user_id,
                name,
                payload["jti"],
                int(payload["iat"]),
                int(payload["exp"]),
                kind,
                parent_jti if kind == "ticket" else None,
                int(parent_exp) if kind == "ticket" and parent_exp is not None else None,
                display_name,
                version,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise Unauthenticated("the token is invalid") from None


@lru_cache(maxsize=4)
def secret_from_secrets_manager(arn: str, endpoint_url: str = "", region: str = "") -> str:
    """Fetch the JWT secret once per container; boto3 is imported only on this path."""
    import boto3

    client = boto3.client(
        "secretsmanager", endpoint_url=endpoint_url or None, region_name=region or None
    )
    response = client.get_secret_value(SecretId=arn)
    secret = response.get("SecretString")
    if not secret or len(secret) < 32:
        raise RuntimeError(f"the secret {arn} is empty or shorter than 32 characters")
    return str(secret)


def jwt_secret_provider(settings: Settings) -> Callable[[], str]:
    """The signing key: ``JWT_SECRET`` as given, or the secret ``JWT_SECRET_ARN`` names.

    The secret is fetched on first use, not here, so building a token service (at a
    function's init) imports no boto3; every composition (the container, the ``$connect``
    authorizer's) builds its token service with this provider.
    """
    if settings.jwt_secret is not None:
        value = settings.jwt_secret.get_secret_value()
        return lambda: value
    arn, endpoint, region = settings.jwt_secret_arn, settings.aws_endpoint_url, settings.aws_region
    return lambda: secret_from_secrets_manager(arn, endpoint, region)
