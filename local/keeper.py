"""Puts the emulator's resources back when the emulator forgets them.

moto (and LocalStack without persistence) keeps DynamoDB and SQS in memory: when it
restarts, the connection table and the fan-out queues are gone, and every function call
that touches them fails. AWS never loses a table, so the functions rightly do not create
one; the local stack, which created the resources in the first place, watches for their
loss and re-creates them, as a deploy would. The WebSocket connections the lost table
described cannot be described again (who was subscribed where is gone), so after a
re-creation the stack closes every WebSocket with 1012 "Service Restart": clients
reconnect, subscribe again and re-send what was not acknowledged, which is exactly what
they do after any restart. Stored messages live in PostgreSQL and are not affected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from local.workers import Console

CHECK_INTERVAL = 1.0


class ResourceKeeper:
    """Checks every ``interval`` that the table exists; re-creates what is missing."""

    def __init__(
        self,
        exists: Callable[[], bool],
        recreate: Callable[[], Any],
        after_recreate: Callable[[], Awaitable[int]],
        console: Console,
        interval: float = CHECK_INTERVAL,
    ) -> None:
        self._exists = exists
        self._recreate = recreate
        self._after = after_recreate
        self._console = console
        self._interval = interval
        self._unreachable = False
        self.recreations = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.check()

    async def check(self) -> bool:
        """One look; True when the resources had to be (and were) re-created."""
        try:
            present = await asyncio.to_thread(self._exists)
        except Exception as exc:  # the emulator is down or restarting: look again later
            if not self._unreachable:
                self._unreachable = True
                self._console.tagged("resources", f"the AWS emulator is unreachable ({exc})")
            return False
        if self._unreachable:
            self._unreachable = False
            self._console.tagged("resources", "the AWS emulator answers again")
        if present:
            return False
        try:
            await asyncio.to_thread(self._recreate)
        except Exception as exc:
            self._console.tagged("resources", f"could not re-create the table and queues: {exc}")
            return False
        closed = await self._after()
        self.recreations += 1
        self._console.tagged(
            "resources",
            "the connection table was gone (emulator restarted): re-created the table and "
            f"queues, closed {closed} WebSocket connection(s) with 1012",
        )
        return True
