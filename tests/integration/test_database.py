"""Migrations (ordered, recorded, concurrent-safe, tamper-evident) and connection recovery."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from chatflow.db.connection import PooledDatabase, SingleConnectionDatabase
from chatflow.db.migrate import Migration, MigrationError, apply_migrations, discover, main
from chatflow.errors import DatabaseUnavailable


@pytest.fixture
def empty_db(pg_server_url: str) -> Iterator[str]:
    name = f"chatflow_mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield psycopg.conninfo.make_conninfo(pg_server_url, dbname=name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrations_apply_in_order_once(empty_db: str) -> None:
    versions = [m.version for m in discover()]
    assert versions == list(range(1, len(versions) + 1))
    assert apply_migrations(empty_db) == versions
    assert apply_migrations(empty_db) == []
    with psycopg.connect(empty_db) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == versions


def test_two_processes_migrating_at_once_apply_each_file_once(empty_db: str) -> None:
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(apply_migrations(empty_db))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    applied = sorted(v for r in results for v in r)
    assert applied == [m.version for m in discover()]


def test_an_edited_migration_is_refused(empty_db: str) -> None:
    apply_migrations(empty_db)
    first = discover()[0]
    edited = Migration(first.version, first.name, first.sql + "\n-- edited\n")
    with pytest.raises(MigrationError, match="edited after it was applied"):
        apply_migrations(empty_db, [edited])


def test_a_failing_migration_leaves_nothing_behind(empty_db: str) -> None:
    bad = [Migration(1, "broken", "CREATE TABLE t (id int); SELECT * FROM missing_table;")]
    with pytest.raises(psycopg.errors.UndefinedTable):
        apply_migrations(empty_db, bad)
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (0,)


def test_the_command_line_entry(empty_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database-url", empty_db]) == 0
    assert "applied" in capsys.readouterr().out
    assert main(["--database-url", empty_db]) == 0
    assert "up to date" in capsys.readouterr().out


def _kill_backends(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'chatflow' AND pid <> pg_backend_pid()"
        )


def test_a_broken_connection_is_replaced(clean_db: str) -> None:
    db = SingleConnectionDatabase(clean_db)
    with db.connection() as conn:
        first_pid = conn.info.backend_pid
    _kill_backends(clean_db)
    with pytest.raises(DatabaseUnavailable) as lost, db.connection() as conn:
        conn.execute("SELECT 1")
    assert isinstance(lost.value.__cause__, psycopg.OperationalError)
    with db.connection() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.info.backend_pid != first_pid
    db.close()


def test_an_unreachable_database_is_unavailable_not_a_driver_error() -> None:
    """Nothing above the adapter sees psycopg: a refused connect is the domain's error."""
    from local.services import free_port

    db = SingleConnectionDatabase(f"postgresql://nobody@127.0.0.1:{free_port()}/none", 1)
    with pytest.raises(DatabaseUnavailable) as refused, db.connection():
        pass
    assert refused.value.detail == "the database is unavailable; try again shortly"
    assert isinstance(refused.value.__cause__, psycopg.OperationalError)


def test_a_statement_the_server_cancels_is_unavailable(clean_db: str) -> None:
    db = PooledDatabase(clean_db, max_size=1)
    with pytest.raises(DatabaseUnavailable), db.connection() as conn:
        conn.execute("SET statement_timeout = 50")
        conn.execute("SELECT pg_sleep(2)")
    with db.connection() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    db.close()


def test_the_pool_checks_connections_before_use(clean_db: str) -> None:
    db = PooledDatabase(clean_db, max_size=2)
    with db.connection() as conn:
        conn.execute("SELECT 1")
    _kill_backends(clean_db)
    with db.connection() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    db.close()
