"""The web client in a real browser against the running local stack.

The browser tests themselves are Playwright specs in ``web/tests/e2e`` (two people chatting,
typing and presence across browsers, a cut socket recovered, an incomplete replay reloaded,
a private room kept private, room settings, roles and a password change, and the page telling
the truth: the header through offline, a silent drop and a wake, the banner clearing itself,
notices arriving without a poll); this test runs them against the stack of the e2e session
so ``pytest`` covers the page too.
They drive Debian's Chromium; ``web/scripts/ensure-chromium.sh`` installs it when absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import REPLAY_MAX, RunningStack

pytestmark = pytest.mark.e2e

WEB = Path(__file__).resolve().parents[2] / "web"
TIMEOUT_S = 600


def _prepare_web() -> None:
    """Chromium, the npm packages (when the lock file is newer) and a fresh build of the page."""
    if shutil.which("npm") is None:
        pytest.fail("npm is needed for the browser tests (Node.js 20+)")
    subprocess.run(["bash", "scripts/ensure-chromium.sh"], cwd=WEB, check=True)  # noqa: S607
    installed = WEB / "node_modules" / ".package-lock.json"
    lock = WEB / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)  # noqa: S607
    # The stack serves web/dist as it is on disk: build it so the tests see the current code.
    subprocess.run(["npm", "run", "build"], cwd=WEB, check=True)  # noqa: S607


def test_web_client_in_chromium(stack: RunningStack) -> None:
    _prepare_web()
    env = {
        **os.environ,
        "CHATFLOW_HTTP": stack.http,
        "CHATFLOW_WS": stack.ws,
        "CHATFLOW_REPLAY_MAX": str(REPLAY_MAX),
        "CI": "1",
    }
    result = subprocess.run(
        ["npx", "playwright", "test"],  # noqa: S607
        cwd=WEB,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    report = result.stdout[-20000:] + result.stderr[-5000:]
    assert result.returncode == 0, f"browser tests failed:\n{report}"
    assert " passed" in result.stdout and " failed" not in result.stdout, report
