"""Traffic around a fault: senders before, during and after it, then the history check.

Several users send to one room at once, each with a :class:`RetryingSender` on a thread of
its own. The fault is applied once a first batch is acknowledged, and the senders go on
until a second batch is acknowledged after the fault returned, so every run has traffic
before, during and after the fault and ends with a stack that serves again by itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from tests.faults.checks import Figures, check_history
from tests.faults.client import Ledger, Rest, RetryingSender
from tests.faults.stack import FaultStack

SENDERS = 3
BEFORE = 6  # acknowledged messages before the fault is applied
AFTER = 9  # acknowledged messages after the fault returned
PACE = 0.02  # seconds between one sender's messages
WAIT_STEPS = 600  # x 0.05 s: how long the driver waits for a batch at most


@dataclass
class Outcome:
    figures: Figures
    ledger: Ledger


class _Sender(threading.Thread):
    def __init__(self, sender: RetryingSender, prefix: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.sender = sender
        self.prefix = prefix
        self.stop = stop
        self.acknowledged = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                cmid = f"{self.prefix}-{self.acknowledged}"
                self.sender.deliver(cmid, f"{cmid} body")
                self.acknowledged += 1
                self.stop.wait(PACE)
        except BaseException as exc:  # reported by the driver
            self.error = exc
        finally:
            self.sender.drop()


def _wait(senders: list[_Sender], total: int) -> None:
    stop = threading.Event()
    for _ in range(WAIT_STEPS):
        if sum(s.acknowledged for s in senders) >= total or any(s.error for s in senders):
            return
        stop.wait(0.05)
    raise AssertionError(f"the senders did not reach {total} acknowledged messages")


def run_around(stack: FaultStack, rest: Rest, name: str, fault: Callable[[], None]) -> Outcome:
    """Traffic, ``fault()`` in the middle of it, more traffic; the checked figures."""
    accounts = [rest.register() for _ in range(SENDERS)]
    room_id = rest.room(accounts[0], *accounts[1:])
    stop = threading.Event()
    senders = [
        _Sender(RetryingSender(stack.ws, rest, account, room_id, Ledger()), f"{name}{i}", stop)
        for i, account in enumerate(accounts)
    ]
    for sender in senders:
        sender.start()
    try:
        _wait(senders, BEFORE)
        fault()
        after_fault = sum(s.acknowledged for s in senders)
        _wait(senders, after_fault + AFTER)
    finally:
        stop.set()
        for sender in senders:
            sender.join(60)
    for sender in senders:
        if sender.error is not None:
            raise sender.error
    ledger = Ledger()
    for sender in senders:
        ledger.merge(sender.sender.ledger)
    figures = check_history(ledger, rest.history(accounts[0], room_id))
    print(
        f"\n{name}: {figures.line()}, acknowledged as duplicate {ledger.acknowledged_as_duplicate}"
    )
    return Outcome(figures, ledger)
