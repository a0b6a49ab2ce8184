"""Shared fixtures: real PostgreSQL and Valkey for the whole session.

Embedded servers start unless ``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` point at
running ones. Each test session gets its own database (migrated once) and every test
starts from empty tables and an empty cache.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from hypothesis import HealthCheck, settings

from chatflow.db.migrate import apply_migrations
from local.services import EmbeddedPostgres, EmbeddedValkey

pytest_plugins = ["tests.integration.ws_fixtures", "tests.integration.ws_world"]

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "campaign", deadline=None, max_examples=100_000, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

TABLES = "messages, room_members, rooms, users"


@pytest.fixture(scope="session")
def services_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="chatflow-test-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server_url(services_dir: Path) -> Iterator[str]:
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    with EmbeddedPostgres(services_dir / "pg") as server:
        assert isinstance(server, EmbeddedPostgres)
        yield server.url


@pytest.fixture(scope="session")
def database_url(pg_server_url: str) -> Iterator[str]:
    """A database of this test session's own, migrated, dropped at the end."""
    name = f"chatflow_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(pg_server_url, dbname=name)
    apply_migrations(url)
    yield url
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url(services_dir: Path) -> Iterator[str]:
    given = os.environ.get("TEST_REDIS_URL")
    if given:
        yield given
        return
    with EmbeddedValkey(services_dir / "valkey") as server:
        assert isinstance(server, EmbeddedValkey)
        yield server.url


@pytest.fixture
def clean_db(database_url: str) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES} CASCADE")
    return database_url


@pytest.fixture
def clean_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()
