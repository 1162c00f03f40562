"""`silo dev` gives each service the CPU and memory its catalogue entry reserves on Fargate: the
service process really runs in a limited cgroup, the state file says so, and the groups are
gone after exit. `--no-limits` turns that off."""

from __future__ import annotations

from pathlib import Path

from provisioning.local.limits import LimitsUnavailable, detect
from tests.smoke.conftest import DevRun

MIB = 1024**2


def limits_possible_here() -> str | None:
    """None when this machine lets `silo dev` create limited groups, else why not."""
    try:
        limiter = detect("silo-test-probe")
    except LimitsUnavailable as exc:
        return str(exc)
    limiter.close()
    return None


def cgroup_files(pid: int) -> dict[str, Path]:
    """The limit files of the cgroups `pid` runs in (v1 memory and cpu, or v2)."""
    found = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        rel = path.strip("/")
        if "memory" in controllers.split(","):
            found["memory"] = Path("/sys/fs/cgroup/memory", rel, "memory.limit_in_bytes")
        if "cpu" in controllers.split(","):
            found["cpu"] = Path("/sys/fs/cgroup/cpu", rel, "cpu.cfs_quota_us")
        if controllers == "" and "memory" not in found:
            for mount in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
                if (mount / rel / "memory.max").exists():
                    found["memory_v2"] = mount / rel / "memory.max"
                    found["cpu_v2"] = mount / rel / "cpu.max"
    return found


def test_dev_puts_each_service_in_a_cgroup_with_its_reservation(dev_factory):
    why_not = limits_possible_here()
    run: DevRun = dev_factory(["alpha"])
    state = run.state()
    entry = state["tenants"]["alpha"]
    if why_not is not None:
        # The machine allows no limits: one line says so and the service runs without.
        assert "running without limits" in run.output()
        assert state["limits"].startswith("unavailable") and entry["limits"] is None
        return
    assert "reserving as on Fargate" in run.output()
    # The catalogue's defaults: 512 CPU units (half a vCPU) and 3072 MiB, the task that holds
    # the service and its clamd sidecar on Fargate.
    assert entry["limits"]["cpus"] == 0.5 and entry["limits"]["memory_mib"] == 3072
    files = cgroup_files(entry["pid"])
    if "memory" in files:
        assert int(files["memory"].read_text()) == 3072 * MIB
        assert int(files["cpu"].read_text()) == 50_000
        assert files["cpu"].with_name("cpu.cfs_period_us").read_text().strip() == "100000"
        assert files["cpu"].with_name("cpu.shares").read_text().strip() == "512"
        run_group = files["cpu"].parent.parent
        weight = "cpu.shares", "1024"
    else:
        assert int(files["memory_v2"].read_text()) == 3072 * MIB
        assert files["cpu_v2"].read_text().split() == ["50000", "100000"]
        assert files["cpu_v2"].with_name("cpu.weight").read_text().strip() == "50"
        run_group = files["cpu_v2"].parent.parent
        weight = "cpu.weight", "100"
    # PostgreSQL's own processes and the S3 endpoint share one group, the backends serving the
    # tenant's database another, beside the run's, one vCPU's weight each.
    backends = run_group.with_name(f"{run_group.name}-backends")
    database = run_group.with_name(f"{run_group.name}-db-alpha")
    for group in (backends, database):
        assert group.joinpath(weight[0]).read_text().strip() == weight[1], group

    def commands(group: Path) -> set[bytes]:
        pids = group.joinpath("cgroup.procs").read_text().split()
        return {Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pids}

    assert any(b"postgres" in c for c in commands(backends)), commands(backends)
    assert any(b"moto.server" in c for c in commands(backends)), commands(backends)
    assert commands(database) and all(b"postgres" in c for c in commands(database))
    directories = [f.parent for f in files.values()]
    assert all(d.name == "alpha" for d in directories), directories
    assert run.stop() == 0
    assert not any(d.exists() for d in directories), "cgroups left behind"
    assert not any(d.parent.exists() for d in directories), "the run's cgroup left behind"
    assert not backends.exists() and not database.exists()


def test_no_limits_turns_them_off(dev_factory):
    run: DevRun = dev_factory(["alpha"], "--no-limits")
    state = run.state()
    assert state["limits"] == "off (--no-limits)"
    assert state["tenants"]["alpha"]["limits"] is None
    assert "resource limits off" in run.output()
