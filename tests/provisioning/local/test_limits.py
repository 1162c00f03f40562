"""provisioning/local/limits.py: Fargate reservations as cgroup limits, on fake cgroup trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.local import limits
from provisioning.local.limits import LimitsUnavailable, Reservation, detect, own_cgroups

V1_PROC = "9:name=systemd:/\n4:memory:/jobs/abc\n2:cpuacct:/\n1:cpu:/\n0::/\n"


def touch(path: Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def v1_tree(root: Path) -> Path:
    for hierarchy in ("memory", "cpu"):
        touch(root / hierarchy / "cgroup.procs")
    touch(root / "memory" / "jobs" / "abc" / "cgroup.procs")
    return root


def v2_tree(root: Path, controllers: str = "cpu memory io", own: str = "/") -> Path:
    touch(root / "cgroup.controllers", controllers)
    touch(
        root / own.strip("/") / "cgroup.subtree_control"
        if own != "/"
        else root / "cgroup.subtree_control"
    )
    return root


@pytest.mark.parametrize(
    ("cpu", "memory", "quota", "cpus"),
    [
        (256, 512, 25_000, 0.25),
        (512, 1024, 50_000, 0.5),
        (1024, 2048, 100_000, 1.0),
        (4096, 8192, 400_000, 4.0),
    ],
)
def test_fargate_units_become_a_cfs_quota_and_bytes(cpu, memory, quota, cpus):
    reservation = Reservation(cpu, memory)
    assert reservation.cpu_quota_us() == quota
    assert reservation.cpus == cpus
    assert reservation.memory_bytes == memory * 1024**2


def test_reservation_of_a_catalogue_tenant():
    import tenants

    catalogue = tenants.load_catalogue(Path(__file__).resolve().parents[3] / "tenants.yaml")
    by_slug = {t.slug: Reservation.of(t) for t in catalogue.tenants}
    # The whole task, scanner sidecars included (tenants.yaml: the defaults, and hrcomp's own).
    assert by_slug["pack"] == Reservation(512, 3072)
    assert by_slug["hrcomp"] == Reservation(1024, 5120)


def test_own_cgroups_reads_v1_and_v2_lines():
    own = own_cgroups("5:cpu,cpuacct:/a\n4:memory:/b/c\n9:name=systemd:/\n0::/d\n")
    assert own["cpu"] == own["cpuacct"] == "/a"
    assert own["memory"] == "/b/c"
    assert own[""] == "/d"


def test_v1_groups_nest_under_the_callers_own_and_carry_the_limits(tmp_path: Path):
    root = v1_tree(tmp_path)
    limiter = detect("silo-dev-1", root=root, proc_cgroup=V1_PROC)
    assert limiter.kind == "cgroup v1"
    touch(root / "memory/jobs/abc/silo-dev-1/pack/memory.memsw.limit_in_bytes", "0")
    group = limiter.create("pack", Reservation(256, 512))
    memory = root / "memory/jobs/abc/silo-dev-1/pack"
    cpu = root / "cpu/silo-dev-1/pack"
    assert group.directories == [memory, cpu]
    assert (memory / "memory.limit_in_bytes").read_text() == str(512 * 1024**2)
    assert (memory / "memory.memsw.limit_in_bytes").read_text() == str(512 * 1024**2)
    assert (cpu / "cpu.cfs_quota_us").read_text() == "25000"
    assert (cpu / "cpu.cfs_period_us").read_text() == "100000"
    assert (cpu / "cpu.shares").read_text() == "256"  # as ECS weighs 256 CPU units
    assert group.procs == [memory / "cgroup.procs", cpu / "cgroup.procs"]
    record = group.record()
    assert record["cpus"] == 0.25 and record["memory_mib"] == 512
    assert record["cgroup"].startswith("cgroup v1: ")
    # A fake tree holds files a real cgroup directory would not: clear them to test removal.
    for directory in group.directories:
        for file in directory.iterdir():
            file.unlink()
    assert limiter.close(timeout=0) == []
    assert not (root / "memory/jobs/abc/silo-dev-1").exists()
    assert not (root / "cpu/silo-dev-1").exists()


def test_v1_in_a_container_uses_the_hierarchy_root(tmp_path: Path):
    root = v1_tree(tmp_path)
    limiter = detect("run", root=root, proc_cgroup="4:memory:/docker/xyz\n1:cpu:/docker/xyz\n")
    assert limiter.bases == {"memory": root / "memory/run", "cpu": root / "cpu/run"}


def test_v2_groups_get_cpu_max_and_memory_max(tmp_path: Path):
    root = v2_tree(tmp_path)
    limiter = detect("run", root=root, proc_cgroup="0::/\n")
    assert limiter.kind == "cgroup v2"
    assert (root / "cgroup.subtree_control").read_text() == "+cpu +memory"
    assert (root / "run/cgroup.subtree_control").read_text() == "+cpu +memory"
    touch(root / "run/pack/memory.swap.max", "max")
    group = limiter.create("pack", Reservation(512, 1024))
    assert (root / "run/pack/cpu.max").read_text() == "50000 100000"
    assert (root / "run/pack/cpu.weight").read_text() == "50"
    assert (root / "run/pack/memory.max").read_text() == str(1024**3)
    assert (root / "run/pack/memory.swap.max").read_text() == "0"
    assert group.procs == [root / "run/pack/cgroup.procs"]


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_the_cpu_quota_can_wait_for_the_service_to_be_ready(tmp_path: Path, kind: str):
    if kind == "v1":
        limiter = detect("run", root=v1_tree(tmp_path), proc_cgroup=V1_PROC)
        quota_file = tmp_path / "cpu/run/pack/cpu.cfs_quota_us"
        # What the kernel shows in a new group: no quota.
        touch(quota_file, "-1")
    else:
        limiter = detect("run", root=v2_tree(tmp_path), proc_cgroup="0::/\n")
        quota_file = tmp_path / "run/pack/cpu.max"
        touch(quota_file, "max 100000")
    unlimited = quota_file.read_text()
    group = limiter.create("pack", Reservation(256, 512), quota=False)
    assert quota_file.read_text() == unlimited  # start-up runs on whatever CPU is free
    group.apply_cpu_quota()
    assert quota_file.read_text() in ("25000", "25000 100000")


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_the_quota_comes_with_one_periods_burst_where_the_kernel_has_it(tmp_path: Path, kind):
    if kind == "v1":
        limiter = detect("run", root=v1_tree(tmp_path), proc_cgroup=V1_PROC)
        directory = tmp_path / "cpu/run"
        quota, burst = "cpu.cfs_quota_us", "cpu.cfs_burst_us"
    else:
        limiter = detect("run", root=v2_tree(tmp_path), proc_cgroup="0::/\n")
        directory = tmp_path / "run"
        quota, burst = "cpu.max", "cpu.max.burst"
    # A kernel with burst shows the file in every new group (0: none); an older one has none.
    touch(directory / "new/" / burst, "0")
    assert limiter.create("new", Reservation(256, 512)).record()["cpu_burst_us"] == 25000
    assert (directory / "new" / burst).read_text() == "25000"
    assert (directory / "new" / quota).read_text() in ("25000", "25000 100000")
    touch(directory / "later" / burst, "0")
    touch(directory / "later" / quota, "-1" if kind == "v1" else "max 100000")
    group = limiter.create("later", Reservation(512, 512), quota=False)
    assert (directory / "later" / burst).read_text() == "0"
    group.apply_cpu_quota()
    assert (directory / "later" / burst).read_text() == "50000"
    assert group.record()["cpu_burst_us"] == 50000
    assert limiter.create("old", Reservation(256, 512)).record()["cpu_burst_us"] is None
    assert not (directory / "old" / burst).exists()


@pytest.mark.parametrize(
    ("units", "shares", "weight"), [(256, 256, 25), (1024, 1024, 100), (1, 2, 1)]
)
def test_cpu_weights_follow_the_cpu_units(units, shares, weight):
    assert (Reservation(units, 512).cpu_shares, Reservation(units, 512).cpu_weight) == (
        shares,
        weight,
    )


def test_the_local_backends_get_a_cpu_group_of_their_own(tmp_path: Path):
    root = v1_tree(tmp_path)
    limiter = detect("silo-dev-1", root=root, proc_cgroup=V1_PROC)
    tenant = limiter.create("pack", Reservation(256, 512))
    backends = limiter.confine_backends([101, 102])
    # Beside the run's group, not in it (limits.py says why).
    directory = root / "cpu/silo-dev-1-backends"
    assert backends.directories == [directory]
    # One vCPU's worth of weight for all of them together, no quota, no memory limit.
    assert (directory / "cpu.shares").read_text() == "1024"
    assert not (directory / "cpu.cfs_quota_us").exists()
    assert not (root / "memory/jobs/abc/silo-dev-1-backends").exists()
    # A fake cgroup.procs keeps only the last write; the kernel adds each pid.
    assert (directory / "cgroup.procs").read_text() == "102"
    assert limiter.groups == [tenant, backends]  # removed with the run's groups

    v2 = detect("run", root=v2_tree(tmp_path / "v2"), proc_cgroup="0::/\n")
    v2.confine_backends([7])
    assert (tmp_path / "v2/run-backends/cpu.weight").read_text() == "100"
    assert not (tmp_path / "v2/run-backends/memory.max").exists()


def test_v2_without_the_controllers_falls_back_to_v1(tmp_path: Path):
    # The hybrid layout of this kind of machine: an empty unified hierarchy beside v1.
    root = v1_tree(tmp_path)
    touch(root / "unified/cgroup.controllers", "")
    limiter = detect("run", root=root, proc_cgroup=V1_PROC)
    assert limiter.kind == "cgroup v1"


def test_nothing_usable_is_one_line(tmp_path: Path):
    with pytest.raises(LimitsUnavailable) as caught:
        detect("run", root=tmp_path, proc_cgroup="0::/\n")
    assert "\n" not in str(caught.value)
    touch(tmp_path / "cgroup.controllers", "io pids")
    with pytest.raises(LimitsUnavailable, match="controller"):
        detect("run", root=tmp_path, proc_cgroup="0::/\n")


def test_a_hierarchy_it_may_not_write_is_unavailable(tmp_path: Path, monkeypatch):
    root = v1_tree(tmp_path)

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(LimitsUnavailable, match=r"cgroup v1: .*Permission denied"):
        detect("run", root=root, proc_cgroup=V1_PROC)


def test_groups_of_a_killed_run_are_swept(tmp_path: Path):
    (tmp_path / "silo-dev-111" / "pack").mkdir(parents=True)
    (tmp_path / "silo-dev-222" / "pack").mkdir(parents=True)
    (tmp_path / "silo-flood-1").mkdir()
    (tmp_path / "silo-dev-333").mkdir()
    (tmp_path / "silo-dev-333" / "cgroup.procs").write_text("")  # not empty: kept
    # The groups of a run's backends and tenants' databases, beside its own.
    for name in ("silo-dev-111-backends", "silo-dev-111-db-pack", "silo-dev-222-db-pack"):
        (tmp_path / name).mkdir()

    removed = limits.sweep_stale(tmp_path, pid_alive=lambda pid: pid == 222)
    assert sorted(removed) == [
        tmp_path / "silo-dev-111",
        tmp_path / "silo-dev-111-backends",
        tmp_path / "silo-dev-111-db-pack",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "silo-dev-222",
        "silo-dev-222-db-pack",
        "silo-dev-333",
        "silo-flood-1",
    ]


def test_default_root_is_sys_fs_cgroup():
    assert Path("/sys/fs/cgroup") == limits.CGROUP_ROOT


def test_each_tenants_database_backends_are_moved_to_its_own_group(tmp_path: Path, pg):
    """Against a real PostgreSQL: every backend serving a tenant's database lands in that
    tenant's database group (a fake tree: its cgroup.procs keeps the last pid written)."""
    import psycopg

    limiter = detect("silo-dev-1", root=v1_tree(tmp_path), proc_cgroup=V1_PROC)
    urls = {slug: pg.create_database() for slug in ("alpha", "beta")}
    groups = {
        psycopg.conninfo.conninfo_to_dict(url)["dbname"]: limiter.database_group(slug)
        for slug, url in urls.items()
    }
    assert groups[next(iter(groups))].directories == [tmp_path / "cpu/silo-dev-1-db-alpha"]
    assert (tmp_path / "cpu/silo-dev-1-db-beta/cpu.shares").read_text() == "1024"
    sorter = limits.DatabaseSorter(psycopg.conninfo.conninfo_to_dict(pg.admin_url), groups)
    try:
        with psycopg.connect(urls["alpha"]) as alpha, psycopg.connect(urls["beta"]) as beta:
            assert sorter.sort() == 2
            for slug, conn in (("alpha", alpha), ("beta", beta)):
                procs = tmp_path / f"cpu/silo-dev-1-db-{slug}/cgroup.procs"
                assert procs.read_text() == str(conn.info.backend_pid)
            assert sorter.sort() == 0  # moved once
    finally:
        sorter.close()
        for url in urls.values():
            pg.drop_database(url)
