"""What one concurrent upload stream costs in resident memory: the figure behind the default
upload cap (service/http/admission.py, BASE_RSS_BYTES and PER_STREAM_BYTES).

    uv run python bench/stream_memory.py [--streams 1,4,8,16] [--size 48MiB]

For each N, a fresh service process (`python -m service`, no upload cap) takes N parallel
`POST /files` of `--size` bytes each; its peak RSS (VmHWM) is read after they finish, and its
RSS when idle (after start-up and one small upload) before. The per-stream cost is the slope
of peak RSS over N (least squares), the base its intercept.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import threading
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from upload import (
    MIB,
    Content,
    LocalPostgres,
    LocalS3,
    free_port,
    multipart_body,
    parse_size,
    read_status,
    start_service,
)

from provisioning.local.s3 import LOCAL_CREDENTIALS


def upload(url: str, key: str, size: int, errors: list) -> None:
    boundary = uuid.uuid4().hex
    body, length = multipart_body(Content(size), boundary, "memory")
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(length),
    }
    try:
        response = httpx.post(url + "/files", content=body, headers=headers, timeout=600)
        if response.status_code != 201:
            errors.append(f"{response.status_code} {response.text[:200]}")
    except httpx.HTTPError as exc:
        errors.append(repr(exc))


def measure(env: dict, work: Path, streams: int, size: int) -> tuple[int, int]:
    """(idle RSS, peak RSS) of a fresh service taking `streams` parallel uploads."""
    port = free_port()
    service = start_service({**env, "PORT": str(port)}, port, work / f"svc-{streams}.log", None)
    try:
        admin = {"Authorization": f"Bearer {env['SILO_ADMIN_KEY']}"}
        created = httpx.post(
            service.url + "/keys", json={"name": "m", "scopes": ["read", "write"]}, headers=admin
        )
        key = created.json()["key"]
        errors: list = []
        upload(service.url, key, MIB, errors)  # warm-up: imports, first connections
        idle = read_status(service.proc.pid)["VmRSS"]
        threads = [
            threading.Thread(target=upload, args=(service.url, key, size, errors))
            for _ in range(streams)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise SystemExit(f"{len(errors)} upload(s) failed: {errors[:3]}")
        return idle, read_status(service.proc.pid)["VmHWM"]
    finally:
        service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="1,4,8,16")
    parser.add_argument("--size", default="48MiB")
    args = parser.parse_args()
    counts = [int(n) for n in args.streams.split(",")]
    size = parse_size(args.size)
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"silo-stream-memory-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    postgres = LocalPostgres(free_port()).start()
    s3 = LocalS3(free_port()).start()
    try:
        bucket = f"silo-mem-{uuid.uuid4().hex[:8]}"
        s3.client().create_bucket(Bucket=bucket)
        env = {
            **os.environ,
            **LOCAL_CREDENTIALS,
            "DATABASE_URL": postgres.create_database("silo_mem"),
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": s3.endpoint_url,
            "AWS_REGION": LOCAL_CREDENTIALS["AWS_REGION"],
            "SILO_TENANT": "memory",
            "SILO_ADMIN_KEY": secrets.token_urlsafe(32),
            "SILO_SCAN": "off",  # the upload path alone
            "SILO_MAX_CONCURRENT_UPLOADS": "100000",
            "HOST": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
        }
        points = []
        for n in counts:
            idle, peak = measure(env, work, n, size)
            points.append((n, peak))
            print(
                f"{n:3d} stream(s) of {size // MIB} MiB: idle RSS {idle / MIB:6.1f} MiB, "
                f"peak RSS {peak / MIB:6.1f} MiB",
                flush=True,
            )
        if len(points) >= 2:
            mean_n = sum(n for n, _ in points) / len(points)
            mean_p = sum(p for _, p in points) / len(points)
            slope = sum((n - mean_n) * (p - mean_p) for n, p in points) / sum(
                (n - mean_n) ** 2 for n, _ in points
            )
            base = mean_p - slope * mean_n
            print(f"per stream {slope / MIB:.1f} MiB, base {base / MIB:.1f} MiB (least squares)")
    finally:
        s3.stop()
        postgres.stop()


if __name__ == "__main__":
    main()
