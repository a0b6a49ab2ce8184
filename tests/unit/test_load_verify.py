"""bench/load_verify.py: the delivery check finds each kind of fault it reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from bench.load_clients import Client, Recorder, Send
from bench.load_verify import verify

pytestmark = pytest.mark.unit

ROOM = "room-1"
END = 100.0  # when the drain finished, on the clients' clock


def _event(seq: int, body: str, kind: str = "message") -> dict[str, Any]:
    return {"seq": seq, "body": body, "type": kind}


def _client(
    arrivals: list[int], sends: Sequence[Send] = (), closed_at: float | None = None
) -> Client:
    client = Client(0, ROOM, "token", 1.0, Recorder())
    client.arrivals = list(arrivals)
    client.sends = list(sends)
    client.closed_at = closed_at
    return client


HISTORY = {ROOM: [_event(11, "a"), _event(12, "b"), _event(13, "c")]}
SENDS = [Send("a", 0.0, seq=11), Send("b", 0.0, seq=12), Send("c", 0.0, seq=13)]


def test_a_clean_run_passes_with_out_of_order_arrivals_reported() -> None:
    v = verify([_client([11, 13, 12], SENDS), _client([11, 12, 13])], HISTORY, 0, END)
    assert v.ok
    assert (v.expected, v.delivered, v.out_of_order, v.receipted, v.stored_messages) == (
        6,
        6,
        1,
        3,
        3,
    )


def test_loss_duplicates_and_strangers_fail_the_check() -> None:
    v = verify([_client([11, 11, 13, 99], SENDS)], HISTORY, 0, END)
    assert not v.ok
    assert (v.missing_open, v.duplicates, v.unexpected) == (1, 1, 1)


def test_a_connection_closed_early_is_counted_apart_from_loss() -> None:
    v = verify([_client([11], SENDS, closed_at=END - 1)], HISTORY, 0, END)
    assert (v.closed_early, v.missing_closed, v.missing_open) == (1, 2, 0)
    assert v.ok


def test_a_receipt_for_an_unstored_body_and_an_unsent_message_fail_the_check() -> None:
    sends = [Send("a", 0.0, seq=11), Send("x", 0.0, seq=12), Send("c", 0.0)]
    v = verify([_client([11, 12, 13], sends)], HISTORY, 0, END)
    assert (v.receipted_not_stored, v.stored_not_sent, v.unanswered, v.unanswered_stored) == (
        1,
        1,
        1,
        1,
    )
    assert not v.ok


def test_refusals_are_counted_by_code() -> None:
    sends = [*SENDS, Send("d", 0.0, refused="rate-limited")]
    v = verify([_client([11, 12, 13], sends)], HISTORY, 0, END)
    assert v.refused == {"rate-limited": 1}
    assert v.ok
