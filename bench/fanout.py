"""Benchmark: one SEND's fan-out to 10, 100, 1,000 and 10,000 subscriptions.

The connection table is in moto's DynamoDB server, the local DynamoDB emulator
(``--table emulator``), or any DynamoDB emulator on loopback (``--table-endpoint``). The
@connections endpoint runs in its own process (so its CPU is not counted as ours) and
answers each POST after 20 ms, about what API Gateway takes: by default the asyncio
stand-in ``bench/fast_connections_endpoint.py``, which costs the machine little CPU per
post (as API Gateway costs a Lambda none), or the recording test endpoint with
``--endpoint recording``. For each size, ``Fanout.to_room`` runs from one process, as one
Lambda invocation would, after a warm-up that opens the HTTP connections.

Each call is cut in two phases, because an emulator's Query time says nothing of
DynamoDB's: the **Query phase** (time spent fetching room pages, and the CPU of that
thread meanwhile) and the **post phase** (from the first POST submitted to the last one
answered). Posting starts after the first page, so the post phase can contain the fetch of
the next page; "post phase net" subtracts the Query time that fell inside it. The 250 ms
budget for 1,000 recipients is judged on the whole call with ``--judge whole`` (a table
emulator as fast as DynamoDB), and by default on the post phase net of Query time.

    .venv/bin/python -m bench.fanout [--client lean|botocore] [--workers 64]
        [--connections 256] [--sizes 10,100,1000,10000] [--runs 3] [--judge post|whole]
        [--table moto|emulator | --table-endpoint URL] [--endpoint fast|recording]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "functions"), str(ROOT)]

from chatflow.ws.connections import (  # noqa: E402
    ConnectionRecord,
    ConnectionTable,
    Subscription,
    batch_write,
    create_table,
    meta_item,
    subscription_items,
)
from chatflow.ws.fanout import DEFAULT_CONNECTIONS, Fanout  # noqa: E402
from chatflow.ws.fanout_jobs import OutboundMessage  # noqa: E402
from chatflow.ws.gateway import ConnectionsApi, PostOutcome  # noqa: E402
from chatflow.ws.lean_gateway import build_connections_api  # noqa: E402
from local.services import LocalDynamoDB, MotoDynamoDB  # noqa: E402

BUDGET_SIZE = 1000
BUDGET_SECONDS = 0.250
POST_DELAY_MS = 20
BODY = '{"type":"message","seq":1,"id":"m","roomId":"r","sender":null,"body":"hello, world"}'


@dataclass
class Phases:
    """Timestamps of one call: Query page fetches and POSTs (perf_counter seconds)."""

    queries: list[tuple[float, float]] = field(default_factory=list)
    query_cpu: float = 0.0
    post_starts: list[float] = field(default_factory=list)
    post_ends: list[float] = field(default_factory=list)

    def query_s(self) -> float:
        return sum(end - start for start, end in self.queries)

    def post_window(self) -> tuple[float, float]:
        return min(self.post_starts), max(self.post_ends)

    def post_s(self) -> float:
        first, last = self.post_window()
        return last - first

    def post_net_s(self) -> float:
        """The post phase less the Query time that fell inside it."""
        first, last = self.post_window()
        inside = sum(max(0.0, min(end, last) - max(start, first)) for start, end in self.queries)
        return self.post_s() - inside


class TimedTable(ConnectionTable):
    """The connection table, timing each Query page the fan-out asks for."""

    phases: Phases

    def room_subscriptions(
        self, room_id: str, page_size: int = 1000
    ) -> Iterator[list[Subscription]]:
        pages = super().room_subscriptions(room_id, page_size)
        while True:
            start, cpu = time.perf_counter(), time.thread_time()
            page = next(pages, None)
            self.phases.queries.append((start, time.perf_counter()))
            self.phases.query_cpu += time.thread_time() - cpu
            if page is None:
                return
            yield page


class TimedApi:
    """A :class:`ConnectionsApi` that notes when each POST starts and ends."""

    def __init__(self, api: ConnectionsApi, phases: Phases) -> None:
        self.api = api
        self.phases = phases

    def post(self, cid: str, data: bytes) -> PostOutcome:
        start = time.perf_counter()
        try:
            return self.api.post(cid, data)
        finally:
            end = time.perf_counter()
            self.phases.post_starts.append(start)  # list.append is atomic
            self.phases.post_ends.append(end)

    def delete(self, cid: str) -> bool:
        return self.api.delete(cid)

    def exists(self, cid: str) -> bool:
        return self.api.exists(cid)


class TimedBulkApi(TimedApi):
    """A :class:`TimedApi` for a client with ``post_many``: one start and end per call."""

    def post_many(self, items: Sequence[tuple[str, bytes]], concurrency: int) -> list[PostOutcome]:
        bulk = getattr(self.api, "post_many")  # noqa: B009 - ConnectionsApi does not declare it
        start = time.perf_counter()
        try:
            outcomes: list[PostOutcome] = bulk(items, concurrency)
            return outcomes
        finally:
            self.phases.post_starts.append(start)
            self.phases.post_ends.append(time.perf_counter())


def load_room(table: ConnectionTable, room: str, size: int) -> None:
    requests = []
    for n in range(size):
        cid = f"{room}-c{n:05}="
        record = ConnectionRecord(cid, int(time.time() * 1000), user_id=f"u{n}")
        sub = Subscription(cid, "sub-0", f"/topic/rooms/{room}", room, f"u{n}")
        own, index = subscription_items(sub, record.expires_at)
        for item in (meta_item(record), own, index):
            requests.append({"PutRequest": {"Item": item}})
    batch_write(table.client, table.name, requests)  # type: ignore[arg-type]


ENDPOINTS = {
    "fast": "bench.fast_connections_endpoint",
    "recording": "tests.helpers.connections_endpoint",
}


def start_endpoint(kind: str) -> tuple[subprocess.Popen[str], str]:
    """The @connections stand-in in a child process, and its URL."""
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", ENDPOINTS[kind], "--delay-ms", str(POST_DELAY_MS)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT}"},
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def endpoint_stats(url: str) -> dict[str, int]:
    stats_url = url.rsplit("/", 1)[0] + "/_stats"
    with urllib.request.urlopen(stats_url, timeout=5) as reply:  # noqa: S310 - loopback
        stats: dict[str, int] = json.load(reply)
    return stats


@dataclass
class Row:
    size: int
    wall: float
    query: float
    query_cpu: float
    post: float
    post_net: float
    cpu: float
    posts: int
    queries: int


def measure(fanout: Fanout, table: TimedTable, room: str, size: int, runs: int) -> Row:
    rows: list[Row] = []
    render = OutboundMessage("m-1", BODY)
    for _ in range(runs):
        phases = table.phases = Phases()
        assert isinstance(fanout.api, TimedApi)
        fanout.api.phases = phases
        wall, cpu = time.perf_counter(), time.process_time()
        stats = fanout.to_room(room, render)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert stats.recipients == size and stats.failed == 0 and stats.gone == 0, stats
        rows.append(
            Row(
                size,
                wall,
                phases.query_s(),
                phases.query_cpu,
                phases.post_s(),
                phases.post_net_s(),
                cpu,
                stats.posts,
                stats.queries,
            )
        )
    med = statistics.median
    return Row(
        size,
        med(r.wall for r in rows),
        med(r.query for r in rows),
        med(r.query_cpu for r in rows),
        med(r.post for r in rows),
        med(r.post_net for r in rows),
        med(r.cpu for r in rows),
        rows[-1].posts,
        rows[-1].queries,
    )


def print_row(row: Row) -> None:
    ms = 1000
    print(
        f"| {row.size:,} | {row.wall * ms:.0f} | {row.query * ms:.0f} | {row.query_cpu * ms:.0f} "
        f"| {row.post * ms:.0f} | {row.post_net * ms:.0f} | {row.cpu * ms:.0f} "
        f"| {row.cpu / row.size * 1e6:.0f} | {row.posts:,} | {row.queries} |",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", choices=("lean", "botocore"), default="lean")
    parser.add_argument("--workers", type=int, default=64, help="posting threads = pool size")
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--judge", choices=("post", "whole"), default="post")
    parser.add_argument("--table-endpoint", default="", help="a DynamoDB emulator on loopback")
    parser.add_argument(
        "--table",
        choices=("moto", "emulator"),
        default="moto",
        help="without --table-endpoint: start moto or the local DynamoDB emulator (local/dynamo)",
    )
    parser.add_argument(
        "--endpoint",
        choices=sorted(ENDPOINTS),
        default="fast",
        help="the @connections stand-in: fast (asyncio) or the recording test endpoint",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=DEFAULT_CONNECTIONS,
        help="HTTP connections in flight for the lean client's post_many",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - dummy, loopback only
        AWS_DEFAULT_REGION="us-east-1",
    )
    endpoint, url = start_endpoint(args.endpoint)
    results: dict[int, Row] = {}
    with ExitStack() as stack:
        table_endpoint = args.table_endpoint
        if not table_endpoint:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            server = MotoDynamoDB(tmp, None) if args.table == "moto" else LocalDynamoDB(tmp, None)
            stack.enter_context(server)
            table_endpoint = server.endpoint
        import boto3

        client = boto3.client("dynamodb", endpoint_url=table_endpoint, region_name="us-east-1")
        name = f"bench-connections-{os.getpid()}"
        create_table(client, name)
        table = TimedTable(name, client)
        table.phases = Phases()
        api = build_connections_api(args.client, url, "us-east-1", args.workers)
        timed = TimedBulkApi if hasattr(api, "post_many") else TimedApi
        connections = args.connections
        fanout = Fanout(
            table, timed(api, Phases()), max_workers=args.workers, connections=connections
        )
        warm = 2 * max(args.workers, connections)
        load_room(table, "warmup", warm)
        measure(fanout, table, "warmup", warm, 1)  # opens the pool's connections
        print(
            f"client={args.client}, max_workers = pool = {args.workers}, "
            f"post_many connections = {connections}, endpoint = {args.endpoint}, "
            f"{POST_DELAY_MS} ms per POST, median of {args.runs}, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
        )
        print(
            "| subscriptions | wall ms | Query phase ms | Query CPU ms | post phase ms "
            "| post phase net of Query ms | CPU ms per SEND | CPU µs per recipient | posts "
            "| queries |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for size in sizes:
            room = f"room{size}"
            load_room(table, room, size)
            results[size] = measure(fanout, table, room, size, args.runs)
            print_row(results[size])
        if args.table_endpoint:
            client.delete_table(TableName=name)
        print(f"endpoint: {endpoint_stats(url)}; threads alive: {threading.active_count()}")
    endpoint.terminate()
    endpoint.wait(5)
    return verdict(results.get(BUDGET_SIZE), args.judge)


def verdict(row: Row | None, judge: str) -> int:
    if row is None:
        return 0
    budget = BUDGET_SECONDS * 1000
    whole, net = row.wall * 1000, row.post_net * 1000
    print(
        f"{BUDGET_SIZE:,} recipients: whole call {whole:.0f} ms (Query phase "
        f"{row.query * 1000:.0f} ms), post phase net of Query {net:.0f} ms; budget {budget:.0f} ms"
    )
    judged = whole if judge == "whole" else net
    if judged > budget:
        print(f"FAIL: {judge} = {judged:.0f} ms > {budget:.0f} ms")
        return 1
    print(f"PASS: {judge} = {judged:.0f} ms <= {budget:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
