"""GET /stats and GET /files at 1,000,000 files and 10,000,000 events, or ten times that.

    uv run python bench/stats.py [--files 1000000] [--events 10000000] [--requests 200]
    uv run python bench/stats.py --scale      # 10,000,000 files, 100,000,000 events

Starts a throwaway PostgreSQL and the local S3 endpoint, migrates and seeds the database, loads
generated files and access events (built inside PostgreSQL with generate_series; the rollups
the recorder keeps incrementally at run time are built in bulk, see bench/stats_data.py),
then starts the service (`python -m service`, a child process, configured by environment
variables as in production) and measures, one request at a time over HTTP with a `read` API
key, p50 and p99 latency of:

- GET /stats: everything, the last 30 and 90 days, a calendar quarter, a year with ragged edges;
- GET /files: the first page, deep pages (cursors at positions down to the oldest file), every
  filter alone (common and rare values), combinations, text search (common, rare, phrase,
  no match), date ranges, and all of them under the role visibility of X-Silo-Role.

It prints how long the load took (rows, then indexes, then vacuum), the database's size per file
and per event (indexes and rollups included) and, per case, p50 and p99.

Targets (issue 25): p99 of GET /stats < 100 ms, of GET /files < 10 ms, and of a text search
(`q`) < 20 ms, in every case. This is a benchmark that prints, not a test: figures depend on
the machine (2 cores here, shared with the database).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stats_data import BULK_SERVER_SETTINGS, load, prepare, print_sizes, sizes  # noqa: E402
from provisioning.local import LocalPostgres, LocalS3, free_port, wait_for_port  # noqa: E402
from provisioning.local.s3 import LOCAL_CREDENTIALS  # noqa: E402
from service.files.cursors import CursorCodec, Position  # noqa: E402

ROLE_A = "Mentor/Coach"
STATS_TARGET_MS = 100
FILES_TARGET_MS = 10
SEARCH_TARGET_MS = 20
SCALE = (10_000_000, 100_000_000)


@dataclass
class Case:
    group: str  # "stats" or "files"
    name: str
    requests: list[tuple[str, dict, dict]]  # (path, params, headers), cycled through
    timings: list[float] = field(default_factory=list)
    matched: int = 0  # items on the first page of the first request (sanity)


def cursor_at(conn, codec: CursorCodec, fraction: float, total: int) -> str:
    row = conn.execute(
        "SELECT created_at, id FROM files ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
        (max(0, min(total - 1, int(total * fraction))),),
    ).fetchone()
    return codec.encode(Position(row[0], row[1]))


def build_cases(url: str, admin_key: str) -> list[Case]:
    codec = CursorCodec(admin_key)
    today = datetime.now(UTC).date()
    with psycopg.connect(url) as conn:
        total = conn.execute("SELECT count(*) FROM files").fetchone()[0]
        deep = [cursor_at(conn, codec, f, total) for f in (0.1, 0.25, 0.5, 0.75, 0.9, 0.999)]
        mid = deep[2]
        bounds = conn.execute("SELECT max(created_at), min(created_at) FROM files")
        newest, oldest = bounds.fetchone()
    span = newest - oldest

    def at(fraction: float) -> str:
        return (oldest + span * fraction).isoformat()

    skills_en = {"category": "Skills", "language": "en"}
    mentee = {"X-Silo-Role": "Mentee/Coachee"}
    mentor = {"X-Silo-Role": "Mentor/Coach"}
    f = "/files"
    files = {
        "first page": [(f, {}, {})],
        "deep pages (cursor)": [(f, {"cursor": c}, {}) for c in deep],
        "limit=100": [(f, {"limit": "100"}, {})],
        "category": [(f, {"category": c}, {}) for c in ("Skills", "Conflict resolution")],
        "category, deep": [(f, {"category": "Soft skills", "cursor": c}, {}) for c in deep],
        "language (common, rare)": [(f, {"language": lang}, {}) for lang in ("en", "it")],
        "type (common, rare)": [(f, {"type": t}, {}) for t in ("pdf", "mkv", "ogg")],
        "type rare, deep": [(f, {"type": "wav", "cursor": c}, {}) for c in deep],
        "role": [(f, {"role": r}, {}) for r in ("Mentor/Coach", "Mentee/Coachee")],
        "q common word": [(f, {"q": w}, {}) for w in ("leadership", "coaching", "feedback")],
        "q rare word": [(f, {"q": w}, {}) for w in ("webinar", "transcript", "handout")],
        "q two words / phrase": [
            (f, {"q": "leadership coaching"}, {}),
            (f, {"q": '"conflict resolution"'}, {}),
        ],
        "q no match": [(f, {"q": "zyxwvut"}, {})],
        # Prefixes (issue 25): every word typed matches the words that begin with it.
        "q prefix common": [(f, {"q": w}, {}) for w in ("lead", "coach", "feed")],
        "q prefix rare": [(f, {"q": w}, {}) for w in ("webin", "t9876", "d4321")],
        "q prefix two words": [(f, {"q": w}, {}) for w in ("lead coach", "conf resol")],
        "q prefix no match": [(f, {"q": w}, {}) for w in ("zyxw", "qqq")],
        "q one letter": [(f, {"q": w}, {}) for w in ("l", "m", "s")],
        "q accents and case": [(f, {"q": w}, {}) for w in ("LÉADER", "Mentör")],
        "q common, deep": [(f, {"q": "leadership", "cursor": c}, {}) for c in deep],
        "uploaded_after": [(f, {"uploaded_after": at(0.5)}, {})],
        "uploaded_before": [(f, {"uploaded_before": at(0.3)}, {})],
        "uploaded between": [
            (f, {"uploaded_after": at(0.40), "uploaded_before": at(0.41)}, {}),
        ],
        "category+language": [(f, {"category": "Skills", "language": "fr"}, {})],
        "category+language+type": [
            (f, {"category": "Skills", "language": "it", "type": "mp3"}, {}),
        ],
        "all equality filters": [
            (f, {"category": "Skills", "language": "fr", "type": "docx", "role": ROLE_A}, {}),
        ],
        "q + category + language": [
            (f, {"q": "leadership", "category": "Skills", "language": "en"}, {}),
        ],
        "q rare + type": [(f, {"q": "webinar", "type": "pdf"}, {})],
        "filters + dates + deep": [
            (
                f,
                {**skills_en, "uploaded_after": at(0.2), "uploaded_before": at(0.8), "cursor": mid},
                {},
            ),
        ],
        "X-Silo-Role visibility": [(f, {}, mentee), (f, {"cursor": mid}, mentor)],
        "visibility + filters": [
            (f, {"category": "Skills", "type": "mp4"}, mentee),
            (f, {"q": "coaching", "language": "fr"}, mentor),
            (f, {"type": "ogg", "cursor": mid}, mentee),
        ],
    }
    day = timedelta(days=1)
    quarter_start = date(today.year, 1, 1) if today.month > 3 else date(today.year - 1, 10, 1)
    stats = {
        "everything": [("/stats", {}, {})],
        "last 30 days": [("/stats", {"from": str(today - 29 * day), "to": str(today)}, {})],
        "last 90 days": [("/stats", {"from": str(today - 89 * day), "to": str(today)}, {})],
        "a calendar quarter": [
            (
                "/stats",
                {"from": str(quarter_start), "to": str(quarter_start + 91 * day)},
                {},
            )
        ],
        "a year, ragged edges": [
            ("/stats", {"from": str(today - 351 * day), "to": str(today - 3 * day)}, {})
        ],
    }
    # The floor: the same client, server and connection, no database.
    cases = [Case("floor", "GET /healthz (no database)", [("/healthz", {}, {})])]
    cases += [Case("stats", n, r) for n, r in stats.items()]
    cases += [Case("files", n, r) for n, r in files.items()]
    return cases


async def measure(base_url: str, key: str, cases: list[Case], requests: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        for case in cases:
            for i in range(requests + 5):  # the first few warm the caches and the connection
                path, params, extra = case.requests[i % len(case.requests)]
                started = time.perf_counter()
                response = await client.get(path, params=params, headers=extra)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{case.name}: {response.status_code} {response.text}")
                if i == 0 and case.group == "files":
                    case.matched = len(response.json()["items"])
                if i >= 5:
                    case.timings.append(elapsed)
            p99 = percentile(case.timings, 99)
            print(f"  {case.group} {case.name}: p99 {p99:.1f} ms", flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def target_of(case: Case) -> int | None:
    if case.group == "floor":
        return None
    if case.group == "stats":
        return STATS_TARGET_MS
    searches = any("q" in params for _path, params, _headers in case.requests)
    return SEARCH_TARGET_MS if searches else FILES_TARGET_MS


def report(cases: list[Case]) -> bool:
    ok = True
    print(f"\n{'request':<34} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'target':>7}  page")
    for case in cases:
        target = target_of(case)
        p50, p99 = statistics.median(case.timings), percentile(case.timings, 99)
        met = target is None or p99 < target
        ok &= met
        flag = "" if met else "  <-- over target"
        label = {"stats": "GET /stats ", "files": "GET /files ", "floor": ""}[case.group]
        label += case.name
        page = str(case.matched) if case.group == "files" else ""
        shown = target or "-"
        print(
            f"{label:<34} {len(case.timings):>5} {p50:>8.1f} {p99:>8.1f} {shown:>7}  {page}{flag}"
        )
    for group in ("stats", "files"):
        timings = [t for c in cases if c.group == group for t in c.timings]
        print(
            f"{'ALL ' + group:<34} {len(timings):>5} {statistics.median(timings):>8.1f} "
            f"{percentile(timings, 99):>8.1f}"
        )
    return ok


def start_service(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen:
    # The service logs every request: to a file, never to a pipe nobody drains (a full pipe
    # would block the service).
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    if not wait_for_port(port, timeout=60):
        process.kill()
        raise SystemExit(f"the service did not start: {log_path.read_text()[-2000:]}")
    return process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument(
        "--scale", action="store_true", help=f"{SCALE[0]:,} files and {SCALE[1]:,} events"
    )
    parser.add_argument("--requests", type=int, default=200, help="per case")
    parser.add_argument(
        "--database-url", help="use this (already loaded) database instead of a fresh one"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the loaded PostgreSQL running after measuring (for --database-url); "
        "Ctrl-C or SIGTERM stops it",
    )
    args = parser.parse_args(argv)
    if args.scale:
        args.files, args.events = SCALE

    admin_key = "bench-" + secrets.token_hex(16)
    pg = s3 = service = None
    try:
        if args.database_url:
            url = args.database_url
        else:
            pg = LocalPostgres(free_port(), settings=BULK_SERVER_SETTINGS).start()
            url = pg.create_database("silo_bench")
            print(f"loading {args.files:,} files and {args.events:,} events into {url}")
            prepare(url)
            started = time.monotonic()
            load(url, files=args.files, events=args.events)
            print(f"  loaded in {time.monotonic() - started:.0f} s in all")
            with psycopg.connect(url, autocommit=True) as conn:
                # Off while loading (BULK_SERVER_SETTINGS); on, as in production, for the reads.
                conn.execute("ALTER SYSTEM SET autovacuum = on")
                conn.execute("SELECT pg_reload_conf()")
        print_sizes(sizes(url), args.files, args.events)
        s3 = LocalS3(free_port()).start()
        s3.client().create_bucket(Bucket="silo-bench")
        port = free_port()
        service = start_service(
            {
                "DATABASE_URL": url,
                "S3_BUCKET": "silo-bench",
                "S3_ENDPOINT_URL": s3.endpoint_url,
                "AWS_REGION": "us-east-1",
                **LOCAL_CREDENTIALS,
                "SILO_TENANT": "bench",
                "SILO_MIGRATE": "0",  # migrated above (or given ready)
                "SILO_ADMIN_KEY": admin_key,
                "SILO_SCAN": "off",  # the read path alone
                "PORT": str(port),
            },
            port,
            Path(tempfile.gettempdir()) / f"silo-bench-service-{port}.log",
        )
        base_url = f"http://127.0.0.1:{port}"
        created = httpx.post(
            f"{base_url}/keys",
            json={"name": "bench", "scopes": ["read"]},
            headers={"Authorization": f"Bearer {admin_key}"},
        )
        created.raise_for_status()
        cases = build_cases(url, admin_key)
        asyncio.run(measure(base_url, created.json()["key"], cases, args.requests))
        ok = report(cases)
        if args.keep and pg is not None:
            print(f"\nkept: --database-url {url} (Ctrl-C or SIGTERM stops it)", flush=True)
            # Both end the wait the same way, even when started in the background (where a
            # shell leaves SIGINT ignored).
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, signal.default_int_handler)
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
        return 0 if ok else 1
    finally:
        if service is not None:
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(timeout=30)
            except subprocess.TimeoutExpired:
                service.kill()
        if s3 is not None:
            s3.stop()
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    raise SystemExit(main())
