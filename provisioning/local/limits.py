"""CPU and memory for each tenant's service under `silo dev`, as Fargate reserves them.

- `detect`: the first mechanism that works (cgroup v2, v1), or `LimitsUnavailable` saying why
- `Limiter`: the run's per-tenant groups (`close` removes them); `Cgroup`: one tenant's,
  `join`ed by the child between fork and exec
- `Reservation`: what a tenant's task reserves (`api.cpu`, `api.memory`)
- `DatabaseSorter`: the local PostgreSQL's backends into their tenant's database group
- `sweep_stale`, `own_cgroups`

Design: docs/design/local-dev.md
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
CPU_PERIOD_US = 100_000
FARGATE_CPU_UNITS = 1024
MIB = 1024**2
# What the local PostgreSQL and S3 endpoint weigh together against the tenants' groups: one
# vCPU's worth. On AWS they run on machines of their own; here they share the cores with the
# services, and without a group of their own each of their processes (a backend per database
# connection, moto's threads) would weigh as much as a whole tenant, so one tenant's flood
# through them would take the CPU its neighbours reserve.
BACKENDS_CPU_UNITS = 1024
BACKENDS = "backends"
# Groups of a `silo dev` that was killed before it could remove them: `silo-dev-<pid>`.
_RUN_NAME = re.compile(r"^silo-dev-(\d+)(-backends|-db-[a-z0-9-]+)?$")


class LimitsUnavailable(RuntimeError):
    """This machine gives `silo dev` no way to limit its children; str() is the one-line why."""


@dataclass(frozen=True)
class Reservation:
    """What a tenant's task reserves on Fargate."""

    cpu_units: int
    memory_mib: int

    @classmethod
    def of(cls, tenant) -> Reservation:
        return cls(tenant.api.cpu, tenant.api.memory)

    @property
    def cpus(self) -> float:
        return self.cpu_units / FARGATE_CPU_UNITS

    @property
    def cpu_shares(self) -> int:
        """cgroup v1 `cpu.shares`: the CPU units themselves, as ECS gives a task's containers
        (1024 = one vCPU's worth of weight against the other groups when all are busy)."""
        return max(2, self.cpu_units)

    @property
    def cpu_weight(self) -> int:
        """cgroup v2 `cpu.weight`, the same proportion on its scale (100 = 1024 shares)."""
        return min(10_000, max(1, round(self.cpu_units * 100 / FARGATE_CPU_UNITS)))

    def cpu_quota_us(self, period_us: int = CPU_PERIOD_US) -> int:
        """CFS quota per `period_us` for `cpu_units / 1024` CPUs (at least 1 ms, the kernel's
        minimum)."""
        return max(1000, self.cpu_units * period_us // FARGATE_CPU_UNITS)

    @property
    def memory_bytes(self) -> int:
        return self.memory_mib * MIB

    def describe(self) -> str:
        return f"{self.cpus:g} vCPU, {self.memory_mib} MiB"


def own_cgroups(proc_cgroup: str) -> dict[str, str]:
    """Controller (or "" for the v2 unified hierarchy) -> this process's path in it, from the
    text of /proc/self/cgroup. v1 lines may name several controllers (`cpu,cpuacct`)."""
    paths: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            paths[""] = path
        for controller in controllers.split(","):
            if controller:
                paths[controller] = path
    return paths


def _under(mount: Path, path: str) -> Path:
    return mount.joinpath(*[p for p in path.split("/") if p and p != ".."])


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _hold_to(directory: Path, reservation: Reservation, *, v2: bool) -> int | None:
    """The group's CPU quota (`cpu.max` on v2, `cpu.cfs_quota_us` on v1), with as much again
    as burst where the kernel offers it (`cpu.max.burst`, `cpu.cfs_burst_us`, Linux 5.14+).

    CFS enforces a quota per 100 ms period: a service idle most of the time that wakes for a
    short burst of work (a garbage collection, a batch of access events written, a few
    requests at once) was throttled for the rest of the period, and requests arriving then
    waited up to 75 ms (0.25 vCPU). With a burst allowance, quota it left unused in earlier
    periods covers that; over time it still gets no more than its reservation. Returns the
    burst set (microseconds), or None where the kernel has none."""
    quota = reservation.cpu_quota_us()
    if v2:
        _write(directory / "cpu.max", f"{quota} {CPU_PERIOD_US}")
        burst = directory / "cpu.max.burst"
    else:
        _write(directory / "cpu.cfs_quota_us", str(quota))
        burst = directory / "cpu.cfs_burst_us"
    if not burst.exists():
        return None
    try:
        _write(burst, str(quota))
    except OSError:
        return None
    return quota


@dataclass
class Cgroup:
    """One tenant's group(s): `procs` are the `cgroup.procs` files the child writes itself to."""

    slug: str
    reservation: Reservation
    directories: list[Path]
    description: str
    burst_us: int | None = None  # the CPU burst allowance set with the quota, if any

    @property
    def procs(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.directories]

    def add(self, pid: int) -> bool:
        """Move process `pid` into the group; False when it has exited meanwhile."""
        try:
            for procs in self.procs:
                _write(procs, str(pid))
        except (ProcessLookupError, FileNotFoundError):
            return False
        return True

    def apply_cpu_quota(self) -> None:
        """Hold the group to its reserved CPUs (`cpu.max` / `cpu.cfs_quota_us`). Applied once
        the service is ready: start-up (imports, migrations, a first connection) runs on
        whatever CPU is free, so `silo dev` is up in seconds, and the running service gets
        exactly its reservation."""
        for directory in self.directories:
            if (directory / "cpu.max").exists():
                self.burst_us = _hold_to(directory, self.reservation, v2=True)
            elif (directory / "cpu.cfs_quota_us").exists():
                self.burst_us = _hold_to(directory, self.reservation, v2=False)

    def join(self) -> None:  # pragma: no cover - runs in the child between fork and exec
        """Move the calling process into the group(s)."""
        pid = str(os.getpid())
        for procs in self.procs:
            _write(procs, pid)

    def record(self) -> dict:
        """What the state file records for the tenant."""
        return {
            "cpus": self.reservation.cpus,
            "cpu_quota_us": self.reservation.cpu_quota_us(),
            "cpu_period_us": CPU_PERIOD_US,
            "cpu_burst_us": self.burst_us,
            "memory_mib": self.reservation.memory_mib,
            "memory_bytes": self.reservation.memory_bytes,
            "cgroup": self.description,
        }


@dataclass
class Limiter:
    """Creates per-tenant groups under `bases` (one directory per hierarchy used)."""

    kind: str  # "cgroup v2" or "cgroup v1"
    bases: dict[str, Path]  # controller ("" for v2) -> the run's own directory
    groups: list[Cgroup] = field(default_factory=list)

    def create(self, slug: str, reservation: Reservation, *, quota: bool = True) -> Cgroup:
        """The tenant's group: its CPU weight (`cpu.shares`/`cpu.weight`, in proportion to
        its CPU units, so it gets its reservation when every group is busy), its hard memory
        limit, and its CPU quota unless `quota` is false (then `apply_cpu_quota()` later)."""
        if self.kind == "cgroup v2":
            directory = self.bases[""] / slug
            directory.mkdir(exist_ok=True)
            _write(directory / "cpu.weight", str(reservation.cpu_weight))
            burst = None
            if quota:
                burst = _hold_to(directory, reservation, v2=True)
            _write(directory / "memory.max", str(reservation.memory_bytes))
            if (directory / "memory.swap.max").exists():
                _write(directory / "memory.swap.max", "0")
            directories = [directory]
        else:
            memory = self.bases["memory"] / slug
            cpu = self.bases["cpu"] / slug
            memory.mkdir(exist_ok=True)
            cpu.mkdir(exist_ok=True)
            _write(memory / "memory.limit_in_bytes", str(reservation.memory_bytes))
            if (memory / "memory.memsw.limit_in_bytes").exists():
                # Memory plus swap: the limit is not escaped by swapping (Fargate has none).
                with contextlib.suppress(OSError):
                    _write(memory / "memory.memsw.limit_in_bytes", str(reservation.memory_bytes))
            _write(cpu / "cpu.shares", str(reservation.cpu_shares))
            _write(cpu / "cpu.cfs_period_us", str(CPU_PERIOD_US))
            burst = None
            if quota:
                burst = _hold_to(cpu, reservation, v2=False)
            directories = [memory, cpu]
        description = f"{self.kind}: " + str(directories[0])
        group = Cgroup(slug, reservation, directories, description, burst_us=burst)
        self.groups.append(group)
        return group

    def confine_backends(self, pids: list[int]) -> Cgroup:
        """Move the local PostgreSQL and S3 endpoint (`pids`, every process of theirs: new
        PostgreSQL backends are forked by the postmaster and inherit its group) into one group
        weighing `BACKENDS_CPU_UNITS`, with no quota and no memory limit of its own.

        The group is `<run>-backends`, beside the run's group rather than in it: the kernel
        schedules a group as one entity among its siblings, so a busy group inside the run's
        would keep the run's entity busy, and a tenant waking up would wait for the run's turn
        instead of taking the CPU at once (its p99 during a neighbour's flood was 3-6x its
        idle p99 with the backends in the run's group or in none)."""
        reservation = Reservation(BACKENDS_CPU_UNITS, 0)
        if self.kind == "cgroup v2":
            run = self.bases[""]
            directory = run.parent / f"{run.name}-{BACKENDS}"
            directory.mkdir(exist_ok=True)
            _write(directory / "cpu.weight", str(reservation.cpu_weight))
        else:
            run = self.bases["cpu"]
            directory = run.parent / f"{run.name}-{BACKENDS}"
            directory.mkdir(exist_ok=True)
            _write(directory / "cpu.shares", str(reservation.cpu_shares))
        group = Cgroup(BACKENDS, reservation, [directory], f"{self.kind}: {directory}")
        self.groups.append(group)
        for pid in pids:
            group.add(pid)  # a process that has just exited has nothing to move
        return group

    def database_group(self, slug: str) -> Cgroup:
        """The group of the local PostgreSQL's backends serving `slug`'s database (moved in
        by `DatabaseSorter`), beside the run's group, weighing one vCPU as the tenant's own
        database instance would. Lumped with the other tenants' backends, a tenant's query
        waited behind its neighbour's flood of database work."""
        reservation = Reservation(BACKENDS_CPU_UNITS, 0)
        run = self.bases[""] if self.kind == "cgroup v2" else self.bases["cpu"]
        directory = run.parent / f"{run.name}-db-{slug}"
        directory.mkdir(exist_ok=True)
        if self.kind == "cgroup v2":
            _write(directory / "cpu.weight", str(reservation.cpu_weight))
        else:
            _write(directory / "cpu.shares", str(reservation.cpu_shares))
        group = Cgroup(f"db-{slug}", reservation, [directory], f"{self.kind}: {directory}")
        self.groups.append(group)
        return group

    def close(self, timeout: float = 5.0) -> list[Path]:
        """Remove every group and the run's directories (children must have exited). Returns
        what could not be removed."""
        leftovers = []
        directories = [d for g in self.groups for d in g.directories] + list(self.bases.values())
        for directory in directories:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    # A child that has just exited may take a moment to leave its group.
                    if time.monotonic() >= deadline:
                        leftovers.append(directory)
                        break
                    time.sleep(0.05)
        self.groups.clear()
        return leftovers


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(parent: Path, pid_alive=_pid_alive) -> list[Path]:
    """Remove the empty groups `silo-dev-<pid>` (and their tenants' groups),
    `silo-dev-<pid>-backends` and `silo-dev-<pid>-db-<slug>` under `parent` whose `silo dev`
    is gone (killed before its clean-up). Returns what was removed."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            found = _RUN_NAME.match(entry.name)
            if not found or not entry.is_dir() or pid_alive(int(found.group(1))):
                continue
            with contextlib.suppress(OSError):
                for child in entry.iterdir():
                    if child.is_dir():
                        child.rmdir()
                entry.rmdir()
                removed.append(entry)
    return removed


def _v2_mount(root: Path) -> Path | None:
    for mount in (root, root / "unified"):
        if (mount / "cgroup.controllers").exists():
            return mount
    return None


def detect(
    run_name: str,
    *,
    root: Path = CGROUP_ROOT,
    proc_cgroup: str | None = None,
) -> Limiter:
    """A `Limiter` whose groups live in a new directory `run_name` under the caller's own
    cgroups; `LimitsUnavailable` (one line) when no mechanism works here."""
    if proc_cgroup is None:
        try:
            proc_cgroup = PROC_SELF_CGROUP.read_text()
        except OSError as exc:
            raise LimitsUnavailable(f"cannot read /proc/self/cgroup ({exc})") from None
    own = own_cgroups(proc_cgroup)
    problems = []

    v2 = _v2_mount(root)
    if v2 is not None and "" in own:
        try:
            return _v2_limiter(v2, own[""], run_name)
        except (OSError, LimitsUnavailable) as exc:
            problems.append(f"cgroup v2: {exc}")

    if (root / "memory").is_dir() and (root / "cpu").is_dir():
        try:
            return _v1_limiter(root, own, run_name)
        except (OSError, LimitsUnavailable) as exc:
            problems.append(f"cgroup v1: {exc}")

    if not problems:
        problems.append(f"no cgroup v2 or v1 cpu and memory hierarchies under {root}")
    raise LimitsUnavailable("; ".join(problems))


def _v2_limiter(mount: Path, own_path: str, run_name: str) -> Limiter:
    available = (mount / "cgroup.controllers").read_text().split()
    missing = [c for c in ("cpu", "memory") if c not in available]
    if missing:
        raise LimitsUnavailable(f"controller(s) {', '.join(missing)} not available at {mount}")
    parent = _under(mount, own_path)
    enabled = (parent / "cgroup.subtree_control").read_text().split()
    if not {"cpu", "memory"} <= set(enabled):
        # Fails (EBUSY) when the parent holds processes and is not the root: the
        # no-internal-process rule. Then there is no place to put limited children.
        _write(parent / "cgroup.subtree_control", "+cpu +memory")
    sweep_stale(parent)
    base = parent / run_name
    base.mkdir()
    try:
        _write(base / "cgroup.subtree_control", "+cpu +memory")
    except OSError:
        base.rmdir()
        raise
    return Limiter("cgroup v2", {"": base})


def _v1_limiter(root: Path, own: dict[str, str], run_name: str) -> Limiter:
    bases: dict[str, Path] = {}
    try:
        for controller in ("memory", "cpu"):
            mount = root / controller
            if not (mount / "cgroup.procs").exists():
                raise LimitsUnavailable(f"{mount} is not a mounted hierarchy")
            parent = _under(mount, own.get(controller, "/"))
            if not parent.is_dir():
                # In a container the hierarchy's root is the container's own group.
                parent = mount
            sweep_stale(parent)
            base = parent / run_name
            base.mkdir()
            bases[controller] = base
    except BaseException:
        for base in bases.values():
            with contextlib.suppress(OSError):
                base.rmdir()
        raise
    return Limiter("cgroup v1", bases)


class DatabaseSorter:
    """Moves the local PostgreSQL's backend processes into their tenant's database group
    (`Limiter.database_group`): a backend is forked per connection, into the postmaster's
    group, so each new one is found in `pg_stat_activity` by its database and moved. Called
    now and then (`sort()`); a failure is retried at the next call."""

    def __init__(self, conninfo: dict, groups: dict[str, Cgroup]) -> None:
        self._conninfo = conninfo
        self._groups = groups  # database name -> its group
        self._moved: set[int] = set()
        self._conn = None

    def sort(self) -> int:
        """Move the backends not moved yet; returns how many were."""
        import psycopg

        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(**self._conninfo, autocommit=True, connect_timeout=2)
            rows = self._conn.execute(
                "SELECT pid, datname FROM pg_stat_activity WHERE datname = ANY(%s)",
                (list(self._groups),),
            ).fetchall()
        except psycopg.Error:
            self.close()
            return 0
        alive = {pid for pid, _ in rows}
        self._moved &= alive  # a pid of an ended backend may come back as another's
        moved = 0
        for pid, database in rows:
            if pid not in self._moved and self._groups[database].add(pid):
                self._moved.add(pid)
                moved += 1
        return moved

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
