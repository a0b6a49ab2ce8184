"""Wiring: builds the adapters and services once per process from the settings.

``build_container`` makes one; which one a process uses is decided in
``chatflow.process`` (it may be the WebSocket runtime's), so this module imports nothing
of the WebSocket side.
"""

from __future__ import annotations

from dataclasses import dataclass

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
from chatflow.settings import Settings


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
