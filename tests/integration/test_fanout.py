"""Fan-out against moto's DynamoDB/SQS and a real @connections HTTP endpoint."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from chatflow.stomp import parse
from chatflow.ws.connections import ConnectionRecord, ConnectionTable, Subscription
from chatflow.ws.fanout import MESSAGE_BYTES_MAX, Fanout
from chatflow.ws.fanout_jobs import (
    JOB_TARGETS_MAX,
    FanoutJob,
    OutboundMessage,
    SqsFanoutQueue,
)
from chatflow.ws.gateway import BotoConnectionsApi, PostOutcome
from tests.helpers.connections_endpoint import ConnectionsEndpoint

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_sqs.client import SQSClient

pytest_plugins = ["tests.integration.ws_fixtures"]
pytestmark = pytest.mark.integration

ROOM = "room-1"
TOPIC = f"/topic/rooms/{ROOM}"
EXPIRES_AT = 1_700_000_000 + 7800
BODY = json.dumps({"type": "message", "seq": 7, "body": "hello"})


def subscribe(table: ConnectionTable, cid: str, *sub_ids: str, user: str = "u") -> None:
    """Store the connection's subscriptions to the room as items, written directly.

    The table refuses a second subscription of one connection to one destination, but
    fan-out still combines several when it finds them (a table written before that rule),
    and these tests keep that combining honest; one subscription goes through the table.
    """
    table.put_connection(ConnectionRecord(cid, 1_700_000_000_000, user_id=user))
    if len(sub_ids) == 1:
        table.add_subscription(Subscription(cid, sub_ids[0], TOPIC, ROOM, user), EXPIRES_AT)
        return
    from chatflow.ws.connections import batch_write, subscription_items

    requests = []
    for sub_id in sub_ids:
        own, index = subscription_items(Subscription(cid, sub_id, TOPIC, ROOM, user), EXPIRES_AT)
        requests += [{"PutRequest": {"Item": own}}, {"PutRequest": {"Item": index}}]
    batch_write(table.client, table.name, requests)  # type: ignore[arg-type]


def make_fanout(
    table: ConnectionTable, endpoint: ConnectionsEndpoint, **kwargs: object
) -> tuple[Fanout, BotoConnectionsApi]:
    api = BotoConnectionsApi(endpoint.url, "us-east-1", backoff=0.001)
    return Fanout(table, api, max_workers=8, **kwargs), api  # type: ignore[arg-type]


def frames_of(post: bytes) -> list[tuple[str | None, str | None]]:
    result = parse(post)
    assert result.heartbeats == 0
    return [(f.header("subscription"), f.header("destination")) for f in result.frames]


def test_connection_with_three_subscriptions_gets_one_post_of_three_frames(
    conn_table: ConnectionTable, connections_endpoint: ConnectionsEndpoint
) -> None:
    subscribe(conn_table, "c1", "a", "b", "c")
    subscribe(conn_table, "c2", "x")
    fanout, api = make_fanout(conn_table, connections_endpoint)
    stats = fanout.to_room(ROOM, OutboundMessage("m-1", BODY))
    delivered = connections_endpoint.delivered()
    assert [frames_of(p) for p in delivered["c1"]] == [[("a", TOPIC), ("b", TOPIC), ("c", TOPIC)]]
    assert [frames_of(p) for p in delivered["c2"]] == [[("x", TOPIC)]]
    assert (stats.recipients, stats.posts, stats.gone, stats.failed) == (4, 2, 0, 0)
    assert api.stats.posts == 2
    frame = parse(delivered["c2"][0]).frames[0]
    assert frame.command == "MESSAGE"
    assert frame.header("message-id") == "m-1"
    assert frame.header("content-type") == "application/json"
    assert json.loads(frame.body) == json.loads(BODY)


def test_fanout_to_many_delivers_one_post_per_connection_and_counts_pages(
    conn_table: ConnectionTable,
    connections_endpoint: ConnectionsEndpoint,
    dynamodb: DynamoDBClient,
) -> None:
    for n in range(25):
        subscribe(conn_table, f"c{n:02}", "s1", "s2")  # 50 subscriptions, pairs adjacent
    fanout, _ = make_fanout(conn_table, connections_endpoint, page_size=7)
    before = conn_table.reader.requests
    stats = fanout.to_room(ROOM, OutboundMessage("m", BODY))
    queries = range(conn_table.reader.requests - before)
    delivered = connections_endpoint.delivered()
    assert len(delivered) == 25
    assert all(len(posts) == 1 and len(frames_of(posts[0])) == 2 for posts in delivered.values())
    assert stats.recipients == 50
    assert stats.posts == 25
    assert stats.queries == len(queries) == 8  # ceil(50 / 7) pages


def test_combined_posts_never_exceed_the_message_limit(
    conn_table: ConnectionTable, connections_endpoint: ConnectionsEndpoint
) -> None:
    big = json.dumps({"type": "message", "body": "x" * 30_000})  # ~30 KB frames
    subscribe(conn_table, "c1", *(f"s{n}" for n in range(9)))
    fanout, _ = make_fanout(conn_table, connections_endpoint)
    stats = fanout.to_room(ROOM, OutboundMessage("m", big))
    posts = connections_endpoint.delivered()["c1"]
    assert all(len(p) <= MESSAGE_BYTES_MAX for p in posts)
    assert [len(frames_of(p)) for p in posts] == [4, 4, 1]
    assert stats.posts == 3
    subs = [s for p in posts for s, _ in frames_of(p)]
    assert subs == [f"s{n}" for n in range(9)]  # order kept across the split


def test_gone_connection_loses_its_items_and_no_one_else_does(
    conn_table: ConnectionTable, connections_endpoint: ConnectionsEndpoint
) -> None:
    subscribe(conn_table, "sender", "s1", user="alice")
    subscribe(conn_table, "stale", "s1", "s2", user="bob")
    subscribe(conn_table, "live", "s1", user="carol")
    connections_endpoint.mark_gone("stale")
    fanout, api = make_fanout(conn_table, connections_endpoint)
    stats = fanout.to_room(ROOM, OutboundMessage("m", BODY))
    assert (stats.gone, stats.failed, stats.gone_connections) == (1, 0, ["stale"])
    assert api.stats.gone == 1
    assert conn_table.get_connection("stale") is None
    assert conn_table.connection_subscriptions("stale") == []
    assert conn_table.get_connection("sender") is not None
    assert conn_table.get_connection("live") is not None
    remaining = sorted(s.connection_id for p in conn_table.room_subscriptions(ROOM) for s in p)
    assert remaining == ["live", "sender"]
    assert sorted(connections_endpoint.delivered()) == ["live", "sender"]


def test_throttled_post_is_retried_and_delivered_exactly_once(
    conn_table: ConnectionTable, connections_endpoint: ConnectionsEndpoint
) -> None:
    subscribe(conn_table, "c1", "s1")
    connections_endpoint.throttle("c1", times=2)
    fanout, api = make_fanout(conn_table, connections_endpoint)
    stats = fanout.to_room(ROOM, OutboundMessage("m", BODY))
    assert len(connections_endpoint.delivered()["c1"]) == 1
    assert connections_endpoint.attempts["c1"] == 3
    assert (api.stats.posts, api.stats.retries, api.stats.delivered) == (3, 2, 1)
    assert (stats.posts, stats.failed) == (1, 0)


def test_throttling_that_does_not_stop_fails_after_the_attempts(
    connections_endpoint: ConnectionsEndpoint,
) -> None:
    connections_endpoint.throttle("c1", times=10)
    api = BotoConnectionsApi(connections_endpoint.url, "us-east-1", attempts=3, backoff=0.001)
    assert api.post("c1", b"x") is PostOutcome.FAILED
    assert connections_endpoint.attempts["c1"] == 3


def test_server_error_is_not_retried(
    conn_table: ConnectionTable, connections_endpoint: ConnectionsEndpoint
) -> None:
    subscribe(conn_table, "c1", "s1")
    subscribe(conn_table, "c2", "s1")
    connections_endpoint.fail("c1")
    fanout, api = make_fanout(conn_table, connections_endpoint)
    stats = fanout.to_room(ROOM, OutboundMessage("m", BODY))
    assert connections_endpoint.attempts["c1"] == 1
    assert (stats.failed, stats.gone, api.stats.retries) == (1, 0, 0)
    assert conn_table.get_connection("c1") is not None  # a failure is not a 410
    assert list(connections_endpoint.delivered()) == ["c2"]


def test_refused_connection_is_retried_then_failed() -> None:
    with ConnectionsEndpoint() as endpoint:
        url = endpoint.url
    api = BotoConnectionsApi(url, "us-east-1", attempts=2, backoff=0.001)
    assert api.post("c1", b"x") is PostOutcome.FAILED
    assert (api.stats.posts, api.stats.retries, api.stats.failed) == (2, 1, 1)


def test_exists_and_delete(connections_endpoint: ConnectionsEndpoint) -> None:
    api = BotoConnectionsApi(connections_endpoint.url, "us-east-1")
    assert api.exists("L0SM9cOFvHcCIhw=")
    assert api.delete("L0SM9cOFvHcCIhw=")
    assert connections_endpoint.deleted == ["L0SM9cOFvHcCIhw="]
    assert not api.exists("L0SM9cOFvHcCIhw=")
    assert not api.delete("L0SM9cOFvHcCIhw=")


def test_to_user_reaches_every_device_of_the_user_queue(
    conn_table: ConnectionTable, connections_endpoint: ConnectionsEndpoint
) -> None:
    for cid, user in (("phone", "u1"), ("laptop", "u1"), ("other", "u2")):
        conn_table.put_connection(ConnectionRecord(cid, 1_700_000_000_000, user_id=user))
        conn_table.add_subscription(
            Subscription(cid, "n", "/user/queue/notifications", None, user), EXPIRES_AT
        )
    fanout, _ = make_fanout(conn_table, connections_endpoint)
    stats = fanout.to_user("u1", "/user/queue/notifications", OutboundMessage("m", BODY))
    assert sorted(connections_endpoint.delivered()) == ["laptop", "phone"]
    assert stats.recipients == 2


def test_send_many_combines_per_connection(
    conn_table: ConnectionTable, connections_endpoint: ConnectionsEndpoint
) -> None:
    fanout, _ = make_fanout(conn_table, connections_endpoint)
    stats = fanout.send_many([("c1", b"A\0"), ("c2", b"B\0"), ("c1", b"C\0")])
    assert connections_endpoint.delivered() == {"c1": [b"A\0C\0"], "c2": [b"B\0"]}
    assert stats.posts == 2


def test_large_room_goes_to_sqs_and_jobs_deliver_exactly_once(
    conn_table: ConnectionTable,
    connections_endpoint: ConnectionsEndpoint,
    sqs: SQSClient,
    fanout_queue_url: str,
) -> None:
    total = JOB_TARGETS_MAX * 2 + 50  # three jobs
    _load(conn_table, [Subscription(f"c{n:04}", "s1", TOPIC, ROOM, "u") for n in range(total)])
    queue = SqsFanoutQueue(fanout_queue_url, sqs)
    fanout, api = make_fanout(conn_table, connections_endpoint, inline_max=100, queue=queue)
    stats = fanout.to_room(ROOM, OutboundMessage("m-9", BODY, (("x-seq", "9"),)))
    assert (stats.jobs, stats.recipients, stats.posts) == (3, total, 0)
    assert connections_endpoint.delivered() == {}
    bodies = _drain(sqs, fanout_queue_url)
    assert len(bodies) == 3
    jobs = [FanoutJob.from_json(b) for b in bodies]
    assert sorted(len(j.targets) for j in jobs) == [50, JOB_TARGETS_MAX, JOB_TARGETS_MAX]
    for job in jobs:
        fanout.run_job(job)
    delivered = connections_endpoint.delivered()
    assert len(delivered) == total
    assert all(len(posts) == 1 for posts in delivered.values())
    frame = parse(delivered["c0007"][0]).frames[0]
    assert (frame.header("subscription"), frame.header("x-seq")) == ("s1", "9")
    assert api.stats.posts == total


def test_small_room_with_a_queue_stays_inline(
    conn_table: ConnectionTable,
    connections_endpoint: ConnectionsEndpoint,
    sqs: SQSClient,
    fanout_queue_url: str,
) -> None:
    subscribe(conn_table, "c1", "s1")
    queue = SqsFanoutQueue(fanout_queue_url, sqs)
    fanout, _ = make_fanout(conn_table, connections_endpoint, inline_max=1, queue=queue)
    stats = fanout.to_room(ROOM, OutboundMessage("m", BODY))
    assert (stats.jobs, stats.posts) == (0, 1)
    assert _drain(sqs, fanout_queue_url) == []


def test_job_json_round_trip_and_rejects_garbage() -> None:
    job = FanoutJob(ROOM, TOPIC, (("c1", "s1"),), OutboundMessage("m", '{"a":"é"}', (("k", "v"),)))
    assert FanoutJob.from_json(job.to_json()) == job
    for bad in ('{"v": 2}', "{}", '{"v": 1, "roomId": "r"}', "[]"):
        with pytest.raises(ValueError):
            FanoutJob.from_json(bad)


def _load(table: ConnectionTable, subs: list[Subscription]) -> None:
    from chatflow.ws.connections import batch_write, meta_item, subscription_items

    requests = []
    for sub in subs:
        record = ConnectionRecord(sub.connection_id, 1_700_000_000_000, user_id=sub.user_id)
        own, index = subscription_items(sub, record.expires_at)
        requests += [{"PutRequest": {"Item": item}} for item in (meta_item(record), own, index)]
    batch_write(table.client, table.name, requests)  # type: ignore[arg-type]


def _drain(sqs: SQSClient, url: str) -> list[str]:
    bodies: list[str] = []
    while True:
        reply = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = reply.get("Messages", [])
        if not messages:
            return bodies
        for m in messages:
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_lean_client_posts_pages_in_bulk_keeping_split_order_and_deleting_gone(
    conn_table: ConnectionTable, connections_endpoint: ConnectionsEndpoint
) -> None:
    from chatflow.ws.lean_gateway import Credentials, LeanConnectionsApi

    big = json.dumps({"type": "message", "body": "x" * 30_000})  # ~30 KB frames
    subscribe(conn_table, "c1", *(f"s{n}" for n in range(9)))  # three posts, in order
    subscribe(conn_table, "stale", "s1", "s2")
    for n in range(12):
        subscribe(conn_table, f"d{n:02}", "s1")
    connections_endpoint.mark_gone("stale")
    keys = Credentials("AKIDEXAMPLE", "secret")
    api = LeanConnectionsApi(connections_endpoint.url, "us-east-1", credentials=lambda: keys)
    fanout = Fanout(conn_table, api, max_workers=4, page_size=5, connections=4)
    stats = fanout.to_room(ROOM, OutboundMessage("m", big))
    delivered = connections_endpoint.delivered()
    posts = delivered["c1"]
    assert [len(frames_of(p)) for p in posts] == [4, 4, 1]
    assert [s for p in posts for s, _ in frames_of(p)] == [f"s{n}" for n in range(9)]
    assert sorted(delivered) == ["c1", *(f"d{n:02}" for n in range(12))]
    assert (stats.recipients, stats.posts, stats.gone, stats.failed) == (23, 16, 1, 0)
    assert stats.gone_connections == ["stale"]
    assert conn_table.get_connection("stale") is None
    assert conn_table.get_connection("c1") is not None
    assert api.pool.opened == 0  # no post went through the thread pool's client
    assert 1 <= api.bulk_opened <= 4
    assert connections_endpoint.max_in_flight <= 4
    api.close()


class RecordingBulk:
    """A bulk poster that delivers everything and records each call's connection ids."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def post_many(self, items: list[tuple[str, bytes]], concurrency: int) -> list[PostOutcome]:
        self.calls.append([cid for cid, _ in items])
        return [PostOutcome.DELIVERED] * len(items)

    def post(self, cid: str, data: bytes) -> PostOutcome:
        raise AssertionError("a bulk poster's posts go through post_many")

    def delete(self, cid: str) -> bool:
        return True

    def exists(self, cid: str) -> bool:
        return True


@pytest.mark.parametrize(
    ("connections", "page_size", "calls"),
    [
        (5, 5, [5]),  # a full page, then an empty last one: one round of posts, not two
        (5, 10, [5]),
        (7, 3, [2, 3, 2]),  # the last connection of a page waits for the next page
    ],
)
def test_the_last_page_is_posted_whole(
    conn_table: ConnectionTable, connections: int, page_size: int, calls: list[int]
) -> None:
    for n in range(connections):
        subscribe(conn_table, f"c{n}", "s1")
    bulk = RecordingBulk()
    fanout = Fanout(conn_table, bulk, page_size=page_size, connections=3)
    stats = fanout.to_room(ROOM, OutboundMessage("m", BODY))
    assert [len(call) for call in bulk.calls] == calls
    assert sorted(cid for call in bulk.calls for cid in call) == [
        f"c{n}" for n in range(connections)
    ]
    assert (stats.recipients, stats.posts, stats.failed) == (connections, connections, 0)
