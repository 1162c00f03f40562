"""End to end: `silo dev` with a two-tenant catalogue, `silo smoke` against it, then one tenant
broken (its database, then its service process) and the other still passing, then shutdown
leaving nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from provisioning.smoke.checks import CHECKS
from tests.smoke.conftest import (
    DevRun,
    descendants,
    postmaster_of,
    process_exists,
    silo,
)


def smoke(run: DevRun, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        silo("smoke", "--state", str(run.state_path), *extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def lines_of(output: str, tenant: str) -> dict[str, str]:
    """check -> its whole line, for one tenant's check lines."""
    found = {}
    for line in output.splitlines():
        parts = line.split(None, 3)
        if len(parts) >= 3 and parts[0] in ("PASS", "FAIL", "SKIP") and parts[1] == tenant:
            found[parts[2]] = line
    return found


def assert_all_pass(output: str, tenant: str) -> None:
    lines = lines_of(output, tenant)
    assert set(lines) == set(CHECKS), output
    failing = [line for line in lines.values() if not line.startswith("PASS")]
    assert not failing, output


def database_port(run: DevRun) -> int:
    return int(re.search(r":(\d+)$", run.state()["database"]).group(1))


def set_connections(port: int, database: str, allowed: bool) -> None:
    """Take one tenant's database away (refuse and drop its connections) or give it back."""
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as c:
        c.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
                sql.Identifier(database), sql.SQL("true" if allowed else "false")
            )
        )
        if not allowed:
            c.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            )


def wait_for(predicate, timeout: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def assert_console_sign_in_works(output: str, entry: dict) -> None:
    """A newcomer's path: the console URL `silo dev` printed, its sign-in form, the admin key
    from the same table, and the (empty) files page."""
    console = entry["url"] + "/console"
    assert console in output and entry["console"] == console
    with httpx.Client(follow_redirects=True, timeout=30) as browser:
        form = browser.get(console)
        assert form.status_code == 200 and form.url.path == "/console/sign-in"
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        files = browser.post(
            entry["url"] + "/console/sign-in",
            data={"csrf": csrf, "key": entry["admin_key"], "next": "/console"},
        )
    assert files.status_code == 200 and files.url.path == "/console/files", files.text
    assert "No files" in files.text


def test_dev_smoke_failure_isolation_and_clean_shutdown(dev_factory):
    run = dev_factory(["alpha", "beta"])
    state = run.state()
    assert list(state["tenants"]) == ["alpha", "beta"]
    for entry in state["tenants"].values():
        assert entry["url"].startswith("http://127.0.0.1:")
        assert entry["status"] == "running"
        assert entry["bucket"] in run.output() and entry["admin_key"] in run.output()
    assert state["tenants"]["alpha"]["admin_key"] != state["tenants"]["beta"]["admin_key"]
    assert Path(run.state_path).stat().st_mode & 0o077 == 0
    assert_console_sign_in_works(run.output(), state["tenants"]["alpha"])

    # Everything the run started, for the shutdown check at the end.
    pg_port = database_port(run)
    postmaster = postmaster_of(pg_port)
    assert postmaster, "no PostgreSQL server found for the state file's port"
    started = descendants(run.proc.pid) | {postmaster[0]}
    service_pids = {entry["pid"] for entry in state["tenants"].values()}
    assert service_pids <= started

    # 1. Both tenants pass every check, isolation included.
    done = smoke(run)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_all_pass(done.stdout, "alpha")
    assert_all_pass(done.stdout, "beta")
    assert "smoke: 2/2 tenant(s) passed" in done.stdout
    # The smoke test removes the key it created (and its file: see the delete check).
    for entry in state["tenants"].values():
        keys = httpx.get(
            entry["url"] + "/keys", headers={"Authorization": f"Bearer {entry['admin_key']}"}
        ).json()["items"]
        assert not [k for k in keys if k["name"].startswith("silo-smoke-")], keys

    # 2. beta's database goes away: beta fails and says so, alpha still passes.
    set_connections(pg_port, state["tenants"]["beta"]["database"], allowed=False)
    try:
        done = smoke(run)
    finally:
        set_connections(pg_port, state["tenants"]["beta"]["database"], allowed=True)
    assert done.returncode == 1, done.stdout
    assert_all_pass(done.stdout, "alpha")
    beta = lines_of(done.stdout, "beta")
    assert beta["healthz"].startswith("PASS"), done.stdout  # alive, touches no dependency
    assert beta["readyz"].startswith("FAIL") and "503" in beta["readyz"], done.stdout
    assert "database" in beta["readyz"].lower(), done.stdout
    assert "alpha: ok" in done.stdout and "beta: FAILED" in done.stdout
    assert "failed: beta" in done.stdout

    # 3. beta's service process dies: silo dev reports it, keeps alpha; smoke fails beta only.
    beta_pid = state["tenants"]["beta"]["pid"]
    os.kill(beta_pid, signal.SIGKILL)
    wait_for(
        lambda: run.state()["tenants"]["beta"]["status"] == "exited",
        what="silo dev to record beta's exit",
    )
    assert f"tenant beta: service process {beta_pid} exited (killed by signal 9)" in run.output()
    assert "last " in run.output() and "beta.log" in run.output()
    assert run.proc.poll() is None, "silo dev stopped when one child died"
    assert run.state()["tenants"]["alpha"]["status"] == "running"
    done = smoke(run)
    assert done.returncode == 1, done.stdout
    assert_all_pass(done.stdout, "alpha")
    beta = lines_of(done.stdout, "beta")
    assert beta["healthz"].startswith("FAIL") and "unreachable" in beta["healthz"], done.stdout
    assert all(line.startswith("SKIP") for check, line in beta.items() if check != "healthz"), (
        done.stdout
    )

    # 4. SIGTERM: every process the run started is gone, and its temporary data.
    assert run.stop(signal.SIGTERM, timeout=60) == 0, run.output()
    wait_for(
        lambda: not any(process_exists(pid) for pid in started),
        timeout=10,
        what="every child of silo dev to exit",
    )
    assert not os.path.exists(postmaster[1]), "the throwaway cluster's data is still there"
    assert not run.state_path.exists(), "the state file is still there"
    assert "stopped; temporary data removed" in run.output()


def test_smoke_against_one_base_url_skips_isolation_and_says_so(dev_factory):
    run = dev_factory(["solo"])
    entry = run.state()["tenants"]["solo"]
    done = subprocess.run(
        silo("smoke", "--base-url", entry["url"], "--tenant", "solo"),
        env={**os.environ, "SILO_SMOKE_KEY": entry["admin_key"]},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in done.stderr  # the key came from the environment, not a flag
    lines = lines_of(done.stdout, "solo")
    assert lines["isolation"].startswith("SKIP"), done.stdout
    assert "needs at least two tenants" in lines["isolation"]
    assert all(lines[c].startswith("PASS") for c in CHECKS if c != "isolation"), done.stdout
    assert run.stop(signal.SIGINT) == 0


def test_dev_stops_on_sigint_even_when_started_with_it_ignored(dev_factory):
    # What `silo dev &` from a script (a shell without job control) starts with.
    run = dev_factory(["bg"], preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    postmaster = postmaster_of(database_port(run))
    assert run.stop(signal.SIGINT, timeout=30) == 0
    assert "stopping (interrupted)" in run.output()
    assert not run.state_path.exists()
    wait_for(lambda: not process_exists(postmaster[0]), timeout=10, what="PostgreSQL to stop")


def test_dev_stops_and_cleans_up_when_no_service_is_left(dev_factory):
    run = dev_factory(["only"])
    postmaster = postmaster_of(database_port(run))
    os.kill(run.state()["tenants"]["only"]["pid"], signal.SIGKILL)
    assert run.proc.wait(timeout=60) == 1
    assert "tenant only: service process" in run.output()
    assert "every service has exited" in run.output()
    assert not run.state_path.exists()
    wait_for(lambda: not process_exists(postmaster[0]), timeout=10, what="PostgreSQL to stop")
    assert not os.path.exists(postmaster[1])


def test_three_tenants_are_ready_within_15_seconds(dev_factory):
    """The promise of docs/operations/local.md, measured from spawning `silo dev` to its "ready"
    line, with the per-tenant limits of a default run (where the machine allows them): the CPU
    quota applies once a service is ready, so start-up (imports, migrations) is not held to a
    quarter of a core."""
    run = dev_factory(["one", "two", "three"])
    assert run.ready_seconds < 15, run.output()
    assert "3/3 tenant(s) ready" in run.output()
    rows = [line.split() for line in run.output().splitlines()]
    table = [row[0] for row in rows if len(row) > 1 and row[1].startswith("http://127.0.0.1:")]
    assert table == ["one", "two", "three"]
    assert run.stop(signal.SIGINT) == 0
