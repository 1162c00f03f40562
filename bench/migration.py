"""Migration benchmark: one tenant takes a bulk tus migration, its neighbour keeps serving reads.

    uv run python bench/migration.py                 # 64 tus clients, about 4 GiB
    uv run python bench/migration.py --quick         # about 2 minutes (0.5 GiB, 64 clients)
    uv run python bench/migration.py --total-gib 1 --clients 32

Writes a two-tenant catalogue (the defaults of tenants.yaml: `api.cpu` 256, `api.memory` 512
MiB each) and starts `silo dev` on it, under its per-tenant cgroup limits. Tenant B gets a few
files; one client in a process of its own reads `GET /files/{id}` from B at a steady rate
(`--rate`, 50 req/s) for `--idle` seconds before A starts (B idle), then throughout A's
migration. Tenant A migrates: `--clients` threads, each a small tus 1.0.0 client (creation, then
PATCH in `--chunk` pieces; 503 `busy` waits for Retry-After, 423 and connection errors back off
and resume from HEAD's Upload-Offset, as tus clients do) take files from one queue: sizes from
a few MiB to several hundred MiB (log-uniform, seeded), about `--total-gib` in all, generated
on the fly (a PDF header, then bytes from a seeded pool at a per-file shift: never a whole file
in memory, and any offset can be regenerated on resume). Neither tenant scans for malware (on AWS
GuardDuty scans away from the tasks; here clamd would scan the gigabytes on the same cores).

CPUs: on AWS, B's task, B's database instance and B's users share no CPU with A's task, A's
database, S3 or A's movers. Here they all share this machine's cores, so by default the run is
split by CPU affinity as it would be across machines: B's service, the PostgreSQL backends of
B's database and B's reader on the half of the CPUs that takes the fewest device interrupts,
everything else (silo dev, A, S3, the rest of PostgreSQL, the uploaders) and the kernel's
unbound workqueues (dirty-page writeback) on the other half; silo dev's per-tenant cgroup limits
apply as always. `--shared-cpus` runs every process on every CPU instead: B's requests then
wait behind the S3 and PostgreSQL stand-ins and the upload clients, which the printed run-queue
wait (from schedstat) shows.

Prints A's throughput, A's peak memory (the service process's RSS sampled every 0.2 s, its
VmHWM, and the cgroup's peak) against its limit, the 503s absorbed (seen by the clients, and
`silo_admission_rejections` from A's /metrics), uploads started / completed (each completed file
checked with `GET /files/{id}` for its size; a sample downloaded and its sha256 compared), and
B's p50/p99 idle and during the migration. Targets: no lost upload; A's peak RSS under its
limit; B's p99 during the migration <= 1.5 x idle. Also the load average at start and end.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import queue
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from upload import GIB, MIB, cpu_seconds, read_status  # noqa: E402

sys.path.insert(0, str(ROOT))
from tenants.names import database_name  # noqa: E402

PDF_HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
POOL_SIZE = 32 * MIB + 4093  # odd length: files start at different shifts
BLOCK = 1 * MIB
TUS = {"Tus-Resumable": "1.0.0"}
TARGET_P99_RATIO = 1.5
# A client gives an upload up when this many attempts in a row fail (503 busy does not count:
# it is the server asking to wait, and Retry-After says how long).
MAX_FAILED_ATTEMPTS = 12
BACKOFF = (0.5, 1, 2, 3, 5, 5, 5, 10, 10, 10, 10, 10)


# --- generated content -------------------------------------------------------------------------

_POOL: memoryview | None = None


def pool() -> memoryview:
    global _POOL
    if _POOL is None:
        _POOL = memoryview(random.Random(10).randbytes(POOL_SIZE))
    return _POOL


@dataclass
class Planned:
    index: int
    size: int

    @property
    def shift(self) -> int:
        return (self.index * 7_654_321) % POOL_SIZE

    @property
    def name(self) -> str:
        return f"migrated-{self.index:05d}.pdf"

    def blocks(self, start: int, end: int, block: int = BLOCK):
        """Bytes [start, end) of the file, block by block (a PDF header, then the pool)."""
        data = pool()
        position = start
        while position < end:
            if position < len(PDF_HEADER):
                piece = PDF_HEADER[position : min(end, len(PDF_HEADER))]
            else:
                at = (position - len(PDF_HEADER) + self.shift) % POOL_SIZE
                piece = data[at : at + min(block, end - position, POOL_SIZE - at)]
            yield piece
            position += len(piece)

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for piece in self.blocks(0, self.size, 8 * MIB):
            digest.update(piece)
        return digest.hexdigest()


def plan_files(total: int, smallest: int, largest: int, seed: int = 4) -> list[Planned]:
    """Sizes log-uniform in [smallest, largest] until `total` bytes (the last one trimmed)."""
    rng = random.Random(seed)
    files: list[Planned] = []
    planned = 0
    while planned < total:
        size = int(math.exp(rng.uniform(math.log(smallest), math.log(largest))))
        size = max(smallest, min(size, total - planned)) if total - planned > smallest else smallest
        size += rng.randrange(4096)  # not a round number
        files.append(Planned(len(files), size))
        planned += size
    return files


def metadata_header(values: dict[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


# --- the tus client ----------------------------------------------------------------------------


@dataclass
class Outcome:
    planned: Planned
    started: bool = False
    file_id: str | None = None
    error: str | None = None
    busy: int = 0
    locked: int = 0
    conflicts: int = 0
    connection_errors: int = 0
    server_errors: int = 0
    resumes: int = 0
    url: str | None = None


@dataclass
class Shared:
    uploaded: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, n: int) -> None:
        with self.lock:
            self.uploaded += n


def retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


class TusUpload:
    """One file through tus 1.0.0, retried like tus-js-client/tuspy do: the request is repeated
    after a delay, and an upload that already exists resumes at the offset HEAD reports."""

    def __init__(self, http: httpx.Client, key: str, planned: Planned, chunk: int, shared: Shared):
        self.http = http
        self.auth = {"Authorization": f"Bearer {key}", **TUS}
        self.planned = planned
        self.chunk = chunk
        self.shared = shared
        self.outcome = Outcome(planned)
        self.url: str | None = None
        self.offset = 0
        self.failures = 0

    def run(self) -> Outcome:
        try:
            self._run()
        except GiveUp as exc:
            self.outcome.error = str(exc)
        return self.outcome

    def _failed(self, why: str) -> None:
        if self.failures >= MAX_FAILED_ATTEMPTS:
            raise GiveUp(f"gave up after {self.failures} failed attempts (last: {why})")
        time.sleep(BACKOFF[min(self.failures, len(BACKOFF) - 1)])
        self.failures += 1

    def _run(self) -> None:
        p = self.planned
        while self.url is None:
            try:
                r = self.http.post(
                    "/uploads",
                    headers={
                        **self.auth,
                        "Upload-Length": str(p.size),
                        "Upload-Metadata": metadata_header(
                            {"filename": p.name, "filetype": "application/pdf", "title": p.name}
                        ),
                    },
                )
            except httpx.TransportError as exc:
                self.outcome.connection_errors += 1
                self._failed(repr(exc))
                continue
            if r.status_code == 201:
                self.url = self.outcome.url = r.headers["location"]
                self.outcome.started = True
            elif r.status_code == 503:
                self.outcome.busy += 1
                time.sleep(retry_after(r))
            elif r.status_code >= 500 or r.status_code == 429:
                self.outcome.server_errors += 1
                self._failed(f"POST {r.status_code}")
            else:
                raise GiveUp(f"POST /uploads: {r.status_code} {r.text[:200]}")
        while self.outcome.file_id is None:
            end = min(p.size, self.offset + self.chunk)
            try:
                r = self.http.patch(
                    self.url,
                    content=p.blocks(self.offset, end),
                    headers={
                        **self.auth,
                        "Upload-Offset": str(self.offset),
                        "Content-Type": "application/offset+octet-stream",
                        "Content-Length": str(end - self.offset),
                    },
                )
            except httpx.TransportError as exc:
                # A 503 answered before the body was read closes the connection: the client may
                # see a reset instead. Either way, ask where the upload stands.
                self.outcome.connection_errors += 1
                self._failed(repr(exc))
                self._resume()
                continue
            if r.status_code == 204:
                new = int(r.headers["upload-offset"])
                self.shared.add(new - self.offset)
                self.offset = new
                self.failures = 0
                if new == p.size:
                    self.outcome.file_id = r.headers.get("silo-file-id")
                    if self.outcome.file_id is None:
                        raise GiveUp("final PATCH without Silo-File-Id")
            elif r.status_code == 503:
                self.outcome.busy += 1
                time.sleep(retry_after(r))
            elif r.status_code == 423:
                self.outcome.locked += 1
                self._failed("423 locked")
                self._resume()
            elif r.status_code == 409:
                self.outcome.conflicts += 1
                self._failed("409 offset")
                self._resume()
            elif r.status_code >= 500 or r.status_code == 429:
                self.outcome.server_errors += 1
                self._failed(f"PATCH {r.status_code}")
                self._resume()
            else:
                raise GiveUp(f"PATCH: {r.status_code} {r.text[:200]}")

    def _resume(self) -> None:
        """HEAD until it answers: the offset the server holds (a partial PATCH may have landed)."""
        while True:
            try:
                r = self.http.head(self.url, headers=self.auth)
            except httpx.TransportError as exc:
                self.outcome.connection_errors += 1
                self._failed(repr(exc))
                continue
            if r.status_code == 200:
                new = int(r.headers["upload-offset"])
                if new != self.offset:
                    self.shared.add(new - self.offset)
                self.offset = new
                self.outcome.resumes += 1
                if new == self.planned.size and r.headers.get("silo-file-id"):
                    self.outcome.file_id = r.headers["silo-file-id"]
                return
            if r.status_code == 423:
                self.outcome.locked += 1
                self._failed("HEAD 423")
                continue
            if r.status_code == 503 or r.status_code >= 500:
                self.outcome.server_errors += 1
                self._failed(f"HEAD {r.status_code}")
                continue
            raise GiveUp(f"HEAD: {r.status_code} {r.text[:200]}")


class GiveUp(Exception):
    pass


def migrate(url: str, key: str, files: list[Planned], clients: int, chunk: int, shared: Shared):
    todo: queue.Queue[Planned] = queue.Queue()
    for planned in sorted(files, key=lambda f: -f.size):  # the largest first, as a mover would
        todo.put(planned)
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def worker() -> None:
        timeout = httpx.Timeout(120.0, connect=30.0)
        with httpx.Client(base_url=url, timeout=timeout) as http:
            while True:
                try:
                    planned = todo.get_nowait()
                except queue.Empty:
                    return
                outcome = TusUpload(http, key, planned, chunk, shared).run()
                with lock:
                    outcomes.append(outcome)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


# --- tenant B's steady reader (a process of its own: the uploaders' GIL is not its latency) ----


def reader_main(url: str, key: str, ids: list[str], rate: float, stop, out) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the bench's own handler (forked)
    samples: list[tuple[float, float, int]] = []
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30.0
    ) as http:
        interval = 1.0 / rate
        next_at = time.monotonic()
        i = 0
        while not stop.is_set():
            now = time.monotonic()
            if now < next_at:
                time.sleep(next_at - now)
            sent = time.monotonic()
            try:
                status = http.get(f"/files/{ids[i % len(ids)]}").status_code
            except httpx.HTTPError:
                status = -1
            samples.append((sent, time.monotonic() - sent, status))
            i += 1
            next_at += interval
            if next_at < time.monotonic() - 1.0:  # far behind: do not send a burst
                next_at = time.monotonic()
    out.send(samples)
    out.close()


# --- memory sampling ---------------------------------------------------------------------------


class MemorySampler(threading.Thread):
    def __init__(self, pid: int, cgroup_dir: Path | None, period: float = 0.2):
        super().__init__(daemon=True)
        self.pid = pid
        self.cgroup_dir = cgroup_dir
        self.period = period
        self.peak_rss = 0
        self.peak_cgroup = 0
        self.stopping = threading.Event()

    def cgroup_usage(self) -> int:
        for name in ("memory.usage_in_bytes", "memory.current"):
            try:
                return int((self.cgroup_dir / name).read_text())
            except (OSError, ValueError, TypeError):
                continue
        return 0

    def cgroup_peak(self) -> int | None:
        for name in ("memory.max_usage_in_bytes", "memory.peak"):
            try:
                return int((self.cgroup_dir / name).read_text())
            except (OSError, ValueError, TypeError):
                continue
        return None

    def run(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(OSError, KeyError):
                self.peak_rss = max(self.peak_rss, read_status(self.pid)["VmRSS"])
            self.peak_cgroup = max(self.peak_cgroup, self.cgroup_usage())
            self.stopping.wait(self.period)


# --- silo dev ----------------------------------------------------------------------------------


def write_catalogue(directory: Path) -> Path:
    document = yaml.safe_load((ROOT / "tenants.yaml").read_text())
    # No malware scanning: on AWS, GuardDuty scans away from the tenants' tasks; here clamd
    # would scan the migrated gigabytes on the same cores (and stop at 100 MiB a file).
    document["tenants"] = [
        {"slug": "tenanta", "name": "Tenant A", "priority": 10, "limits": {"scan": "off"}},
        {"slug": "tenantb", "name": "Tenant B", "priority": 20, "limits": {"scan": "off"}},
    ]
    path = directory / "tenants.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return path


def start_silo_dev(work: Path, no_limits: bool, logs: Path) -> tuple[subprocess.Popen, dict]:
    catalogue = write_catalogue(work)
    state = work / "dev.json"
    silo = Path(sys.executable).parent / "silo"
    command = [str(silo), "dev", "--tenants", str(catalogue), "--state", str(state)]
    command += ["--logs", str(logs)]
    if no_limits:
        command.append("--no-limits")
    log = open(logs / "silo-dev.log", "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"silo dev exited:\n{(logs / 'silo-dev.log').read_text()[-3000:]}")
        if state.exists():
            document = json.loads(state.read_text())
            tenants = document["tenants"]
            if all(t["status"] == "running" for t in tenants.values()):
                return process, document
            raise SystemExit(f"a tenant is not ready: {tenants}")
        time.sleep(0.2)
    process.terminate()
    raise SystemExit("silo dev did not write its state file within 180 s")


def stop_silo_dev(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cgroup_dir(entry: dict) -> Path | None:
    limits = entry.get("limits")
    if not limits:
        return None
    path = Path(limits["cgroup"].split(": ", 1)[1])
    # cgroup v1: the description names the first hierarchy, the memory one.
    return path if path.exists() else None


def throttled(pid: int) -> tuple[int, float] | None:
    """(periods throttled, seconds throttled) from cpu.stat of the process's cpu cgroup."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    directories = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            directories.append(Path("/sys/fs/cgroup", path.lstrip("/")))
        elif "cpu" in controllers.split(","):
            directories.append(Path("/sys/fs/cgroup", controllers, path.lstrip("/")))
            directories.append(Path("/sys/fs/cgroup/cpu", path.lstrip("/")))
    for directory in directories:
        try:
            stat = dict(line.split() for line in (directory / "cpu.stat").read_text().splitlines())
        except (OSError, ValueError):
            continue
        if "throttled_time" in stat:  # v1, nanoseconds
            return int(stat["nr_throttled"]), int(stat["throttled_time"]) / 1e9
        if "throttled_usec" in stat:  # v2
            return int(stat["nr_throttled"]), int(stat["throttled_usec"]) / 1e6
    return None


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_split(silo_pid: int, a_pid: int, b_pid: int) -> dict[str, float]:
    """CPU seconds so far: A's and B's services, the rest of `silo dev` (PostgreSQL, the S3
    endpoint) and this benchmark (its uploaders, and B's reader)."""

    def cpu(pid: int) -> float:
        try:
            return cpu_seconds(pid)
        except (OSError, IndexError, ValueError):
            return 0.0

    silo = set(descendants(silo_pid))
    backends = sum(cpu(pid) for pid in silo if pid not in (a_pid, b_pid))
    bench = sum(cpu(pid) for pid in descendants(os.getpid()) if pid not in silo)
    return {
        "A": cpu(a_pid),
        "B": cpu(b_pid),
        "postgres+S3": backends,
        "bench clients": bench,
    }


def metric(url: str, key: str, name: str) -> float | None:
    try:
        text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {key}"}).text
    except httpx.HTTPError:
        return None
    total = None
    for line in text.splitlines():
        if re.match(rf"^{re.escape(name)}(_total)?(\{{.*\}})? ", line):
            total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    return total


def seed_tenant_b(url: str, key: str, count: int) -> list[str]:
    ids = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for i in range(count):
            planned = Planned(100_000 + i, 64 * 1024 + i)
            outcome = TusUpload(http, key, planned, 8 * MIB, Shared()).run()
            if outcome.file_id is None:
                raise SystemExit(f"could not seed tenant B: {outcome.error}")
            ids.append(outcome.file_id)
    return ids


# --- two hosts' worth of CPUs ------------------------------------------------------------------


class HostSplit(threading.Thread):
    """B's side on CPUs of its own, everything else of the run on the others, as on AWS.

    There, tenant B's task, B's database instance and B's users share no CPU with tenant A's
    task, A's database, S3 or A's movers. Here all of them share this machine's cores, and the
    S3 and PostgreSQL stand-ins plus 64 upload clients keep them busy: B's requests then wait
    for a core behind work that on AWS runs on other machines (the run-queue waits printed at
    the end show it). So, by CPU affinity: B's service, the PostgreSQL backends of B's
    database and B's reader on the half of the CPUs taking the fewest device interrupts; silo
    dev, A's service, S3, PostgreSQL's other processes, clamd and this process (the uploaders)
    on the other half, with the kernel's unbound workqueues: they carry the writeback of the
    gigabytes S3's stand-in writes to files, work done for A that on AWS happens on S3's
    machines (bench/README.md has runs with and without them moved). The per-tenant cgroup
    limits of silo dev apply as before. Re-sorted every 0.5 s (new database backends are
    forked on the other half). `--shared-cpus` leaves every process and workqueue on every
    CPU."""

    def __init__(
        self, silo_pid: int, b_pid: int, reader_pid: int, b_database: str, database_url: str
    ) -> None:
        super().__init__(daemon=True)
        self.postmaster = postmaster(database_url)
        self.b_side = quiet_half(os.sched_getaffinity(0), device_interrupts())
        self.rest = os.sched_getaffinity(0) - self.b_side
        self.workqueues = WorkqueueMask(self.rest)
        self.silo_pid, self.b_pid, self.reader_pid = silo_pid, b_pid, reader_pid
        self.b_database = b_database
        self.stopping = threading.Event()

    def describe(self) -> str:
        if self.postmaster is None:
            return "PostgreSQL's own processes not found, left on every CPU; " + self._describe()
        return self._describe()

    def _describe(self) -> str:
        return (
            f"B's service, database backends and reader on CPU {sorted(self.b_side)} (the "
            f"half taking the fewest device interrupts); everything else on CPU "
            f"{sorted(self.rest)}; {self.workqueues.describe()}"
        )

    def close(self) -> None:
        self.stopping.set()
        self.workqueues.restore()

    def b_pids(self) -> set[int]:
        return {self.b_pid, self.reader_pid, *database_backends(self.b_database)}

    def sort(self) -> None:
        b_side = self.b_pids()
        # PostgreSQL is started by pg_ctl, which leaves the postmaster outside silo dev's tree.
        run = {os.getpid(), *descendants(self.silo_pid)}
        if self.postmaster is not None:
            run.update(descendants(self.postmaster))
        for pid in run | b_side:
            cpus = self.b_side if pid in b_side else self.rest
            for task in Path(f"/proc/{pid}/task").glob("*"):
                with contextlib.suppress(OSError, ValueError):
                    os.sched_setaffinity(int(task.name), cpus)

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            self.sort()


def device_interrupts(path: str = "/proc/interrupts") -> dict[int, int]:
    """Interrupts each CPU has taken from devices (numbered IRQ lines) since boot."""
    with contextlib.suppress(OSError):
        return parse_device_interrupts(Path(path).read_text())
    return {}


def parse_device_interrupts(text: str) -> dict[int, int]:
    lines = text.splitlines()
    if not lines:
        return {}
    cpus = [int(name.removeprefix("CPU")) for name in lines[0].split()]
    totals = dict.fromkeys(cpus, 0)
    for line in lines[1:]:
        irq, _, rest = line.partition(":")
        if not irq.strip().isdigit():
            continue  # LOC, RES, TLB...: every CPU has its own, they follow no device
        for cpu, count in zip(cpus, rest.split(), strict=False):
            if not count.isdigit():
                break
            totals[cpu] += int(count)
    return totals


def quiet_half(cpus: set[int], interrupts: dict[int, int]) -> set[int]:
    """The half of `cpus` that takes the fewest device interrupts (the upper half on a tie).

    Interrupt affinity is the hypervisor's or root's to set and often cannot be changed (not
    on this VM): A's disk writes (S3's stand-in keeps objects in files) then interrupt whatever
    runs on the CPU the block device's queue is bound to, and that should not be B."""
    ordered = sorted(cpus, key=lambda cpu: (interrupts.get(cpu, 0), -cpu))
    return set(ordered[: len(ordered) - len(ordered) // 2])


def _interrupt(signum: int, _frame: object) -> None:
    signal.signal(signum, signal.SIG_IGN)  # once: the cleanup that follows is not cut short
    raise KeyboardInterrupt(signal.Signals(signum).name)


class WorkqueueMask:
    """Unbound kernel workqueues (dirty-page writeback among them) kept on `cpus` for the run.

    The kernel's kworkers are no process of the run, so affinity cannot place them; the
    workqueue cpumask can, as root. Restored to what it was when the run ends."""

    PATH = Path("/sys/devices/virtual/workqueue/cpumask")

    def __init__(self, cpus: set[int]) -> None:
        self.before: str | None = None
        self.error: str | None = None
        try:
            self.before = self.PATH.read_text().strip()
            self.PATH.write_text(f"{sum(1 << cpu for cpu in cpus):x}\n")
            atexit.register(self.restore)  # also when the run fails or is interrupted
        except OSError as error:
            self.before, self.error = None, error.strerror or str(error)

    def describe(self) -> str:
        if self.error is not None:
            return f"kernel workqueues left where they were ({self.error})"
        return f"unbound kernel workqueues on the latter (mask {self.PATH.read_text().strip()})"

    def restore(self) -> None:
        if self.before is not None:
            with contextlib.suppress(OSError):
                self.PATH.write_text(self.before + "\n")
            self.before = None


def command_lines() -> Iterator[tuple[int, list[bytes]]]:
    """(pid, its command line's words, as given) of every process there is."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                yield int(entry.name), (entry / "cmdline").read_bytes().split(b"\0")


def postmaster(database_url: str) -> int | None:
    """The pid of the local PostgreSQL listening on `database_url`'s port, if one is ours."""
    port = str(urlsplit(database_url).port or 5432).encode()
    for pid, words in command_lines():
        named = Path(words[0].decode(errors="replace")).name == "postgres" and b"-p" in words
        if named and words.index(b"-p") + 1 < len(words) and words[words.index(b"-p") + 1] == port:
            return pid
    return None


def database_backends(database: str) -> list[int]:
    """PostgreSQL backends connected to `database` (their title: `postgres: user db host`)."""
    found = []
    for pid, words in command_lines():
        title = b" ".join(words).split()
        if len(title) >= 3 and title[0] == b"postgres:" and title[2] == database.encode():
            found.append(pid)
    return found


def run_queue_wait(pids) -> float:
    """Seconds the threads of `pids` spent runnable, waiting for a CPU (schedstat)."""
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


# --- verification and report -------------------------------------------------------------------


def verify(url: str, key: str, outcomes: list[Outcome], sample: int) -> tuple[int, list, int, list]:
    """(sizes right, size problems, sha256 checked, sha256 problems)."""
    done = [o for o in outcomes if o.file_id]
    right, wrong = 0, []
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120
    ) as http:
        for o in done:
            r = http.get(f"/files/{o.file_id}")
            if r.status_code == 200 and r.json().get("size") == o.planned.size:
                right += 1
            else:
                wrong.append((o.planned.name, r.status_code, r.text[:200]))
        rng = random.Random(1)
        by_size = sorted(done, key=lambda o: o.planned.size)
        chosen = by_size[:1] + by_size[-1:] + rng.sample(by_size, min(sample, len(by_size)))
        chosen = list({o.file_id: o for o in chosen}.values())[: max(sample, 2)]
        bad = []
        for o in chosen:
            link = http.get(f"/files/{o.file_id}/content", params={"redirect": "false"})
            if link.status_code != 200:
                bad.append(f"{o.planned.name}: {link.status_code} {link.text[:200]}")
                continue
            digest = hashlib.sha256()
            with httpx.stream("GET", link.json()["url"], timeout=300) as body:
                for piece in body.iter_bytes(4 * MIB):
                    digest.update(piece)
            if digest.hexdigest() != o.planned.sha256():
                bad.append(o.planned.name)
    return right, wrong, len(chosen), bad


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def ok(flag: bool) -> str:
    return "ok" if flag else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--total-gib", type=float, default=4.0, help="bytes to migrate (GiB)")
    parser.add_argument("--clients", type=int, default=64, help="parallel tus clients")
    parser.add_argument("--smallest-mib", type=float, default=2.0)
    parser.add_argument("--largest-mib", type=float, default=400.0)
    parser.add_argument("--chunk-mib", type=int, default=32, help="PATCH size (MiB)")
    parser.add_argument("--rate", type=float, default=50.0, help="tenant B reads per second")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of B alone first")
    parser.add_argument("--verify-sample", type=int, default=4, help="files sha256-checked")
    parser.add_argument("--logs", metavar="DIR", help="keep silo dev's logs here")
    parser.add_argument("--no-limits", action="store_true", help="run silo dev --no-limits")
    parser.add_argument(
        "--shared-cpus",
        action="store_true",
        help="every process on every CPU (default: B's side on CPUs of its own, as on AWS)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="about 2 minutes: 0.5 GiB of files of 1-64 MiB, 15 s of B idle",
    )
    args = parser.parse_args(argv)
    # A SIGTERM ends the run as Ctrl-C does: silo dev stopped, the workqueue mask restored.
    signal.signal(signal.SIGTERM, _interrupt)
    if args.quick:
        args.total_gib = min(args.total_gib, 0.5)
        args.largest_mib = min(args.largest_mib, 64.0)
        args.smallest_mib = min(args.smallest_mib, 1.0)
        args.idle = min(args.idle, 15.0)

    files = plan_files(
        int(args.total_gib * GIB), int(args.smallest_mib * MIB), int(args.largest_mib * MIB)
    )
    total = sum(f.size for f in files)
    print(f"load average at start: {load()}", flush=True)
    print(
        f"plan: {len(files)} files, {total / MIB:.0f} MiB ({min(f.size for f in files) / MIB:.1f}"
        f"-{max(f.size for f in files) / MIB:.1f} MiB), {args.clients} tus clients, PATCH "
        f"{args.chunk_mib} MiB; tenant B read at {args.rate:g} req/s",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="silo-migbench-") as tmp:
        work = Path(tmp)
        logs = Path(args.logs) if args.logs else work / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        silo, state = start_silo_dev(work, args.no_limits, logs)
        try:
            return run(args, files, total, state, silo.pid)
        finally:
            stop_silo_dev(silo)


def run(args, files: list[Planned], total: int, state: dict, silo_pid: int) -> int:
    a, b = state["tenants"]["tenanta"], state["tenants"]["tenantb"]
    print(f"silo dev limits: {state.get('limits')}", flush=True)
    for slug, entry in state["tenants"].items():
        limits = entry.get("limits") or {}
        print(
            f"  {slug}: pid {entry['pid']}, {limits.get('cpus', '-')} vCPU, "
            f"{limits.get('memory_mib', '-')} MiB ({limits.get('cgroup', 'no cgroup')})",
            flush=True,
        )
    ids = seed_tenant_b(b["url"], b["admin_key"], 20)
    pool()  # built before the clock starts

    receiver, sender = multiprocessing.Pipe(duplex=False)
    stop = multiprocessing.Event()
    # A daemon: should this process die, the reader goes with it instead of reading forever.
    reader = multiprocessing.Process(
        target=reader_main,
        args=(b["url"], b["admin_key"], ids, args.rate, stop, sender),
        daemon=True,
    )
    reader.start()
    split_cpus = None
    if args.shared_cpus:
        print("CPUs: shared by every process (--shared-cpus)", flush=True)
    elif len(os.sched_getaffinity(0)) < 2:
        print("CPUs: one only, shared by every process", flush=True)
    else:
        split_cpus = HostSplit(
            silo_pid, b["pid"], reader.pid, database_name("tenantb"), state["database"]
        )
        split_cpus.sort()
        split_cpus.start()
        print(f"CPUs: {split_cpus.describe()}", flush=True)

    def b_waits() -> float:
        return run_queue_wait([b["pid"], reader.pid, *database_backends(database_name("tenantb"))])

    idle_start = time.monotonic()
    waited_idle = b_waits()
    time.sleep(args.idle)
    waited_idle = b_waits() - waited_idle

    sampler = MemorySampler(a["pid"], cgroup_dir(a))
    sampler.start()
    shared = Shared()
    rejections_before = metric(a["url"], a["admin_key"], "silo_admission_rejections") or 0.0
    capacity = metric(a["url"], a["admin_key"], "silo_upload_capacity")
    cpu_before = cpu_seconds(a["pid"])
    split_before = cpu_split(silo_pid, a["pid"], b["pid"])
    throttled_before = throttled(a["pid"])
    b_throttled_before = throttled(b["pid"])
    waited_during = b_waits()
    migration_start = time.monotonic()
    progress_stop = threading.Event()

    def progress() -> None:
        while not progress_stop.wait(15):
            elapsed = time.monotonic() - migration_start
            print(
                f"  {elapsed:5.0f} s: {shared.uploaded / MIB:7.0f} MiB "
                f"({shared.uploaded / MIB / elapsed:5.1f} MiB/s), A RSS peak "
                f"{sampler.peak_rss / MIB:.0f} MiB, load {load()}",
                flush=True,
            )

    threading.Thread(target=progress, daemon=True).start()
    outcomes = migrate(a["url"], a["admin_key"], files, args.clients, args.chunk_mib * MIB, shared)
    migration_end = time.monotonic()
    cpu_used = cpu_seconds(a["pid"]) - cpu_before
    split = {
        k: v - split_before.get(k, 0.0) for k, v in cpu_split(silo_pid, a["pid"], b["pid"]).items()
    }
    throttled_after = throttled(a["pid"])
    b_throttled_after = throttled(b["pid"])
    waited_during = b_waits() - waited_during
    if split_cpus is not None:
        split_cpus.close()
    progress_stop.set()
    stop.set()
    samples = receiver.recv()
    reader.join()
    sampler.stopping.set()
    sampler.join()
    load_end = load()
    hwm = read_status(a["pid"]).get("VmHWM", 0)
    cgroup_peak = sampler.cgroup_peak() if sampler.cgroup_dir else None
    rejections = (metric(a["url"], a["admin_key"], "silo_admission_rejections") or 0.0) - (
        rejections_before
    )

    seconds = migration_end - migration_start
    completed = [o for o in outcomes if o.file_id]
    started = [o for o in outcomes if o.started]
    lost = [o for o in outcomes if not o.file_id]
    right, wrong, checked, bad = verify(a["url"], a["admin_key"], outcomes, args.verify_sample)
    counts = Counter()
    for o in outcomes:
        counts.update(
            busy=o.busy,
            locked=o.locked,
            conflicts=o.conflicts,
            connection_errors=o.connection_errors,
            server_errors=o.server_errors,
            resumes=o.resumes,
        )

    idle = [s for s in samples if idle_start <= s[0] < migration_start]
    during = [s for s in samples if migration_start <= s[0] < migration_end]

    def latencies(rows):
        return [s[1] * 1000 for s in rows if s[2] == 200]

    def failures(rows):
        return sum(1 for s in rows if s[2] != 200)

    idle_ms, during_ms = latencies(idle), latencies(during)
    p50_idle, p99_idle = percentile(idle_ms, 0.5), percentile(idle_ms, 0.99)
    p50_during, p99_during = percentile(during_ms, 0.5), percentile(during_ms, 0.99)
    limit = (a.get("limits") or {}).get("memory_bytes")
    peak = max(sampler.peak_rss, hwm)

    print()
    print(f"tenant A migration: {len(files)} files, {total / MIB:.0f} MiB, {args.clients} clients")
    print(f"  time                {seconds:8.1f} s")
    print(f"  throughput          {total / MIB / seconds:8.1f} MiB/s")
    limits = a.get("limits") or {}
    print(
        f"  A's CPU             {cpu_used:8.1f} s ({cpu_used / seconds:.2f} CPUs on average; "
        f"limit {limits.get('cpus', 'none')})"
    )
    print(
        "  CPU s, by process   "
        + ", ".join(f"{name} {value:.1f}" for name, value in split.items())
        + f" ({sum(split.values()) / seconds:.2f} CPUs in all)"
    )
    if throttled_before and throttled_after:
        print(
            f"  CPU throttled       {throttled_after[0] - throttled_before[0]} periods, "
            f"{throttled_after[1] - throttled_before[1]:.1f} s"
        )
    print(
        f"  uploads             {len(started)} started, {len(completed)} completed, "
        f"{len(lost)} lost (of {len(files)})"
    )
    for o in lost[:5]:
        print(f"    lost {o.planned.name} ({o.planned.size} B, {o.url}): {o.error}")
    print(
        f"  503 busy absorbed   {counts['busy']} seen by the clients; "
        f"silo_admission_rejections +{rejections:.0f}"
        + (f" (A's upload cap {capacity:.0f} streams)" if capacity is not None else "")
    )
    print(
        f"  other retries       {counts['connection_errors']} connection errors, "
        f"{counts['locked']} 423, {counts['conflicts']} 409, {counts['server_errors']} 5xx; "
        f"{counts['resumes']} HEAD resumes"
    )
    print(f"  GET /files/{{id}}     {right}/{len(completed)} with the right size")
    for name, status, text in wrong[:5]:
        print(f"    {name}: {status} {text}")
    print(f"  sha256 sample       {checked - len(bad)}/{checked} match {bad or ''}")
    limit_text = f"{limit / MIB:.0f} MiB" if limit else "none"
    print(
        f"  peak RSS            {peak / MIB:.0f} MiB (sampled {sampler.peak_rss / MIB:.0f}, "
        f"VmHWM {hwm / MIB:.0f}); limit {limit_text}"
    )
    if cgroup_peak is not None:
        print(
            f"  cgroup memory peak  {cgroup_peak / MIB:.0f} MiB (sampled usage peak "
            f"{sampler.peak_cgroup / MIB:.0f} MiB; includes page cache)"
        )
    print()
    print(f"tenant B GET /files/{{id}} at {args.rate:g} req/s (one client, its own process)")
    print(f"  {'phase':<18}{'requests':>9}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}")
    for phase, rows, ms in (("idle", idle, idle_ms), ("during migration", during, during_ms)):
        print(
            f"  {phase:<18}{len(rows):>9}{failures(rows):>8}"
            f"{percentile(ms, 0.5):>9.1f}{percentile(ms, 0.99):>9.1f}"
        )
    print(
        f"  ratio during/idle     p50 x{p50_during / p50_idle:.2f}"
        f"   p99 x{p99_during / p99_idle:.2f}"
    )
    if b_throttled_before and b_throttled_after:
        print(
            f"  B's CPU throttled   {b_throttled_after[0] - b_throttled_before[0]} periods, "
            f"{b_throttled_after[1] - b_throttled_before[1]:.2f} s, during the migration"
        )
    print(
        "  waiting for a CPU   "
        f"{waited_idle * 1000 / max(1, len(idle)):.2f} ms per request idle, "
        f"{waited_during * 1000 / max(1, len(during)):.2f} during the migration "
        "(B's service, its database backends and its reader, from schedstat)"
    )
    print()
    print(f"load average at start: see above; at end: {load_end}")
    no_loss = not lost and not wrong and not bad
    under = limit is None or peak < limit
    p99_ok = p99_during <= TARGET_P99_RATIO * p99_idle
    print("targets:")
    print(f"  zero lost uploads (sizes and sha256 sample right)   {ok(no_loss)}")
    print(f"  A's peak RSS under its memory limit                 {ok(under)}")
    print(f"  B's p99 during migration <= {TARGET_P99_RATIO} x idle            {ok(p99_ok)}")
    return 0 if no_loss and under else 1


if __name__ == "__main__":
    sys.exit(main())
