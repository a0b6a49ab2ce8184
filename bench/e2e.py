"""Benchmark: ChatFlow's local stack end to end, against RabbitMQ Web-STOMP as the peer.

Two workloads, the same client code for both targets (one asyncio STOMP client over the
``websockets`` library's sans-I/O protocol, bench/e2e_ws.py, frames built and parsed by
``chatflow.stomp``):

- latency: one pair in one room; A sends one message, waits until B receives it, sends
  the next (``--messages``, after ``--warmup`` unmeasured ones). SEND->MESSAGE time is
  measured at B with one monotonic clock (both clients live in this process).
- throughput: ``--clients`` clients in ``--rooms`` rooms, every client subscribed to its
  room and sending ``--per-client`` messages, at most ``--window`` of its own in flight
  (a message is no longer in flight once its sender receives it back), after an
  unmeasured round of ``--tp-warmup`` messages each (it starts the stack's workers).
  Deliveries per second count one per receiving client, from the first SEND to the last
  delivery. The CPU time each process used meanwhile is reported per SEND, by role
  (gateway, ws-frame workers, PostgreSQL, ..., RabbitMQ, and the benchmark's own clients).

ChatFlow: ``python -m local.cli local up`` is started on free ports with a temporary state
folder (or ``--http/--ws`` name a running stack). The stack's own log then gives the
ws-frame function's REPORT durations and, with ``--breakdown``, timings of each step of
the handler path (the same code run in this process against the stack's services).
RabbitMQ: ``rabbitmq-plugins enable rabbitmq_web_stomp``; ws://127.0.0.1:15674/ws,
guest/guest, destinations ``/topic/...``; it stores nothing.

    .venv/bin/python -m bench.e2e [--messages 500] [--clients 20 --rooms 5] [--json out.json]

Exits 1 when ChatFlow misses a target: p50 latency over 15 ms, or under 1,000
deliveries/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "functions"), str(ROOT)]

from websockets.typing import Subprotocol  # noqa: E402

from bench.e2e_cpu import CpuMeter, rabbitmq_pids  # noqa: E402
from bench.e2e_ws import WebSocketClient  # noqa: E402
from chatflow.stomp import Frame, parse, serialize  # noqa: E402
from local.limits import raised_write_limits_env  # noqa: E402
from local.services import free_port  # noqa: E402

TARGET_P50_MS = 15.0
TARGET_DELIVERIES = 1000.0
SUBPROTOCOLS = [Subprotocol(p) for p in ("v12.stomp", "v11.stomp", "v10.stomp")]
PASSWORD = "bench-password-1"
# Raised for the benchmark only: the production limits (10 SENDs/s per user, 10 logins a
# minute per address) would cap the load the 20 clients offer, not the delivery path. The
# guard still runs its Redis script on every message.
BENCH_ENV = {
    "RATE_SEND_BURST": "100000",
    "RATE_SEND_PER_SECOND": "100000",
    "RATE_AUTH_BURST": "1000",
    "RATE_AUTH_PER_MINUTE": "1000",
    # the write throttles (rooms, joins, tickets...): every client opens its own
    **raised_write_limits_env(),
}
DELIVERY_TIMEOUT = 60.0


# -- the client --------------------------------------------------------------------------


Handler = Callable[[Frame, float], None]


class StompClient:
    """A minimal asyncio STOMP 1.2 client: CONNECT, SUBSCRIBE, SEND; frames are parsed as
    each WebSocket message arrives (bench/e2e_ws.py)."""

    def __init__(self, on_message: Handler) -> None:
        self.on_message = on_message
        self.receipts: dict[str, asyncio.Future[Frame]] = {}
        self.connected: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self.ws: WebSocketClient | None = None

    @classmethod
    async def open(
        cls, url: str, headers: list[tuple[str, str]], on_message: Handler
    ) -> StompClient:
        client = cls(on_message)
        client.ws = await WebSocketClient.connect(url, SUBPROTOCOLS, client._received, 60)
        await client.send_frame(Frame("CONNECT", [("accept-version", "1.2"), *headers]))
        await asyncio.wait_for(client.connected, 60)
        return client

    def _received(self, data: str | bytes, now: float) -> None:
        if isinstance(data, str) and not data.endswith("\x00") and "\x00" not in data:
            print(f"not a STOMP frame: {data[:200]}", file=sys.stderr)
            return
        for frame in parse(data, limits=_NO_LIMITS).frames:
            self._dispatch(frame, now)

    def _dispatch(self, frame: Frame, now: float) -> None:
        if frame.command == "MESSAGE":
            self.on_message(frame, now)
        elif frame.command == "RECEIPT":
            future = self.receipts.pop(frame.header("receipt-id") or "", None)
            if future is not None and not future.done():
                future.set_result(frame)
        elif frame.command == "CONNECTED":
            self.connected.set_result(frame)
        elif frame.command == "ERROR":
            message = f"ERROR {frame.header('message')}: {frame.body[:200]!r}"
            if not self.connected.done():
                self.connected.set_exception(RuntimeError(message))
            print(message, file=sys.stderr)

    async def send_frame(self, frame: Frame) -> None:
        assert self.ws is not None
        self.ws.send_text(serialize(frame))

    async def subscribe(self, destination: str) -> None:
        receipt_id = uuid.uuid4().hex
        done = asyncio.get_running_loop().create_future()
        self.receipts[receipt_id] = done
        await self.send_frame(
            Frame(
                "SUBSCRIBE",
                [("id", "sub-0"), ("destination", destination), ("receipt", receipt_id)],
            )
        )
        await asyncio.wait_for(done, 60)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


def _no_limits() -> Any:
    from chatflow.stomp import Limits

    big = 1 << 30
    return Limits(
        max_frame_bytes=big, max_headers=1000, max_header_line_bytes=big, max_body_bytes=big
    )


_NO_LIMITS = _no_limits()


# -- targets -----------------------------------------------------------------------------


@dataclass
class Target:
    """Where clients connect, how they address a room, and what a SEND body looks like."""

    name: str
    open_client: Callable[[int, Handler], Awaitable[StompClient]]
    destinations: Callable[[int], tuple[str, str]]  # room index -> (subscribe, send)

    @staticmethod
    def body(token: str) -> str:
        return json.dumps({"body": token, "clientMsgId": token})

    @staticmethod
    def token_of(frame: Frame) -> str | None:
        data = json.loads(frame.body)
        token = data.get("body")
        return token if isinstance(token, str) else None


def rabbitmq_target(url: str) -> Target:
    async def open_client(_user: int, handler: Handler) -> StompClient:
        headers = [("host", "/"), ("login", "guest"), ("passcode", "guest")]
        return await StompClient.open(url, headers, handler)

    run = uuid.uuid4().hex[:8]

    def destinations(room: int) -> tuple[str, str]:
        topic = f"/topic/bench.{run}.room{room}"
        return topic, topic

    return Target("RabbitMQ Web-STOMP", open_client, destinations)


class ChatFlow:
    """Accounts and rooms on a ChatFlow stack, made over its REST API."""

    def __init__(self, http: str, ws: str, users: int, rooms: int) -> None:
        self.http = http
        self.ws = ws
        self.tokens = [self._register() for _ in range(users)]
        self.rooms = [self._post("/api/rooms", {"name": f"bench {n}"}, self.tokens[0])["id"]
                      for n in range(rooms)]  # fmt: skip

    def members(self, room: int, users: list[int]) -> None:
        for user in users:
            if user != 0:
                self._post(f"/api/rooms/{self.rooms[room]}/join", None, self.tokens[user])

    def _post(self, path: str, body: Any, token: str | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else b""
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        for _ in range(60):
            request = urllib.request.Request(self.http + path, data, headers, method="POST")  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                    text = response.read()
                    return json.loads(text) if text else None
            except urllib.error.HTTPError as exc:
                if exc.code != 429:
                    raise RuntimeError(f"POST {path}: {exc.code} {exc.read()[:300]!r}") from exc
                time.sleep(float(exc.headers.get("Retry-After", "1")))
        raise RuntimeError(f"POST {path}: still rate limited")

    def _register(self) -> str:
        name = f"bench{uuid.uuid4().hex[:10]}"
        body = self._post("/api/auth/register", {"username": name, "password": PASSWORD})
        token: str = body["accessToken"]
        return token

    def target(self) -> Target:
        async def open_client(user: int, handler: Handler) -> StompClient:
            ticket = await asyncio.to_thread(
                self._post, "/api/auth/ws-ticket", None, self.tokens[user]
            )
            url = f"{self.ws}/?ticket={ticket['ticket']}"
            return await StompClient.open(url, [("host", "chatflow")], handler)

        def destinations(room: int) -> tuple[str, str]:
            return f"/topic/rooms/{self.rooms[room]}", f"/app/rooms/{self.rooms[room]}"

        return Target("ChatFlow local stack", open_client, destinations)


# -- workloads ---------------------------------------------------------------------------


@dataclass
class LatencyResult:
    samples_ms: list[float]
    wall_s: float

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.samples_ms)
        return {
            "messages": len(ordered),
            "p50_ms": _rank(ordered, 0.50),
            "p90_ms": _rank(ordered, 0.90),
            "p99_ms": _rank(ordered, 0.99),
            "max_ms": ordered[-1],
            "mean_ms": statistics.fmean(ordered),
            "wall_s": self.wall_s,
        }


def _rank(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))]


async def latency(target: Target, messages: int, warmup: int, room: int = 0) -> LatencyResult:
    subscribe_to, send_to = target.destinations(room)
    sent: dict[str, float] = {}
    arrived: dict[str, asyncio.Future[float]] = {}

    def at_b(frame: Frame, now: float) -> None:
        token = target.token_of(frame)
        future = arrived.get(token or "")
        if future is not None and not future.done():
            future.set_result(now)

    a = await target.open_client(0, lambda _f, _t: None)
    b = await target.open_client(1, at_b)
    samples: list[float] = []
    try:
        await a.subscribe(subscribe_to)
        await b.subscribe(subscribe_to)
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        for n in range(warmup + messages):
            token = f"lat-{uuid.uuid4().hex}"
            arrived[token] = loop.create_future()
            sent[token] = time.perf_counter()
            await a.send_frame(
                Frame("SEND", [("destination", send_to)], target.body(token).encode())
            )
            at = await asyncio.wait_for(arrived[token], DELIVERY_TIMEOUT)
            if n == warmup:
                started = sent[token]
            if n >= warmup:
                samples.append((at - sent[token]) * 1000)
        wall = time.perf_counter() - started
    finally:
        await a.close()
        await b.close()
    return LatencyResult(samples, wall)


@dataclass
class ThroughputResult:
    deliveries: int
    expected: int
    sends: int
    seconds: float
    duplicates: int
    cpu_ms_per_send: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        return {
            "sends": self.sends,
            "deliveries": self.deliveries,
            "expected": self.expected,
            "duplicates": self.duplicates,
            "seconds": self.seconds,
            "deliveries_per_s": self.deliveries / self.seconds,
            "sends_per_s": self.sends / self.seconds,
        }


@dataclass
class _Member:
    index: int
    room: int
    client: StompClient | None = None
    seen: set[str] = field(default_factory=set)
    echoed: asyncio.Semaphore | None = None


class _Rounds:
    """The throughput workload's clients, and rounds of SENDs over them.

    A round's tokens start with its own prefix, so a late copy from an earlier round is
    never counted in a later one. A sender's window frees a slot when its own message
    comes back on its subscription.
    """

    def __init__(self, target: Target, clients: int, rooms: int, window: int) -> None:
        self.target = target
        self.members = [_Member(n, n % rooms) for n in range(clients)]
        self.window = window
        self.size = {r: sum(1 for m in self.members if m.room == r) for r in range(rooms)}
        self.prefix = ""
        self.expected = 0
        self.deliveries = 0
        self.duplicates = 0
        self.last = 0.0
        self.done = asyncio.Event()

    def handler_for(self, member: _Member) -> Handler:
        own = f"-{member.index}-"

        def on_message(frame: Frame, now: float) -> None:
            token = self.target.token_of(frame)
            if token is None or not self.prefix or not token.startswith(self.prefix):
                return
            if token in member.seen:
                self.duplicates += 1
                return
            member.seen.add(token)
            self.deliveries += 1
            self.last = now
            if token[len(self.prefix) :].startswith(own) and member.echoed is not None:
                member.echoed.release()
            if self.deliveries >= self.expected:
                self.done.set()

        return on_message

    async def open(self, user_offset: int) -> None:
        opened = await asyncio.gather(
            *(
                self.target.open_client(user_offset + m.index, self.handler_for(m))
                for m in self.members
            )
        )
        for member, client in zip(self.members, opened, strict=True):
            member.client = client
        await asyncio.gather(
            *(
                m.client.subscribe(self.target.destinations(m.room)[0])
                for m in self.members
                if m.client
            )
        )

    async def round(self, prefix: str, per_client: int) -> float:
        """Every client sends ``per_client`` messages; seconds from the first SEND to the
        last delivery (or to the timeout)."""
        self.prefix, self.deliveries, self.duplicates, self.last = prefix, 0, 0, 0.0
        self.expected = sum(per_client * self.size[m.room] for m in self.members)
        self.done.clear()
        for member in self.members:  # fresh windows: a timed-out round leaves slots taken
            member.echoed = asyncio.Semaphore(self.window)

        async def pump(member: _Member) -> None:
            assert member.client is not None and member.echoed is not None
            send_to = self.target.destinations(member.room)[1]
            for n in range(per_client):
                await member.echoed.acquire()
                token = f"{prefix}-{member.index}-{n}-{uuid.uuid4().hex[:8]}"
                body = self.target.body(token).encode()
                await member.client.send_frame(Frame("SEND", [("destination", send_to)], body))

        started = time.perf_counter()
        await asyncio.gather(*(pump(m) for m in self.members))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), DELIVERY_TIMEOUT)
        return (self.last or time.perf_counter()) - started

    async def close(self) -> None:
        await asyncio.gather(*(m.client.close() for m in self.members if m.client))


async def throughput(
    target: Target,
    clients: int,
    rooms: int,
    per_client: int,
    window: int,
    user_offset: int,
    meter: CpuMeter | None = None,
    warmup: int = 0,
) -> ThroughputResult:
    """``warmup`` unmeasured messages per client first: on the local stack they start the
    function workers (a cold start costs the whole machine about a second of CPU) and
    open their connections, as the latency run's warm-up does for one worker."""
    rounds = _Rounds(target, clients, rooms, window)
    await rounds.open(user_offset)
    try:
        if warmup:
            await rounds.round("tw", warmup)
        if meter is not None:
            meter.start()
        seconds = await rounds.round("tp", per_client)
        if meter is not None:
            meter.stop()
    finally:
        await rounds.close()
    sends = clients * per_client
    return ThroughputResult(
        rounds.deliveries,
        rounds.expected,
        sends,
        seconds,
        rounds.duplicates,
        meter.per_send_ms(sends) if meter is not None else {},
    )


def print_cpu(result: ThroughputResult) -> None:
    """The throughput phase's CPU per SEND by process role (the stack is CPU-bound)."""
    if result.cpu_ms_per_send:
        parts = ", ".join(f"{k} {v:.2f}" for k, v in result.cpu_ms_per_send.items())
        print(f"  CPU ms per SEND: {parts}", flush=True)


# -- the local stack -------------------------------------------------------------------


@contextlib.contextmanager
def local_stack(concurrency: int, log_level: str) -> Iterator[tuple[str, str, Path, int]]:
    folder = Path(tempfile.mkdtemp(prefix="chatflow-bench-"))
    http_port, ws_port = free_port(), free_port()
    log_path = folder / "stack.log"
    command = [
        sys.executable, "-m", "local.cli", "local", "up",
        "--state-dir", str(folder / "state"),
        "--http-port", str(http_port), "--ws-port", str(ws_port),
        "--layer-dir", str(ROOT / ".chatflow" / "layer"),
        "--concurrency", str(concurrency), "--log-level", log_level,
    ]  # fmt: skip
    for name, value in BENCH_ENV.items():
        command += ["--env", f"{name}={value}"]
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        endpoints = folder / "state" / "endpoints.json"
        deadline = time.monotonic() + 300
        while not endpoints.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the stack did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        urls = json.loads(endpoints.read_text())
        print(f"local stack: {urls['http']} {urls['ws']} (log {log_path})", flush=True)
        yield urls["http"], urls["ws"], log_path, process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if os.environ.get("CHATFLOW_BENCH_KEEP") is None:
            shutil.rmtree(folder, ignore_errors=True)


_REPORT = re.compile(r"^\[(chatflow-[\w-]+) \S+\] REPORT .*?Duration: ([\d.]+) ms(.*)$", re.M)


def report_durations(log: str, function: str) -> list[float]:
    """Warm invocations' Duration from the stack log's REPORT lines for one function."""
    return [
        float(duration)
        for name, duration, rest in _REPORT.findall(log)
        if name == function and "Init Duration" not in rest
    ]


# -- where the time goes -----------------------------------------------------------------


class _Timer:
    """Wall time, CPU time of the calling thread, and calls of one step, summed."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.calls = 0

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.cpu_seconds += time.thread_time() - cpu
                self.calls += 1

        return timed

    def wrap_pages(self, function: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        """For a generator of pages (one Query each): time the fetch of every page."""

        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            pages = function(*args, **kwargs)
            while True:
                page = self.wrap(next)(pages, None)
                if page is None:
                    self.calls -= 1  # the end of the pages, not a Query
                    return
                yield page

        return timed


def _service_env(log_path: Path) -> dict[str, str]:
    """The functions' environment, rebuilt from what the stack printed and keeps on disk."""
    log = log_path.read_text()
    database = re.search(r"database: (\S+)", log)
    redis_url = re.search(r"redis: (\S+)", log)
    aws = re.search(r"aws: (\S+)", log)
    ws = re.search(r"WebSocket API\s+ws://(\S+)", log)
    assert database and redis_url and aws and ws, "service URLs not found in the stack log"
    state = log_path.parent / "state"
    return {
        "DATABASE_URL": f"postgresql://postgres@{database.group(1)}",
        "REDIS_URL": redis_url.group(1),
        "AWS_ENDPOINT_URL": aws.group(1),
        "CONNECTIONS_TABLE": "chatflow-ConnectionsTable",
        "WS_MANAGEMENT_ENDPOINT": f"http://{ws.group(1)}",
        "JWT_SECRET": (state / "jwt-secret").read_text().strip(),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        **BENCH_ENV,
    }


async def breakdown(log_path: Path, flow: ChatFlow, messages: int) -> dict[str, Any]:
    """Run ws_frame's code path in this process, on the stack's services, timing each step.

    A real sender connection (its id is CONNECTED's ``session``) and a real receiver are
    open on the stack; each SEND is handed to ``StompSession.on_message`` and
    ``Runtime.deliver`` here, as ``handlers.ws_frame`` does, so the @connections posts
    really reach the receiver through the local gateway. The handler runs on a thread with
    no event loop, as in a Lambda worker (the bulk poster then uses its own loop). Each
    step's wall time and CPU time (of that thread) are summed.
    """
    os.environ.update(_service_env(log_path))
    from chatflow.settings import get_settings
    from chatflow.stomp import parse as stomp_parse
    from chatflow.ws.runtime import build_runtime

    runtime = build_runtime(get_settings())
    steps, total = _instrument(runtime)

    def handle(wire: bytes) -> None:
        steps["parse"].wrap(stomp_parse)(wire)
        outcome = total.wrap(runtime.session.on_message)(cid, wire.decode(), None)
        runtime.deliver(cid, outcome)

    target = flow.target()
    room_send = target.destinations(0)[1]
    got: dict[str, asyncio.Future[float]] = {}

    def at_b(frame: Frame, now: float) -> None:
        future = got.get(target.token_of(frame) or "")
        if future is not None and not future.done():
            future.set_result(now)

    a = await target.open_client(0, lambda _f, _t: None)
    b = await target.open_client(1, at_b)
    cid = a.connected.result().header("session") or ""
    await a.subscribe(target.destinations(0)[0])
    await b.subscribe(target.destinations(0)[0])
    loop = asyncio.get_running_loop()
    delivered: list[float] = []
    handled: list[float] = []
    for n in range(messages + 20):
        token = f"bd-{uuid.uuid4().hex}"
        wire = serialize(Frame("SEND", [("destination", room_send)], target.body(token).encode()))
        got[token] = loop.create_future()
        if n == 20:  # warm-up done: start counting
            for timer in (*steps.values(), total):
                timer.reset()
        started = time.perf_counter()
        await asyncio.to_thread(handle, wire)
        finished = time.perf_counter()
        at = await asyncio.wait_for(got[token], DELIVERY_TIMEOUT)
        if n >= 20:
            handled.append((finished - started) * 1000)
            delivered.append((at - started) * 1000)
    await a.close()
    await b.close()
    return _breakdown_summary(steps, total, messages, handled, delivered)


def _instrument(runtime: Any) -> tuple[dict[str, _Timer], _Timer]:
    """Wrap the session's adapters with timers: the bench times the handler's own calls."""
    deps = runtime.session._d
    steps = {name: _Timer() for name in ("parse", "guard", "post", "fanout", "query", "posts")}
    deps.guard.check = steps["guard"].wrap(deps.guard.check)
    deps.messages.post = steps["post"].wrap(deps.messages.post)
    runtime.fanout.to_room = steps["fanout"].wrap(runtime.fanout.to_room)
    table = runtime.table
    table.room_subscriptions = steps["query"].wrap_pages(table.room_subscriptions)
    api = runtime.api
    api.post = steps["posts"].wrap(api.post)
    if hasattr(api, "post_many"):
        api.post_many = steps["posts"].wrap(api.post_many)
    return steps, _Timer()


def _breakdown_summary(
    steps: dict[str, _Timer],
    total: _Timer,
    messages: int,
    handled: list[float],
    delivered: list[float],
) -> dict[str, Any]:
    per_message = {name: timer.seconds * 1000 / messages for name, timer in steps.items()}
    cpu = {name: timer.cpu_seconds * 1000 / messages for name, timer in steps.items()}
    result = {
        "messages": messages,
        "handler_p50_ms": statistics.median(handled),
        "delivered_p50_ms": statistics.median(delivered),
        "on_message_ms": total.seconds * 1000 / messages,
        "on_message_cpu_ms": total.cpu_seconds * 1000 / messages,
        "per_message_ms": per_message,
        "cpu_per_message_ms": cpu,
        "calls_per_message": {n: t.calls / messages for n, t in steps.items()},
        "pg_append_ms": per_message["post"] - per_message["fanout"],
        "pg_append_cpu_ms": cpu["post"] - cpu["fanout"],
    }
    print("  breakdown (ms per message): " + json.dumps(result, default=float)[:2000])
    return result


# -- main ---------------------------------------------------------------------------------


async def run_target(target: Target, args: argparse.Namespace, results: dict[str, Any]) -> None:
    print(
        f"\n{target.name}: latency, {args.messages} messages (+{args.warmup} warm-up)", flush=True
    )
    lat = (await latency(target, args.messages, args.warmup)).summary()
    print("  " + ", ".join(f"{k} {v:.2f}" for k, v in lat.items()), flush=True)
    print(
        f"{target.name}: throughput, {args.clients} clients in {args.rooms} rooms, "
        f"{args.per_client} messages each",
        flush=True,
    )
    meter = CpuMeter(rabbitmq_pids())
    done = await throughput(
        target, args.clients, args.rooms, args.per_client, args.window, 2, meter, args.tp_warmup
    )
    tp = done.summary()
    print("  " + ", ".join(f"{k} {v:.1f}" for k, v in tp.items()), flush=True)
    print_cpu(done)
    results[target.name] = {
        "latency": lat,
        "throughput": tp,
        "cpu_ms_per_send": done.cpu_ms_per_send,
    }


def chatflow_phase(http: str, ws: str, args: argparse.Namespace, results: dict[str, Any],
                   log_path: Path | None, stack_pid: int | None) -> None:  # fmt: skip
    flow = ChatFlow(http, ws, users=2 + args.clients, rooms=1 + args.rooms)
    flow.members(0, [0, 1])
    for member in range(args.clients):
        flow.members(1 + member % args.rooms, [2 + member])
    target = flow.target()

    async def go() -> None:
        print(f"\n{target.name}: latency, {args.messages} messages (+{args.warmup} warm-up)")
        before = await asyncio.to_thread(log_path.read_text) if log_path else ""
        lat = (await latency(target, args.messages, args.warmup, room=0)).summary()
        after = await asyncio.to_thread(log_path.read_text) if log_path else ""
        print("  " + ", ".join(f"{k} {v:.2f}" for k, v in lat.items()), flush=True)
        frame_ms = report_durations(after[len(before) :], "chatflow-ws-frame")
        entry: dict[str, Any] = {"latency": lat}
        if frame_ms:
            ordered = sorted(frame_ms)
            entry["ws_frame_report"] = {
                "invocations": len(ordered),
                "p50_ms": _rank(ordered, 0.5),
                "p99_ms": _rank(ordered, 0.99),
            }
            print(f"  ws-frame REPORT Duration: {entry['ws_frame_report']}")
        print(f"{target.name}: throughput, {args.clients} clients in {args.rooms} rooms, "
              f"{args.per_client} messages each")  # fmt: skip
        rooms_from_1 = Target(target.name, target.open_client, lambda r: target.destinations(r + 1))
        meter = CpuMeter([stack_pid] if stack_pid is not None else [])
        done = await throughput(
            rooms_from_1,
            args.clients,
            args.rooms,
            args.per_client,
            args.window,
            2,
            meter,
            args.tp_warmup,
        )
        tp = done.summary()
        print("  " + ", ".join(f"{k} {v:.1f}" for k, v in tp.items()), flush=True)
        print_cpu(done)
        entry["throughput"] = tp
        entry["cpu_ms_per_send"] = done.cpu_ms_per_send
        results[target.name] = entry

    asyncio.run(go())
    if args.breakdown and log_path is not None:
        results["breakdown"] = asyncio.run(breakdown(log_path, flow, args.breakdown_messages))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--http", help="a running stack's REST URL (else one is started)")
    parser.add_argument("--ws", help="a running stack's WebSocket URL")
    parser.add_argument("--rabbitmq", default="ws://127.0.0.1:15674/ws")
    parser.add_argument("--skip-rabbitmq", action="store_true")
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rooms", type=int, default=5)
    parser.add_argument("--per-client", type=int, default=100)
    parser.add_argument("--window", type=int, default=4)
    parser.add_argument(
        "--tp-warmup", type=int, default=10, help="unmeasured messages per client first"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="workers per function")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--breakdown", action="store_true", help="time each handler step")
    parser.add_argument("--breakdown-messages", type=int, default=200)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"args": vars(args) | {"json": str(args.json)}}

    if args.http and args.ws:
        chatflow_phase(args.http.rstrip("/"), args.ws.rstrip("/"), args, results, None, None)
    else:
        with local_stack(args.concurrency, args.log_level) as (http, ws, log_path, pid):
            chatflow_phase(http, ws, args, results, log_path, pid)
    if not args.skip_rabbitmq:
        asyncio.run(run_target(rabbitmq_target(args.rabbitmq), args, results))

    ours = results["ChatFlow local stack"]
    p50 = ours["latency"]["p50_ms"]
    rate = ours["throughput"]["deliveries_per_s"]
    print(f"\nChatFlow: p50 {p50:.2f} ms (target <= {TARGET_P50_MS}), "
          f"{rate:.0f} deliveries/s (target >= {TARGET_DELIVERIES:.0f})")  # fmt: skip
    peer = results.get("RabbitMQ Web-STOMP")
    if peer:
        print(
            f"ratio to RabbitMQ: p50 x{p50 / peer['latency']['p50_ms']:.1f}, "
            f"p99 x{ours['latency']['p99_ms'] / peer['latency']['p99_ms']:.1f}, "
            f"deliveries/s x{rate / peer['throughput']['deliveries_per_s']:.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if p50 <= TARGET_P50_MS and rate >= TARGET_DELIVERIES else 1


if __name__ == "__main__":
    raise SystemExit(main())
