"""Delivery check of a load run against what PostgreSQL stored.

The stored history of each room (read over REST, keyset pages ``after=``) is the truth. Every
client subscribed before the first SEND of the run, so it must have received every event
stored in its room after the room's ``lastSeq`` at that moment (the baseline): exactly once,
and nothing else. Arrival order is reported, not required: concurrent deliveries may arrive
out of order, and clients sort by ``seq`` (docs/protocol.md §5). Every SEND that got a
RECEIPT must be stored under the receipt's ``x-seq`` with its body, and every stored message
of the run must be one that a client sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.load_clients import Client

PAGE = 100


@dataclass
class Verification:
    stored_events: int = 0  # stored after the baseline, all rooms (messages and system events)
    stored_messages: int = 0
    expected: int = 0  # sum over clients of the events stored in their room
    delivered: int = 0  # expected events received at least once
    missing_open: int = 0  # expected, not received, on clients open to the end: lost
    missing_closed: int = 0  # not received by clients that the server closed early
    duplicates: int = 0
    out_of_order: int = 0  # arrivals with a seq below one that arrived before
    unexpected: int = 0  # received events that are not in the stored history after the baseline
    content_mismatches: int = 0  # a MESSAGE whose body differs from another copy of its seq
    sends: int = 0
    receipted: int = 0
    duplicate_receipts: int = 0
    receipted_not_stored: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    unanswered: int = 0
    unanswered_stored: int = 0
    stored_not_sent: int = 0
    closed_early: int = 0

    @property
    def ok(self) -> bool:
        """No loss, no duplicate, nothing unexpected, every receipt stored, nothing invented."""
        return not (
            self.missing_open
            or self.duplicates
            or self.unexpected
            or self.content_mismatches
            or self.receipted_not_stored
            or self.stored_not_sent
        )

    def as_dict(self) -> dict[str, Any]:
        values = dict(self.__dict__)
        values["refused"] = dict(self.refused)
        values["ok"] = self.ok
        return values


async def stored_history(
    http: httpx.AsyncClient, token: str, room_id: str, after: int
) -> list[dict[str, Any]]:
    """Every event stored in the room with ``seq > after``, ascending, page by page."""
    events: list[dict[str, Any]] = []
    cursor: int | None = after
    while cursor is not None:
        response = await http.get(
            f"/api/rooms/{room_id}/messages",
            params={"after": cursor, "limit": PAGE},
            headers={"Authorization": f"Bearer {token}"},
        )
        response.raise_for_status()
        page = response.json()
        events.extend(page["items"])
        cursor = page["nextAfter"]
    return events


def verify(
    clients: Sequence[Client],
    history: dict[str, list[dict[str, Any]]],
    content_mismatches: int,
    drained_at: float,
) -> Verification:
    """Compare what each client received and each SEND got with the stored ``history``."""
    v = Verification(content_mismatches=content_mismatches)
    stored_seqs = {room: {e["seq"] for e in events} for room, events in history.items()}
    by_body = {
        room: {e["body"]: e["seq"] for e in events if e["type"] == "message"}
        for room, events in history.items()
    }
    for events in history.values():
        v.stored_events += len(events)
        v.stored_messages += sum(1 for e in events if e["type"] == "message")
    for client in clients:
        _check_deliveries(v, client, stored_seqs[client.room_id], drained_at)
        _check_sends(v, client, history[client.room_id], by_body[client.room_id])
    sent = {s.body for c in clients for s in c.sends}
    v.stored_not_sent = sum(
        1 for events in history.values() for e in events if e["type"] == "message"
        and e["body"] not in sent
    )  # fmt: skip
    return v


def _check_deliveries(
    v: Verification, client: Client, expected: set[int], drained_at: float
) -> None:
    arrivals = client.arrivals
    received = set(arrivals)
    v.expected += len(expected)
    v.delivered += len(expected & received)
    missing = len(expected - received)
    closed_early = client.closed_at is not None and client.closed_at < drained_at
    if closed_early:
        v.closed_early += 1
        v.missing_closed += missing
    else:
        v.missing_open += missing
    v.duplicates += len(arrivals) - len(received)
    v.unexpected += len(received - expected)
    highest = 0
    for seq in arrivals:
        if seq < highest:
            v.out_of_order += 1
        highest = max(highest, seq)


def _check_sends(
    v: Verification, client: Client, events: list[dict[str, Any]], seq_by_body: dict[str, int]
) -> None:
    body_by_seq = {e["seq"]: e["body"] for e in events}
    for send in client.sends:
        v.sends += 1
        if send.seq is not None:
            v.receipted += 1
            v.duplicate_receipts += send.duplicate
            if body_by_seq.get(send.seq) != send.body:
                v.receipted_not_stored += 1
        elif send.refused is not None:
            v.refused[send.refused] += 1
        else:
            v.unanswered += 1
            v.unanswered_stored += send.body in seq_by_body
