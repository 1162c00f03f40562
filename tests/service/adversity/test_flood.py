"""Memory that holds: a 64-stream upload flood into a service limited to 512 MiB (the catalogue's
default task) finishes with no process killed and no upload lost; clients retry on 503 `busy`.

Where this machine allows it, the service process runs in a real memory cgroup of 512 MiB
(provisioning/local/limits.py, as `silo dev` does): the service derives its cap from that limit
itself, and the kernel would kill it if the cap were wrong. Where it does not, the service gets
the cap the same arithmetic gives for 512 MiB (SILO_MAX_CONCURRENT_UPLOADS) and its peak RSS is
checked against the stated limit.
"""

from __future__ import annotations

import concurrent.futures
import random
import threading
import time
from pathlib import Path

import httpx
import psycopg

from provisioning.local.limits import LimitsUnavailable, Reservation, detect
from service.http.admission import MIB, capacity_for
from tests.service.helpers import pdf, sha256
from tests.support.env import ADMIN_KEY, process_env
from tests.support.net import free_port
from tests.support.process import spawned_service

STREAMS = 64
FILE_BYTES = 12 * MIB  # more than one 8 MiB part: each stream runs a multipart upload
LIMIT_MIB = 512
DEADLINE_SECONDS = 150


def status(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(rest.split()[0]) * 1024
    return values


def oom_kills(directory: Path) -> int:
    """OOM kills in a cgroup (v1 memory.oom_control, v2 memory.events)."""
    for name in ("memory.oom_control", "memory.events"):
        path = directory / name
        if path.exists():
            for line in path.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    return 0


def group_peak(directory: Path) -> int | None:
    """The cgroup's peak memory use (v1 memory.max_usage_in_bytes, v2 memory.peak)."""
    for name in ("memory.max_usage_in_bytes", "memory.peak"):
        path = directory / name
        if path.exists():
            return int(path.read_text())
    return None


def upload_with_retries(url: str, index: int, data: bytes, counts: dict, lock) -> str:
    """One client: POST until stored, retrying on 503 busy after Retry-After (with jitter)."""
    rng = random.Random(index)
    deadline = time.monotonic() + DEADLINE_SECONDS
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        while time.monotonic() < deadline:
            try:
                response = client.post(
                    "/files",
                    data={"title": f"flood {index}"},
                    files={"file": (f"flood-{index}.pdf", data, "application/pdf")},
                    timeout=120,
                )
            except httpx.TransportError:
                # The server closes a refused request's connection; a client still sending may
                # see that instead of the 503. Either way nothing was stored: send it again.
                with lock:
                    counts["transport"] += 1
                time.sleep(rng.uniform(0.5, 1.5))
                continue
            if response.status_code == 201:
                return response.json()["id"]
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "busy", response.text
            with lock:
                counts["busy"] += 1
            time.sleep(float(response.headers["Retry-After"]) * rng.uniform(0.5, 1.5))
    raise AssertionError(f"upload {index} not stored within {DEADLINE_SECONDS} s")


def test_a_64_stream_flood_into_512_mib_loses_nothing(database_url, s3, bucket, tmp_path):
    port = free_port()
    env = process_env(database_url, s3, bucket)
    limiter = None
    try:
        limiter = detect(f"silo-flood-{port}")
        # The memory of the catalogue's default task; CPU left at the machine's two cores.
        group = limiter.create("flood", Reservation(2048, LIMIT_MIB))
        join, how = group.join, f"a real {LIMIT_MIB} MiB {limiter.kind} memory limit"
    except (LimitsUnavailable, OSError) as exc:
        if limiter is not None:
            limiter.close()
        limiter, group, join = None, None, None
        env["SILO_MAX_CONCURRENT_UPLOADS"] = str(capacity_for(LIMIT_MIB * MIB))
        how = f"no cgroup here ({exc}); the cap for {LIMIT_MIB} MiB"
    log_path = tmp_path / "service.log"
    datas = [pdf(FILE_BYTES, seed=f"flood-{i}".encode()) for i in range(STREAMS)]
    counts = {"busy": 0, "transport": 0}
    lock = threading.Lock()
    try:
        with spawned_service(env, log_path, port=port, timeout=60, preexec_fn=join) as svc:
            url, proc = svc.url, svc.process
            started = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(STREAMS) as pool:
                futures = [
                    pool.submit(upload_with_retries, url, i, data, counts, lock)
                    for i, data in enumerate(datas)
                ]
                ids = [f.result() for f in futures]
            elapsed = time.monotonic() - started
            peak = status(proc.pid)["VmHWM"]
            assert proc.poll() is None, "the service died during the flood"
            metrics = httpx.get(url + "/metrics").text
    finally:
        if group is not None:
            killed = oom_kills(group.directories[0])
            charged = group_peak(group.directories[0])
        if limiter is not None:
            limiter.close()
    output = log_path.read_text()
    in_group = f" (cgroup peak {charged / MIB:.0f} MiB)" if group is not None and charged else ""
    summary = (
        f"{how}: {STREAMS} x {FILE_BYTES // MIB} MiB in {elapsed:.1f} s, "
        f"peak RSS {peak / MIB:.0f} MiB of {LIMIT_MIB} MiB{in_group}, {counts['busy']} busy, "
        f"{counts['transport']} connection(s) closed on a refused upload"
    )
    print(summary)
    cap_line = [line for line in output.splitlines() if "concurrent uploads" in line]
    assert cap_line and f"up to {capacity_for(LIMIT_MIB * MIB)} concurrent" in cap_line[0], output
    if group is not None:
        assert killed == 0, summary
        assert f"cgroup memory limit of {LIMIT_MIB} MiB" in cap_line[0]
    # Nothing killed, every upload stored once, intact; the cap was hit, and held.
    assert "Killed" not in output
    assert peak < 0.8 * LIMIT_MIB * MIB, summary
    assert counts["busy"] > 0, summary
    assert len(set(ids)) == STREAMS
    with psycopg.connect(database_url) as conn:
        rows = dict(conn.execute("SELECT title, sha256 FROM files").fetchall())
    assert rows == {f"flood {i}": sha256(data) for i, data in enumerate(datas)}
    assert f"silo_admission_rejections_total {float(counts['busy'])}" in metrics
    assert 'silo_uploads_completed_total{path="form"} 64.0' in metrics
