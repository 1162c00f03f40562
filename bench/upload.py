"""Upload benchmark: the service vs a direct boto3 upload of the same bytes, and service memory.

    uv run python bench/upload.py [--sizes 64MiB,1GiB] [--profile DIR]

Starts a throwaway PostgreSQL and the local S3 endpoint (moto, a child process), then the
service (`python -m service`, a child process) configured by environment variables as in
production. For each size it streams a generated MP4 (a valid `ftyp` header, then pseudo-random
bytes; never held whole in memory on either side):

- through the service: one multipart/form-data POST /files with httpx, from the first byte sent
  to the 201 (which comes after CompleteMultipartUpload and the database row);
- directly: boto3 `upload_fileobj` of the same bytes to the same endpoint, with the service's
  part size and number of parts in flight (TransferConfig) and the service's client settings
  (`service.storage.s3.s3_client`), so the ratio isolates what the service adds (HTTP and
  multipart parsing, sniffing, hashing, its own S3 path). For reference the same upload with a
  boto3 client at its defaults (which SigV4-signs every payload over plain HTTP) is shown too;

and reads the service process's VmHWM (peak RSS) from /proc after each upload. VmHWM only ever
rises, so the memory figure that matters is its growth from the 64 MiB to the 1 GiB upload: a
streaming service reaches its steady state within the first file.

Then, for one size (`--direct-size`, 1 GiB), a direct upload (POST /uploads/direct, the client's
PUT of the bytes to the presigned URL, POST .../complete) against the streamed POST /files of
the same bytes: wall time and throughput from the first request to the file's 201, and the
service process's CPU-seconds per GiB (from /proc/<pid>/stat) for each. Direct uploads are
measured twice: with the sha256 taken from storage's checksum (SILO_S3_VERIFIES_CHECKSUMS=1, the
path on AWS S3) and with the object read back (the path against moto, whose checksums are not
verified; a second service process runs with SILO_S3_VERIFIES_CHECKSUMS=0). The client's own
sha256 of the file (needed to declare it) is computed once beforehand and not counted.

Targets: ratio service/direct >= 0.8; VmHWM growth 64 MiB -> 1 GiB < 32 MiB; a direct upload
(storage checksum) costs the service under 5 % of the CPU per GiB of a streamed one.
This is a benchmark that prints, not a test: figures depend on the machine (and on the local S3
endpoint, which runs on the same cores).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from boto3.s3.transfer import TransferConfig

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provisioning.local import LocalPostgres, LocalS3, free_port, wait_for_port  # noqa: E402
from provisioning.local.s3 import LOCAL_CREDENTIALS  # noqa: E402
from service.storage import s3_client  # noqa: E402

MIB = 1024**2
GIB = 1024**3
PART_SIZE = 8 * MIB  # the service's S3Storage default
PARTS_IN_FLIGHT = 2  # likewise
BLOCK = 1 * MIB  # the client's write size
TARGET_RATIO = 0.8
TARGET_RSS_GROWTH = 32 * MIB
TARGET_DIRECT_CPU_SHARE = 0.05


# --- generated content -------------------------------------------------------------------------


def mp4_header() -> bytes:
    """An ISO BMFF `ftyp` box (major brand isom) and the start of an `mdat` box."""
    brands = b"isom" + b"\x00\x00\x02\x00" + b"isomiso2avc1mp41"
    ftyp = (8 + len(brands)).to_bytes(4, "big") + b"ftyp" + brands
    return ftyp + b"\x00\x00\x00\x01mdat"


class Content:
    """`size` bytes of fake MP4, generated block by block from a seeded pool of random bytes.

    Cycling through a pool (with a rotating offset, so blocks differ) keeps the generator cheap:
    the client must not eat the CPU the service and the S3 endpoint need on a small machine.
    """

    POOL = 16 * MIB + 4093  # odd length: consecutive blocks start at shifting offsets

    def __init__(self, size: int, seed: int = 7) -> None:
        self.size = size
        self._pool = memoryview(_pool(self.POOL, seed))

    def blocks(self, block: int = BLOCK) -> Iterator[memoryview | bytes]:
        header = mp4_header()
        yield header
        sent = len(header)
        offset = 0
        while sent < self.size:
            n = min(block, self.size - sent, self.POOL - offset)
            yield self._pool[offset : offset + n]
            sent += n
            offset = (offset + n) % self.POOL
        assert sent == self.size

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for block in self.blocks():
            digest.update(block)
        return digest.hexdigest()


_POOLS: dict[tuple[int, int], bytes] = {}


def _pool(size: int, seed: int) -> bytes:
    if (size, seed) not in _POOLS:
        import random

        _POOLS[(size, seed)] = random.Random(seed).randbytes(size)
    return _POOLS[(size, seed)]


class ContentReader:
    """A file-like view of `Content` for boto3 (read(n) without holding the file)."""

    def __init__(self, content: Content) -> None:
        self._blocks = content.blocks()
        self._pending = b""

    def read(self, n: int = -1) -> bytes:
        out = bytearray(self._pending)
        while n < 0 or len(out) < n:
            try:
                out += next(self._blocks)
            except StopIteration:
                break
        if n < 0:
            self._pending = b""
            return bytes(out)
        self._pending = bytes(out[n:])
        return bytes(out[:n])


def multipart_body(content: Content, boundary: str, title: str) -> tuple[Iterator, int]:
    """A multipart/form-data body streaming `content` as the `file` part, and its length."""
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="title"\r\n\r\n'
        f"{title}\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="bench.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def chunks() -> Iterator:
        yield head
        yield from content.blocks()
        yield tail

    return chunks(), len(head) + content.size + len(tail)


# --- the service process -----------------------------------------------------------------------


@dataclass
class Service:
    proc: subprocess.Popen
    url: str

    def stop(self, pid: int | None = None) -> None:
        if self.proc.poll() is None:
            # Under py-spy, stop the service itself: py-spy then writes its profile and exits.
            os.kill(pid or self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_service(env: dict[str, str], port: int, log_path: Path, profile: Path | None) -> Service:
    command = [sys.executable, "-m", "service"]
    if profile is not None:
        # py-spy samples every thread (the boto3 workers included), with native frames off.
        py_spy = shutil.which("py-spy")
        if py_spy is None:
            raise SystemExit("--profile needs py-spy on PATH (`uv tool install py-spy`)")
        command = [
            py_spy,
            "record",
            "--format",
            "raw",
            "--rate",
            "200",
            "--threads",
            "-o",
            str(profile),
            "--",
            *command,
        ]
    return launch(command, env, port, log_path)


def launch(command: list[str], env: dict[str, str], port: int, log_path: Path) -> Service:
    """`command` started with its output in `log_path`, once it answers /readyz on `port`."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    service = Service(proc, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the service exited with {proc.returncode}; see {log_path}")
        if wait_for_port(port, timeout=0.5):
            try:
                if httpx.get(f"{service.url}/readyz", timeout=5).status_code == 200:
                    return service
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    service.stop()
    raise SystemExit(f"the service did not become ready; see {log_path}")


def service_pid(service: Service, profile: Path | None) -> int:
    """The Python process serving (under py-spy, its child)."""
    if profile is None:
        return service.proc.pid
    children = Path(f"/proc/{service.proc.pid}/task/{service.proc.pid}/children").read_text()
    return int(children.split()[0])


@dataclass
class Run:
    seconds: float
    cpu: dict[str, float]  # CPU seconds by process: client, service, s3
    memory: dict[str, int]

    def rate(self, size: int) -> float:
        return size / MIB / self.seconds


class CpuMeter:
    """CPU time used by the client (this process), the service and the S3 endpoint since
    creation; a pid of None leaves that process out."""

    def __init__(self, *, service: int | None, s3: int) -> None:
        self._pids = {"service": service, "s3": s3}
        self._start = self._now()

    def _now(self) -> dict[str, float]:
        now = {"client": time.process_time()}
        now.update({name: cpu_seconds(pid) for name, pid in self._pids.items() if pid})
        return now

    def read(self) -> dict[str, float]:
        now = self._now()
        return {name: now[name] - self._start[name] for name in now}


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda run: run.seconds)[(len(runs) - 1) // 2]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_status(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS in bytes, and the process's thread count (Threads)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(rest.split()[0]) * 1024
        elif key == "Threads":
            values[key] = int(rest.split()[0])
    return values


# --- measurements ------------------------------------------------------------------------------


def upload_through_service(http: httpx.Client, key: str, content: Content) -> tuple[float, dict]:
    boundary = uuid.uuid4().hex
    body, length = multipart_body(content, boundary, "bench upload")
    started = time.perf_counter()
    response = http.post(
        "/files",
        content=body,
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(length),
        },
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 201:
        raise SystemExit(f"upload failed: {response.status_code} {response.text[:500]}")
    return elapsed, response.json()


def upload_direct(s3_client, bucket: str, key: str, content: Content) -> float:
    config = TransferConfig(
        multipart_threshold=PART_SIZE,
        multipart_chunksize=PART_SIZE,
        max_concurrency=PARTS_IN_FLIGHT,
    )
    started = time.perf_counter()
    s3_client.upload_fileobj(
        ContentReader(content),
        bucket,
        key,
        ExtraArgs={"ContentType": "video/mp4"},
        Config=config,
    )
    return time.perf_counter() - started


def upload_via_presigned_put(
    http: httpx.Client, key: str, content: Content, sha256: str
) -> tuple[float, float, dict]:
    """POST /uploads/direct, the PUT to storage, POST .../complete: (wall seconds in all,
    seconds of the complete alone, the file object)."""
    auth = {"Authorization": f"Bearer {key}"}
    started = time.perf_counter()
    declared = http.post(
        "/uploads/direct",
        json={
            "filename": "bench.mp4",
            "size": content.size,
            "sha256": sha256,
            "content_type": "video/mp4",
            "title": "bench direct upload",
        },
        headers=auth,
    )
    if declared.status_code != 201:
        raise SystemExit(f"POST /uploads/direct: {declared.status_code} {declared.text[:500]}")
    ticket = declared.json()
    put = httpx.request(
        ticket["method"],
        ticket["url"],
        content=content.blocks(),
        headers=ticket["headers"],
        timeout=httpx.Timeout(600.0),
    )
    if put.status_code != 200:
        raise SystemExit(f"PUT to storage: {put.status_code} {put.text[:500]}")
    completing = time.perf_counter()
    done = http.post(f"/uploads/direct/{ticket['id']}/complete", headers=auth)
    finished = time.perf_counter()
    if done.status_code != 201:
        raise SystemExit(f"complete: {done.status_code} {done.text[:500]}")
    return finished - started, finished - completing, done.json()


@dataclass
class DirectRun:
    seconds: float
    complete_seconds: float
    cpu: dict[str, float]


def compare_direct(
    size: int,
    repeat: int,
    key: str,
    streamed: tuple[int, httpx.Client],
    direct: dict[str, tuple[int, httpx.Client]],
    s3_pid: int,
    cleanup: Callable[[str], None],
) -> list[tuple[str, list[DirectRun]]]:
    """Streamed POST /files vs direct uploads of the same `size` bytes, interleaved; each path
    is (service pid, a client of that service)."""
    content = Content(size)
    expected = content.sha256()  # the client's, once: not part of any measurement
    paths = {"streamed": streamed, **direct}
    runs: dict[str, list[DirectRun]] = {label: [] for label in paths}
    for attempt in range(1, repeat + 1):
        for label, (pid, http) in paths.items():
            print(f"{human(size)} #{attempt}: {label}...", flush=True)
            cpu = CpuMeter(service=pid, s3=s3_pid)
            if label == "streamed":
                seconds, stored = upload_through_service(http, key, content)
                completing = 0.0
            else:
                seconds, completing, stored = upload_via_presigned_put(http, key, content, expected)
            runs[label].append(DirectRun(seconds, completing, cpu.read()))
            if stored["sha256"] != expected or stored["size"] != size:
                raise SystemExit(f"{label} stored {stored['size']}, {stored['sha256']}")
            cleanup(stored["id"])
    return list(runs.items())


def report_direct(size: int, rows: list[tuple[str, list[DirectRun]]]) -> None:
    print()
    print(
        f"direct upload (presigned PUT to S3, then complete) vs streamed POST /files, "
        f"{human(size)}, median of {len(rows[0][1])} interleaved run(s):"
    )
    header = (
        f"{'path':>26} | {'wall s':>6} | {'MiB/s':>6} | {'complete s':>10} | "
        f"{'service CPU s/GiB':>17} | {'S3 CPU s/GiB':>12} | {'client CPU s/GiB':>16}"
    )
    print(header)
    print("-" * len(header))
    per = GIB / size
    service_cpu = {}
    for label, runs in rows:
        wall = statistics.median(r.seconds for r in runs)
        complete = statistics.median(r.complete_seconds for r in runs)
        cpu = {
            name: statistics.median(r.cpu[name] for r in runs) * per
            for name in ("service", "s3", "client")
        }
        service_cpu[label] = cpu["service"]
        complete_text = f"{complete:>10.2f}" if label != "streamed" else f"{'-':>10}"
        print(
            f"{label:>26} | {wall:>6.2f} | {size / MIB / wall:>6.1f} | {complete_text} | "
            f"{cpu['service']:>17.3f} | {cpu['s3']:>12.2f} | {cpu['client']:>16.2f}"
        )
    for label in service_cpu:
        if label == "streamed":
            continue
        share = service_cpu[label] / service_cpu["streamed"]
        verdict = ""
        if label == "direct, storage checksum":
            ok = share < TARGET_DIRECT_CPU_SHARE
            verdict = f" (target < {TARGET_DIRECT_CPU_SHARE:.0%}): {'OK' if ok else 'MISSED'}"
        print(f"service CPU per GiB, {label} / streamed: {share:.1%}{verdict}")


def parse_size(text: str) -> int:
    text = text.strip()
    for suffix, factor in (("GiB", GIB), ("MiB", MIB), ("KiB", 1024)):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text)


def human(size: int) -> str:
    return f"{size // GIB} GiB" if size >= GIB and size % GIB == 0 else f"{size // MIB} MiB"


def report(rows: list[tuple], repeat: int) -> None:
    print()
    print(
        f"part size {PART_SIZE // MIB} MiB, {PARTS_IN_FLIGHT} parts in flight (service and "
        f"direct), client blocks of {BLOCK // MIB} MiB, {os.cpu_count()} CPUs, "
        f"median of {repeat} interleaved run(s) per size and path"
    )
    header = (
        f"{'size':>8} | {'service MiB/s':>13} | {'direct MiB/s':>12} | {'ratio':>5} | "
        f"{'defaults MiB/s':>14} | {'service VmHWM':>13} | {'VmRSS after':>11}"
    )
    print(header)
    print("-" * len(header))
    for size, through, direct, defaults, pairs in rows:
        print(
            f"{human(size):>8} | {through.rate(size):>13.1f} | {direct.rate(size):>12.1f}"
            f" | {statistics.median(pairs):>5.2f} | {defaults.rate(size):>14.1f}"
            f" | {through.memory['VmHWM'] / MIB:>9.1f} MiB"
            f" | {through.memory['VmRSS'] / MIB:>7.1f} MiB"
        )
    print(
        "ratio = service / direct throughput, median over interleaved pairs (direct: boto3 "
        "upload_fileobj\nwith the same part size, parts in flight and client settings); "
        "defaults = direct with a boto3\nclient at its defaults (which SHA-256-signs every "
        "payload over plain HTTP)"
    )
    print()
    print("CPU seconds per GiB uploaded (user + system, all threads), and wall seconds per GiB:")
    header = (
        f"{'size':>8} | {'path':>8} | {'client':>6} | {'service':>7} | {'S3 endpoint':>11} | "
        f"{'total':>5} | {'wall':>5}"
    )
    print(header)
    print("-" * len(header))
    for size, *runs, _ in rows:
        for label, run in zip(("service", "direct", "defaults"), runs, strict=True):
            per = GIB / size
            cpu = {name: value * per for name, value in run.cpu.items()}
            service_cpu = f"{cpu['service']:>7.2f}" if "service" in cpu else f"{'-':>7}"
            print(
                f"{human(size):>8} | {label:>8} | {cpu['client']:>6.2f} | {service_cpu} | "
                f"{cpu['s3']:>11.2f} | {sum(cpu.values()):>5.2f} | {run.seconds * per:>5.2f}"
            )
    print()
    for size, *_, pairs in rows:
        if len(pairs) > 1:
            each = ", ".join(f"{r:.2f}" for r in pairs)
            print(f"{human(size)}: ratio of each interleaved pair: {each}")
    worst = min(statistics.median(pairs) for *_, pairs in rows)
    print(
        f"ratio (median), worst size: {worst:.2f} (target >= {TARGET_RATIO}): "
        f"{'OK' if worst >= TARGET_RATIO else 'MISSED'}"
    )
    if len(rows) >= 2:
        growth = rows[-1][1].memory["VmHWM"] - rows[0][1].memory["VmHWM"]
        print(
            f"VmHWM growth {human(rows[0][0])} -> {human(rows[-1][0])}: {growth / MIB:.1f} MiB "
            f"(target < {TARGET_RSS_GROWTH // MIB} MiB): "
            f"{'OK' if growth < TARGET_RSS_GROWTH else 'MISSED'}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="64MiB,1GiB", help="comma list, e.g. 64MiB,1GiB")
    parser.add_argument(
        "--profile", type=Path, help="record the service with py-spy into this directory"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="uploads per size and path; medians are shown"
    )
    parser.add_argument("--keep-logs", action="store_true", help="print the service log path")
    parser.add_argument(
        "--direct-size", default="1GiB", help="size of the direct vs streamed comparison"
    )
    args = parser.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    direct_size = parse_size(args.direct_size)

    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"silo-bench-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    profile = None
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        profile = args.profile / "service.folded"

    print("starting PostgreSQL and the local S3 endpoint...", flush=True)
    postgres = LocalPostgres(free_port()).start()
    s3 = LocalS3(free_port()).start()
    service = None
    reading = None
    pid = None
    try:
        database_url = postgres.create_database("silo_bench")
        bucket = f"silo-bench-{uuid.uuid4().hex[:8]}"
        plain_client = s3.client()  # boto3 defaults
        plain_client.create_bucket(Bucket=bucket)
        for name, value in LOCAL_CREDENTIALS.items():
            os.environ.setdefault(name, value)
        same_client = s3_client(region="us-east-1", endpoint_url=s3.endpoint_url)

        port = free_port()
        admin_key = secrets.token_urlsafe(32)
        env = {
            **os.environ,
            **LOCAL_CREDENTIALS,
            "DATABASE_URL": database_url,
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": s3.endpoint_url,
            "AWS_REGION": LOCAL_CREDENTIALS["AWS_REGION"],
            "SILO_TENANT": "bench",
            "SILO_ADMIN_KEY": admin_key,
            "SILO_SCAN": "off",  # the upload path alone
            "SILO_MAX_UPLOAD_BYTES": str(max(*sizes, direct_size) + GIB),
            # The direct upload path of AWS S3, which verifies a PUT's checksum (moto does not:
            # the second service below takes the read-back path moto gets by default).
            "SILO_S3_VERIFIES_CHECKSUMS": "1",
            # moto assembles a completed 1 GiB object (and a copy) in memory, in one request:
            # past the default 10 s on a loaded 2-core machine, and the retry then finds the
            # upload half-completed (500). S3 answers such calls in well under that.
            "SILO_S3_READ_TIMEOUT_SECONDS": "300",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "PYTHONUNBUFFERED": "1",
        }
        log_path = work / "service.log"
        print("starting the service...", flush=True)
        service = start_service(env, port, log_path, profile)
        pid = service_pid(service, profile)
        reading_port = free_port()
        reading_env = {**env, "PORT": str(reading_port), "SILO_S3_VERIFIES_CHECKSUMS": "0"}
        reading = start_service(reading_env, reading_port, work / "service-read.log", None)

        with httpx.Client(base_url=service.url, timeout=httpx.Timeout(600.0)) as http:
            created = http.post(
                "/keys",
                json={"name": "bench", "scopes": ["read", "write"]},
                headers={"Authorization": f"Bearer {admin_key}"},
            )
            if created.status_code != 201:
                raise SystemExit(f"POST /keys: {created.status_code} {created.text[:300]}")
            key = created.json()["key"]

            # Warm-up: imports, first connections, first allocation of part buffers.
            upload_through_service(http, key, Content(PART_SIZE + MIB))

            rows = []
            s3_pid = s3._proc.pid  # the endpoint's process, for its CPU time
            for size in sizes:
                content = Content(size)
                expected = content.sha256()
                runs: dict[str, list[Run]] = {"service": [], "direct": [], "defaults": []}
                # Interleaved, so that load from elsewhere on the machine hits all paths alike.
                for attempt in range(1, args.repeat + 1):
                    print(f"{human(size)} #{attempt}: through the service...", flush=True)
                    cpu = CpuMeter(service=pid, s3=s3_pid)
                    seconds, stored = upload_through_service(http, key, content)
                    runs["service"].append(Run(seconds, cpu.read(), read_status(pid)))
                    if stored["sha256"] != expected or stored["size"] != size:
                        raise SystemExit(f"service stored {stored['size']}, {stored['sha256']}")
                    # Keep the endpoint's memory flat (moto holds objects in memory).
                    plain_client.delete_object(Bucket=bucket, Key=f"files/{stored['id']}")
                    for label, client in (("direct", same_client), ("defaults", plain_client)):
                        print(f"{human(size)} #{attempt}: {label} boto3...", flush=True)
                        cpu = CpuMeter(service=None, s3=s3_pid)
                        seconds = upload_direct(client, bucket, f"direct/{size}", content)
                        runs[label].append(Run(seconds, cpu.read(), {}))
                        head = plain_client.head_object(Bucket=bucket, Key=f"direct/{size}")
                        assert head["ContentLength"] == size
                        plain_client.delete_object(Bucket=bucket, Key=f"direct/{size}")
                medians = {label: median_run(found) for label, found in runs.items()}
                # VmHWM only rises: the last reading for this size is its peak.
                medians["service"].memory = runs["service"][-1].memory
                ratios = [
                    d.seconds / t.seconds
                    for t, d in zip(runs["service"], runs["direct"], strict=True)
                ]
                rows.append(
                    (size, medians["service"], medians["direct"], medians["defaults"], ratios)
                )

            def cleanup(file_id: str) -> None:
                # Keep the endpoint's memory flat (moto holds objects in memory).
                plain_client.delete_object(Bucket=bucket, Key=f"files/{file_id}")

            with httpx.Client(base_url=reading.url, timeout=httpx.Timeout(600.0)) as other:
                direct_rows = compare_direct(
                    direct_size,
                    args.repeat,
                    key,
                    (pid, http),
                    {
                        "direct, storage checksum": (pid, http),
                        "direct, object read back": (reading.proc.pid, other),
                    },
                    s3_pid,
                    cleanup,
                )
    finally:
        if reading is not None:
            reading.stop()
        if service is not None:
            service.stop(pid)
        s3.stop()
        postgres.stop()

    report(rows, args.repeat)
    report_direct(direct_size, direct_rows)
    if profile is not None:
        print(f"profile: {profile} (collapsed stacks: flamegraph.pl or speedscope)")
    if args.keep_logs:
        print(f"service log: {log_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
