"""The connection table's caps, held by conditional writes (moto and the DynamoDB emulator).

One subscription per destination and connection, at most ``subscription_limit``
subscriptions per connection, at most ``limit`` indexed connections per user: each is
checked here one call at a time and with many calls racing (threads released together),
because a cap that holds only when calls come one by one is no cap on API Gateway.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

import pytest

from chatflow.ws.connections import (
    AlreadySubscribed,
    ConnectionRecord,
    ConnectionTable,
    Subscription,
    TooManySubscriptions,
    UnknownConnection,
)
from tests.integration.test_connection_table import (
    CONNECTED_AT,
    EXPIRES_AT,
    connect,
    keys,
    queue_sub,
    room_sub,
)

pytest_plugins = ["tests.integration.ws_fixtures"]
pytestmark = pytest.mark.integration

T = TypeVar("T")


def race(calls: list[Callable[[], T]]) -> list[T | Exception]:
    """Run every call at once (threads released by one barrier); results or exceptions."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T | Exception:
        barrier.wait()
        try:
            return call()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def sub_count(table: ConnectionTable, cid: str) -> int:
    item = table.client.get_item(
        TableName=table.name,
        Key={"pk": {"S": f"CONN#{cid}"}, "sk": {"S": "META"}},
        ConsistentRead=True,
    )["Item"]
    return int(item.get("subCount", {"N": "0"})["N"])


def limited(table: ConnectionTable, limit: int) -> ConnectionTable:
    return ConnectionTable(table.name, table.client, subscription_limit=limit)


def test_second_subscription_to_a_destination_is_refused_naming_the_first(
    conn_table: ConnectionTable,
) -> None:
    connect(conn_table, "c1")
    conn_table.add_subscription(room_sub("c1", "first"))
    before = keys(conn_table)
    with pytest.raises(AlreadySubscribed) as refused:
        conn_table.add_subscription(room_sub("c1", "second"))
    assert refused.value.subscription_id == "first"
    assert refused.value.destination == "/topic/rooms/r1"
    assert keys(conn_table) == before
    assert sub_count(conn_table, "c1") == 1
    connect(conn_table, "c2")
    conn_table.add_subscription(room_sub("c2", "first"))  # another socket may


def test_racing_subscriptions_to_one_room_store_exactly_one(conn_table: ConnectionTable) -> None:
    """The attack of the issue: a socket asking for many copies of one room."""
    connect(conn_table, "c1")
    results = race(
        [partial(conn_table.add_subscription, room_sub("c1", f"s{n}")) for n in range(40)]
    )
    stored = [r for r in results if r is None]
    assert len(stored) == 1
    assert all(isinstance(r, AlreadySubscribed) for r in results if r is not None)
    assert [len(p) for p in conn_table.room_subscriptions("r1")] == [1]
    assert sub_count(conn_table, "c1") == 1


def test_subscription_cap_refuses_one_over_and_unsubscribe_frees_a_slot(
    conn_table: ConnectionTable,
) -> None:
    table = limited(conn_table, 3)
    connect(table, "c1")
    table.add_subscription(room_sub("c1", "a", room="r1"))
    table.add_subscription(room_sub("c1", "b", room="r2"))
    table.add_subscription(queue_sub("c1", "n"))
    with pytest.raises(TooManySubscriptions) as refused:
        table.add_subscription(room_sub("c1", "d", room="r4"))
    assert refused.value.limit == 3
    assert len(table.connection_subscriptions("c1")) == 3
    assert table.remove_subscription("c1", "a") is not None
    assert sub_count(table, "c1") == 2
    table.add_subscription(room_sub("c1", "d", room="r4"))
    assert sub_count(table, "c1") == 3


def test_racing_subscriptions_to_many_rooms_stop_at_the_cap(conn_table: ConnectionTable) -> None:
    table = limited(conn_table, 5)
    connect(table, "c1")
    results = race(
        [partial(table.add_subscription, room_sub("c1", f"s{n}", room=f"r{n}")) for n in range(30)]
    )
    assert sum(1 for r in results if r is None) == 5
    assert all(isinstance(r, TooManySubscriptions) for r in results if r is not None)
    assert len(table.connection_subscriptions("c1")) == 5
    assert sub_count(table, "c1") == 5


def test_drops_lower_the_count_once_even_when_racing_an_unsubscribe(
    conn_table: ConnectionTable,
) -> None:
    table = limited(conn_table, 4)
    connect(table, "c1")
    for n in range(4):
        table.add_subscription(room_sub("c1", f"s{n}", room=f"r{n}"))
    # the member is removed from r0 while the client unsubscribes from it: one removal wins
    results = race(
        [
            lambda: len(table.drop_user_from_room("r0", "u1")),
            lambda: 1 if table.remove_subscription("c1", "s0") else 0,
        ]
    )
    assert sorted(results) == [0, 1]  # type: ignore[type-var]
    assert sub_count(table, "c1") == 3
    assert table.drop_room("r1") == [room_sub("c1", "s1", room="r1")]
    assert table.drop_room("r1") == []
    assert sub_count(table, "c1") == 2
    # the freed slots and destinations can be used again
    table.add_subscription(room_sub("c1", "again", room="r0"))
    table.add_subscription(room_sub("c1", "again1", room="r1"))
    with pytest.raises(TooManySubscriptions):
        table.add_subscription(room_sub("c1", "over", room="r9"))


def test_subscribing_on_a_connection_that_is_gone_is_unknown(conn_table: ConnectionTable) -> None:
    connect(conn_table, "c1")
    conn_table.delete_connection("c1")
    with pytest.raises(UnknownConnection):
        conn_table.add_subscription(room_sub("c1", "s1"), expires_at=EXPIRES_AT)
    assert keys(conn_table) == set()


def open_socket(table: ConnectionTable, cid: str, user: str = "u1") -> ConnectionRecord:
    record = ConnectionRecord(cid, CONNECTED_AT, user_id=user, user_indexed=True)
    table.put_connection(record)
    return record


def test_user_connection_cap_refuses_one_over(conn_table: ConnectionTable) -> None:
    for n in range(3):
        record = open_socket(conn_table, f"c{n}")
        assert conn_table.index_user_connection(f"c{n}", "u1", 3, record.expires_at)
    open_socket(conn_table, "c3")
    assert not conn_table.index_user_connection("c3", "u1", 3)
    assert sorted(conn_table.user_connections("u1")) == ["c0", "c1", "c2"]
    open_socket(conn_table, "other", user="u2")
    assert conn_table.index_user_connection("other", "u2", 3)  # caps are per user
    conn_table.delete_connection("c0")
    assert conn_table.index_user_connection("c3", "u1", 3)  # a closed one frees its slot


def test_racing_opens_never_exceed_the_user_cap(conn_table: ConnectionTable) -> None:
    """25 opens at once against a cap of 10: never more than 10 admitted (a burst over
    the cap may be refused whole: each counts the others' indexes; the refused retry)."""
    for n in range(25):
        open_socket(conn_table, f"c{n:02}")
    results = race(
        [partial(conn_table.index_user_connection, f"c{n:02}", "u1", 10) for n in range(25)]
    )
    admitted = sum(1 for r in results if r is True)
    assert admitted <= 10
    assert len(conn_table.user_connections("u1")) == admitted


def test_racing_opens_under_the_cap_are_all_admitted(conn_table: ConnectionTable) -> None:
    for n in range(8):
        open_socket(conn_table, f"c{n}")
    results = race([partial(conn_table.index_user_connection, f"c{n}", "u1", 10) for n in range(8)])
    assert results == [True] * 8
    assert len(conn_table.user_connections("u1")) == 8


def test_user_connection_index_needs_the_connection(conn_table: ConnectionTable) -> None:
    with pytest.raises(UnknownConnection):
        conn_table.index_user_connection("ghost", "u1", 3)
    assert keys(conn_table) == set()


def test_refused_connection_is_marked_and_a_gone_one_is_left_alone(
    conn_table: ConnectionTable,
) -> None:
    open_socket(conn_table, "c1")
    conn_table.refuse_connection("c1")
    record = conn_table.get_connection("c1")
    assert record is not None and record.state == "refused" and record.user_indexed
    conn_table.refuse_connection("ghost")
    assert conn_table.get_connection("ghost") is None


def test_subscription_rejected_by_the_cap_leaves_nothing_behind(
    conn_table: ConnectionTable,
) -> None:
    table = limited(conn_table, 3)
    connect(table, "c1")
    for n in range(3):
        table.add_subscription(Subscription("c1", f"s{n}", f"/topic/rooms/r{n}", f"r{n}", "u1"))
    before = keys(table)
    with pytest.raises(TooManySubscriptions):
        table.add_subscription(Subscription("c1", "s9", "/topic/rooms/r9", "r9", "u1"))
    assert keys(table) == before
