"""Fixtures for tests against real PostgreSQL and Valkey: settings, container, REST client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from chatflow.api.app import create_app
from chatflow.container import Container, build_container
from chatflow.publisher import RecordingPublisher
from chatflow.settings import Settings
from local.limits import raised_write_limits
from tests.helpers.api import ApiClient

JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


@pytest.fixture
def settings(clean_db: str, redis_url: str, clean_redis: redis.Redis) -> Settings:
    return Settings(
        database_url=clean_db,
        redis_url=redis_url,
        jwt_secret=JWT_SECRET,  # type: ignore[arg-type]
        bcrypt_rounds=4,
        rate_auth_burst=1000,
        rate_send_burst=1000,
        rate_send_per_second=1000,
        **raised_write_limits(),  # type: ignore[arg-type]
    )


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def container(settings: Settings, publisher: RecordingPublisher) -> Iterator[Container]:
    built = build_container(settings, publisher=publisher)
    yield built
    built.db.close()
    built.cache.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    app = create_app(lambda: container)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient) -> ApiClient:
    return ApiClient(client)
