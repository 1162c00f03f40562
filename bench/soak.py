"""Soak: rounds of mixed traffic against one service, and its resident memory when idle after each.

    uv run python bench/soak.py                       # 5 rounds of 8 MiB files, 4 at a time
    uv run python bench/soak.py --rounds 8 --size 8MiB --concurrency 4
    uv run python bench/soak.py --no-idle-trim        # the service without its idle malloc_trim
    uv run python bench/soak.py --arena-max 2         # MALLOC_ARENA_MAX for the service
    uv run python bench/soak.py --tus-streams 11 --tus-size 40MiB --memory-limit 512MiB
    uv run python bench/soak.py --tus-streams 11 --storm 3      # the same after 3 soak rounds

Starts a throwaway PostgreSQL, the local S3 endpoint (moto) and one service process (`python -m
service`, configured by environment variables as in production, SILO_SCAN=off). Each round:

- uploads, `--concurrency` at a time: form (`POST /files`), tus (`POST /uploads`, PATCHes of
  `--chunk`) and direct (`POST /uploads/direct`, the PUT to storage, `.../complete`), `--size`
  bytes each, `--per-round` of each kind;
- refusals: a form upload of a type not allowed (a PE executable, 415), one over
  SILO_MAX_UPLOAD_BYTES (413 as the bytes cross it), a tus creation over it;
- faults: a form upload and a tus PATCH cut off half-way (the socket closed), and a client
  process killed (SIGKILL) mid-upload;
- reads: every page of `GET /files`, `GET /files/{id}` and `.../content` (the redirect, and the
  object fetched) for the files of the round.

Then it waits for the service to be idle (its CPU time still for 2 s), waits `--settle` seconds
more, and reads its VmRSS from /proc. With `--trim-probe` (on by default) it then asks the
service to call glibc's malloc_trim(0) (SIGUSR2, a handler this bench installs in the service
process; the service itself has no such hook) and reads VmRSS again: what the allocator held
that no Python object did.

Target: after 5 rounds, idle RSS within 64 MiB of round 1's, with no upward trend (the
least-squares slope over the rounds, times the rounds after the first, under 32 MiB).

`--tus-streams N` runs another measurement instead: N concurrent tus uploads of `--tus-size`
against a service whose upload cap is derived (service/http/admission.py `capacity_for`) from
`--memory-limit`, and the service's peak RSS (VmHWM) against 80 % of that limit, after
`--storm` soak rounds (0 by default). The service's memory is not limited: the figure is what
it would use inside a task of that size.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from upload import (
    MIB,
    LocalPostgres,
    LocalS3,
    Service,
    cpu_seconds,
    free_port,
    launch,
    mp4_header,
    parse_size,
    read_status,
)

from provisioning.local.s3 import LOCAL_CREDENTIALS
from service.http import admission

TARGET_DRIFT = 64 * MIB
TARGET_TREND = 32 * MIB
TARGET_PEAK_FRACTION = 0.8

# The service, started with a SIGUSR2 handler that calls malloc_trim(0) and logs RSS around it
# (evidence only), and optionally without its own idle trim (`--no-idle-trim`).
_BOOT = """
import ctypes, runpy, signal, sys
libc = ctypes.CDLL("libc.so.6")
def _trim(signum, frame):
    libc.malloc_trim(0)
signal.signal(signal.SIGUSR2, _trim)
if {snapshots!r}:
    import itertools, tracemalloc
    tracemalloc.start(12)
    _taken = itertools.count(1)
    def _snapshot(signum, frame):
        tracemalloc.take_snapshot().dump(f"{snapshots}/round-{{next(_taken):02d}}.trace")
    signal.signal(signal.SIGUSR1, _snapshot)
if {no_idle_trim!r}:
    import service.http.admission as admission
    admission.IDLE_TRIM_SECONDS = None
sys.argv = ["service"]
runpy.run_module("service", run_name="__main__", alter_sys=True)
"""


def start(
    env: dict[str, str], port: int, log_path: Path, *, no_idle_trim: bool, snapshots: str = ""
) -> Service:
    command = [sys.executable, "-c", _BOOT.format(no_idle_trim=no_idle_trim, snapshots=snapshots)]
    return launch(command, env, port, log_path)


# --- content and clients -----------------------------------------------------------------------


def video(size: int) -> bytes:
    """`size` bytes of fake MP4, different each time (nothing deduplicates them)."""
    head = mp4_header()
    return head + random.randbytes(size - len(head))


def form_parts(data: bytes, filename: str, content_type: str) -> tuple[bytes, bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="title"\r\n\r\nsoak\r\n'
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head, tail, boundary


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, what: str, ok: bool = True, detail: str = "") -> None:
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1
            if not ok:
                self.unexpected.append(f"{what}: {detail}"[:300])


class Client:
    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.auth = {"Authorization": f"Bearer {key}"}
        self.http = httpx.Client(base_url=url, headers=self.auth, timeout=120)

    def form(self, data: bytes, filename="soak.mp4", content_type="video/mp4") -> httpx.Response:
        head, tail, boundary = form_parts(data, filename, content_type)

        def body():
            yield head
            for i in range(0, len(data), MIB):
                yield data[i : i + MIB]
            yield tail

        return self.http.post(
            "/files",
            content=body(),
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + len(data) + len(tail)),
            },
        )

    def tus_create(self, size: int) -> httpx.Response:
        meta = {"filename": "soak.mp4", "filetype": "video/mp4", "title": "soak tus"}
        encoded = ",".join(
            f"{k} {__import__('base64').b64encode(v.encode()).decode()}" for k, v in meta.items()
        )
        return self.http.post(
            "/uploads",
            headers={
                "Upload-Length": str(size),
                "Upload-Metadata": encoded,
                "Tus-Resumable": "1.0.0",
            },
        )

    def tus(self, data: bytes, chunk: int) -> str | None:
        while True:
            created = self.tus_create(len(data))
            if created.status_code != 503:
                break
            time.sleep(1)
        if created.status_code != 201:
            raise RuntimeError(f"tus create {created.status_code} {created.text[:200]}")
        location = created.headers["location"]
        offset = 0
        while offset < len(data):
            end = min(len(data), offset + chunk)
            r = self.http.patch(
                location,
                content=data[offset:end],
                headers={
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                    "Tus-Resumable": "1.0.0",
                },
            )
            if r.status_code == 503:
                time.sleep(1)
                continue
            if r.status_code != 204:
                raise RuntimeError(f"tus PATCH {r.status_code} {r.text[:200]}")
            offset = int(r.headers["upload-offset"])
        return r.headers.get("silo-file-id")

    def direct(self, data: bytes) -> str:
        declared = self.http.post(
            "/uploads/direct",
            json={
                "filename": "soak.mp4",
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "content_type": "video/mp4",
                "title": "soak direct",
            },
        )
        if declared.status_code != 201:
            raise RuntimeError(f"direct {declared.status_code} {declared.text[:200]}")
        ticket = declared.json()
        put = httpx.request(
            ticket["method"], ticket["url"], content=data, headers=ticket["headers"], timeout=120
        )
        if put.status_code != 200:
            raise RuntimeError(f"PUT {put.status_code} {put.text[:200]}")
        done = self.http.post(f"/uploads/direct/{ticket['id']}/complete")
        if done.status_code != 201:
            raise RuntimeError(f"complete {done.status_code} {done.text[:200]}")
        return done.json()["id"]

    def cut_off(self, method: str, path: str, headers: dict[str, str], data: bytes) -> None:
        """Send the headers and half of `data`, then close the socket."""
        host, port = self.url.removeprefix("http://").split(":")
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{k}: {v}" for k, v in {**self.auth, **headers}.items()]
        lines.append(f"Content-Length: {len(data)}")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            sock.sendall(data[: len(data) // 2])
            time.sleep(0.3)


# A client killed mid-upload: a process streaming a form upload slowly, SIGKILLed.
_KILLED_CLIENT = """
import sys, time, uuid, httpx
url, key, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
b = uuid.uuid4().hex
head = (f"--{b}\\r\\nContent-Disposition: form-data; name=\\"file\\"; filename=\\"k.mp4\\"\\r\\n"
        "Content-Type: video/mp4\\r\\n\\r\\n").encode()
def body():
    yield head + b"\\x00\\x00\\x00\\x18ftypisom\\x00\\x00\\x02\\x00isomiso2\\x00\\x00\\x00\\x01mdat"
    while True:
        yield b"\\x07" * (256 * 1024)
        time.sleep(0.02)
httpx.post(url + "/files", content=body(), timeout=60, headers={
    "Authorization": "Bearer " + key, "Content-Type": "multipart/form-data; boundary=" + b,
    "Content-Length": str(size)})
"""


def killed_client(url: str, key: str, size: int) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_CLIENT, url, key, str(size)])
    time.sleep(1.5)
    proc.kill()
    proc.wait()


# --- one round ---------------------------------------------------------------------------------


def round_of_traffic(client: Client, args, max_upload: int, tally: Tally) -> None:
    size = args.size

    def upload(kind: str) -> str | None:
        data = video(size)
        try:
            if kind == "form":
                r = client.form(data)
                ok = r.status_code == 201
                tally.add("form", ok, f"{r.status_code} {r.text[:200]}")
                return r.json()["id"] if ok else None
            if kind == "tus":
                file_id = client.tus(data, args.chunk)
                tally.add("tus", file_id is not None, "no Silo-File-Id")
                return file_id
            file_id = client.direct(data)
            tally.add("direct")
            return file_id
        except (RuntimeError, httpx.HTTPError) as exc:
            tally.add(kind, False, repr(exc))
            return None

    def refusals() -> None:
        r = client.form(b"MZ\x90\x00" + random.randbytes(size), "tool.exe", "video/mp4")
        tally.add("refused type", r.status_code == 415, f"{r.status_code} {r.text[:200]}")
        try:
            r = client.form(video(max_upload + 2 * MIB))
            tally.add("refused size", r.status_code == 413, f"{r.status_code} {r.text[:200]}")
        except httpx.TransportError:
            tally.add("refused size")  # refused before the body was read: connection closed
        r = client.tus_create(max_upload + 1)
        tally.add("refused tus size", r.status_code == 413, f"{r.status_code} {r.text[:200]}")

    def faults() -> None:
        data = video(size)
        head, tail, boundary = form_parts(data, "cut.mp4", "video/mp4")
        client.cut_off(
            "POST",
            "/files",
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
            head + data + tail,
        )
        tally.add("form cut off")
        created = client.tus_create(size)
        if created.status_code == 201:
            path = created.headers["location"].removeprefix(client.url)
            client.cut_off(
                "PATCH",
                path,
                {
                    "Upload-Offset": "0",
                    "Content-Type": "application/offset+octet-stream",
                    "Tus-Resumable": "1.0.0",
                },
                data,
            )
            tally.add("tus cut off")
        killed_client(client.url, client.auth["Authorization"].split()[1], size * 4)
        tally.add("client killed")

    kinds = ["form", "tus", "direct"] * args.per_round
    with ThreadPoolExecutor(args.concurrency) as pool:
        side = [pool.submit(refusals), pool.submit(faults)]
        ids = [i for i in pool.map(upload, kinds) if i]
        for f in side:
            f.result()

    def read(file_id: str) -> None:
        r = client.http.get(f"/files/{file_id}")
        tally.add("get", r.status_code == 200, f"{r.status_code}")
        r = client.http.get(f"/files/{file_id}/content")
        ok = r.status_code == 302
        tally.add("download", ok, f"{r.status_code}")
        if ok:
            with httpx.stream("GET", r.headers["location"], timeout=120) as body:
                for _ in body.iter_bytes():
                    pass

    cursor, pages = None, 0
    while True:
        r = client.http.get(
            "/files", params={"limit": 50, **({"cursor": cursor} if cursor else {})}
        )
        tally.add("page", r.status_code == 200, f"{r.status_code} {r.text[:200]}")
        if r.status_code != 200:
            break
        pages += 1
        cursor = r.json().get("next_cursor")
        if not cursor or pages > 200:
            break
    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(read, ids))


def wait_idle(pid: int, quiet: float = 2.0, timeout: float = 120.0) -> None:
    """Until the process's CPU time has not moved by more than 20 ms for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last, since = cpu_seconds(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = cpu_seconds(pid)
        if now - last > 0.02:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


def slope(values: list[float]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    num = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    return num / sum((i - mean_x) ** 2 for i in range(n))


# --- the tus peak ------------------------------------------------------------------------------


def tus_peak(client: Client, pid: int, args) -> bool:
    cap = admission.capacity_for(args.memory_limit)
    print(
        f"{args.tus_streams} concurrent tus uploads of {args.tus_size // MIB} MiB "
        f"(PATCHes of {args.tus_chunk // MIB} MiB), upload cap {cap} (capacity_for "
        f"{args.memory_limit // MIB} MiB: base {admission.BASE_RSS_BYTES // MIB} MiB, "
        f"{admission.PER_STREAM_BYTES // MIB} MiB per stream)",
        flush=True,
    )
    tally = Tally()
    idle = read_status(pid)["VmRSS"]

    def one(_: int) -> None:
        try:
            ok = client.tus(video(args.tus_size), args.tus_chunk) is not None
            tally.add("tus", ok, "no file id")
        except (RuntimeError, httpx.HTTPError) as exc:
            tally.add("tus", False, repr(exc))

    started = time.monotonic()
    with ThreadPoolExecutor(args.tus_streams) as pool:
        list(pool.map(one, range(args.tus_streams)))
    peak = read_status(pid)["VmHWM"]
    budget = args.memory_limit * TARGET_PEAK_FRACTION
    print(
        f"idle RSS before {idle / MIB:.0f} MiB; peak RSS (VmHWM) {peak / MIB:.0f} MiB; "
        f"80 % of {args.memory_limit // MIB} MiB = {budget / MIB:.0f} MiB; "
        f"{time.monotonic() - started:.0f} s; {tally.counts}",
        flush=True,
    )
    for line in tally.unexpected[:5]:
        print("  unexpected:", line)
    held = peak < budget and not tally.unexpected
    print(f"verdict: {'held' if held else 'MISSED'} (peak {peak / budget:.0%} of the 80 % budget)")
    return held


# --- main --------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=parse_size, default="8MiB")
    parser.add_argument("--chunk", type=parse_size, default="2MiB", help="tus PATCH size")
    parser.add_argument("--per-round", type=int, default=3, help="uploads of each kind a round")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds idle before reading")
    parser.add_argument("--no-trim-probe", dest="trim_probe", action="store_false")
    parser.add_argument("--no-idle-trim", action="store_true")
    parser.add_argument(
        "--snapshots",
        metavar="DIR",
        help="trace the service's Python allocations (tracemalloc, slow) and dump a snapshot "
        "into DIR after each round (compare two with tracemalloc.Snapshot.compare_to)",
    )
    parser.add_argument("--arena-max", type=int, default=None)
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE for the service (repeatable)"
    )
    parser.add_argument("--tus-streams", type=int, default=0)
    parser.add_argument("--tus-size", type=parse_size, default="40MiB")
    parser.add_argument("--tus-chunk", type=parse_size, default="8MiB")
    parser.add_argument("--memory-limit", type=parse_size, default="512MiB")
    parser.add_argument("--storm", type=int, default=0, help="soak rounds before the tus peak")
    args = parser.parse_args()

    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"silo-soak-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    postgres = LocalPostgres(free_port()).start()
    s3 = LocalS3(free_port()).start()
    service = None
    try:
        bucket = f"silo-soak-{uuid.uuid4().hex[:8]}"
        s3.client().create_bucket(Bucket=bucket)
        max_upload = max(args.size, args.tus_size) * 2
        port = free_port()
        env = {
            **os.environ,
            **LOCAL_CREDENTIALS,
            "DATABASE_URL": postgres.create_database("silo_soak"),
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": s3.endpoint_url,
            "AWS_REGION": LOCAL_CREDENTIALS["AWS_REGION"],
            "SILO_TENANT": "soak",
            "SILO_ADMIN_KEY": uuid.uuid4().hex + uuid.uuid4().hex,
            "SILO_SCAN": "off",
            "SILO_MAX_UPLOAD_BYTES": str(max_upload),
            "SILO_MAX_CONCURRENT_UPLOADS": str(
                admission.capacity_for(args.memory_limit) if args.tus_streams else 64
            ),
            "SILO_BODY_IDLE_TIMEOUT_SECONDS": "5",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "PYTHONUNBUFFERED": "1",
        }
        if args.arena_max:
            env["MALLOC_ARENA_MAX"] = str(args.arena_max)
        env.update(item.split("=", 1) for item in args.env)
        service = start(
            env,
            port,
            work / "service.log",
            no_idle_trim=args.no_idle_trim,
            snapshots=args.snapshots or "",
        )
        pid = service.proc.pid
        admin = {"Authorization": f"Bearer {env['SILO_ADMIN_KEY']}"}
        created = httpx.post(
            service.url + "/keys", json={"name": "soak", "scopes": ["read", "write"]}, headers=admin
        )
        client = Client(service.url, created.json()["key"])
        if args.tus_streams:
            tally = Tally()
            for _ in range(args.storm):
                round_of_traffic(client, args, max_upload, tally)
            if args.storm:
                wait_idle(pid)
                time.sleep(args.settle)
                print(
                    f"after {args.storm} soak round(s) ({sum(tally.counts.values())} requests): "
                    f"idle RSS {read_status(pid)['VmRSS'] / MIB:.0f} MiB",
                    flush=True,
                )
            return 0 if tus_peak(client, pid, args) else 1

        print(
            f"soak: {args.rounds} rounds; each {args.per_round} form + tus + direct uploads of "
            f"{args.size // MIB} MiB, {args.concurrency} at a time, refusals, cut-offs, a killed "
            f"client, reads; idle trim {'off' if args.no_idle_trim else 'on'}, "
            f"MALLOC_ARENA_MAX={args.arena_max or 'unset'} {' '.join(args.env)}",
            flush=True,
        )
        wait_idle(pid)
        print(f"start: idle RSS {read_status(pid)['VmRSS'] / MIB:.1f} MiB", flush=True)
        idle: list[int] = []
        tally = Tally()
        for n in range(1, args.rounds + 1):
            started = time.monotonic()
            round_of_traffic(client, args, max_upload, tally)
            seconds = time.monotonic() - started
            wait_idle(pid)
            time.sleep(args.settle)
            status = read_status(pid)
            idle.append(status["VmRSS"])
            line = (
                f"round {n}: {seconds:5.1f} s, idle RSS {status['VmRSS'] / MIB:6.1f} MiB "
                f"(round 1 {'+' if idle[-1] >= idle[0] else '-'}"
                f"{abs(idle[-1] - idle[0]) / MIB:.1f}), peak {status['VmHWM'] / MIB:.0f} MiB, "
                f"{status['Threads']} threads"
            )
            if args.snapshots:
                os.kill(pid, signal.SIGUSR1)  # tracemalloc's view of this idle moment
                time.sleep(2.0)
            if args.trim_probe:
                os.kill(pid, signal.SIGUSR2)
                time.sleep(1.0)
                line += f", after malloc_trim(0) {read_status(pid)['VmRSS'] / MIB:6.1f} MiB"
            print(line, flush=True)
        print(f"requests: {dict(sorted(tally.counts.items()))}")
        for line in tally.unexpected[:10]:
            print("  unexpected:", line)
        drift = max(abs(v - idle[0]) for v in idle)
        trend = slope(idle) * (len(idle) - 1)
        held = drift <= TARGET_DRIFT and trend < TARGET_TREND
        print(
            f"verdict: {'held' if held else 'MISSED'}: largest drift from round 1 "
            f"{drift / MIB:.1f} MiB (target <= 64), trend {slope(idle) / MIB:+.1f} MiB/round "
            f"({trend / MIB:+.1f} MiB over the run, target < 32)"
        )
        return 0 if held else 1
    finally:
        if service is not None:
            service.stop()
        s3.stop()
        postgres.stop()


if __name__ == "__main__":
    sys.exit(main())
