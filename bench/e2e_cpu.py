"""CPU of each part of a target during the end-to-end throughput phase, from /proc.

The local stack is CPU-bound on a small machine: every SEND costs CPU in the gateway, a
ws-frame worker, PostgreSQL, Valkey, the DynamoDB emulator and the benchmark's own
clients, all on the same cores. Where that CPU goes is what decides the throughput, so
the benchmark reads each process's CPU time (user + system) before the first SEND and
after the last delivery and reports it per SEND, grouped by role. Processes that start
during the phase count from zero; the ones that end during it are left out.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field

import psutil  # type: ignore[import-untyped]

_FUNCTION = re.compile(r'"functionName": "([^"]+)"')


def role(proc: psutil.Process) -> str:
    """What a process of a target is, from its command line."""
    try:
        command = " ".join(proc.cmdline())
        name = proc.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return "gone"
    found = _FUNCTION.search(command)
    if found:
        return f"function {found.group(1)}"
    for needle, label in (
        ("local.cli", "gateway (local up)"),
        ("local.dynamo.server", "DynamoDB emulator"),
        ("moto.server", "moto (SQS)"),
        ("valkey", "Valkey"),
        ("redis-server", "Valkey"),
        ("postgres", "PostgreSQL"),
        ("beam.smp", "RabbitMQ"),
    ):
        if needle in command or needle in name:
            return label
    return name or "other"


@dataclass
class CpuMeter:
    """CPU seconds per role between :meth:`start` and :meth:`stop`.

    ``roots``: process trees to watch (the ``local up`` process, RabbitMQ's VM); the
    calling process is always watched as "benchmark client".
    """

    roots: list[int]
    _start: dict[int, tuple[str, float]] = field(default_factory=dict)
    _procs: dict[int, psutil.Process] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)

    def _read(self) -> dict[int, tuple[str, float]]:
        found: dict[int, tuple[str, float]] = {}
        own = psutil.Process()
        trees: list[psutil.Process] = [own]
        for pid in self.roots:
            with contextlib.suppress(psutil.NoSuchProcess):
                root = psutil.Process(pid)
                trees += [root, *root.children(recursive=True)]
        for seen in trees:
            proc = self._procs.setdefault(seen.pid, seen)  # same object: same process
            try:
                times = proc.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            label = "benchmark client" if proc.pid == own.pid else role(proc)
            found[proc.pid] = (label, times.user + times.system)
        return found

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> dict[str, float]:
        self.used = {}
        for pid, (label, cpu) in self._read().items():
            before = self._start.get(pid, (label, 0.0))[1]
            self.used[label] = self.used.get(label, 0.0) + cpu - before
        return self.used

    def per_send_ms(self, sends: int) -> dict[str, float]:
        """Milliseconds of CPU per SEND by role, largest first, with a "total"."""
        rows = sorted(self.used.items(), key=lambda kv: -kv[1])
        table = {label: seconds * 1000 / sends for label, seconds in rows if seconds > 0}
        table["total"] = sum(self.used.values()) * 1000 / sends
        return table


def rabbitmq_pids() -> list[int]:
    """The RabbitMQ VM on this machine (beam.smp), if any."""
    pids = []
    for proc in psutil.process_iter(["name"]):
        if proc.info.get("name") == "beam.smp":
            pids.append(proc.pid)
    return pids
