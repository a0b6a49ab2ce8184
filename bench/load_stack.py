"""A throwaway local stack for one load run: ``chatflow local up`` in a temporary folder.

It runs on free loopback ports with fresh data, and reuses the repository's layer build
(``.chatflow/layer``) so that no pip runs. Two settings differ from ``make up``, both through
``--env`` and both for set-up speed only: ``BCRYPT_ROUNDS=4`` (registering a thousand users
at the default cost of 12 takes minutes of CPU on two cores) and a login rate limit high
enough for all of them to register from 127.0.0.1. Nothing on the message path changes.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path
from types import TracebackType

from local.launcher import StackProcess
from local.limits import raised_write_limits_env

# "[chatflow-ws-frame <request id>] REPORT RequestId: ... Duration: 12.34 ms ..."
REPORT_LINE = re.compile(r"^\[(?P<name>\S+) \S+\] REPORT .*? Duration: (?P<ms>[0-9.]+) ms")
BENCH_ENV = {
    "BCRYPT_ROUNDS": "4",
    "RATE_AUTH_BURST": "100000",
    "RATE_AUTH_PER_MINUTE": "100000",
    # the write throttles (rooms, joins, tickets...): every client opens its own
    **raised_write_limits_env(),
}


class BenchStack(StackProcess):
    def __init__(self, concurrency: int = 4, env: dict[str, str] | None = None) -> None:
        super().__init__(
            Path(tempfile.mkdtemp(prefix="chatflow-load-")),
            options=("--concurrency", str(concurrency), "--log-level", "WARNING"),
            env={**BENCH_ENV, **(env or {})},
        )

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

    def stop(self, timeout: float = 90.0, keep_log: bool = False) -> int | None:
        """SIGTERM as Ctrl-C (the stack stops its workers and services), then clean up."""
        status = super().stop(timeout)
        if keep_log:
            print(f"stack log kept: {self.log_path}", file=sys.stderr)
            shutil.rmtree(self.state_dir, ignore_errors=True)
        else:
            shutil.rmtree(self.folder, ignore_errors=True)
        return status

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
