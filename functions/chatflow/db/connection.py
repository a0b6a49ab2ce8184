"""How the code gets a PostgreSQL connection, on Lambda and in a long-lived server.

On Lambda a container serves one event at a time, so one connection per warm container
is both enough and the cheapest (RDS Proxy multiplexes them). It is checked before use
and replaced when broken, so a database restart costs one failed request at most.
A long-lived server (the local stack's workers, benchmarks) uses a pool instead.
Both hand out autocommit connections: a single statement is its own transaction, and
code that needs more opens ``conn.transaction()`` explicitly. An outage leaves this module
as :class:`chatflow.errors.DatabaseUnavailable`, never as the driver's error.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

import psycopg
from psycopg.rows import TupleRow

from chatflow.errors import DatabaseUnavailable

logger = logging.getLogger(__name__)

Connection = psycopg.Connection[TupleRow]


class Database(Protocol):
    """What the domain needs from PostgreSQL: a connection for the span of one operation."""

    def connection(self) -> AbstractContextManager[Connection]: ...

    def close(self) -> None: ...


def _unavailable(exc: psycopg.OperationalError) -> DatabaseUnavailable:
    """The driver's outage (lost connection, refused connect, pool timeout, a statement
    cancelled or rolled back by the server) in the domain's words; logged once here, by
    class only (the message may hold connection details)."""
    logger.warning("database unavailable", extra={"error": type(exc).__name__})
    return DatabaseUnavailable()


def iam_auth_password(conninfo: str, region: str) -> str:
    """A 15-minute RDS IAM token for the URL's host, port and user (RDS Proxy IAM auth).

    boto3 is imported here, on the one path that needs it, to keep cold starts small.
    """
    import boto3

    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    client = boto3.client("rds", region_name=region or None)
    return str(
        client.generate_db_auth_token(
            DBHostname=str(params["host"]),
            Port=int(str(params.get("port") or 5432)),
            DBUsername=str(params["user"]),
        )
    )


class SingleConnectionDatabase:
    """One lazily opened connection, reused while healthy and reopened when broken."""

    def __init__(
        self, conninfo: str, connect_timeout: int = 5, iam_region: str | None = None
    ) -> None:
        self._conninfo = conninfo
        self._connect_timeout = connect_timeout
        self._iam_region = iam_region
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def _open(self) -> Connection:
        extra: dict[str, Any] = {}
        if self._iam_region is not None:
            extra["password"] = iam_auth_password(self._conninfo, self._iam_region)
        return psycopg.connect(
            self._conninfo,
            **extra,
            autocommit=True,
            connect_timeout=self._connect_timeout,
            application_name="chatflow",
            options="-c timezone=UTC",
        )

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        with self._lock:
            conn = self._conn
            if conn is None or conn.closed or conn.broken:
                if conn is not None:
                    logger.warning("database connection was broken; reconnecting")
                    conn.close()
                try:
                    conn = self._conn = self._open()
                except psycopg.OperationalError as exc:
                    raise _unavailable(exc) from exc
            try:
                yield conn
            except psycopg.OperationalError as exc:
                # The server went away mid-statement: drop the connection so the next
                # request reconnects instead of failing on a dead socket.
                if conn.broken or conn.closed:
                    self._conn = None
                    conn.close()
                raise _unavailable(exc) from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class PooledDatabase:
    """A psycopg pool, for processes that serve requests concurrently."""

    def __init__(self, conninfo: str, max_size: int) -> None:
        from psycopg_pool import ConnectionPool

        self._pool: ConnectionPool[Connection] = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_size,
            kwargs={
                "autocommit": True,
                "application_name": "chatflow",
                "options": "-c timezone=UTC",
            },
            check=ConnectionPool.check_connection,
            open=True,
        )

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.OperationalError as exc:  # PoolTimeout is one too
            raise _unavailable(exc) from exc

    def close(self) -> None:
        self._pool.close()


def open_database(
    conninfo: str, pool_max: int = 0, iam_region: str | None = None
) -> SingleConnectionDatabase | PooledDatabase:
    """A single connection for Lambda (``pool_max == 0``), else a pool of that size.

    ``iam_region`` turns on RDS IAM authentication (a fresh token for each new
    connection), which is how the functions reach RDS Proxy on AWS.
    """
    if pool_max > 0:
        return PooledDatabase(conninfo, pool_max)
    return SingleConnectionDatabase(conninfo, iam_region=iam_region)
