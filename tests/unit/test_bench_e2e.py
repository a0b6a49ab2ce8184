"""bench/e2e.py and bench/e2e_cpu.py: what the throughput run counts and how CPU is split."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bench.e2e import Target, _Rounds
from bench.e2e_cpu import CpuMeter, role
from chatflow.stomp import Frame

pytestmark = pytest.mark.unit


def _target() -> Target:
    async def never(_user: int, _handler: Any) -> Any:
        raise AssertionError("not opened in these tests")

    return Target("fake", never, lambda room: (f"/topic/{room}", f"/app/{room}"))


def _message(token: str) -> Frame:
    return Frame("MESSAGE", [("destination", "/topic/0")], Target.body(token).encode())


def test_a_round_counts_only_its_own_tokens_once_and_frees_the_senders_window() -> None:
    async def go() -> None:
        rounds = _Rounds(_target(), clients=2, rooms=1, window=1)
        first, second = (rounds.handler_for(m) for m in rounds.members)
        rounds.prefix, rounds.expected = "tp", 4
        for member in rounds.members:
            member.echoed = asyncio.Semaphore(1)
            await member.echoed.acquire()  # each has one SEND in flight
        first(_message("tw-0-0-late"), 1.0)  # a copy from the warm-up round
        first(_message("tp-1-0-x"), 2.0)  # the other client's message
        assert rounds.deliveries == 1
        assert rounds.members[0].echoed is not None and rounds.members[0].echoed.locked()
        first(_message("tp-0-0-x"), 3.0)  # its own message back: its window frees
        assert not rounds.members[0].echoed.locked()
        first(_message("tp-0-0-x"), 4.0)
        assert (rounds.deliveries, rounds.duplicates) == (2, 1)
        second(_message("tp-0-0-x"), 5.0)
        second(_message("tp-1-0-x"), 6.0)
        assert rounds.deliveries == 4 and rounds.done.is_set() and rounds.last == 6.0
        assert rounds.members[1].echoed is not None and not rounds.members[1].echoed.locked()

    asyncio.run(go())


class _Proc:
    def __init__(self, command: list[str], name: str = "python") -> None:
        self.command = command
        self.process_name = name

    def cmdline(self) -> list[str]:
        return self.command

    def name(self) -> str:
        return self.process_name


@pytest.mark.parametrize(
    ("command", "name", "expected"),
    [
        (["python", "bootstrap.py", '{"functionName": "chatflow-ws-frame", "x": 1}'], "python",
         "function chatflow-ws-frame"),
        (["python", "-m", "local.cli", "local", "up"], "python", "gateway (local up)"),
        (["python", "-m", "local.dynamo.server", "--port", "1"], "python", "DynamoDB emulator"),
        (["postgres: postgres postgres 127.0.0.1(1) idle"], "postgres", "PostgreSQL"),
        (["/x/valkey-server", "127.0.0.1:1"], "valkey-server", "Valkey"),
        (["/usr/lib/erlang/erts/bin/beam.smp", "--"], "beam.smp", "RabbitMQ"),
    ],
)  # fmt: skip
def test_processes_are_grouped_by_role(command: list[str], name: str, expected: str) -> None:
    assert role(_Proc(command, name)) == expected


def test_cpu_per_send_is_the_split_of_what_was_used() -> None:
    meter = CpuMeter([])
    meter.used = {"gateway (local up)": 0.3, "benchmark client": 0.1, "idle": 0.0}
    table = meter.per_send_ms(100)
    assert list(table) == ["gateway (local up)", "benchmark client", "total"]
    assert table["gateway (local up)"] == pytest.approx(3.0)
    assert table["total"] == pytest.approx(4.0)


def test_the_meter_counts_this_process_cpu() -> None:
    meter = CpuMeter([])
    meter.start()
    began = time.process_time()
    while time.process_time() - began < 0.1:  # 100 ms of CPU; /proc counts 10 ms ticks
        sum(i * i for i in range(1000))
    used = meter.stop()
    assert set(used) == {"benchmark client"}
    assert used["benchmark client"] >= 0.08
