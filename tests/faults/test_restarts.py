"""Services restarted and workers killed under traffic, on the fault suite's own stack.

Each test runs three retrying senders (tests/faults/traffic.py), breaks one thing in the
middle of their traffic, lets it come back, and then checks the stored history: every
acknowledged message stored exactly once at the acknowledged seq, nothing duplicated,
every retried message stored once. Nobody restarts the stack: it has to recover by itself.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import time

import pytest

from tests.faults.client import Rest, StompLink
from tests.faults.stack import FaultStack
from tests.faults.traffic import run_around

pytestmark = pytest.mark.e2e

OUTAGE = 1.5  # seconds a service stays down
KILL_ROUNDS = 40


def test_postgres_killed_during_traffic(fault_stack: FaultStack, rest: Rest) -> None:
    def fault() -> None:
        fault_stack.postgres.kill()  # SIGKILL: a crash, not a clean shutdown
        time.sleep(OUTAGE)
        fault_stack.postgres.start(60)

    outcome = run_around(fault_stack, rest, "pg", fault)
    # The outage was seen: SENDs got ERROR ("not stored ... send it again") and were retried.
    assert outcome.figures.failures.get("error", 0) >= 1
    assert outcome.figures.retried >= 1


def test_valkey_killed_during_traffic(fault_stack: FaultStack, rest: Rest) -> None:
    def fault() -> None:
        fault_stack.valkey.kill()
        time.sleep(OUTAGE)
        fault_stack.valkey.start(60)

    outcome = run_around(fault_stack, rest, "valkey", fault)
    assert outcome.figures.sent >= 15
    # Afterwards a new connection comes online in presence again.
    watcher, newcomer = rest.register(), rest.register()
    room_id = rest.room(watcher, newcomer)
    link = StompLink(fault_stack.ws, rest.ticket(newcomer))
    try:
        link.subscribe(room_id)
        assert rest.online(watcher, room_id) == {newcomer.user_id}
    finally:
        link.close()


def test_dynamodb_emulator_restarted_during_traffic(fault_stack: FaultStack, rest: Rest) -> None:
    """moto forgets every table: the stack re-creates it and closes sockets with 1012."""
    log_before = len(fault_stack.log())

    def fault() -> None:
        fault_stack.moto.kill()
        time.sleep(OUTAGE)
        fault_stack.moto.start(60)

    outcome = run_around(fault_stack, rest, "moto", fault)
    log = fault_stack.log()[log_before:]
    assert log.count("re-created the table and queues") == 1, log[-3000:]
    # Sockets still open at the re-creation are closed with 1012; during the outage clients
    # may already have lost theirs (an ERROR, a refused reconnect), so count from the log.
    closed = re.search(r"closed (\d+) WebSocket connection\(s\) with 1012", log)
    assert closed is not None, log[-3000:]
    if int(closed.group(1)) > 0:
        assert outcome.figures.failures.get("closed-1012", 0) >= 1
    assert outcome.figures.retried >= 1


def test_worker_killed_in_the_middle_of_frames(fault_stack: FaultStack, rest: Rest) -> None:
    log_before = len(fault_stack.log())
    mid_event = re.compile(r"^\[chatflow-ws-frame \S+\] the worker exited \(status -9\)", re.M)

    def killed_mid_event() -> int:
        return len(mid_event.findall(fault_stack.log()[log_before:]))

    def fault() -> None:
        chooser = random.Random(7)
        for _ in range(KILL_ROUNDS):
            if killed_mid_event() >= 3:
                return
            pids = fault_stack.worker_pids("chatflow-ws-frame")
            if pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(chooser.choice(pids), signal.SIGKILL)
            time.sleep(chooser.uniform(0.2, 0.6))

    outcome = run_around(fault_stack, rest, "kill", fault)
    assert killed_mid_event() >= 3
    assert outcome.figures.failures.get("internal-error", 0) >= 1
    assert outcome.figures.retried >= 1
