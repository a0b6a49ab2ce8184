"""Names the infrastructure shares with the Lambda code: one place, so both sides agree.

The handlers, the environment variables and the per-function permissions are a contract
with ``functions/`` (README.md, "Settings"; docs/deploy.md); everything else in the app
refers to these constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Flag, auto
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
MIGRATIONS_DIR = FUNCTIONS_DIR / "chatflow" / "db" / "migrations"
WEB_DIR = REPO_ROOT / "web" / "dist"  # the built client (make web); a placeholder page if absent

SERVICE = "chatflow"
METRICS_NAMESPACE = "ChatFlow"
DB_NAME = "chatflow"
#: The database user the functions log in as through RDS Proxy (IAM auth, no password).
DB_USER = "chatflow_app"
DB_PORT = 5432
REDIS_PORT = 6379
#: The Lambda alias that takes traffic; it moves to a new version only after migration.
LIVE_ALIAS = "live"
#: Files in ``functions/`` that the code asset never carries.
CODE_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/tests", "**/.mypy_cache", "**/.pytest_cache"]
#: The file the web client reads its endpoints from (same shape as the local stack's).
WEB_ENDPOINTS_FILE = "config.json"


class Access(Flag):
    """What a function's role may call; each function gets exactly the flags it needs."""

    NONE = 0
    JWT_SECRET = auto()  # secretsmanager:GetSecretValue on the one JWT secret
    DATABASE = auto()  # rds-db:connect as DB_USER on this stack's proxy
    TABLE = auto()  # item actions on the connection table
    CONNECTIONS = auto()  # execute-api:ManageConnections on this WebSocket stage
    QUEUE_SEND = auto()  # sqs:SendMessage on the fan-out queue


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function: its handler, limits and what it may call."""

    key: str
    handler: str
    description: str
    access: Access
    timeout_seconds: int = 29
    memory_mb: int | None = None  # None: the stage's default size


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "api",
        "handlers.api.handler",
        "REST API (FastAPI through Mangum)",
        Access.JWT_SECRET | Access.DATABASE | Access.TABLE | Access.CONNECTIONS | Access.QUEUE_SEND,
    ),
    FunctionSpec(
        "migrate",
        "handlers.migrate.handler",
        "Applies SQL migrations on deploy (custom resource)",
        Access.DATABASE,
        timeout_seconds=300,
    ),
    FunctionSpec(
        "ws_authorizer",
        "handlers.ws_authorizer.handler",
        "$connect REQUEST authorizer (ticket or bearer token)",
        Access.JWT_SECRET,
        timeout_seconds=10,
    ),
    FunctionSpec(
        "ws_connect",
        "handlers.ws_connect.handler",
        "$connect: records the connection, picks the STOMP subprotocol",
        Access.TABLE,
        timeout_seconds=10,
    ),
    FunctionSpec(
        "ws_frame",
        "handlers.ws_frame.handler",
        "$default: every inbound STOMP frame",
        Access.JWT_SECRET | Access.DATABASE | Access.TABLE | Access.CONNECTIONS | Access.QUEUE_SEND,
    ),
    FunctionSpec(
        "ws_disconnect",
        "handlers.ws_disconnect.handler",
        "$disconnect: drops the connection's subscriptions and presence",
        Access.TABLE | Access.CONNECTIONS | Access.QUEUE_SEND,
        timeout_seconds=10,
    ),
    FunctionSpec(
        "presence_sweeper",
        "handlers.presence_sweeper.handler",
        "Every minute: expires presence, emits leave events, drops stale connections",
        Access.TABLE | Access.CONNECTIONS | Access.QUEUE_SEND,
        timeout_seconds=55,
    ),
    FunctionSpec(
        "fanout_worker",
        "handlers.fanout_worker.handler",
        "Delivers fan-out batches from SQS for large rooms",
        Access.TABLE | Access.CONNECTIONS,
        timeout_seconds=60,
    ),
)

FUNCTIONS_BY_KEY = {spec.key: spec for spec in FUNCTIONS}
