"""CPU and memory of the local stack's process tree, sampled from /proc while a run goes on.

The tree is the ``chatflow local up`` process (both gateways, the SQS poller and schedules)
and everything under it: the function workers, PostgreSQL with its backends, Valkey and the
moto server. CPU is summed per process between samples (a process that appears later counts
from zero), so the CPU of a phase is exact up to one sampling interval. Memory is the sum of
PSS (proportional set size): shared pages, such as PostgreSQL's shared buffers or a forked
worker's copy-on-write pages, are divided among the processes that share them instead of
being counted once per process as RSS would. The function workers' share is kept apart: a
pool's workers are a fixed cost (at most ``--concurrency`` per function, started on first
use), while the memory that grows with connections is in the gateway and the services.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import psutil  # type: ignore[import-untyped]


@dataclass(frozen=True)
class Sample:
    at: float  # time.monotonic()
    cpu_s: float  # CPU seconds of the tree since the sampler started
    pss_bytes: int  # the whole tree
    worker_pss_bytes: int  # the function workers' share of it
    processes: int
    workers: int
    own_cpu_s: float  # the load generator's own CPU seconds


@dataclass
class Sampler:
    root_pid: int
    every: float = 1.0
    samples: list[Sample] = field(default_factory=list)
    _base: dict[int, float] = field(default_factory=dict)
    _last: dict[int, float] = field(default_factory=dict)
    _known: dict[int, psutil.Process] = field(default_factory=dict)
    _workers: dict[int, bool] = field(default_factory=dict)
    _own: psutil.Process = field(default_factory=psutil.Process)
    _own_base: float = 0.0
    _started: bool = False

    def sample(self) -> Sample:
        """Read the tree now (blocking: a few ms per process)."""
        tree = self._tree()
        pss = workers_pss = workers = 0
        for proc in tree:
            try:
                times = proc.cpu_times()
                cpu = times.user + times.system + times.children_user + times.children_system
                memory = proc.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            if proc.pid not in self._last:
                self._base[proc.pid] = cpu if not self._started else 0.0
            self._last[proc.pid] = cpu
            size = int(getattr(memory, "pss", memory.rss))
            pss += size
            if self._is_worker(proc):
                workers += 1
                workers_pss += size
        own = self._own.cpu_times()
        own_cpu = own.user + own.system
        if not self._started:
            self._own_base = own_cpu
            self._started = True
        used = sum(self._last[pid] - base for pid, base in self._base.items())
        result = Sample(
            time.monotonic(), used, pss, workers_pss, len(tree), workers, own_cpu - self._own_base
        )
        self.samples.append(result)
        return result

    async def run(self, stop: asyncio.Event) -> None:
        """Sample every ``every`` seconds until ``stop`` (the reads run in a thread)."""
        while not stop.is_set():
            await asyncio.to_thread(self.sample)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)

    def _is_worker(self, proc: psutil.Process) -> bool:
        """Function workers run ``local/bootstrap.py``; the answer is kept per pid."""
        known = self._workers.get(proc.pid)
        if known is None:
            try:
                known = any(part.endswith("bootstrap.py") for part in proc.cmdline())
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                known = False
            self._workers[proc.pid] = known
        return known

    def _tree(self) -> list[psutil.Process]:
        try:
            root = self._known.get(self.root_pid) or psutil.Process(self.root_pid)
            found = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        # Keep Process objects so that cpu_times keeps reading the same process.
        tree = [self._known.setdefault(p.pid, p) for p in found]
        return tree


def between(samples: list[Sample], start: float, end: float) -> list[Sample]:
    """The samples taken in ``[start, end]``."""
    return [s for s in samples if start <= s.at <= end]


def cpu_cores(samples: list[Sample], start: float, end: float) -> float:
    """Average cores the stack used between the samples nearest ``start`` and ``end``."""
    window = between(samples, start, end)
    if len(window) < 2:
        return 0.0
    first, last = window[0], window[-1]
    return (last.cpu_s - first.cpu_s) / max(last.at - first.at, 1e-9)


def own_cores(samples: list[Sample], start: float, end: float) -> float:
    window = between(samples, start, end)
    if len(window) < 2:
        return 0.0
    first, last = window[0], window[-1]
    return (last.own_cpu_s - first.own_cpu_s) / max(last.at - first.at, 1e-9)
