"""Wiring of the ``$connect`` authorizer: settings, token service, revocation store.

The authorizer answers one question per handshake (are these credentials valid, unused
and not revoked?) and needs only PyJWT and the cache for it. Building the WebSocket
runtime instead (:mod:`chatflow.ws.runtime`) would load boto3, botocore, psycopg and the
fan-out code on every cold start of a function that never touches DynamoDB, PostgreSQL
or @connections (docs/adr/0006-websocket-authorizer.md; docs/benchmarks.md, "Cold start
and footprint"). This composition loads none of them, and
tests/unit/test_import_budget.py keeps it that way.

The JWT secret from Secrets Manager (``JWT_SECRET_ARN``) is fetched on the first token
check, not at init, by :func:`chatflow.security.tokens.secret_from_secrets_manager`, which
imports boto3 on that path only and keeps the secret for the container's life. So a
deployment with ``JWT_SECRET_ARN`` pays boto3's import once, on its first handshake; one
with ``JWT_SECRET`` (the local stack, the tests) never does. Fetching through the
hand-written SigV4 client of the WebSocket transport instead would save that once-per-
container cost, but would add a Secrets Manager client to maintain and check against
botocore for one request in a container's life: not worth it.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatflow.cache.client import Redis, open_redis
from chatflow.cache.revocations import RevocationStore
from chatflow.domain.credentials import CredentialChecker
from chatflow.security.tokens import TokenService
from chatflow.settings import Settings


@dataclass(frozen=True)
class AuthorizerContainer:
    settings: Settings
    cache: Redis
    credentials: CredentialChecker


def build_authorizer_container(
    settings: Settings, cache: Redis | None = None
) -> AuthorizerContainer:
    """The authorizer's services; ``cache`` overrides the client built from ``REDIS_URL``."""
    client = cache if cache is not None else open_redis(settings.redis_url, settings.redis_cluster)
    credentials = CredentialChecker(TokenService.from_settings(settings), RevocationStore(client))
    return AuthorizerContainer(settings=settings, cache=client, credentials=credentials)
