"""A small run of bench/load.py against the session's stack: delivery is checked, never time.

20 connections of 4 users in 4 rooms send for a few seconds at two rates; afterwards every
stored event of each room must have reached each subscribed connection exactly once, every
receipted SEND must be stored with its body, and nothing may be stored that no client sent.
The stack's WebSocket idle timeout is a few seconds here, so the clients send heart-beats.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.load import LoadConfig, run_load, summary
from bench.load_plots import write_plots
from tests.e2e.conftest import IDLE_TIMEOUT, RunningStack

pytestmark = pytest.mark.e2e

CONFIG = LoadConfig(
    connections=20,
    rooms=4,
    users=4,  # the session's stack keeps the login rate limit: few registrations
    duration=6.0,
    fast_share=0.25,
    fast_interval=1.0,
    slow_interval=2.0,
    heartbeat=IDLE_TIMEOUT / 2,
    connect_parallel=10,
    drain_timeout=60.0,
)


def test_every_stored_message_reaches_every_subscriber_once(
    stack: RunningStack, tmp_path: Path
) -> None:
    assert stack.process is not None
    report = asyncio.run(run_load(CONFIG, stack.http, stack.ws, stack.process.pid))
    v = report.verification
    shown = summary(report)
    assert (report.connected, report.connect_failures) == (20, []), shown
    assert v.closed_early == 0, shown
    # Every client sent at least twice (slow clients every 2 s for 6 s).
    assert v.sends >= 2 * CONFIG.connections, shown
    assert v.receipted == v.sends and v.refused == {} and v.unanswered == 0, shown
    assert v.stored_messages == v.sends, shown
    assert v.expected == v.delivered > 0, shown
    assert (v.missing_open, v.missing_closed, v.duplicates, v.unexpected) == (0, 0, 0, 0), shown
    assert (v.receipted_not_stored, v.stored_not_sent, v.content_mismatches) == (0, 0, 0), shown
    assert v.ok
    # Each room's stored messages reach each of its five connections.
    assert v.expected == 5 * v.stored_events
    assert report.stack["processes"] > 1
    assert [p.name for p in write_plots(report, tmp_path)] == [
        "load-20-latency.svg",
        "load-20-throughput.svg",
    ]
