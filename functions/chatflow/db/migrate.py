"""Numbered SQL migrations, applied in order, recorded, and safe to run concurrently.

Two deploys (or a deploy and a local `chatflow migrate`) may run at once: a session-level
advisory lock serializes them, and the second finds everything already applied. Each
file runs in its own transaction together with its bookkeeping row, so a failing
migration leaves no half-applied schema. The checksum catches an applied file that
was edited afterwards, which would otherwise silently diverge between environments.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

logger = logging.getLogger(__name__)

# An arbitrary, fixed 64-bit key: "chatflow" in ASCII.
MIGRATION_LOCK_KEY = 0x63686174666C6F77
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """An applied migration changed, or the files are not numbered as they must be."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover() -> list[Migration]:
    """The migration files shipped inside the package, in version order."""
    found = []
    folder = resources.files("chatflow.db") / "migrations"
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


def apply_migrations(conninfo: str, migrations: list[Migration] | None = None) -> list[int]:
    """Apply what is missing; return the versions applied by this call."""
    todo = discover() if migrations is None else migrations
    applied_now: list[int] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version integer PRIMARY KEY,
                       name text NOT NULL,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
            done = {int(v): str(c) for v, c in rows}
            for migration in todo:
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.version:04d}_{migration.name} was edited "
                            "after it was applied; add a new migration instead"
                        )
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum)"
                        " VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                logger.info("applied migration", extra={"version": migration.version})
                applied_now.append(migration.version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return applied_now


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m chatflow.db.migrate [--database-url URL]``."""
    parser = argparse.ArgumentParser(description="Apply ChatFlow's SQL migrations.")
    parser.add_argument("--database-url", help="defaults to DATABASE_URL")
    args = parser.parse_args(argv)
    url = args.database_url
    if not url:
        import os

        url = os.environ.get("DATABASE_URL", "")
    if not url:
        parser.error("give --database-url or set DATABASE_URL")
    applied = apply_migrations(url)
    print(f"applied {len(applied)} migration(s): {applied}" if applied else "schema is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
