"""The deploy pipeline's smoke test (scripts/smoke.py), run against the local stack so it is
known to work before a pipeline depends on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningStack

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def _smoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our interpreter and our script
        [sys.executable, str(ROOT / "scripts" / "smoke.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_smoke_test_passes_against_a_healthy_stack(stack: RunningStack) -> None:
    result = _smoke("--http", stack.http, "--ws", stack.ws)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_smoke_test_fails_against_a_wrong_endpoint(stack: RunningStack) -> None:
    result = _smoke("--http", stack.http, "--ws", "ws://127.0.0.1:9", "--timeout", "5")
    assert result.returncode != 0
