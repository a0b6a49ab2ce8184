"""Load: asynchronous STOMP-over-WebSocket clients against the local stack, delivery verified.

``connections`` clients (one per user unless ``--users`` says fewer) subscribe to
``rooms`` rooms and send at mixed rates: a share of them every ``fast_interval`` seconds, the
rest every ``slow_interval``, each SEND with a ``clientMsgId`` and a receipt. The run reports
delivered messages/s, SEND->MESSAGE latency (p50/p99/p99.9, measured at every subscriber,
the sender's own copy included), the CPU and memory of the local stack per connection, and
then checks delivery against the stored history (bench/load_verify.py). Everything is
bounded: the send phase lasts ``duration`` seconds, each client has at most
``max_unanswered`` SENDs without a reply, and the drain waits at most ``drain_timeout``.

    .venv/bin/python -m bench.load                                  # 100 connections, 20 rooms
    .venv/bin/python -m bench.load --connections 1000 --rooms 100 --plots docs/img

Without ``--http``/``--ws`` it starts its own stack (``chatflow local up`` in a temporary
folder, on free loopback ports) with ``BCRYPT_ROUNDS=4`` and the login rate limit raised,
so that registering a thousand users from one address takes seconds; it stops it at the end.
It exits 1 when the delivery check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.load_clients import Client, ClientFailed, Recorder
from bench.load_sampler import Sample, Sampler, cpu_cores, own_cores
from bench.load_stack import BenchStack
from bench.load_verify import Verification, stored_history, verify

PASSWORD = "load-password-1"


@dataclass(frozen=True)
class LoadConfig:
    connections: int = 100
    rooms: int = 20
    users: int = 0  # 0: one user per connection
    duration: float = 60.0
    fast_share: float = 0.1
    fast_interval: float = 1.0
    slow_interval: float = 10.0
    heartbeat: float = 0.0  # seconds between client heart-beats; 0: none
    max_unanswered: int = 5
    connect_parallel: int = 50
    setup_parallel: int = 8
    timeout: float = 60.0  # per connection handshake and per REST call
    drain_timeout: float = 30.0
    connect_budget: float = 600.0  # no new connection is opened after this many seconds
    seed: int = 7

    @property
    def user_count(self) -> int:
        return self.users or self.connections

    def user_of(self, connection: int) -> int:
        return connection % self.user_count

    def room_of(self, connection: int) -> int:
        """Rooms in turn; when users have several connections, spread them over rooms."""
        return (connection + connection // self.user_count) % self.rooms


@dataclass
class Phases:
    setup_s: float = 0.0
    connect_s: float = 0.0
    connected_at: float = 0.0
    run_start: float = 0.0
    run_end: float = 0.0
    drained_at: float = 0.0


@dataclass
class Report:
    config: LoadConfig
    phases: Phases
    connected: int
    connect_failures: list[str]
    verification: Verification
    latency_ms: dict[str, float]
    receipt_ms: dict[str, float]
    delivered_per_s: float
    sent_per_s: float
    stack: dict[str, float]
    loop_lag_ms: dict[str, float]
    errors: dict[str, int]
    skipped_sends: int
    series: dict[str, list[int]] = field(default_factory=dict)
    functions: dict[str, dict[str, float]] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "latencies_ms"}
        out["config"] = asdict(self.config)
        out["phases"] = asdict(self.phases)
        out["verification"] = self.verification.as_dict()
        return out


class LoadError(RuntimeError):
    """The run could not be set up (a REST call kept failing)."""


async def _call(
    http: httpx.AsyncClient, method: str, path: str, token: str | None = None, **kw: Any
) -> Any:
    """One REST call; 429 is waited out as ``Retry-After`` says, a bounded number of times."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for _ in range(40):
        response = await http.request(method, path, headers=headers, **kw)
        if response.status_code == 429:
            await asyncio.sleep(min(float(response.headers.get("Retry-After", "1")), 10.0))
            continue
        if response.status_code >= 400:
            raise LoadError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()
    raise LoadError(f"{method} {path}: still rate limited")


async def _bounded(limit: int, jobs: Sequence[Any]) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(job: Any) -> Any:
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))


@dataclass
class Setup:
    tokens: list[str]
    room_ids: list[str]
    owner_tokens: list[str]


async def set_up(http: httpx.AsyncClient, config: LoadConfig, run_id: str) -> Setup:
    """Register the users, create the rooms and make each connection's user a member."""
    accounts = await _bounded(
        config.setup_parallel,
        [
            _call(http, "POST", "/api/auth/register",
                  json={"username": f"ld{run_id}u{i}", "password": PASSWORD})
            for i in range(config.user_count)
        ],
    )  # fmt: skip
    tokens = [str(a["accessToken"]) for a in accounts]
    members: list[set[int]] = [set() for _ in range(config.rooms)]
    for c in range(config.connections):
        members[config.room_of(c)].add(config.user_of(c))
    owners = [min(m) for m in members]
    rooms = await _bounded(
        config.setup_parallel,
        [
            _call(http, "POST", "/api/rooms", tokens[owners[r]],
                  json={"name": f"load {run_id} {r}", "visibility": "public"})
            for r in range(config.rooms)
        ],
    )  # fmt: skip
    room_ids = [str(room["id"]) for room in rooms]

    async def join_one_by_one(r: int) -> None:
        # One room's joins in turn: concurrent joins of one room can deadlock in PostgreSQL
        # (each INSERT INTO room_members takes a key-share lock on the room row, then the
        # join event's append asks for FOR UPDATE on it) and answer 503.
        for u in sorted(members[r] - {owners[r]}):
            await _call(http, "POST", f"/api/rooms/{room_ids[r]}/join", tokens[u])

    await _bounded(config.setup_parallel, [join_one_by_one(r) for r in range(config.rooms)])
    return Setup(tokens, room_ids, [tokens[o] for o in owners])


async def _last_seqs(http: httpx.AsyncClient, setup: Setup) -> dict[str, int]:
    rooms = [
        _call(http, "GET", f"/api/rooms/{room}", token)
        for room, token in zip(setup.room_ids, setup.owner_tokens, strict=True)
    ]
    found = await _bounded(8, rooms)
    return {str(room["id"]): int(room["lastSeq"]) for room in found}


async def _loop_lag(stop: asyncio.Event, lags: list[float]) -> None:
    """How late the generator's own event loop wakes up: its share of measured latency."""
    while not stop.is_set():
        before = time.monotonic()
        await asyncio.sleep(0.1)
        lags.append((time.monotonic() - before - 0.1) * 1000)


async def _poll(done: Callable[[], bool], deadline: float) -> bool:
    """Whether ``done()`` came true before ``deadline`` (checked every 0.2 s)."""
    while time.monotonic() < deadline:
        if done():
            return True
        await asyncio.sleep(0.2)
    return done()


async def _drain(
    clients: list[Client],
    http: httpx.AsyncClient,
    setup: Setup,
    baseline: dict[str, int],
    deadline: float,
) -> None:
    """Wait for the last receipts, then until every open client has as many stored events
    as its room gained (the exact check comes after, against the history)."""
    await _poll(lambda: not any(c.pending and c.open for c in clients), deadline)
    last = await _last_seqs(http, setup)
    await _poll(
        lambda: all(
            len(c.seen) >= last[c.room_id] - baseline[c.room_id] for c in clients if c.open
        ),
        deadline,
    )


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "count": len(ordered),
        "p50": at(0.5),
        "p90": at(0.9),
        "p99": at(0.99),
        "p99.9": at(0.999),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


async def run_load(
    config: LoadConfig, http_url: str, ws_url: str, stack_pid: int | None = None
) -> Report:
    """The whole run against a running stack; ``stack_pid`` enables the CPU/memory figures."""
    run_id = uuid.uuid4().hex[:6]
    load_at_start = os.getloadavg()[0]  # other work on the machine skews every figure
    rng = random.Random(config.seed)
    phases = Phases()
    began = time.monotonic()
    limits = httpx.Limits(max_connections=config.setup_parallel * 2)
    async with httpx.AsyncClient(base_url=http_url, timeout=config.timeout, limits=limits) as http:
        setup = await set_up(http, config, run_id)
        phases.setup_s = time.monotonic() - began
        sampler = Sampler(stack_pid) if stack_pid else None
        stop_sampling = asyncio.Event()
        sampling = asyncio.create_task(sampler.run(stop_sampling)) if sampler else None
        await asyncio.sleep(1.5 if sampler else 0)  # an idle sample or two before connecting
        idle_at = time.monotonic()
        report = await _with_clients(config, http, ws_url, setup, rng, phases)
        stop_sampling.set()
        if sampling is not None:
            await sampling
    if sampler is not None:
        report.stack = _stack_figures(sampler, phases, idle_at, report.connected)
        report.stack["load_average_1m_start"] = load_at_start
    return report


async def _with_clients(
    config: LoadConfig,
    http: httpx.AsyncClient,
    ws_url: str,
    setup: Setup,
    rng: random.Random,
    phases: Phases,
) -> Report:
    recorder = Recorder()
    fast = set(rng.sample(range(config.connections), round(config.connections * config.fast_share)))
    clients = [
        Client(
            c,
            setup.room_ids[config.room_of(c)],
            setup.tokens[config.user_of(c)],
            config.fast_interval if c in fast else config.slow_interval,
            recorder,
            config.heartbeat,
        )
        for c in range(config.connections)
    ]
    stop = asyncio.Event()
    failures: list[str] = []

    budget_end = time.monotonic() + config.connect_budget

    async def start(client: Client) -> Client | None:
        if time.monotonic() > budget_end:
            failures.append(f"not opened: the {config.connect_budget:g} s connect budget ran out")
            return None
        try:
            await client.start(ws_url, config.timeout)
        except ClientFailed as exc:
            failures.append(str(exc))
            return None
        return client

    began = time.monotonic()
    started = await _bounded(config.connect_parallel, [start(c) for c in clients])
    live: list[Client] = [c for c in started if c is not None]
    phases.connected_at = time.monotonic()
    phases.connect_s = phases.connected_at - began
    baseline = await _last_seqs(http, setup)
    lags: list[float] = []
    lag_task = asyncio.create_task(_loop_lag(stop, lags))
    phases.run_start = recorder.t0 = time.monotonic()
    await asyncio.gather(
        *(
            c.send_loop(phases.run_start, config.duration, rng.uniform(0, c.interval),
                        config.max_unanswered)
            for c in live
        )
    )  # fmt: skip
    phases.run_end = time.monotonic()
    await _drain(live, http, setup, baseline, phases.run_end + config.drain_timeout)
    phases.drained_at = time.monotonic()
    history = {
        room: await stored_history(http, token, room, baseline[room])
        for room, token in zip(setup.room_ids, setup.owner_tokens, strict=True)
    }
    stop.set()
    await lag_task
    await _bounded(config.connect_parallel, [c.close() for c in live])
    verification = verify(live, history, recorder.content_mismatches, phases.drained_at)
    return _report(config, phases, live, failures, verification, recorder, lags)


def _report(
    config: LoadConfig,
    phases: Phases,
    live: list[Client],
    failures: list[str],
    verification: Verification,
    recorder: Recorder,
    lags: list[float],
) -> Report:
    seconds = int(phases.drained_at - phases.run_start) + 1
    errors: dict[str, int] = {}
    for client in live:
        for name, count in client.errors.items():
            errors[name] = errors.get(name, 0) + count
        if client.closed_at is not None and client.closed_at < phases.drained_at:
            key = f"closed by the server with {client.close_code}"
            errors[key] = errors.get(key, 0) + 1
    in_run = range(int(config.duration))
    return Report(
        config=config,
        phases=phases,
        connected=len(live),
        connect_failures=failures,
        verification=verification,
        latency_ms=percentiles(recorder.latencies_ms),
        receipt_ms=percentiles(recorder.receipt_ms),
        delivered_per_s=sum(recorder.deliveries_per_s[s] for s in in_run) / config.duration,
        sent_per_s=sum(recorder.sends_per_s[s] for s in in_run) / config.duration,
        stack={},
        loop_lag_ms=percentiles(lags),
        errors=errors,
        skipped_sends=sum(c.skipped for c in live),
        series={
            "sent": [recorder.sends_per_s[s] for s in range(seconds)],
            "delivered": [recorder.deliveries_per_s[s] for s in range(seconds)],
        },
        latencies_ms=recorder.latencies_ms,
    )


def _stack_figures(sampler: Sampler, phases: Phases, idle_at: float, n: int) -> dict[str, float]:
    """Memory per connection: growth of the gateway and services (workers apart) from the idle
    stack to all clients subscribed. CPU per connection: the stack's cores during the send
    phase divided by the connections."""
    samples = sampler.samples
    idle = [s for s in samples if s.at <= idle_at] or samples[:1]
    connected = [s for s in samples if phases.connected_at <= s.at <= phases.run_start + 0.5] or [
        min(samples, key=lambda s: abs(s.at - phases.connected_at))
    ]
    running = [s for s in samples if phases.run_start <= s.at <= phases.run_end] or samples[-1:]
    mb = 2**20

    def rest(sample: Sample) -> float:
        return (sample.pss_bytes - sample.worker_pss_bytes) / mb

    cores = cpu_cores(samples, phases.run_start, phases.run_end)
    return {
        "processes": float(max(s.processes for s in samples)),
        "workers": float(max(s.workers for s in samples)),
        "pss_idle_mb": idle[-1].pss_bytes / mb,
        "pss_run_peak_mb": max(s.pss_bytes for s in running) / mb,
        "workers_pss_run_peak_mb": max(s.worker_pss_bytes for s in running) / mb,
        "non_worker_pss_idle_mb": rest(idle[-1]),
        "non_worker_pss_connected_mb": rest(connected[-1]),
        "non_worker_pss_run_peak_mb": max(rest(s) for s in running),
        "kb_per_connection": (rest(connected[-1]) - rest(idle[-1])) * 1024 / max(n, 1),
        "kb_per_connection_run_peak": (max(rest(s) for s in running) - rest(idle[-1]))
        * 1024 / max(n, 1),
        "cpu_cores_run": cores,
        "cpu_ms_per_s_per_connection": cores * 1000 / max(n, 1),
        "cpu_cores_connect": cpu_cores(samples, phases.connected_at - phases.connect_s,
                                       phases.connected_at),
        "generator_cpu_cores_run": own_cores(samples, phases.run_start, phases.run_end),
        "load_average_1m_end": os.getloadavg()[0],
    }  # fmt: skip


def summary(report: Report) -> str:
    """The report as the Markdown lines docs/benchmarks.md shows."""
    c, v, p = report.config, report.verification, report.phases
    lat, rec, st = report.latency_ms, report.receipt_ms, report.stack
    lines = [
        f"connections {c.connections} ({report.connected} connected, "
        f"{len(report.connect_failures)} failed) in {c.rooms} rooms, {c.user_count} users; "
        f"{c.fast_share:.0%} send every {c.fast_interval:g} s, the rest every "
        f"{c.slow_interval:g} s; {c.duration:g} s",
        f"setup {p.setup_s:.1f} s, connect+subscribe {p.connect_s:.1f} s, "
        f"drain {p.drained_at - p.run_end:.1f} s",
        f"sent {report.sent_per_s:.1f}/s, delivered {report.delivered_per_s:.1f} messages/s; "
        f"skipped sends (too many unanswered) {report.skipped_sends}",
    ]
    if lat.get("count"):
        lines.append(
            f"SEND->MESSAGE ms: p50 {lat['p50']:.1f}, p99 {lat['p99']:.1f}, "
            f"p99.9 {lat['p99.9']:.1f}, max {lat['max']:.1f} ({lat['count']:.0f} copies)"
        )
    if rec.get("count"):
        lines.append(f"SEND->RECEIPT ms: p50 {rec['p50']:.1f}, p99 {rec['p99']:.1f}")
    if report.loop_lag_ms.get("count"):
        lines.append(f"generator loop lag ms: p99 {report.loop_lag_ms['p99']:.1f}")
    if st:
        lines.append(
            f"stack memory (PSS): idle {st['pss_idle_mb']:.0f} MB, run peak "
            f"{st['pss_run_peak_mb']:.0f} MB of which {st['workers']:.0f} workers "
            f"{st['workers_pss_run_peak_mb']:.0f} MB; gateway+services idle "
            f"{st['non_worker_pss_idle_mb']:.0f} MB, subscribed "
            f"{st['non_worker_pss_connected_mb']:.0f} MB = {st['kb_per_connection']:.0f} KB "
            f"per connection (run peak {st['kb_per_connection_run_peak']:.0f} KB)"
        )
        lines.append(
            f"stack CPU: {st['cpu_cores_run']:.2f} cores in the send phase = "
            f"{st['cpu_ms_per_s_per_connection']:.2f} ms/s per connection; connecting "
            f"{st['cpu_cores_connect']:.2f} cores; generator {st['generator_cpu_cores_run']:.2f} "
            f"cores; 1-min load average {st['load_average_1m_start']:.1f} at the start, "
            f"{st['load_average_1m_end']:.1f} at the end"
        )
    lines.append(
        f"verification {'OK' if v.ok else 'FAILED'}: stored {v.stored_messages} messages; "
        f"expected {v.expected} deliveries, delivered {v.delivered}, missing "
        f"{v.missing_open} (+{v.missing_closed} on {v.closed_early} connections closed early), "
        f"duplicates {v.duplicates}, out of order {v.out_of_order}, unexpected {v.unexpected}"
    )
    lines.append(
        f"sends {v.sends}: receipted {v.receipted} (not stored {v.receipted_not_stored}), "
        f"refused {dict(v.refused) or 0}, unanswered {v.unanswered} "
        f"(stored anyway {v.unanswered_stored}); stored but never sent {v.stored_not_sent}"
    )
    for name, f in report.functions.items():
        lines.append(
            f"function {name}: {f['count']:.0f} invocations, handler p50 {f['p50']:.0f} ms, "
            f"p99 {f['p99']:.0f} ms"
        )
    if report.errors:
        lines.append(f"errors: {report.errors}")
    if report.connect_failures:
        kinds: dict[str, int] = {}
        for failure in report.connect_failures:
            kinds[failure] = kinds.get(failure, 0) + 1
        lines.append(f"connect failures: {kinds}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    d = LoadConfig()
    parser = argparse.ArgumentParser(prog="bench.load", description=__doc__.split("\n")[0])
    for name, value in asdict(d).items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=type(value), default=value)
    parser.add_argument("--http", help="REST base URL of a running stack (else one is started)")
    parser.add_argument("--ws", help="WebSocket URL of a running stack")
    parser.add_argument("--stack-pid", type=int, help="pid of that stack, for CPU/memory")
    parser.add_argument("--concurrency", type=int, default=4, help="workers per function")
    parser.add_argument("--json", type=Path, help="write the raw numbers here")
    parser.add_argument("--plots", type=Path, help="write load-<connections>-*.svg here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = LoadConfig(**{k: getattr(args, k) for k in asdict(LoadConfig())})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 4 * config.connections + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))  # inherited by the stack
    if args.http and args.ws:
        report = asyncio.run(run_load(config, args.http, args.ws, args.stack_pid))
    else:
        with BenchStack(args.concurrency) as stack:
            print(f"stack up (pid {stack.pid}, log {stack.log_path})", flush=True)
            report = asyncio.run(run_load(config, stack.http, stack.ws, stack.pid))
            report.functions = stack.function_durations()
    print(summary(report))
    if args.json:
        args.json.write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    if args.plots:
        from bench.load_plots import write_plots

        for path in write_plots(report, args.plots):
            print(f"wrote {path}")
    return 0 if report.verification.ok else 1


if __name__ == "__main__":
    sys.exit(main())
