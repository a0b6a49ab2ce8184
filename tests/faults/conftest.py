"""One fault stack for the fault suite (tests/faults/stack.py), stopped at the end."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.client import Rest, StompLink
from tests.faults.stack import FaultStack


@pytest.fixture(scope="session")
def fault_stack() -> Iterator[FaultStack]:
    folder = Path(tempfile.mkdtemp(prefix="chatflow-faults-"))
    stack = FaultStack.create(folder)
    try:
        stack.start()
        httpx.get(f"{stack.http}/api/health", timeout=60).raise_for_status()  # warm the API
        warm = Rest(stack.http)  # and one worker of each WebSocket function
        StompLink(stack.ws, warm.ticket(warm.register())).close()
        warm.close()
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def rest(fault_stack: FaultStack) -> Iterator[Rest]:
    client = Rest(fault_stack.http)
    yield client
    client.close()
