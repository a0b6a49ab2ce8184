"""The scheduled sweeper and the SQS fan-out worker, called as Lambda calls them."""

from __future__ import annotations

import time
import uuid
from typing import Any

import boto3
import pytest

from chatflow.cache.presence_writer import connection_key
from tests.helpers.events import lambda_context
from tests.integration.ws_world import World, bodies


@pytest.fixture
def ws_env_overrides(request: pytest.FixtureRequest) -> dict[str, str]:
    if "fanout" in request.node.name:
        sqs = boto3.client(
            "sqs",
            endpoint_url=request.getfixturevalue("moto_endpoint"),
            region_name="us-east-1",
        )
        url = sqs.create_queue(QueueName=f"fanout-{uuid.uuid4().hex[:10]}")["QueueUrl"]
        return {"FANOUT_INLINE_MAX": "1", "FANOUT_QUEUE_URL": url}
    return {"PRESENCE_TTL_SECONDS": "1"}


def test_sweeper_expires_a_vanished_connection_and_drops_its_record(world: World) -> None:
    alice, bob = world.api.user(), world.api.user()
    room = world.api.room(bob)
    world.api.call("POST", f"/api/rooms/{room}/join", alice)
    watcher = world.open(bob)
    world.subscribe(watcher, room)
    gone = world.open(alice)
    world.subscribe(gone, room)
    seen = [(e["status"], e["user"]["id"]) for e in bodies(watcher.receive(), "presence")]
    assert ("online", alice.id) in seen

    # The client vanished without a close: no $disconnect, no more frames, and API Gateway
    # no longer knows the connection.
    idle = world.open(alice)
    for vanished in (gone, idle):
        world.runtime.container.cache.delete(connection_key(vanished.connection_id))
        world.endpoint.mark_gone(vanished.connection_id)
    watcher.send_raw("\n")  # the watcher stays alive
    time.sleep(1.2)  # let one presence TTL pass
    watcher.send_raw("\n")

    sweeper = world.gateway.modules["handlers.presence_sweeper"]
    stats = sweeper.handler({"source": "aws.events"}, lambda_context("presence_sweeper"))
    assert stats["offline"] == 1, stats
    # The offline event's fan-out met 410 for the vanished connection and removed it; the
    # idle one, subscribed to nothing, was found by the sweeper's own probe.
    assert stats["connectionsDropped"] == 1
    assert world.runtime.table.get_connection(idle.connection_id) is None
    offline = bodies(watcher.receive(), "presence")
    assert [(e["status"], e["user"]["id"]) for e in offline] == [("offline", alice.id)]
    assert world.runtime.table.get_connection(gone.connection_id) is None
    assert world.runtime.table.get_connection(watcher.connection_id) is not None
    online = world.api.call("GET", f"/api/rooms/{room}/presence", bob).json()["online"]
    assert [u["id"] for u in online] == [bob.id]


def test_fanout_worker_delivers_large_rooms_from_sqs(world: World, moto_endpoint: str) -> None:
    alice, bob = world.api.user(), world.api.user()
    room = world.api.room(alice)
    world.api.call("POST", f"/api/rooms/{room}/join", bob)
    a, b = world.open(alice), world.open(bob)
    world.subscribe(a, room)
    world.subscribe(b, room)
    a.receive(), b.receive()

    world.say(a, room, "to many", receipt="m")
    assert [f.command for f in a.receive()] == ["RECEIPT"]  # queued, not posted inline
    assert b.receive() == []

    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    url = world.runtime.settings.fanout_queue_url
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    event: dict[str, Any] = {
        "Records": [
            {"messageId": m["MessageId"], "body": m["Body"], "eventSource": "aws:sqs"}
            for m in received
        ]
    }
    worker = world.gateway.modules["handlers.fanout_worker"]
    result = worker.handler(event, lambda_context("fanout_worker"))
    assert result == {"batchItemFailures": []}
    assert [m["body"] for m in bodies(b.receive(), "message")] == ["to many"]
    assert [m["body"] for m in bodies(a.receive(), "message")] == ["to many"]


def test_fanout_worker_reports_a_broken_record(world: World) -> None:
    worker = world.gateway.modules["handlers.fanout_worker"]
    event = {"Records": [{"messageId": "m-1", "body": "not a job", "eventSource": "aws:sqs"}]}
    assert worker.handler(event, lambda_context("fanout_worker")) == {
        "batchItemFailures": [{"itemIdentifier": "m-1"}]
    }
