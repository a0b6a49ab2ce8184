"""The whole local stack, started once per session as ``chatflow local up`` in a subprocess.

It runs on free ports with its data in a temporary folder, a short WebSocket idle timeout
(so the idle test takes seconds) and fault injection on (see docs/local.md). The layer
build is cached in the repository's ``.chatflow/layer`` so that sessions after the first
do not run pip. At the end the stack is stopped with SIGTERM, as Ctrl-C would, and the
session fails if any process it started is still alive.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

from local.services import free_port

ROOT = Path(__file__).resolve().parents[2]
IDLE_TIMEOUT = 10
START_TIMEOUT = 240


@dataclass
class RunningStack:
    """A ``chatflow local up`` process and what the tests need to reach and watch it."""

    state_dir: Path
    log_path: Path
    http_port: int
    ws_port: int
    process: subprocess.Popen[bytes] | None = None
    started_pids: set[int] = field(default_factory=set)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    @property
    def connections(self) -> str:
        return f"http://127.0.0.1:{self.ws_port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def start(self) -> None:
        command = [
            sys.executable, "-m", "local.cli", "local", "up",
            "--state-dir", str(self.state_dir),
            "--http-port", str(self.http_port),
            "--ws-port", str(self.ws_port),
            "--idle-timeout", str(IDLE_TIMEOUT),
            "--layer-dir", str(ROOT / ".chatflow" / "layer"),
            "--faults",
            # Clients are asked for heart-beats well inside the idle timeout, and the many
            # sign-ups of one test session (all from 127.0.0.1) stay under the auth limit;
            # the limits themselves are tested at integration level.
            "--env", f"HEARTBEAT_MS={IDLE_TIMEOUT * 1000 // 3}",
            "--env", "RATE_AUTH_BURST=500",
        ]  # fmt: skip
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        endpoints = self.state_dir / "endpoints.json"
        deadline = time.monotonic() + START_TIMEOUT
        while not endpoints.exists():
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the stack exited with {self.process.returncode}:\n{self.log()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"the stack did not start:\n{self.log()}")
            time.sleep(0.2)
        assert json.loads(endpoints.read_text()) == {
            "http": self.http,
            "ws": self.ws,
            "connections": self.connections,
        }

    def descendants(self) -> set[int]:
        """Every process the stack runs now (services, workers), remembered for teardown."""
        assert self.process is not None
        children = {p.pid for p in psutil.Process(self.process.pid).children(recursive=True)}
        self.started_pids |= children
        return children

    def stop(self) -> None:
        """SIGTERM, as Ctrl-C; then nothing the stack started may be left running."""
        assert self.process is not None
        self.descendants()
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(90) == 0
        deadline = time.monotonic() + 10
        while (alive := {pid for pid in self.started_pids if _alive(pid)}) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.1)
        assert alive == set(), f"processes left running: {alive}"
        assert not (self.state_dir / "endpoints.json").exists()


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    folder = Path(tempfile.mkdtemp(prefix="chatflow-e2e-"))
    running = RunningStack(folder / "state", folder / "stack.log", free_port(), free_port())
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
