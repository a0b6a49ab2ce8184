"""Clients that vanish, and ``$disconnect`` that never comes, on the fault suite's stack.

The stack runs with ``PRESENCE_TTL_SECONDS=3`` and the sweeper every second
(tests/faults/stack.py). Presence is read back over REST, polled every ``POLL`` seconds;
"within the TTL" means within ``CONVERGE_POLLS`` polls: the TTL plus three sweeps.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest
import redis

from tests.faults.checks import check_history
from tests.faults.client import Account, Ledger, Rest, RetryingSender, StompLink
from tests.faults.stack import PRESENCE_TTL_SECONDS, SWEEP_INTERVAL_SECONDS, FaultStack

pytestmark = pytest.mark.e2e

TABLE = "chatflow-ConnectionsTable"
POLL = 0.25
CONVERGE_POLLS = int((PRESENCE_TTL_SECONDS + 3 * SWEEP_INTERVAL_SECONDS) / POLL)
CRASH_ON_DISCONNECT = "chatflow-fault:crash"  # as the close reason: $disconnect's worker dies


def polls_until(condition: Callable[[], bool], limit: int = CONVERGE_POLLS) -> int:
    """How many polls it took for ``condition`` to hold; fails after ``limit``."""
    for polls in range(limit + 1):
        if condition():
            return polls
        time.sleep(POLL)
    raise AssertionError(f"not reached within {limit} polls of {POLL} s")


@pytest.fixture
def table(fault_stack: FaultStack) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=fault_stack.moto.endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


@pytest.fixture
def cache(fault_stack: FaultStack) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(fault_stack.valkey.url)
    yield client
    client.close()


def items_of(table: Any, connection_id: str) -> int:
    """How many items the connection has in its own partition."""
    reply = table.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"CONN#{connection_id}"}},
        ConsistentRead=True,
    )
    return int(reply["Count"])


def presence_events(link: StompLink, user: Account, wait: float) -> list[str]:
    return [
        e["status"]
        for e in link.events(wait)
        if e.get("type") == "presence" and e["user"]["id"] == user.user_id
    ]


def _pair(fault_stack: FaultStack, rest: Rest) -> tuple[Account, Account, str, StompLink]:
    watcher, other = rest.register(), rest.register()
    room_id = rest.room(watcher, other)
    link = StompLink(fault_stack.ws, rest.ticket(watcher))
    link.subscribe(room_id)
    return watcher, other, room_id, link


def test_client_dropping_tcp_without_a_close_goes_offline_and_is_forgotten(
    fault_stack: FaultStack, rest: Rest, table: Any
) -> None:
    watcher, other, room_id, watching = _pair(fault_stack, rest)
    try:
        vanishing = StompLink(fault_stack.ws, rest.ticket(other))
        vanishing.subscribe(room_id)
        assert rest.online(watcher, room_id) == {watcher.user_id, other.user_id}
        cid = vanishing.session
        vanishing.abort()  # no close frame: the gateway sees the TCP connection end (1006)
        polls = polls_until(lambda: other.user_id not in rest.online(watcher, room_id))
        polls_until(lambda: items_of(table, cid) == 0)
        assert presence_events(watching, other, 1.0) == ["online", "offline"]
        print(f"\ntcp drop: offline after {polls} polls")
    finally:
        watching.close()


def test_silent_client_goes_offline_within_the_ttl_while_its_socket_stays_open(
    fault_stack: FaultStack, rest: Rest
) -> None:
    watcher, other, room_id, watching = _pair(fault_stack, rest)
    silent = StompLink(fault_stack.ws, rest.ticket(other))
    try:
        silent.subscribe(room_id)  # then not one heart-beat more
        assert other.user_id in rest.online(watcher, room_id)
        polls = polls_until(lambda: other.user_id not in rest.online(watcher, room_id))
        # Nothing closed it: the gateway still knows the connection; only the TTL ran out.
        described = httpx.get(f"{fault_stack.connections}/@connections/{silent.session}")
        assert described.status_code == 200
        assert presence_events(watching, other, 1.0) == ["online", "offline"]
        print(f"\nsilent client: offline after {polls} polls")
    finally:
        silent.close()
        watching.close()


def test_disconnect_never_delivered_410_and_the_sweeper_clean_up(
    fault_stack: FaultStack, rest: Rest, table: Any, cache: redis.Redis
) -> None:
    log_before = len(fault_stack.log())
    crashed = re.compile(r"^\[chatflow-ws-disconnect \S+\] the worker exited \(status 70\)", re.M)
    watcher, other, room_id, watching = _pair(fault_stack, rest)
    try:
        # A subscriber whose $disconnect fails, and whose liveness the test holds so that
        # the sweeper leaves it alone: only a fan-out's 410 Gone can remove its items (the
        # message below, or any presence event of the room).
        subscriber = StompLink(fault_stack.ws, rest.ticket(other))
        subscriber.subscribe(room_id)
        held = f"pconn:{{{subscriber.session}}}"
        cache.set(held, other.user_id, px=60_000)
        subscriber.close(CRASH_ON_DISCONNECT)
        # A connection in no room, whose $disconnect fails too: only the sweeper remains.
        idle = StompLink(fault_stack.ws, rest.ticket(other))
        idle.close(CRASH_ON_DISCONNECT)
        # Each crash replaces the worker (a cold start), hence the longer wait.
        polls_until(lambda: len(crashed.findall(fault_stack.log()[log_before:])) == 2, 80)

        ledger = Ledger()
        sender = RetryingSender(fault_stack.ws, rest, watcher, room_id, ledger)
        sender.deliver("gone-0", "to a gone subscriber")
        sender.drop()
        gone_polls = polls_until(lambda: items_of(table, subscriber.session) == 0)
        swept_polls = polls_until(lambda: items_of(table, idle.session) == 0)

        cache.delete(held)
        offline_polls = polls_until(lambda: other.user_id not in rest.online(watcher, room_id))
        check_history(ledger, rest.history(watcher, room_id))
        print(
            f"\nno $disconnect: 410 cleaned after {gone_polls} polls, sweeper after "
            f"{swept_polls}, offline after {offline_polls}"
        )
    finally:
        watching.close()
