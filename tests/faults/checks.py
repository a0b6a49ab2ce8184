"""The promise every fault test checks, against the history a REST client reads back.

After any fault: every message a sender was told is stored (RECEIPT) is in the history
exactly once, at the ``seq`` its RECEIPT named; no ``clientMsgId`` is stored twice, the
retried ones included; nothing is stored that nobody sent. The figures returned are the
ones docs/reliability.md reports.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from tests.faults.client import Ledger


@dataclass(frozen=True)
class Figures:
    sent: int  # distinct clientMsgIds
    attempts: int
    retried: int  # clientMsgIds sent more than once
    most_attempts: int  # of one message: how long recovery took, counted in retries + 1
    stored: int  # of those, found in the history
    duplicates: int  # extra stored copies
    connections: int
    failures: dict[str, int]

    def line(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.failures.items())) or "none"
        return (
            f"sent {self.sent}, attempts {self.attempts}, retried {self.retried} "
            f"(at most {self.most_attempts} attempts), "
            f"stored {self.stored}, duplicates {self.duplicates}, "
            f"connections {self.connections}, failures: {kinds}"
        )


def check_history(ledger: Ledger, history: list[dict[str, Any]]) -> Figures:
    """Assert the promise; the figures of the run."""
    messages = [item for item in history if item["type"] == "message"]
    stored_seq: dict[str, int] = {}
    copies: Counter[str] = Counter()
    for item in messages:
        copies[item["body"]] += 1
        stored_seq.setdefault(item["body"], item["seq"])
    by_body = {body: cmid for cmid, body in ledger.bodies.items()}
    assert set(copies) <= set(by_body), f"stored but never sent: {set(copies) - set(by_body)}"
    duplicates = {body: n for body, n in copies.items() if n > 1}
    assert duplicates == {}, f"stored more than once: {duplicates}"
    for cmid, body in ledger.bodies.items():
        seqs = ledger.receipts.get(cmid)
        assert seqs, f"{cmid} never acknowledged"
        assert body in stored_seq, f"{cmid} was acknowledged (seq {seqs}) but is not stored"
        assert set(seqs) == {stored_seq[body]}, (
            f"{cmid}: receipts name seq {seqs}, the history has {stored_seq[body]}"
        )
    return Figures(
        sent=len(ledger.bodies),
        attempts=sum(ledger.attempts.values()),
        retried=len(ledger.retried),
        most_attempts=max(ledger.attempts.values(), default=0),
        stored=sum(1 for body in ledger.bodies.values() if body in copies),
        duplicates=sum(n - 1 for n in copies.values()),
        connections=ledger.connections,
        failures=dict(ledger.failures),
    )
