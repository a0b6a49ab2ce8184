"""The whole local stack, started once per session as ``chatflow local up`` in a subprocess.

It runs on free ports with its data in a temporary folder, a short WebSocket idle timeout
(so the idle test takes seconds) and fault injection on (see docs/local.md). The layer
build is cached in the repository's ``.chatflow/layer`` so that sessions after the first
do not run pip. At the end the stack is stopped with SIGTERM, as Ctrl-C would, and the
session fails if any process it started is still alive.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

from local.launcher import StackProcess
from local.limits import raised_write_limits_env

IDLE_TIMEOUT = 10
OPTIONS = ("--idle-timeout", str(IDLE_TIMEOUT), "--faults")
# Clients are asked for heart-beats well inside the idle timeout, and the many sign-ups of
# one test session (all from 127.0.0.1) stay under the auth limit; the limits themselves
# are tested at integration level. A small replay limit lets the browser test miss more
# than one replay carries with a few dozen messages.
REPLAY_MAX = 20
ENVIRONMENT = {
    "HEARTBEAT_MS": str(IDLE_TIMEOUT * 1000 // 3),
    "RATE_AUTH_BURST": "500",
    **raised_write_limits_env(),
    "REPLAY_MAX": str(REPLAY_MAX),
}


@dataclass
class RunningStack(StackProcess):
    """The session's stack, and every process it started (for the no-orphans check)."""

    # psutil.Process objects, not pids: pids wrap around (32,768 here) within a session,
    # and a recycled pid must not count as a process the stack left running.
    started: dict[int, psutil.Process] = field(default_factory=dict)

    def descendants(self) -> set[int]:
        """Every process the stack runs now (services, workers), remembered for teardown."""
        children = psutil.Process(self.pid).children(recursive=True)
        self.started.update((p.pid, p) for p in children)
        return {p.pid for p in children}

    def stop(self, timeout: float = 90.0) -> int | None:
        """SIGTERM, as Ctrl-C; then nothing the stack started may be left running."""
        self.descendants()
        status = super().stop(timeout)
        assert status == 0, f"the stack exited with {status}"
        deadline = time.monotonic() + 10
        while (alive := {pid for pid, p in self.started.items() if _alive(p)}) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.1)
        assert alive == set(), f"processes left running: {alive}"
        self.started.clear()  # all gone: a restart starts a new list
        assert not (self.state_dir / "endpoints.json").exists()
        return status


def _alive(process: psutil.Process) -> bool:
    """Still running (``is_running`` also checks the start time, so a reused pid is not it)."""
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    folder = Path(tempfile.mkdtemp(prefix="chatflow-e2e-"))
    running = RunningStack(folder, OPTIONS, ENVIRONMENT)
    try:
        running.start()
        yield running
        running.stop()
        leftovers = {p.name for p in running.state_dir.iterdir()}
        assert not leftovers & {"endpoints.json", "stack.json"}
    finally:
        if running.process is not None and running.process.poll() is None:
            os.kill(running.process.pid, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)
