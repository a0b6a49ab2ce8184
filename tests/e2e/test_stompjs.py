"""The session's stack through @stomp/stompjs, unmodified, under Node (tests/e2e/stompjs).

``chat.test.mjs`` is a ``node:test`` script: it logs two users in over REST, connects
them with tickets over ``ws`` sockets offering the STOMP subprotocols as browsers do,
and checks the negotiated ``v12.stomp``, presence, receipts and x-since-seq recovery. This
test installs its pinned dependencies (``npm ci``) when they are missing, runs it with
the stack's URLs and reads the TAP summary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).resolve().parent / "stompjs"
SCRIPT = "chat.test.mjs"


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, f"{name} (Node.js 20 or newer) is needed for this test"
    return path


def test_stompjs_chats_through_the_local_stack(stack: RunningStack) -> None:
    node, npm = _tool("node"), _tool("npm")
    if not (PROJECT / "node_modules" / "@stomp" / "stompjs").is_dir():
        subprocess.run(  # noqa: S603
            [npm, "ci", "--no-audit", "--no-fund"], cwd=PROJECT, check=True, timeout=600
        )
    env = {**os.environ, "CHATFLOW_HTTP": stack.http, "CHATFLOW_WS": stack.ws}
    run = subprocess.run(  # noqa: S603
        [node, "--test", "--test-reporter=tap", SCRIPT],
        check=False,
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = f"{run.stdout}\n{run.stderr}"
    assert run.returncode == 0, output
    summary = dict(
        re.findall(r"^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$", run.stdout, re.M)
    )
    declared = len(re.findall(r"^test\(", (PROJECT / SCRIPT).read_text(), re.M))
    assert declared > 0
    assert summary == {
        "tests": str(declared),
        "pass": str(declared),
        "fail": "0",
        "cancelled": "0",
        "skipped": "0",
        "todo": "0",
    }, output
