"""`silo import` of one directory, by direct uploads and by tus: what each transport costs.

    uv run python bench/importer.py [--files 16] [--size 16MiB] [--jobs 4] [--repeat 1]

Starts a throwaway PostgreSQL and the local S3 endpoint (moto, a child process), writes
`--files` files of `--size` (a PDF header, then pseudo-random bytes) into a temporary
directory, then for each transport imports the directory into a fresh tenant (the service runs
in this process, uvicorn in a thread, as the tests run it) with `silo import` as a child
process, `--direct-max 5G` (every file direct) or `--direct-max 0` (every file by tus, 16 MiB
chunks). For each it prints:

- wall time from the command's start to its exit, and throughput (bytes imported / wall time);
- the service's CPU seconds per GiB (this process's CPU time over the import: the service and
  nothing else runs in it meanwhile);
- the importer's peak RSS (the child's ru_maxrss): bytes are streamed, never held whole;
- the number of files in the tenant afterwards, which must be `--files`.

A benchmark that prints, not a test: moto, the service and the importer share the machine's
cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provisioning.importer.cli import parse_size  # noqa: E402
from tests.infra import postgres_server, s3_endpoint  # noqa: E402
from tests.service.conftest import ADMIN_KEY, running_service  # noqa: E402

MIB = 1024**2
TRANSPORTS = {"direct": "5G", "tus": "0"}


def write_files(root: Path, files: int, size: int) -> None:
    block = os.urandom(MIB)
    for i in range(files):
        with (root / f"file-{i:03d}.pdf").open("wb") as f:
            f.write(b"%PDF-1.7\n")
            left = size - 9
            while left > 0:
                piece = block[: min(left, MIB)]
                # Each file differs (its index in every block), so no two share a sha256.
                f.write(i.to_bytes(4, "big") + piece[4:])
                left -= len(piece)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--size", type=parse_size, default=16 * MIB)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    total = args.files * args.size
    print(f"{args.files} files x {args.size / MIB:.0f} MiB = {total / MIB:.0f} MiB, "
          f"--jobs {args.jobs}")  # fmt: skip
    print(f"{'transport':<10}{'wall s':>8}{'MiB/s':>8}{'service CPU s/GiB':>19}"
          f"{'importer peak RSS':>19}{'files':>7}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, postgres_server() as pg, s3_endpoint() as s3:
        os.environ.update(AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=s3.secret_key)
        source = Path(tmp) / "source"
        source.mkdir()
        write_files(source, args.files, args.size)
        for _ in range(args.repeat):
            for transport, direct_max in TRANSPORTS.items():
                with running_service(pg, s3, SILO_MAX_UPLOAD_BYTES=str(5 * 1024**3)) as svc:
                    journal = Path(tmp) / f"journal-{transport}-{time.monotonic_ns()}.jsonl"
                    command = [sys.executable, "-m", "provisioning.cli", "import", "--url",
                               svc.url, str(source), "--jobs", str(args.jobs),
                               "--direct-max", direct_max, "--journal", str(journal),
                               "--progress-interval", "3600"]  # fmt: skip
                    env = {**os.environ, "SILO_IMPORT_KEY": ADMIN_KEY}
                    cpu0, t0 = cpu_seconds(), time.monotonic()
                    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                                          env=env)  # fmt: skip
                    wall, cpu = time.monotonic() - t0, cpu_seconds() - cpu0
                    if done.returncode != 0:
                        sys.exit(f"{transport}: import failed:\n{done.stdout}\n{done.stderr}")
                    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
                    with svc.client() as admin:
                        count = len(admin.get("/files", params={"limit": 100}).json()["items"])
                    per_gib = cpu / (total / 1024**3)
                    print(f"{transport:<10}{wall:>8.1f}{total / MIB / wall:>8.1f}"
                          f"{per_gib:>19.1f}{rss:>15.0f} MiB{count:>7}")  # fmt: skip


if __name__ == "__main__":
    main()
