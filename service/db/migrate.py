"""Plain SQL migrations: `migrations/NNNN_name.sql`, applied in order, each in a transaction.

Several tasks may start at once, so the whole run holds a PostgreSQL advisory lock: the first
one applies what is pending, the others wait and then find nothing to do. Applied versions are
recorded in `schema_migrations` with a checksum, so an edited, already-applied file is caught.

A migration whose first line is `-- migrate: no transaction` runs one statement at a time, each
committing alone (for CREATE INDEX CONCURRENTLY, or a DO block committing in batches); its
statements end with `;` at the end of a line (outside `$$` bodies), and it must be safe to run
again from the start if it fails halfway.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# An arbitrary constant shared by every instance of the service ("silo" in ASCII).
ADVISORY_LOCK_ID = 0x73696C6F
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
NO_TRANSACTION = "-- migrate: no transaction"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def in_transaction(self) -> bool:
        return not self.sql.startswith(NO_TRANSACTION)

    def statements(self) -> list[str]:
        """The statements of a `no transaction` migration, in order."""
        statements, current, quoted = [], [], False
        for line in self.sql.splitlines(keepends=True):
            current.append(line)
            quoted ^= line.count("$$") % 2 == 1  # inside a $$-quoted body (a DO block)
            if not quoted and line.rstrip().endswith(";"):
                statements.append("".join(current))
                current = []
        statements.append("".join(current))
        return [s for s in statements if re.sub(r"(?m)^\s*--.*$", "", s).strip()]


def load(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in `directory`, in version order; anything misnamed is an error."""
    found = []
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: expected a name like 0001_create_files.sql")
        found.append(Migration(match[1], match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return found


def _lock(conn: psycopg.Connection) -> None:
    """Take the advisory lock, polling: a session blocked in pg_advisory_lock() is a running
    transaction, which CREATE INDEX CONCURRENTLY (in the holder's migration) would wait for,
    while the waiter waits for the holder: a deadlock. Between tries, nothing runs."""
    while not conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_ID,)).fetchone()[0]:
        time.sleep(0.2)


def migrate(conninfo: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; returns the versions applied by this call."""
    migrations = load(directory)
    applied_now = []
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
        _lock(conn)
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version    text PRIMARY KEY,
                       name       text NOT NULL,
                       checksum   text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
            for migration in migrations:
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.version}_{migration.name} was changed after "
                            "it was applied; add a new migration instead"
                        )
                    continue
                if not migration.in_transaction:
                    for statement in migration.statements():
                        conn.execute(statement)
                with conn.transaction():
                    if migration.in_transaction:
                        conn.execute(migration.sql)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) "
                        "VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                applied_now.append(migration.version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_ID,))
    return applied_now
