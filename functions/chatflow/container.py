"""Wiring: builds the adapters and services once per process from the settings.

Factories are cached functions (reset with ``get_container.cache_clear()`` in tests),
so a warm Lambda container reuses its PostgreSQL connection and Redis client.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from chatflow.cache.client import Redis, open_redis
from chatflow.cache.policies import WritePolicies
from chatflow.cache.ratelimit import BucketPolicy, RateLimiter
from chatflow.cache.revocations import RevocationStore
from chatflow.db.connection import Database, open_database
from chatflow.domain.accounts import AccountService
from chatflow.domain.messages import MessageService
from chatflow.domain.presence import PresenceService
from chatflow.domain.rooms import RoomService
from chatflow.publisher import NullPublisher, Publisher
from chatflow.security.tokens import TokenService
from chatflow.settings import Settings, get_settings


@dataclass(frozen=True)
class Container:
    settings: Settings
    db: Database
    cache: Redis
    accounts: AccountService
    rooms: RoomService
    messages: MessageService
    presence: PresenceService
    limiter: RateLimiter
    rates: WritePolicies


def build_container(
    settings: Settings,
    publisher: Publisher | None = None,
    db: Database | None = None,
    cache: Redis | None = None,
) -> Container:
    database = (
        db
        if db is not None
        else open_database(
            settings.database_url,
            settings.db_pool_max,
            settings.aws_region if settings.database_iam_auth else None,
        )
    )
    redis_client = (
        cache if cache is not None else open_redis(settings.redis_url, settings.redis_cluster)
    )
    pub = publisher if publisher is not None else NullPublisher()
    tokens = TokenService.from_settings(settings)
    limiter = RateLimiter(redis_client)
    send_policy = BucketPolicy("send", settings.rate_send_burst, settings.rate_send_per_second)
    rates = WritePolicies.from_settings(settings)
    return Container(
        settings=settings,
        db=database,
        cache=redis_client,
        accounts=AccountService(
            database, tokens, RevocationStore(redis_client), settings.bcrypt_rounds, pub
        ),
        rooms=RoomService(database, pub),
        messages=MessageService(database, pub, limiter, send_policy, settings.max_message_chars),
        presence=PresenceService(database, redis_client),
        limiter=limiter,
        rates=rates,
    )


@lru_cache(maxsize=1)
def get_container() -> Container:
    """The process's container. With a WebSocket API configured, stored messages and
    membership changes are published to live subscribers (the WebSocket runtime's
    publisher); without one (a REST-only deployment) nothing is published."""
    settings = get_settings()
    if settings.connections_table and settings.ws_management_endpoint:
        from chatflow.ws.runtime import get_runtime

        return get_runtime().container
    return build_container(settings)
