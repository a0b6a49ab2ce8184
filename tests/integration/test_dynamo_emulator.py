"""The DynamoDB emulator (local/dynamo) through boto3: errors, paging, TTL, transactions,
and forwarding of other services to moto.

The emulator runs in a thread with a clock the tests move, so TTL is tested without
waiting. The connection table's own tests also run against it (tests/integration/
ws_fixtures.py, ``BOTH_BACKENDS``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local.dynamo.engine import Engine
from local.dynamo.server import EmulatorThread
from local.services import free_port

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0
REGION = "us-east-1"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def emulator(clock: Clock, moto_endpoint: str) -> Iterator[EmulatorThread]:
    with EmulatorThread(Engine(clock=clock), free_port(), moto_endpoint) as server:
        yield server


@pytest.fixture(scope="module")
def client(emulator: EmulatorThread, aws_credentials: None) -> DynamoDBClient:
    return boto3.client("dynamodb", endpoint_url=emulator.endpoint, region_name=REGION)


@pytest.fixture
def table(client: DynamoDBClient, clock: Clock) -> Iterator[str]:
    clock.now = NOW
    name = f"emulated-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    )
    yield name
    client.delete_table(TableName=name)


def item(pk: str, sk: str, **extra: Any) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **extra}


def put_many(client: DynamoDBClient, table: str, pk: str, count: int) -> None:
    for n in range(count):
        client.put_item(TableName=table, Item=item(pk, f"s{n:02}", n={"N": str(n)}))


def test_errors_are_the_exception_classes_boto3_knows(client: DynamoDBClient, table: str) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_item(TableName="no-such-table", Key=item("a", "b"))
    with pytest.raises(client.exceptions.ResourceInUseException):
        client.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
    client.put_item(TableName=table, Item=item("a", "b", v={"N": "1"}))
    with pytest.raises(client.exceptions.ConditionalCheckFailedException) as failed:
        client.put_item(
            TableName=table,
            Item=item("a", "b"),
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert failed.value.response.get("Item") == item("a", "b", v={"N": "1"})
    for bad in (
        {"Key": {"pk": {"S": "a"}}},  # the sort key is missing
        {"Key": {"pk": {"N": "1"}, "sk": {"S": "b"}}},  # wrong type
    ):
        with pytest.raises(ClientError) as caught:
            client.get_item(TableName=table, **bad)  # type: ignore[arg-type]
        assert caught.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError, match="reserved keyword: state"):
        client.update_item(
            TableName=table,
            Key=item("a", "b"),
            UpdateExpression="SET state = :s",
            ExpressionAttributeValues={":s": {"S": "x"}},
        )


def test_update_item_return_values(client: DynamoDBClient, table: str) -> None:
    client.put_item(TableName=table, Item=item("a", "b", n={"N": "1"}, keep={"S": "k"}))
    reply = client.update_item(
        TableName=table,
        Key=item("a", "b"),
        UpdateExpression="SET n = n + :one REMOVE keep",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":one": {"N": "1"}},
        ReturnValues="UPDATED_NEW",
    )
    assert reply["Attributes"] == {"n": {"N": "2"}}
    old = client.delete_item(TableName=table, Key=item("a", "b"), ReturnValues="ALL_OLD")
    assert old["Attributes"] == item("a", "b", n={"N": "2"})
    assert "Attributes" not in client.delete_item(
        TableName=table, Key=item("a", "b"), ReturnValues="ALL_OLD"
    )


def test_query_pages_both_ways_and_counts(client: DynamoDBClient, table: str) -> None:
    put_many(client, table, "ROOM#1", 10)
    put_many(client, table, "ROOM#2", 2)
    for forward in (True, False):
        pages: list[list[str]] = []
        start: dict[str, Any] | None = None
        while True:
            extra: dict[str, Any] = {"ExclusiveStartKey": start} if start else {}
            page = client.query(
                TableName=table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
                ExpressionAttributeValues={":pk": {"S": "ROOM#1"}, ":s": {"S": "s"}},
                Limit=3,
                ScanIndexForward=forward,
                ConsistentRead=True,
                **extra,
            )
            pages.append([i["sk"]["S"] for i in page["Items"]])
            start = page.get("LastEvaluatedKey")
            if start is None:
                break
        flat = [sk for p in pages for sk in p]
        assert [len(p) for p in pages] == [3, 3, 3, 1]
        assert flat == sorted(flat, reverse=not forward) and len(set(flat)) == 10
    between = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
        FilterExpression="n <> :three",
        ProjectionExpression="sk",
        ExpressionAttributeValues={
            ":pk": {"S": "ROOM#1"}, ":a": {"S": "s02"}, ":b": {"S": "s05"}, ":three": {"N": "3"},
        },
    )  # fmt: skip
    assert [i for i in between["Items"]] == [{"sk": {"S": s}} for s in ("s02", "s04", "s05")]
    assert (between["Count"], between["ScannedCount"]) == (3, 4)
    count = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "ROOM#2"}},
        Select="COUNT",
    )
    assert count["Count"] == 2 and "Items" not in count


def test_bad_key_conditions_are_refused(client: DynamoDBClient, table: str) -> None:
    for condition in ("pk = :a OR sk = :b", "sk = :b", "pk = :a AND sk <> :b"):
        with pytest.raises(ClientError) as caught:
            client.query(
                TableName=table,
                KeyConditionExpression=condition,
                ExpressionAttributeValues={":a": {"S": "x"}, ":b": {"S": "y"}}
                if ":a" in condition
                else {":b": {"S": "y"}},
            )
        assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_scan_pages_through_every_partition_once(client: DynamoDBClient, table: str) -> None:
    for pk in ("A", "B", "C"):
        put_many(client, table, pk, 3)
    seen: list[tuple[str, str]] = []
    start: dict[str, Any] | None = None
    pages = 0
    while True:
        extra: dict[str, Any] = {"ExclusiveStartKey": start} if start else {}
        page = client.scan(TableName=table, Limit=4, **extra)
        pages += 1
        seen += [(i["pk"]["S"], i["sk"]["S"]) for i in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
    assert len(seen) == len(set(seen)) == 9
    assert pages == 3


def test_ttl_expires_items_on_read_and_by_the_sweep(
    client: DynamoDBClient, table: str, clock: Clock, emulator: EmulatorThread
) -> None:
    client.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )
    described = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert described.get("TimeToLiveStatus") == "ENABLED"
    soon = {"N": str(int(NOW) + 60)}
    ancient = {"N": str(int(NOW) - 6 * 365 * 24 * 3600)}  # DynamoDB ignores these
    client.put_item(TableName=table, Item=item("P", "a", ttl=soon))
    client.put_item(TableName=table, Item=item("P", "b", ttl=soon))
    client.put_item(TableName=table, Item=item("P", "c", ttl=ancient))
    client.put_item(TableName=table, Item=item("P", "d"))
    client.put_item(TableName=table, Item=item("Q", "e", ttl=soon))
    assert "Item" in client.get_item(TableName=table, Key=item("P", "a"))
    clock.now = NOW + 61
    assert "Item" not in client.get_item(TableName=table, Key=item("P", "a"))
    page = client.query(
        TableName=table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "P"}},
    )
    assert [i["sk"]["S"] for i in page["Items"]] == ["c", "d"]
    assert emulator.engine.sweep() == 1  # only Q/e was still stored
    assert client.describe_table(TableName=table)["Table"].get("ItemCount") == 2


def test_transaction_cancels_as_a_whole_with_reasons(client: DynamoDBClient, table: str) -> None:
    client.put_item(TableName=table, Item=item("CONN#1", "META"))
    with pytest.raises(client.exceptions.TransactionCanceledException) as caught:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": item("ROOM#1", "CONN#1#s")}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": item("CONN#2", "META"),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
                {"Delete": {"TableName": table, "Key": item("CONN#1", "META")}},
            ]
        )
    codes = [r.get("Code") for r in caught.value.response.get("CancellationReasons", [])]
    assert codes == ["None", "ConditionalCheckFailed", "None"]
    keys = {(i["pk"]["S"], i["sk"]["S"]) for i in client.scan(TableName=table)["Items"]}
    assert keys == {("CONN#1", "META")}  # neither the Put nor the Delete happened
    with pytest.raises(ClientError, match="multiple operations on one item"):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": item("X", "1")}},
                {"Delete": {"TableName": table, "Key": item("X", "1")}},
            ]
        )


def test_batches(client: DynamoDBClient, table: str) -> None:
    writes: list[Any] = [{"PutRequest": {"Item": item("B", f"{n}")}} for n in range(5)]
    assert client.batch_write_item(RequestItems={table: writes})["UnprocessedItems"] == {}
    keys: list[Any] = [item("B", "1"), item("B", "4"), item("B", "9")]
    found = client.batch_get_item(RequestItems={table: {"Keys": keys}})["Responses"][table]
    assert sorted(i["sk"]["S"] for i in found) == ["1", "4"]
    duplicate: list[Any] = [{"DeleteRequest": {"Key": item("B", "1")}}] * 2
    with pytest.raises(ClientError, match="duplicates"):
        client.batch_write_item(RequestItems={table: duplicate})


def test_other_services_are_forwarded_to_the_upstream(
    emulator: EmulatorThread, aws_credentials: None
) -> None:
    sqs = boto3.client("sqs", endpoint_url=emulator.endpoint, region_name=REGION)
    url = sqs.create_queue(QueueName=f"forwarded-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="through the emulator")
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", [])
    assert [m.get("Body") for m in messages] == ["through the emulator"]
    sqs.delete_queue(QueueUrl=url)
