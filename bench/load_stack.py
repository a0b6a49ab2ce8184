"""A throwaway local stack for one load run: ``chatflow local up`` in a temporary folder.

It runs on free loopback ports with fresh data, and reuses the repository's layer build
(``.chatflow/layer``) so that no pip runs. Two settings differ from ``make up``, both through
``--env`` and both for set-up speed only: ``BCRYPT_ROUNDS=4`` (registering a thousand users
at the default cost of 12 takes minutes of CPU on two cores) and a login rate limit high
enough for all of them to register from 127.0.0.1. Nothing on the message path changes.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from local.services import free_port

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 240.0
# "[chatflow-ws-frame <request id>] REPORT RequestId: ... Duration: 12.34 ms ..."
REPORT_LINE = re.compile(r"^\[(?P<name>\S+) \S+\] REPORT .*? Duration: (?P<ms>[0-9.]+) ms")
BENCH_ENV = {
    "BCRYPT_ROUNDS": "4",
    "RATE_AUTH_BURST": "100000",
    "RATE_AUTH_PER_MINUTE": "100000",
}


class BenchStack:
    def __init__(self, concurrency: int = 4, env: dict[str, str] | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="chatflow-load-"))
        self.log_path = self.folder / "stack.log"
        self.concurrency = concurrency
        self.env = {**BENCH_ENV, **(env or {})}
        self.http_port = free_port()
        self.ws_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> BenchStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(keep_log=exc is not None)

    def start(self) -> None:
        state = self.folder / "state"
        command = [
            sys.executable, "-m", "local.cli", "local", "up",
            "--state-dir", str(state),
            "--http-port", str(self.http_port),
            "--ws-port", str(self.ws_port),
            "--concurrency", str(self.concurrency),
            "--layer-dir", str(ROOT / ".chatflow" / "layer"),
            "--log-level", "WARNING",
        ]  # fmt: skip
        for name, value in self.env.items():
            command += ["--env", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        endpoints = state / "endpoints.json"
        deadline = time.monotonic() + START_TIMEOUT
        while not endpoints.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the stack did not start; see {self.log_path}")
            time.sleep(0.2)
        assert json.loads(endpoints.read_text())["http"] == self.http

    def stop(self, keep_log: bool = False) -> None:
        """SIGTERM as Ctrl-C (the stack stops its workers and services), then clean up."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if keep_log:
            print(f"stack log kept: {self.log_path}", file=sys.stderr)
            shutil.rmtree(self.folder / "state", ignore_errors=True)
        else:
            shutil.rmtree(self.folder, ignore_errors=True)

    def function_durations(self) -> dict[str, dict[str, float]]:
        """Per function, the handler time of every invocation from the stack's REPORT lines
        (the time an event waited for a free worker is not in it)."""
        found: dict[str, list[float]] = {}
        with self.log_path.open(encoding="utf-8", errors="replace") as log:
            for line in log:
                if match := REPORT_LINE.match(line):
                    found.setdefault(match["name"], []).append(float(match["ms"]))
        result = {}
        for name, values in sorted(found.items()):
            values.sort()
            result[name] = {
                "count": float(len(values)),
                "p50": values[len(values) // 2],
                "p99": values[min(len(values) - 1, int(len(values) * 0.99))],
                "total_s": sum(values) / 1000,
            }
        return result
