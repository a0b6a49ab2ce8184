"""A local stack of the fault suite's own, on services that the tests can stop and start.

The fault tests break PostgreSQL, Valkey and the DynamoDB emulator on purpose, so they
never share the e2e suite's stack: this one runs from its own state folder on free ports,
and its three services are started here (``local/services.py``) and handed to
``chatflow local up`` by URL (``--database-url``, ``--redis-url``, ``--aws-endpoint-url``),
which is what lets a test kill or restart one of them under the running stack. Each
service keeps its port across a restart, so the functions reconnect to the same URL.

The stack runs with a short presence TTL and a sweeper every second (``--env``,
``--schedule-interval``), so presence converges within seconds, and with fault injection
on (``--faults``), so a close reason can make ``$disconnect`` fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from local.services import EmbeddedPostgres, EmbeddedValkey, MotoDynamoDB, free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 240
PRESENCE_TTL_SECONDS = 3
SWEEP_INTERVAL_SECONDS = 1
CONCURRENCY = 3
# Fast bcrypt and generous rate limits: the suite measures faults, not throttling.
ENVIRONMENT = {
    "PRESENCE_TTL_SECONDS": str(PRESENCE_TTL_SECONDS),
    "BCRYPT_ROUNDS": "4",
    "RATE_AUTH_BURST": "10000",
    "RATE_SEND_BURST": "10000",
    "RATE_SEND_PER_SECOND": "10000",
    "LOG_LEVEL": "WARNING",
}


@dataclass
class FaultStack:
    """``chatflow local up`` on services of its own; ``postgres``, ``valkey``, ``moto``."""

    folder: Path
    postgres: EmbeddedPostgres
    valkey: EmbeddedValkey
    moto: MotoDynamoDB
    http_port: int = field(default_factory=free_port)
    ws_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls, folder: Path) -> FaultStack:
        services = folder / "services"
        services.mkdir(parents=True, exist_ok=True)
        return cls(
            folder,
            EmbeddedPostgres(services / "postgres"),
            EmbeddedValkey(services / "valkey", persist=True),
            MotoDynamoDB(services / "moto"),
        )

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    @property
    def connections(self) -> str:
        """The @connections API (on the WebSocket port)."""
        return f"http://127.0.0.1:{self.ws_port}"

    @property
    def log_path(self) -> Path:
        return self.folder / "stack.log"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def start(self) -> None:
        for service in (self.postgres, self.valkey, self.moto):
            service.start(60)
        state = self.folder / "state"
        command = [
            sys.executable, "-m", "local.cli", "local", "up",
            "--state-dir", str(state),
            "--http-port", str(self.http_port),
            "--ws-port", str(self.ws_port),
            "--layer-dir", str(ROOT / ".chatflow" / "layer"),
            "--database-url", self.postgres.url,
            "--redis-url", self.valkey.url,
            "--aws-endpoint-url", self.moto.endpoint,
            "--concurrency", str(CONCURRENCY),
            "--schedule-interval", str(SWEEP_INTERVAL_SECONDS),
            "--faults",
        ]  # fmt: skip
        for name, value in ENVIRONMENT.items():
            command += ["--env", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        endpoints = state / "endpoints.json"
        deadline = time.monotonic() + START_TIMEOUT
        while not endpoints.exists():
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the stack exited with {self.process.returncode}:\n{self.log()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"the stack did not start:\n{self.log()}")
            time.sleep(0.2)
        assert json.loads(endpoints.read_text())["ws"] == self.ws

    def worker_pids(self, function: str) -> list[int]:
        """The live worker processes of one function (``chatflow-ws-frame``...)."""
        assert self.process is not None
        marker = f'"functionName": "{function}"'
        pids = []
        for child in psutil.Process(self.process.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if marker in " ".join(child.cmdline()):
                    pids.append(child.pid)
        return pids

    def stop(self) -> None:
        """SIGTERM, as Ctrl-C; then the services, so nothing is left running."""
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(60)
                except subprocess.TimeoutExpired:
                    os.kill(self.process.pid, signal.SIGKILL)
                    self.process.wait(10)
        finally:
            for service in (self.moto, self.valkey, self.postgres):
                service.stop()
