"""``chatflow local up`` as a child process: start it, wait until it serves, stop it.

The end-to-end tests, the fault tests and the benchmarks all need a throwaway stack on free
loopback ports with a state folder of its own. Starting one means more than ``Popen``: the
stack is ready only once it has written ``endpoints.json``, it may die while starting (the
log then says why), and it must be stopped with SIGTERM, as Ctrl-C, so that it stops its
workers and services itself rather than leaving them orphaned.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from local.services import free_port

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 240.0
LOG_TAIL = 20_000


class StackDidNotStart(RuntimeError):
    """The stack exited or timed out while starting; the message ends with its log."""


@dataclass
class StackProcess:
    """One ``chatflow local up`` in ``folder`` (``state/`` and ``stack.log`` inside it).

    ``options`` are extra command-line options (``--faults``, ``--concurrency 3``...),
    ``env`` the ``--env NAME=VALUE`` settings given to every function.
    """

    folder: Path
    options: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    http_port: int = field(default_factory=free_port)
    ws_port: int = field(default_factory=free_port)
    start_timeout: float = START_TIMEOUT
    process: subprocess.Popen[bytes] | None = None

    @property
    def state_dir(self) -> Path:
        return self.folder / "state"

    @property
    def log_path(self) -> Path:
        return self.folder / "stack.log"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    @property
    def connections(self) -> str:
        """The @connections API (served on the WebSocket port)."""
        return f"http://127.0.0.1:{self.ws_port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the stack was not started"
        return self.process.pid

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def command(self) -> list[str]:
        command = [
            sys.executable, "-m", "local.cli", "local", "up",
            "--state-dir", str(self.state_dir),
            "--http-port", str(self.http_port),
            "--ws-port", str(self.ws_port),
            "--layer-dir", str(ROOT / ".chatflow" / "layer"),
            *self.options,
        ]  # fmt: skip
        for name, value in self.env.items():
            command += ["--env", f"{name}={value}"]
        return command

    def start(self) -> None:
        """Start and wait for ``endpoints.json``; raises :class:`StackDidNotStart`."""
        self.folder.mkdir(parents=True, exist_ok=True)
        endpoints = self.state_dir / "endpoints.json"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter and our module
                self.command(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = time.monotonic() + self.start_timeout
        while not endpoints.exists():
            if self.process.poll() is not None:
                raise StackDidNotStart(
                    f"the stack exited with {self.process.returncode}:\n{self._log_tail()}"
                )
            if time.monotonic() > deadline:
                raise StackDidNotStart(
                    f"the stack did not start in {self.start_timeout:.0f} s:\n{self._log_tail()}"
                )
            time.sleep(0.2)
        written = json.loads(endpoints.read_text())
        expected = {"http": self.http, "ws": self.ws, "connections": self.connections}
        if written != expected:
            raise StackDidNotStart(f"endpoints.json says {written}, expected {expected}")

    def stop(self, timeout: float = 90.0) -> int | None:
        """SIGTERM, as Ctrl-C; SIGKILL after ``timeout``. The exit status (None: not run)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def _log_tail(self) -> str:
        return self.log()[-LOG_TAIL:]
