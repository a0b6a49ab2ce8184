"""History pages: keyset (``seq < cursor``) against OFFSET, deep into a 2-million-message room.

History is keyset-paginated on ``(room_id, seq)``, never OFFSET (docs/architecture.md, "Data
model"). This script shows why with numbers: it loads 10 million messages (one room of 2
million, the rest spread over 800 rooms, arriving interleaved as they would in production)
into the real schema with COPY, then asks PostgreSQL for a 50-message page at increasing
depths, by the exact query the API runs and by its OFFSET equivalent. Times are the server's
own ``Execution Time`` from ``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)``, so network and
driver costs do not blur them.

The keyset page must stay under 1 ms at every depth and be flat (deepest page at most twice
the newest one); the script exits 1 when it is not.

    .venv/bin/python -m bench.history                      # full run, embedded PostgreSQL
    .venv/bin/python -m bench.history --messages 200000 --big-room 50000 --depths 0,1000,40000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from chatflow.db.migrate import apply_migrations
from chatflow.domain.rows import MESSAGE_SELECT

PAGE = 50
MESSAGES = 10_000_000
BIG_ROOM = 2_000_000
OTHER_ROOMS = 800
# The API's newest-first page (MessageService.history): one row more than the page tells
# whether there is an older page; without a cursor the bound is 2**62.
KEYSET_SQL = MESSAGE_SELECT + " WHERE m.room_id = %s AND m.seq < %s ORDER BY m.seq DESC LIMIT %s"
OFFSET_SQL = MESSAGE_SELECT + " WHERE m.room_id = %s ORDER BY m.seq DESC OFFSET %s LIMIT %s"
NO_CURSOR = 2**62
KEYSET_BUDGET_MS = 1.0
FLATNESS = 2.0
COPY_MESSAGES = "COPY messages (room_id, seq, id, sender_id, kind, body) FROM STDIN"
# Not a bcrypt hash, so no benchmark user can ever log in.
NO_PASSWORD = "!"

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Scale:
    """How much to load: ``messages`` in all, ``big_room`` of them in one room."""

    messages: int = MESSAGES
    big_room: int = BIG_ROOM
    other_rooms: int = OTHER_ROOMS
    users: int = 2_000
    big_room_members: int = 1_000
    members_per_room: int = 8

    def __post_init__(self) -> None:
        if not 0 < self.big_room <= self.messages:
            raise ValueError("big_room must be between 1 and messages")
        if self.messages > self.big_room and self.other_rooms < 1:
            raise ValueError("messages outside the big room need other rooms")
        if self.users < max(self.big_room_members, self.members_per_room):
            raise ValueError("not enough users for the room memberships")


@dataclass(frozen=True, slots=True)
class Dataset:
    """What was loaded: the big room and every room's members (the senders)."""

    scale: Scale
    big_room: uuid.UUID
    rooms: list[uuid.UUID]  # other rooms
    users: list[uuid.UUID]
    id_prefix: str = field(default="")

    def members(self, room_index: int) -> list[uuid.UUID]:
        """Members of other room ``room_index``; -1 is the big room."""
        if room_index < 0:
            return self.users[: self.scale.big_room_members]
        start = room_index * 7
        count = len(self.users)
        return [self.users[(start + j) % count] for j in range(self.scale.members_per_room)]

    def last_seq(self, room_index: int) -> int:
        """Messages in a room, known before loading because the arrival order is fixed."""
        if room_index < 0:
            return self.scale.big_room
        rest = self.scale.messages - self.scale.big_room
        return rest // len(self.rooms) + (1 if room_index < rest % len(self.rooms) else 0)


def make_dataset(scale: Scale, seed: int = 7) -> Dataset:
    rng = random.Random(seed)

    def new_id() -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    users = [new_id() for _ in range(scale.users)]
    rooms = [new_id() for _ in range(scale.other_rooms)]
    # Message ids: a per-dataset prefix and the arrival number, a valid and unique uuid text.
    prefix = str(new_id())[:24]
    return Dataset(scale=scale, big_room=new_id(), rooms=rooms, users=users, id_prefix=prefix)


def _bodies(seed: int = 11, count: int = 997) -> list[str]:
    """Chat-like bodies of 3 to 30 words; no tab, newline or backslash, so COPY needs no escape."""
    words: tuple[str, ...] = (
        "the",
        "deploy",
        "is",
        "green",
        "now",
        "can",
        "you",
        "check",
        "staging",
        "logs",
    )
    words += ("again", "after", "lunch", "ok", "thanks", "ship", "it", "tomorrow", "review")
    words += ("please", "merged", "fixed", "flaky", "test", "on", "main", "who", "owns", "alert")
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 30))) for _ in range(count)]


BODIES = _bodies()


def message_rows(data: Dataset, start: int, stop: int) -> str:
    """COPY text for arrivals ``start``..``stop``, computed from the arrival number alone.

    Big-room messages are spread evenly through the arrival order (every fifth message at the
    default scale) and the rest go round-robin to the other rooms, so a room's rows are
    scattered over the heap as in production, not packed together as a per-room load would.
    """
    total, big = data.scale.messages, data.scale.big_room
    big_room, big_senders = str(data.big_room), [str(u) for u in data.members(-1)]
    rooms = [str(r) for r in data.rooms]
    senders = [[str(u) for u in data.members(k)] for k in range(len(rooms))]
    n_rooms, n_bodies, prefix = len(rooms), len(BODIES), data.id_prefix
    out: list[str] = []
    append = out.append
    for i in range(start, stop):
        big_before = i * big // total
        if (i + 1) * big // total > big_before:
            room, seq, who = big_room, big_before + 1, big_senders
        else:
            c = i - big_before
            room, seq, who = rooms[c % n_rooms], c // n_rooms + 1, senders[c % n_rooms]
        sender = who[seq % len(who)]
        append(f"{room}\t{seq}\t{prefix}{i:012x}\t{sender}\tmessage\t{BODIES[i % n_bodies]}\n")
    return "".join(out)


# --- database ------------------------------------------------------------------------------


def create_database(server_url: str) -> str:
    """A fresh database on the server, migrated with the project's own migrations."""
    name = f"chatflow_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(server_url, dbname=name)
    apply_migrations(url)
    return url


def drop_database(server_url: str, url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name)))
        )


def load(
    url: str, data: Dataset, progress: Progress, check_fks: bool = True, chunk: int = 1_000_000
) -> float:
    """Users, rooms (with their final last_seq), members, then messages; returns seconds.

    Messages go in COPY statements of ``chunk`` rows, made one step ahead in a thread, so
    Python makes the next rows while the server stores the last ones. With
    ``check_fks=False`` the foreign key triggers do not fire during the message COPY (as
    ``pg_restore --disable-triggers`` does; superuser only): on a 2-core machine they double
    the load time, and the rows
    reference users and rooms loaded just before from the same lists. Indexes are always
    maintained, as the schema defines them.
    """
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        _load_people_and_rooms(conn, data)
        if not check_fks:
            conn.execute("SET session_replication_role = replica")
        total, step = data.scale.messages, 100_000
        for start in range(0, total, chunk):
            stop = min(start + chunk, total)
            parts = (message_rows(data, p, min(p + step, stop)) for p in range(start, stop, step))
            with conn.cursor() as cur, cur.copy(COPY_MESSAGES) as copy:
                for text in prefetch(parts):
                    copy.write(text)
            spent = time.perf_counter() - started
            progress(f"loaded {stop:>11,} / {total:,} messages  {spent:6.1f} s")
        conn.execute("RESET session_replication_role")
    return time.perf_counter() - started


def prefetch(items: Iterator[str], ahead: int = 2) -> Iterator[str]:
    """Yield ``items`` while a thread computes up to ``ahead`` more (memory stays bounded)."""
    box: queue.Queue[tuple[str, BaseException | None] | None] = queue.Queue(maxsize=ahead)

    def produce() -> None:
        try:
            for item in items:
                box.put((item, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            box.put(("", exc))
        box.put(None)

    threading.Thread(target=produce, daemon=True).start()
    while (got := box.get()) is not None:
        item, error = got
        if error is not None:
            raise error
        yield item


def _load_people_and_rooms(conn: psycopg.Connection[Any], data: Dataset) -> None:
    with (
        conn.cursor() as cur,
        cur.copy("COPY users (id, username, display_name, password_hash) FROM STDIN") as copy,
    ):
        for n, user in enumerate(data.users):
            copy.write_row((user, f"user{n}", f"User {n}", NO_PASSWORD))
    with (
        conn.cursor() as cur,
        cur.copy("COPY rooms (id, name, visibility, created_by, last_seq) FROM STDIN") as copy,
    ):
        copy.write_row((data.big_room, "big", "public", data.users[0], data.last_seq(-1)))
        for k, room in enumerate(data.rooms):
            copy.write_row((room, f"room{k}", "public", data.members(k)[0], data.last_seq(k)))
    with (
        conn.cursor() as cur,
        cur.copy("COPY room_members (room_id, user_id, role) FROM STDIN") as copy,
    ):
        for k, room in [(-1, data.big_room), *enumerate(data.rooms)]:
            for j, user in enumerate(data.members(k)):
                copy.write_row((room, user, "owner" if j == 0 else "member"))


def vacuum_analyze(url: str) -> float:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) users, rooms, room_members, messages")
    return time.perf_counter() - started


def sizes(url: str) -> dict[str, int]:
    """Bytes on disk of the messages table and of each of its indexes."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """SELECT 'messages (heap)', pg_relation_size('messages')
               UNION ALL
               SELECT indexrelid::regclass::text, pg_relation_size(indexrelid)
               FROM pg_index WHERE indrelid = 'messages'::regclass"""
        ).fetchall()
    return {str(name): int(size) for name, size in rows}


# --- measuring -----------------------------------------------------------------------------


@dataclass(slots=True)
class Result:
    """One query kind at one depth: every measured Execution Time and the last plan."""

    kind: str  # "keyset" | "offset"
    depth: int
    times_ms: list[float] = field(default_factory=list)
    plan: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        ordered = sorted(self.times_ms)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

    @property
    def p95(self) -> float:
        """Nearest rank: with 7 runs this is the slowest one."""
        ordered = sorted(self.times_ms)
        return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]

    @property
    def rows(self) -> int:
        return int(self.plan["Plan"]["Actual Rows"])

    @property
    def buffers(self) -> tuple[int, int]:
        root = self.plan["Plan"]
        return int(root.get("Shared Hit Blocks", 0)), int(root.get("Shared Read Blocks", 0))


def query(kind: str, room: uuid.UUID, last_seq: int, depth: int) -> tuple[str, tuple[Any, ...]]:
    """The page ``depth`` messages below the newest, as the API asks for it or by OFFSET."""
    if kind == "keyset":
        before = NO_CURSOR if depth == 0 else last_seq - depth + 1
        return KEYSET_SQL, (room, before, PAGE + 1)
    return OFFSET_SQL, (room, depth, PAGE)


def explain(conn: psycopg.Connection[Any], text: str, params: tuple[Any, ...]) -> dict[str, Any]:
    """The JSON plan of one execution, with its own Execution Time and buffer counts."""
    row = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + text, params).fetchone()
    assert row is not None
    value = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    plan: dict[str, Any] = value[0]
    return plan


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a plan (``node`` is the top-level object or any ``Plan``), depth first."""
    current = node.get("Plan", node)
    yield current
    for child in current.get("Plans", []):
        yield from plan_nodes(child)


def page_seqs(conn: psycopg.Connection[Any], kind: str, data: Dataset, depth: int) -> list[int]:
    """The seqs the query returns, newest first, to check both kinds return the same page."""
    text, params = query(kind, data.big_room, data.last_seq(-1), depth)
    return [int(r[1]) for r in conn.execute(text, params).fetchall()]


def measure(
    url: str, data: Dataset, depths: Sequence[int], warmups: int, runs: int, progress: Progress
) -> list[Result]:
    """Keyset and OFFSET side by side at each depth, alternating, after ``warmups`` rounds."""
    results: list[Result] = []
    last_seq = data.last_seq(-1)
    with psycopg.connect(url, autocommit=True) as conn:
        for depth in depths:
            keyset, offset = (
                page_seqs(conn, "keyset", data, depth),
                page_seqs(conn, "offset", data, depth),
            )
            if keyset[:PAGE] != offset or (offset and offset[0] != last_seq - depth):
                raise RuntimeError(f"keyset and OFFSET disagree at depth {depth}")
            pair = [Result("keyset", depth), Result("offset", depth)]
            for round_ in range(warmups + runs):
                for result in pair:
                    plan = explain(conn, *query(result.kind, data.big_room, last_seq, depth))
                    if round_ >= warmups:
                        result.times_ms.append(float(plan["Execution Time"]))
                        result.plan = plan
            for result in pair:
                progress(
                    f"depth {depth:>9,}  {result.kind:<6}  median {result.median:9.3f} ms"
                    f"  p95 {result.p95:9.3f} ms"
                )
            results.extend(pair)
    return results


def keyset_problems(results: Sequence[Result]) -> list[str]:
    """Why the keyset target is missed (empty when it is met): < 1 ms, and flat within 2x."""
    keyset = sorted((r for r in results if r.kind == "keyset"), key=lambda r: r.depth)
    problems = [
        f"keyset median {r.median:.3f} ms at depth {r.depth:,} is not under {KEYSET_BUDGET_MS} ms"
        for r in keyset
        if r.median >= KEYSET_BUDGET_MS
    ]
    if len(keyset) > 1 and keyset[-1].median > FLATNESS * keyset[0].median:
        problems.append(
            f"keyset is not flat: {keyset[-1].median:.3f} ms at depth {keyset[-1].depth:,} "
            f"> {FLATNESS:g} x {keyset[0].median:.3f} ms at depth {keyset[0].depth:,}"
        )
    return problems


# --- reporting -----------------------------------------------------------------------------


def table(results: Sequence[Result]) -> str:
    lines = [
        "| depth | query | median ms | p95 ms | rows | shared hit | shared read |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        hit, read = r.buffers
        lines.append(
            f"| {r.depth:,} | {r.kind} | {r.median:.3f} | {r.p95:.3f} | {r.rows} "
            f"| {hit:,} | {read:,} |"
        )
    return "\n".join(lines)


def svg(results: Sequence[Result], width: int = 640, height: int = 380) -> str:
    """Median Execution Time (p95 as a whisker) against depth, log-scale time axis."""
    depths = sorted({r.depth for r in results})
    values = [v for r in results for v in (r.median, r.p95)] + [KEYSET_BUDGET_MS]
    low = math.floor(math.log10(min(values)))
    high = math.ceil(math.log10(max(values)))
    high = max(high, low + 1)
    left, right, top, bottom = 70, 190, 40, 50
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(depth: int) -> float:
        step = plot_w / max(len(depths), 1)
        return left + step * (depths.index(depth) + 0.5)

    def y(ms: float) -> float:
        return top + plot_h * (high - math.log10(ms)) / (high - low)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14">50-message history page: server execution '
        "time vs depth</text>",
    ]
    for exp in range(low, high + 1):
        gy = y(10.0**exp)
        parts.append(
            f'<line x1="{left}" y1="{gy:.1f}" x2="{left + plot_w}" y2="{gy:.1f}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{left - 8}" y="{gy + 4:.1f}" text-anchor="end">{10.0**exp:g} ms</text>'
        )
    budget = y(KEYSET_BUDGET_MS)
    parts.append(
        f'<line x1="{left}" y1="{budget:.1f}" x2="{left + plot_w}" y2="{budget:.1f}" '
        'stroke="#2a7" stroke-dasharray="6 4"/>'
    )
    parts.append(
        f'<text x="{left + plot_w + 6}" y="{budget + 4:.1f}" fill="#2a7">keyset budget</text>'
    )
    parts.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>'
    )
    for depth in depths:
        parts.append(
            f'<text x="{x(depth):.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
            f"{depth:,}</text>"
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 10}" text-anchor="middle">'
        "depth (messages newer than the page)</text>"
    )
    for n, (kind, colour) in enumerate((("keyset", "#1f5fbf"), ("offset", "#d2461e"))):
        series = sorted((r for r in results if r.kind == kind), key=lambda r: r.depth)
        points = " ".join(f"{x(r.depth):.1f},{y(r.median):.1f}" for r in series)
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        for r in series:
            cx = x(r.depth)
            parts.append(
                f'<line x1="{cx:.1f}" y1="{y(r.median):.1f}" x2="{cx:.1f}" y2="{y(r.p95):.1f}" '
                f'stroke="{colour}"/>'
            )
            parts.append(f'<circle cx="{cx:.1f}" cy="{y(r.median):.1f}" r="4" fill="{colour}"/>')
            below = 16 if kind == "keyset" else -8  # labels on either side of the lines
            side = 'text-anchor="end"' if r.depth == depths[-1] else ""
            dx = -8 if side else 8
            parts.append(
                f'<text x="{cx + dx:.1f}" y="{y(r.median) + below:.1f}" fill="{colour}" {side}>'
                f"{_ms(r.median)} ms</text>"
            )
        label = "keyset: seq &lt; cursor" if kind == "keyset" else "OFFSET depth"
        ly = top + 12 + 20 * n
        parts.append(
            f'<circle cx="{left + plot_w + 12}" cy="{ly - 4}" r="4" fill="{colour}"/>'
            f'<text x="{left + plot_w + 22}" y="{ly}">{label}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _ms(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def server_facts(url: str) -> dict[str, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("SELECT version()").fetchone()
        facts = {"version": str(version[0]) if version else "?"}
        for name in ("fsync", "shared_buffers", "jit", "work_mem"):
            row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
            facts[name] = str(row[0]) if row else "?"
    return facts


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def text_plan(url: str, data: Dataset, depth: int) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        text, params = query("keyset", data.big_room, data.last_seq(-1), depth)
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + text, params).fetchall()
    return "\n".join(str(r[0]) for r in rows)


# --- command line --------------------------------------------------------------------------


def _depths(text: str) -> list[int]:
    return sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", help="an existing server (a database is made in it)")
    parser.add_argument("--messages", type=int, default=MESSAGES)
    parser.add_argument("--big-room", type=int, default=BIG_ROOM)
    parser.add_argument("--rooms", type=int, default=OTHER_ROOMS, help="other rooms")
    parser.add_argument("--depths", type=_depths, default=[0, 10_000, 1_000_000])
    parser.add_argument("--warmups", type=int, default=2)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--check-fks", action="store_true", help="fire foreign-key triggers while loading (slower)"
    )
    parser.add_argument("--plot", type=Path, help="write an SVG chart here")
    parser.add_argument("--json", type=Path, help="write the raw numbers here")
    return parser.parse_args(argv)


def run(server_url: str, args: argparse.Namespace, embedded: bool) -> int:
    scale = Scale(messages=args.messages, big_room=args.big_room, other_rooms=args.rooms)
    too_deep = [d for d in args.depths if d + PAGE + 1 > scale.big_room]
    if too_deep:
        raise SystemExit(f"depths {too_deep} leave no full page in a room of {scale.big_room:,}")
    say = print_progress
    url = create_database(server_url)
    try:
        if embedded:
            # Our own throwaway server: fewer checkpoints while loading. Reads are unaffected.
            with psycopg.connect(server_url, autocommit=True) as conn:
                conn.execute("ALTER SYSTEM SET max_wal_size = '8GB'")
                conn.execute("ALTER SYSTEM SET maintenance_work_mem = '512MB'")
                conn.execute("SELECT pg_reload_conf()")
        facts = server_facts(url)
        say(f"machine: {os.cpu_count()} cores, {cpu_model()}")
        say(f"server: {facts['version']}")
        say(", ".join(f"{k}={v}" for k, v in facts.items() if k != "version"))
        data = make_dataset(scale)
        say(f"loading {scale.messages:,} messages ({scale.big_room:,} in one room) with COPY")
        loaded = load(url, data, say, check_fks=args.check_fks)
        say(f"load: {loaded:.1f} s ({scale.messages / loaded:,.0f} messages/s)")
        vacuumed = vacuum_analyze(url)
        say(f"VACUUM ANALYZE: {vacuumed:.1f} s")
        for name, size in sizes(url).items():
            say(f"size {name}: {size / 2**20:,.0f} MiB")
        results = measure(url, data, args.depths, args.warmups, args.runs, say)
        print(table(results))
        print(f"\nkeyset plan at depth {max(args.depths):,}:")
        print(text_plan(url, data, max(args.depths)))
        if args.plot is not None:
            args.plot.parent.mkdir(parents=True, exist_ok=True)
            args.plot.write_text(svg(results))
            say(f"wrote {args.plot}")
        if args.json is not None:
            record = {
                "cores": os.cpu_count(),
                "cpu": cpu_model(),
                "server": facts,
                "scale": {"messages": scale.messages, "big_room": scale.big_room},
                "load_s": loaded,
                "vacuum_s": vacuumed,
                "sizes": sizes(url),
                "results": [
                    {"kind": r.kind, "depth": r.depth, "times_ms": r.times_ms, "rows": r.rows}
                    for r in results
                ],
            }
            args.json.write_text(json.dumps(record, indent=1) + "\n")
            say(f"wrote {args.json}")
    finally:
        drop_database(server_url, url)
    problems = keyset_problems(results)
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    if not problems:
        print(f"OK: keyset under {KEYSET_BUDGET_MS} ms and flat within {FLATNESS:g}x")
    return 1 if problems else 0


def print_progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.database_url:
        return run(args.database_url, args, embedded=False)
    from local.services import EmbeddedPostgres

    folder = Path(tempfile.mkdtemp(prefix="chatflow-bench-", dir="/tmp"))
    try:
        # fsync is off on the embedded server (local/services.py) unless CHATFLOW_PG_FSYNC=on:
        # it speeds up the load and does not change the cached reads being measured.
        with EmbeddedPostgres(folder / "pg") as server:
            assert isinstance(server, EmbeddedPostgres)
            return run(server.url, args, embedded=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
