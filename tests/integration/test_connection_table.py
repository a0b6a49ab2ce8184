"""ConnectionTable against moto and the DynamoDB emulator: every method, TTL on every item."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from chatflow.ws.connections import (
    CONNECTION_TTL_SECONDS,
    STATE_CONNECTED,
    ConnectionRecord,
    ConnectionTable,
    DuplicateSubscription,
    Subscription,
    UnknownConnection,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

pytest_plugins = ["tests.integration.ws_fixtures"]
pytestmark = pytest.mark.integration

CONNECTED_AT = 1_700_000_000_123
EXPIRES_AT = CONNECTED_AT // 1000 + CONNECTION_TTL_SECONDS


def all_items(table: ConnectionTable) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    reply = table.client.scan(TableName=table.name)
    items.extend(reply["Items"])
    while "LastEvaluatedKey" in reply:
        reply = table.client.scan(TableName=table.name, ExclusiveStartKey=reply["LastEvaluatedKey"])
        items.extend(reply["Items"])
    return items


def keys(table: ConnectionTable) -> set[tuple[str, str]]:
    return {(i["pk"]["S"], i["sk"]["S"]) for i in all_items(table)}


def connect(table: ConnectionTable, cid: str, user: str = "u1") -> None:
    table.put_connection(ConnectionRecord(cid, CONNECTED_AT, source_ip="203.0.113.9"))
    table.mark_connected(
        cid,
        user,
        f"name-{user}",
        1_700_009_000,
        1_700_000_000,
        f"jti-{cid}",
        "1.2",
        credential_version=3,
    )


def room_sub(cid: str, sub_id: str, room: str = "r1", user: str = "u1") -> Subscription:
    return Subscription(cid, sub_id, f"/topic/rooms/{room}", room, user)


def queue_sub(
    cid: str, sub_id: str, user: str = "u1", queue: str = "notifications"
) -> Subscription:
    return Subscription(cid, sub_id, f"/user/queue/{queue}", None, user)


def test_create_table_enables_ttl_on_expires_at(
    conn_table: ConnectionTable, dynamodb: DynamoDBClient
) -> None:
    ttl = dynamodb.describe_time_to_live(TableName=conn_table.name)["TimeToLiveDescription"]
    assert ttl.get("AttributeName") == "expiresAt"
    assert ttl.get("TimeToLiveStatus") == "ENABLED"
    described = dynamodb.describe_table(TableName=conn_table.name)["Table"]
    assert described.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST"


def test_put_and_get_connection_round_trip(conn_table: ConnectionTable) -> None:
    record = ConnectionRecord("c1", CONNECTED_AT, source_ip="203.0.113.9")
    conn_table.put_connection(record)
    assert conn_table.get_connection("c1") == record
    assert conn_table.get_connection("nope") is None


def test_mark_connected_updates_meta_and_indexes_user(conn_table: ConnectionTable) -> None:
    connect(conn_table, "c1", "u1")
    record = conn_table.get_connection("c1")
    assert record == ConnectionRecord(
        "c1",
        CONNECTED_AT,
        STATE_CONNECTED,
        "u1",
        "name-u1",
        1_700_009_000,
        1_700_000_000,
        "jti-c1",
        "1.2",
        "203.0.113.9",
        credential_version=3,
    )
    assert conn_table.user_connections("u1") == ["c1"]


def test_mark_connected_without_meta_is_unknown(conn_table: ConnectionTable) -> None:
    with pytest.raises(UnknownConnection):
        conn_table.mark_connected("ghost", "u1", "n", 1, 1, "j", "1.2")
    assert keys(conn_table) == set()


def test_every_item_carries_the_connection_ttl(conn_table: ConnectionTable) -> None:
    connect(conn_table, "c1")
    conn_table.add_subscription(room_sub("c1", "s1"))
    conn_table.add_subscription(queue_sub("c1", "s2"), expires_at=EXPIRES_AT)
    items = all_items(conn_table)
    assert len(items) == 8  # META, USER# conn, 2 x SUB#, 2 x DEST#, ROOM#, USER# queue sub
    assert {i["expiresAt"]["N"] for i in items} == {str(EXPIRES_AT)}


def test_add_subscription_writes_own_and_index_items(conn_table: ConnectionTable) -> None:
    connect(conn_table, "c1")
    conn_table.add_subscription(room_sub("c1", "s1", room="r9"))
    conn_table.add_subscription(queue_sub("c1", "s2"))
    assert keys(conn_table) == {
        ("CONN#c1", "META"),
        ("USER#u1", "CONN#c1"),
        ("CONN#c1", "SUB#s1"),
        ("CONN#c1", "DEST#/topic/rooms/r9"),
        ("ROOM#r9", "CONN#c1#s1"),
        ("CONN#c1", "SUB#s2"),
        ("CONN#c1", "DEST#/user/queue/notifications"),
        ("USER#u1", "CONN#c1#s2"),
    }
    assert conn_table.connection_subscriptions("c1") == [
        room_sub("c1", "s1", room="r9"),
        queue_sub("c1", "s2"),
    ]
    assert list(conn_table.room_subscriptions("r9")) == [[room_sub("c1", "s1", room="r9")]]


def test_duplicate_subscription_id_is_refused_and_changes_nothing(
    conn_table: ConnectionTable,
) -> None:
    connect(conn_table, "c1")
    conn_table.add_subscription(room_sub("c1", "s1", room="r1"))
    before = all_items(conn_table)
    with pytest.raises(DuplicateSubscription):
        conn_table.add_subscription(room_sub("c1", "s1", room="r2"))
    assert all_items(conn_table) == before


def test_storing_the_same_subscription_again_is_a_retry_not_a_duplicate(
    conn_table: ConnectionTable,
) -> None:
    """botocore retries a transaction whose answer timed out after it was applied."""
    connect(conn_table, "c1")
    conn_table.add_subscription(room_sub("c1", "s1", room="r1"))
    before = all_items(conn_table)
    conn_table.add_subscription(room_sub("c1", "s1", room="r1"))
    assert all_items(conn_table) == before


def test_same_subscription_id_on_another_connection_is_fine(conn_table: ConnectionTable) -> None:
    connect(conn_table, "c1")
    connect(conn_table, "c2")
    conn_table.add_subscription(room_sub("c1", "s1"))
    conn_table.add_subscription(room_sub("c2", "s1"))
    assert [s.connection_id for p in conn_table.room_subscriptions("r1") for s in p] == ["c1", "c2"]


def test_subscription_on_unknown_connection_is_refused(conn_table: ConnectionTable) -> None:
    with pytest.raises(UnknownConnection):
        conn_table.add_subscription(room_sub("ghost", "s1"))
    with pytest.raises(UnknownConnection):
        conn_table.add_subscription(room_sub("ghost", "s1"), expires_at=EXPIRES_AT)
    assert keys(conn_table) == set()


def test_remove_subscription_deletes_both_items(conn_table: ConnectionTable) -> None:
    connect(conn_table, "c1")
    conn_table.add_subscription(room_sub("c1", "s1"))
    conn_table.add_subscription(queue_sub("c1", "s2"))
    assert conn_table.remove_subscription("c1", "s1") == room_sub("c1", "s1")
    assert conn_table.remove_subscription("c1", "s2") == queue_sub("c1", "s2")
    assert conn_table.remove_subscription("c1", "s1") is None
    assert keys(conn_table) == {("CONN#c1", "META"), ("USER#u1", "CONN#c1")}


def test_room_subscriptions_pages_with_one_query_each(
    conn_table: ConnectionTable, dynamodb: DynamoDBClient
) -> None:
    """Room pages are read by the lean client, one Query each, none through botocore."""
    for n in range(7):
        connect(conn_table, f"c{n}")
        conn_table.add_subscription(room_sub(f"c{n}", f"s{n}"), expires_at=EXPIRES_AT)
    botocore_queries: list[str] = []
    dynamodb.meta.events.register(
        "before-call.dynamodb.Query", lambda **_: botocore_queries.append("q")
    )
    before = conn_table.reader.requests
    try:
        pages = list(conn_table.room_subscriptions("r1", page_size=3))
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb.Query")
    assert [len(p) for p in pages] == [3, 3, 1]
    assert conn_table.reader.requests - before == len(pages)
    assert botocore_queries == []
    assert sorted(s.subscription_id for p in pages for s in p) == [f"s{n}" for n in range(7)]


def test_room_pages_read_lean_equal_botocores(
    conn_table: ConnectionTable, dynamodb: DynamoDBClient
) -> None:
    """The lean Query gives the items botocore gives, page for page."""
    for cid in ("c1", "c2=", "c3+/"):
        for n in range(3):
            connect(conn_table, f"{cid}{n}")
            conn_table.add_subscription(room_sub(f"{cid}{n}", f"s{n}"), expires_at=EXPIRES_AT)
    table = conn_table.name
    botocore_reads = ConnectionTable(table, dynamodb, lean_reads=False)
    lean = list(conn_table.room_subscriptions("r1", page_size=4))
    assert lean == list(botocore_reads.room_subscriptions("r1", page_size=4))
    assert [len(p) for p in lean] == [4, 4, 1]


def test_count_room_subscriptions_stops_early(conn_table: ConnectionTable) -> None:
    for n in range(5):
        connect(conn_table, f"c{n}")
        conn_table.add_subscription(room_sub(f"c{n}", f"s{n}"), expires_at=EXPIRES_AT)
    assert conn_table.count_room_subscriptions("r1", stop_after=100) == 5
    assert conn_table.count_room_subscriptions("r1", stop_after=3) == 3
    assert conn_table.count_room_subscriptions("empty", stop_after=3) == 0


def test_user_queue_subscriptions_span_devices(conn_table: ConnectionTable) -> None:
    connect(conn_table, "phone", "u1")
    connect(conn_table, "laptop", "u1")
    connect(conn_table, "other", "u2")
    conn_table.add_subscription(queue_sub("phone", "n"))
    conn_table.add_subscription(queue_sub("laptop", "n"))
    conn_table.add_subscription(queue_sub("laptop", "e", queue="errors"))
    conn_table.add_subscription(queue_sub("other", "n", user="u2"))
    found = conn_table.user_queue_subscriptions("u1", "/user/queue/notifications")
    assert sorted(s.connection_id for s in found) == ["laptop", "phone"]
    assert sorted(conn_table.user_connections("u1")) == ["laptop", "phone"]


def test_delete_connection_removes_exactly_its_items(conn_table: ConnectionTable) -> None:
    connect(conn_table, "c1", "u1")
    connect(conn_table, "c2", "u1")
    for cid in ("c1", "c2"):
        conn_table.add_subscription(room_sub(cid, "a", room="r1"))
        conn_table.add_subscription(room_sub(cid, "b", room="r2"))
        conn_table.add_subscription(queue_sub(cid, "n"))
    survivors = {k for k in keys(conn_table) if "c2" in k[0] or "c2" in k[1]}
    removed = conn_table.delete_connection("c1")
    assert sorted(s.subscription_id for s in removed) == ["a", "b", "n"]
    assert keys(conn_table) == survivors
    assert conn_table.delete_connection("c1") == []  # idempotent


def test_delete_connection_with_many_subscriptions_batches(conn_table: ConnectionTable) -> None:
    connect(conn_table, "c1")
    for n in range(40):  # 81 items to delete: four BatchWriteItem calls
        conn_table.add_subscription(room_sub("c1", f"s{n:02}", room=f"r{n}"), EXPIRES_AT)
    assert len(conn_table.delete_connection("c1")) == 40
    assert keys(conn_table) == set()


def test_drop_user_from_room_keeps_other_rooms_and_users(conn_table: ConnectionTable) -> None:
    connect(conn_table, "c1", "u1")
    connect(conn_table, "c2", "u2")
    conn_table.add_subscription(room_sub("c1", "s1", room="r1"))
    conn_table.add_subscription(room_sub("c1", "s2", room="r2"))
    conn_table.add_subscription(room_sub("c2", "s1", room="r1", user="u2"))
    dropped = conn_table.drop_user_from_room("r1", "u1")
    assert dropped == [room_sub("c1", "s1", room="r1")]
    assert [s.connection_id for p in conn_table.room_subscriptions("r1") for s in p] == ["c2"]
    assert conn_table.connection_subscriptions("c1") == [room_sub("c1", "s2", room="r2")]


def test_drop_room_removes_every_subscription_to_it(conn_table: ConnectionTable) -> None:
    connect(conn_table, "c1", "u1")
    connect(conn_table, "c2", "u2")
    conn_table.add_subscription(room_sub("c1", "s1", room="r1"))
    conn_table.add_subscription(room_sub("c1", "s2", room="r2"))
    conn_table.add_subscription(room_sub("c2", "s1", room="r1", user="u2"))
    dropped = conn_table.drop_room("r1")
    assert sorted(s.connection_id for s in dropped) == ["c1", "c2"]
    assert list(conn_table.room_subscriptions("r1")) == [[]]
    assert conn_table.connection_subscriptions("c1") == [room_sub("c1", "s2", room="r2")]
    assert conn_table.connection_subscriptions("c2") == []


def test_iter_connections_yields_only_meta_items(conn_table: ConnectionTable) -> None:
    for n in range(3):
        connect(conn_table, f"c{n}")
        conn_table.add_subscription(room_sub(f"c{n}", "s"))
    assert sorted(r.connection_id for r in conn_table.iter_connections()) == ["c0", "c1", "c2"]


def test_client_is_built_lazily_from_endpoint(
    dynamodb_endpoint: str, conn_table: ConnectionTable
) -> None:
    lazy = ConnectionTable(conn_table.name, endpoint_url=dynamodb_endpoint, region="us-east-1")
    assert lazy._client is None
    lazy.put_connection(ConnectionRecord("c1", CONNECTED_AT))
    assert conn_table.get_connection("c1") == ConnectionRecord("c1", CONNECTED_AT)
