"""Fixtures for the WebSocket adapters: moto's server (DynamoDB, SQS) and a fresh table.

One moto server runs per test session (a child process on loopback); each test gets a
table and a queue of its own, so tests never see each other's items. Imported by the test
modules that need them through ``pytest_plugins``.
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
from local.services import MotoDynamoDB
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


@pytest.fixture(scope="session")
def dynamodb(moto_endpoint: str) -> DynamoDBClient:
    return boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION)


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
