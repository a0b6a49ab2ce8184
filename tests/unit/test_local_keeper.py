"""The local stack's resource keeper (local/keeper.py): re-create only what is gone."""

from __future__ import annotations

import asyncio
import io

import pytest

from local.keeper import ResourceKeeper
from local.workers import Console

pytestmark = pytest.mark.unit


class _Emulator:
    def __init__(self) -> None:
        self.reachable = True
        self.table = True
        self.created = 0
        self.closed = 0

    def exists(self) -> bool:
        if not self.reachable:
            raise ConnectionError("connection refused")
        return self.table

    def recreate(self) -> None:
        self.created += 1
        self.table = True

    async def close_connections(self) -> int:
        self.closed += 1
        return 2


def _keeper(emulator: _Emulator, out: io.StringIO) -> ResourceKeeper:
    return ResourceKeeper(
        emulator.exists, emulator.recreate, emulator.close_connections, Console(out)
    )


def test_the_table_is_recreated_once_after_the_emulator_forgot_it() -> None:
    emulator, out = _Emulator(), io.StringIO()
    keeper = _keeper(emulator, out)

    async def scenario() -> list[bool]:
        seen = [await keeper.check()]  # all there: nothing to do
        emulator.reachable = False
        seen.append(await keeper.check())  # down: wait, never re-create blindly
        seen.append(await keeper.check())
        emulator.reachable, emulator.table = True, False  # back, and empty
        seen.append(await keeper.check())
        seen.append(await keeper.check())  # re-created: nothing more to do
        return seen

    assert asyncio.run(scenario()) == [False, False, False, True, False]
    assert (emulator.created, emulator.closed, keeper.recreations) == (1, 1, 1)
    log = out.getvalue()
    assert log.count("unreachable") == 1  # said once per outage, not once per look
    assert "closed 2 WebSocket connection(s) with 1012" in log


def test_a_failed_recreation_is_tried_again_and_closes_nothing() -> None:
    emulator, out = _Emulator(), io.StringIO()
    emulator.table = False
    attempts = []

    def failing() -> None:
        attempts.append(1)
        raise RuntimeError("table being deleted")

    keeper = ResourceKeeper(emulator.exists, failing, emulator.close_connections, Console(out))

    async def scenario() -> list[bool]:
        return [await keeper.check(), await keeper.check()]

    assert asyncio.run(scenario()) == [False, False]
    assert (len(attempts), emulator.closed, keeper.recreations) == (2, 0, 0)
