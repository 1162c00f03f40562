"""Read-path throughput: req/s and p50/p99 latency of the read endpoints, as ratios to /healthz.

    uv run python bench/reads.py                    # 100,000 files, 3 rounds of 5 s per endpoint
    uv run python bench/reads.py --duration 2 --rounds 1   # short run
    uv run python bench/reads.py --profile /tmp/p   # py-spy records the service

Starts a throwaway PostgreSQL and the local S3 endpoint, migrates and seeds the database, loads
generated files (built inside PostgreSQL by bench/stats_data.py) and some access
events, starts one service process (`python -m service`, configured by environment variables,
as in production) and drives it, one endpoint after the other, with the same client at 16
connections: `wrk` when it is on PATH, else a Python load generator in a separate process.
GET /files/{id} cycles through 1,000 ids; the deep pages start at cursors 50% and 90% down.

The machine is shared, so absolute figures drift, even within a run: the endpoints are measured
in interleaved rounds, and each ratio to /healthz is the median over rounds of the ratio within
a round. The service's CPU time per request (all its threads, from /proc) is printed too, and is
steadier than req/s when other processes compete for the cores.

Targets: GET /files/{id} >= 0.35 x /healthz and >= 1,286 req/s (twice the seed system's 643);
GET /files page 1 >= 0.30 x /healthz.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stats_data import load  # noqa: E402
from bench.upload import cpu_seconds, service_pid, start_service  # noqa: E402
from provisioning.local import LocalPostgres, LocalS3, free_port  # noqa: E402
from provisioning.local.s3 import LOCAL_CREDENTIALS  # noqa: E402
from service.db.migrate import migrate  # noqa: E402
from service.files import taxonomy  # noqa: E402
from service.files.cursors import CursorCodec, Position  # noqa: E402

CONNECTIONS = 16
GET_TARGET_RATIO = 0.35
GET_TARGET_RPS = 2 * 643
LIST_TARGET_RATIO = 0.30


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float = 0.0  # service CPU per request
    ratio: float = 1.0  # rps / the same round's /healthz rps


# --- the clients -------------------------------------------------------------------------------

_WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("SILO_BENCH_PATHS")) do paths[#paths + 1] = line end
local i = 0
wrk.headers["Authorization"] = os.getenv("SILO_BENCH_AUTH")
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(base_url: str, key: str, paths: list[str], duration: float, work: Path) -> Result:
    script = work / "reads.lua"
    script.write_text(_WRK_SCRIPT)
    path_file = work / "paths.txt"
    path_file.write_text("\n".join(paths) + "\n")
    # One wrk thread is plenty for 16 connections and leaves more of the cores to the service.
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(duration))}s"]
    command += ["--timeout", "30s", "--latency", "-s", str(script), base_url]
    env = {**os.environ, "SILO_BENCH_PATHS": str(path_file), "SILO_BENCH_AUTH": f"Bearer {key}"}
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))

    def parse(text: str) -> float:
        number, unit = re.match(r"([\d.]+)(\w+)", text).groups()
        return _ms(number, unit)

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    errors = int(bad.group(1)) if bad else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return Result("", rps, parse(latency["50"]), parse(latency["99"]), errors)


async def _python_load(host: str, port: int, key: str, paths: list[str], duration: float):
    """HTTP/1.1 keep-alive GETs on CONNECTIONS connections; latencies in ms, error count."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration

    async def connection(offset: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        i = offset
        while time.perf_counter() < deadline:
            path = paths[i % len(paths)]
            i += 1
            started = time.perf_counter()
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\r\n"
                .encode()
            )  # fmt: skip
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            if not head.startswith(b"HTTP/1.1 2"):
                errors += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection(n) for n in range(CONNECTIONS)))
    return latencies, errors, time.perf_counter() - started


def _python_client_main() -> None:
    """Entry point of the load-generator process: arguments as JSON on stdin, result on stdout."""
    args = json.loads(sys.stdin.read())
    latencies, errors, elapsed = asyncio.run(_python_load(**args))
    latencies.sort()
    print(
        json.dumps(
            {
                "rps": len(latencies) / elapsed,
                "p50": latencies[len(latencies) // 2],
                "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
                "errors": errors,
            }
        )
    )


def run_python(base_url: str, key: str, paths: list[str], duration: float, work: Path) -> Result:
    host, port = base_url.removeprefix("http://").split(":")
    args = {"host": host, "port": int(port), "key": key, "paths": paths, "duration": duration}
    out = subprocess.run(
        [sys.executable, __file__, "--client"],
        input=json.dumps(args), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found = json.loads(out)
    return Result("", found["rps"], found["p50"], found["p99"], found["errors"])


# --- the data ----------------------------------------------------------------------------------


def cases(url: str, admin_key: str) -> dict[str, list[str]]:
    """Endpoint name -> the request paths it cycles through."""
    codec = CursorCodec(admin_key)
    with psycopg.connect(url) as conn:
        ids = [str(r[0]) for r in conn.execute("SELECT id FROM files ORDER BY random() LIMIT 1000")]
        total = conn.execute("SELECT count(*) FROM files").fetchone()[0]

        def cursor_at(fraction: float, where: str = "") -> str:
            row = conn.execute(
                f"SELECT created_at, id FROM files {where} "
                "ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
                (int(total * fraction * (0.5 if where else 1)),),
            ).fetchone()
            return codec.encode(Position(row[0], row[1]))

        deep = [cursor_at(0.5), cursor_at(0.9)]
        # 1,500 pages of 20 spread over the files: 30,000 rows, more than the service keeps
        # rendered (service/files/renderings.py), visited in turn, so every page is read cold.
        spread = conn.execute(
            "SELECT created_at, id FROM (SELECT created_at, id, row_number() OVER "
            "(ORDER BY created_at DESC, id DESC) AS n FROM files) AS f WHERE n %% %s = 0 "
            "ORDER BY n LIMIT 1500",
            (max(20, total // 1500),),
        ).fetchall()
        cold = [codec.encode(Position(created_at, file_id)) for created_at, file_id in spread]
        # 200 different pages among the newest 4,000 rows (all kept rendered once read): the
        # 16 connections ask for different pages at once, not the same page.
        recent = conn.execute(
            "SELECT created_at, id FROM (SELECT created_at, id, row_number() OVER "
            "(ORDER BY created_at DESC, id DESC) AS n FROM files) AS f WHERE n % 20 = 0 "
            "ORDER BY n LIMIT 200"
        ).fetchall()
        warm = [codec.encode(Position(created_at, file_id)) for created_at, file_id in recent]
        deep_en = [cursor_at(0.5, "WHERE language = 'en'"), cursor_at(0.9, "WHERE language = 'en'")]

    def files(**params: str) -> str:
        return "/files?" + urlencode({"limit": "20", **params})

    return {
        "GET /healthz": ["/healthz"],
        "GET /files/{id}": [f"/files/{i}" for i in ids],
        "GET /files page 1": [files()],
        "GET /files deep page": [files(cursor=c) for c in deep],
        "GET /files 200 pages in turn": [files(cursor=c) for c in warm],
        "GET /files 1,500 pages, cold": [files(cursor=c) for c in cold],
        "GET /files?language=en page 1": [files(language="en")],
        "GET /files?language=en deep": [files(language="en", cursor=c) for c in deep_en],
        "GET /stats": ["/stats"],
    }


def prepare_database(pg: LocalPostgres, files: int, events: int) -> str:
    url = pg.create_database("silo_bench")
    migrate(url)

    async def seed() -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await taxonomy.seed(conn, taxonomy.DEFAULT_TAXONOMY)

    asyncio.run(seed())
    print(f"loading {files:,} files and {events:,} access events...", flush=True)
    load(url, files=files, events=events, log=lambda line: print(line, flush=True))
    return url


# --- the run -----------------------------------------------------------------------------------


def settle(pid: int, url: str, timeout: float = 30.0) -> None:
    """Wait until the service and the database are idle: requests the client gave up on when
    its time was over (slow /stats ones) still run in the service, and their queries in
    PostgreSQL after that (the service no longer waits for them), and either would slow
    whatever is measured next on these shared cores."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            before = cpu_seconds(pid)
            time.sleep(0.25)
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE state = 'active' AND pid <> pg_backend_pid()"
            ).fetchone()[0]
            if cpu_seconds(pid) - before < 0.025 and not busy:  # under 10% of a core
                return


def combine(rounds: list[list[Result]]) -> list[Result]:
    """Per endpoint, the median over rounds (ratios taken within each round first)."""
    for results in rounds:
        for r in results:
            r.ratio = r.rps / results[0].rps
    combined = []
    for i, first in enumerate(rounds[0]):
        runs = [results[i] for results in rounds]

        def median(attribute: str, runs=runs) -> float:
            return statistics.median(getattr(r, attribute) for r in runs)

        combined.append(
            Result(
                first.name,
                median("rps"),
                median("p50_ms"),
                median("p99_ms"),
                sum(r.errors for r in runs),
                median("cpu_us"),
                median("ratio"),
            )
        )
    return combined


def report(results: list[Result], client: str, duration: float, rounds: int) -> bool:
    print(
        f"\n{CONNECTIONS} connections, client {client}, {rounds} round(s) of {duration:g} s per "
        f"endpoint, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (1 min)"
    )
    header = (
        f"{'endpoint':<32} {'req/s':>8} {'x healthz':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'CPU us/req':>10} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<32} {r.rps:>8.0f} {r.ratio:>9.3f} {r.p50_ms:>7.1f} {r.p99_ms:>7.1f} "
            f"{r.cpu_us:>10.0f} {r.errors:>6}"
        )
    print(
        "req/s, p50, p99, CPU: medians over rounds; x healthz: median of the ratios within a "
        "round;\nCPU us/req: the service process's CPU time (user + system) per request"
    )
    by_name = {r.name: r for r in results}
    get, page = by_name["GET /files/{id}"], by_name["GET /files page 1"]
    checks = [
        (f"GET /files/{{id}} >= {GET_TARGET_RATIO} x healthz", get.ratio >= GET_TARGET_RATIO),
        (f"GET /files/{{id}} >= {GET_TARGET_RPS} req/s", get.rps >= GET_TARGET_RPS),
        (f"GET /files page 1 >= {LIST_TARGET_RATIO} x healthz", page.ratio >= LIST_TARGET_RATIO),
        ("no errors", not any(r.errors for r in results)),
    ]
    for label, ok in checks:
        print(f"{label}: {'OK' if ok else 'MISSED'}")
    return all(ok for _, ok in checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=200_000, help="access events, for /stats")
    parser.add_argument(
        "--duration", type=float, default=5.0, help="seconds per endpoint and round"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--profile", type=Path, help="record the service with py-spy into this directory"
    )
    args = parser.parse_args(argv)
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    elif client == "wrk" and not shutil.which("wrk"):
        raise SystemExit("--client wrk: wrk is not on PATH")
    drive = run_wrk if client == "wrk" else run_python

    work = Path(tempfile.mkdtemp(prefix="silo-bench-reads-"))
    profile = None
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        profile = args.profile / "service.folded"
    admin_key = "bench-" + secrets.token_hex(16)
    print("starting PostgreSQL and the local S3 endpoint...", flush=True)
    pg = LocalPostgres(free_port()).start()
    s3 = service = pid = None
    try:
        s3 = LocalS3(free_port()).start()
        s3.client().create_bucket(Bucket="silo-bench")
        url = prepare_database(pg, args.files, args.events)
        port = free_port()
        env = {
            **os.environ,
            **LOCAL_CREDENTIALS,
            "DATABASE_URL": url,
            "S3_BUCKET": "silo-bench",
            "S3_ENDPOINT_URL": s3.endpoint_url,
            "SILO_TENANT": "bench",
            "SILO_MIGRATE": "0",  # migrated above
            "SILO_ADMIN_KEY": admin_key,
            "SILO_SCAN": "off",  # the read path alone
            "HOST": "127.0.0.1",
            "PORT": str(port),
        }
        print("starting the service...", flush=True)
        service = start_service(env, port, work / "service.log", profile)
        pid = service_pid(service, profile)
        created = httpx.post(
            f"{service.url}/keys",
            json={"name": "bench", "scopes": ["read"]},
            headers={"Authorization": f"Bearer {admin_key}"},
        )
        created.raise_for_status()
        key = created.json()["key"]
        endpoints = cases(url, admin_key)
        for name, paths in endpoints.items():
            # Every path answers 200 before anything is timed; then a warm-up (caches,
            # prepared statements, the pool's connections).
            for path in paths[:3]:
                check = httpx.get(
                    f"{service.url}{path}", headers={"Authorization": f"Bearer {key}"}
                )
                if check.status_code != 200:
                    raise SystemExit(f"{name}: {path}: {check.status_code} {check.text[:300]}")
            drive(service.url, key, paths, min(2.0, args.duration), work)
            settle(pid, url)
        rounds = []
        for number in range(1, args.rounds + 1):
            results = []
            for name, paths in endpoints.items():
                print(f"  round {number}: {name}...", end="", flush=True)
                settle(pid, url)
                before = cpu_seconds(pid)
                result = drive(service.url, key, paths, args.duration, work)
                used = cpu_seconds(pid) - before
                result.name = name
                result.cpu_us = used / max(1, result.rps * args.duration) * 1e6
                results.append(result)
                print(f" {result.rps:.0f} req/s, {result.cpu_us:.0f} us/req", flush=True)
            rounds.append(results)
    finally:
        if service is not None:
            service.stop(pid)
        if s3 is not None:
            s3.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    ok = report(combine(rounds), client, args.duration, args.rounds)
    if profile is not None:
        print(f"profile: {profile} (collapsed stacks: flamegraph.pl or speedscope)")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:] == ["--client"]:
        _python_client_main()
    else:
        raise SystemExit(main())
