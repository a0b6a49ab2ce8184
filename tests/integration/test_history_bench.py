"""The history benchmark at a small scale: what it loads, and the plans it measures.

The full run (docs/benchmarks.md) reports times; here we check what must hold whatever the
machine: the generated data is consistent with the schema's keys, keyset and OFFSET return
the same page, and the keyset query walks messages_pkey backwards with no sort and no scan
of the whole table. Counts and plan shapes only, never times.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from bench.history import (
    PAGE,
    Dataset,
    Result,
    Scale,
    create_database,
    drop_database,
    explain,
    keyset_problems,
    load,
    make_dataset,
    measure,
    page_seqs,
    plan_nodes,
    query,
    svg,
    vacuum_analyze,
)

pytestmark = pytest.mark.integration

SCALE = Scale(
    messages=20_000,
    big_room=10_000,
    other_rooms=12,
    users=60,
    big_room_members=40,
    members_per_room=5,
)
DEPTHS = (0, 1_000, 9_000)


@pytest.fixture(scope="module")
def loaded(pg_server_url: str) -> Iterator[tuple[str, Dataset]]:
    """One database for the module; foreign keys checked, chunks that split the rooms."""
    url = create_database(pg_server_url)
    data = make_dataset(SCALE)
    try:
        load(url, data, lambda _line: None, check_fks=True, chunk=7_000)
        vacuum_analyze(url)
        yield url, data
    finally:
        drop_database(pg_server_url, url)


def one(conn: psycopg.Connection[Any], text: str, *params: Any) -> Any:
    row = conn.execute(text, params).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


def test_load_puts_every_message_in_its_room_in_seq_order(loaded: tuple[str, Dataset]) -> None:
    url, data = loaded
    with psycopg.connect(url) as conn:
        assert one(conn, "SELECT count(*), count(DISTINCT id) FROM messages") == (20_000, 20_000)
        big = one(
            conn,
            "SELECT count(*), min(seq), max(seq) FROM messages WHERE room_id = %s",
            data.big_room,
        )
        assert big == (10_000, 1, 10_000)
        per_room = conn.execute(
            "SELECT count(*), min(seq), max(seq) FROM messages WHERE room_id <> %s"
            " GROUP BY room_id",
            (data.big_room,),
        ).fetchall()
        assert len(per_room) == SCALE.other_rooms
        assert all(count == last and first == 1 for count, first, last in per_room)


def test_rooms_last_seq_and_memberships_agree_with_messages(loaded: tuple[str, Dataset]) -> None:
    url, _ = loaded
    with psycopg.connect(url) as conn:
        wrong_last_seq = one(
            conn,
            "SELECT count(*) FROM rooms r WHERE r.last_seq <>"
            " (SELECT coalesce(max(seq), 0) FROM messages m WHERE m.room_id = r.id)",
        )
        senders_not_members = one(
            conn,
            "SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM room_members rm"
            " WHERE rm.room_id = m.room_id AND rm.user_id = m.sender_id)",
        )
        owners = one(conn, "SELECT count(*) FROM room_members WHERE role = 'owner'")
    assert wrong_last_seq == 0
    assert senders_not_members == 0
    assert owners == SCALE.other_rooms + 1


@pytest.mark.parametrize("depth", DEPTHS)
def test_keyset_plan_walks_the_primary_key_backwards(
    loaded: tuple[str, Dataset], depth: int
) -> None:
    url, data = loaded
    with psycopg.connect(url, autocommit=True) as conn:
        plan = explain(conn, *query("keyset", data.big_room, data.last_seq(-1), depth))
    nodes = list(plan_nodes(plan))
    on_messages = [n for n in nodes if n.get("Relation Name") == "messages"]
    # Exactly one access to messages, and it is the primary key: no Seq Scan, no bitmap scan.
    assert [(n["Node Type"], n["Index Name"], n["Scan Direction"]) for n in on_messages] == [
        ("Index Scan", "messages_pkey", "Backward")
    ]
    assert on_messages[0]["Actual Rows"] == PAGE + 1
    assert not [n for n in nodes if "Sort" in n["Node Type"]]
    assert plan["Plan"]["Node Type"] == "Limit"
    assert plan["Plan"]["Actual Rows"] == PAGE + 1


@pytest.mark.parametrize("depth", DEPTHS)
def test_keyset_and_offset_return_the_same_page(loaded: tuple[str, Dataset], depth: int) -> None:
    url, data = loaded
    with psycopg.connect(url) as conn:
        keyset = page_seqs(conn, "keyset", data, depth)
        offset = page_seqs(conn, "offset", data, depth)
    newest = SCALE.big_room - depth
    assert offset == list(range(newest, newest - PAGE, -1))
    assert keyset == [*offset, newest - PAGE]


def test_measure_reports_every_run_of_both_queries(loaded: tuple[str, Dataset]) -> None:
    url, data = loaded
    lines: list[str] = []
    results = measure(url, data, DEPTHS, warmups=1, runs=3, progress=lines.append)
    assert [(r.kind, r.depth) for r in results] == [
        (kind, depth) for depth in DEPTHS for kind in ("keyset", "offset")
    ]
    assert all(len(r.times_ms) == 3 for r in results)
    assert [r.rows for r in results] == [PAGE + 1, PAGE] * len(DEPTHS)
    assert len(lines) == 2 * len(DEPTHS)


def result(kind: str, depth: int, *times: float) -> Result:
    return Result(kind, depth, list(times))


def test_keyset_target_needs_sub_millisecond_and_flat_medians() -> None:
    fast_flat = [result("keyset", 0, 0.2, 0.3, 0.25), result("keyset", 10**6, 0.3, 0.4, 0.35)]
    offset_slow = [result("offset", 10**6, 900.0)]
    assert keyset_problems(fast_flat + offset_slow) == []
    too_slow = [result("keyset", 0, 0.9), result("keyset", 10**6, 1.2)]
    assert [p.split(" at ")[0] for p in keyset_problems(too_slow)] == ["keyset median 1.200 ms"]
    not_flat = [result("keyset", 0, 0.1), result("keyset", 10**6, 0.25)]
    assert [p.split(":")[0] for p in keyset_problems(not_flat)] == ["keyset is not flat"]


def test_median_and_nearest_rank_p95() -> None:
    runs = result("keyset", 0, 7.0, 1.0, 3.0, 2.0, 6.0, 4.0, 5.0)
    assert (runs.median, runs.p95) == (4.0, 7.0)
    assert result("keyset", 0, 1.0, 3.0).median == 2.0


def test_svg_draws_one_line_and_one_point_per_result() -> None:
    results = [
        result(kind, depth, 0.1 if kind == "keyset" else depth / 1000 + 0.1)
        for depth in DEPTHS
        for kind in ("keyset", "offset")
    ]
    root = ET.fromstring(svg(results))  # noqa: S314 - our own output
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}polyline")) == 2
    assert len(root.findall(f"{ns}circle")) == len(results) + 2  # points and the legend
