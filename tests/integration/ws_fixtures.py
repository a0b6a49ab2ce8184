"""Fixtures for the WebSocket adapters: moto's server (DynamoDB, SQS) and a fresh table.

One moto server runs per test session (a child process on loopback); each test gets a
table and a queue of its own, so tests never see each other's items. Imported by the test
modules that need them through ``pytest_plugins``.

DynamoDB has two backends: moto, and the local stack's emulator (local/dynamo, which
forwards SQS to moto). The modules of ``BOTH_BACKENDS`` run every test on each, so the
emulator is held to the behaviour the code was written against; other tests use moto.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest

from chatflow.ws.connections import ConnectionTable, create_table
from local.services import LocalDynamoDB, MotoDynamoDB
from tests.helpers.connections_endpoint import ConnectionsEndpoint

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_sqs.client import SQSClient

REGION = "us-east-1"
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


@pytest.fixture(scope="session")
def aws_credentials() -> Iterator[None]:
    """Dummy credentials, so that nothing can reach a real account."""
    saved = {name: os.environ.get(name) for name in DUMMY_CREDENTIALS}
    os.environ.update(DUMMY_CREDENTIALS)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def moto_endpoint(services_dir: Path, aws_credentials: None) -> Iterator[str]:
    with MotoDynamoDB(services_dir / "moto", None) as server:
        assert isinstance(server, MotoDynamoDB)
        yield server.endpoint


BOTH_BACKENDS = frozenset(("test_connection_table", "test_connection_caps", "test_fanout"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the tests of ``BOTH_BACKENDS`` modules once on moto and once on the emulator."""
    module = metafunc.module.__name__.rpartition(".")[2]
    if "dynamo_backend" in metafunc.fixturenames and module in BOTH_BACKENDS:
        metafunc.parametrize("dynamo_backend", ["moto", "emulator"], indirect=True, scope="session")


@pytest.fixture(scope="session")
def emulator_endpoint(services_dir: Path, moto_endpoint: str) -> Iterator[str]:
    """The DynamoDB emulator, SQS forwarded to moto; expired items kept (fixed timestamps)."""
    emulator = LocalDynamoDB(services_dir / "dynamodb", None, moto_endpoint, expiry=False)
    with emulator as server:
        assert isinstance(server, LocalDynamoDB)
        yield server.endpoint


@pytest.fixture(scope="session")
def dynamo_backend(request: pytest.FixtureRequest) -> str:
    """``moto`` or ``emulator``; moto unless the module is in ``BOTH_BACKENDS``."""
    return str(getattr(request, "param", "moto"))


@pytest.fixture(scope="session")
def dynamodb_endpoint(dynamo_backend: str, request: pytest.FixtureRequest) -> str:
    """Where DynamoDB calls go for this test's backend."""
    name = "emulator_endpoint" if dynamo_backend == "emulator" else "moto_endpoint"
    return str(request.getfixturevalue(name))


@pytest.fixture(scope="session")
def dynamodb(dynamodb_endpoint: str) -> DynamoDBClient:
    return boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name=REGION)


@pytest.fixture(scope="session")
def sqs(moto_endpoint: str) -> SQSClient:
    return boto3.client("sqs", endpoint_url=moto_endpoint, region_name=REGION)


@pytest.fixture
def conn_table(dynamodb: DynamoDBClient) -> Iterator[ConnectionTable]:
    name = f"connections-{uuid.uuid4().hex[:12]}"
    create_table(dynamodb, name)
    yield ConnectionTable(name, dynamodb)
    dynamodb.delete_table(TableName=name)


@pytest.fixture
def fanout_queue_url(sqs: SQSClient) -> Iterator[str]:
    url = sqs.create_queue(QueueName=f"fanout-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def connections_endpoint() -> Iterator[ConnectionsEndpoint]:
    with ConnectionsEndpoint() as endpoint:
        yield endpoint
