"""Bytes per file and per access event in a tenant's database, indexes and rollups included.

Loads `--files` files and `--events` events (bench/stats_data.py's generator, spread over a
year) into a throwaway PostgreSQL at the current migration, vacuums, and prints the size of
`files`, of the `access_events` partitions and of the rollups, per unit. The capacity table in
docs/operations/capacity.md is computed from these figures.

    uv run python bench/capacity.py --files 100000 --events 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from stats_data import load  # noqa: E402

from service.db.migrate import migrate  # noqa: E402
from service.files import taxonomy  # noqa: E402
from tests.infra import postgres_server  # noqa: E402

MIB = 2**20
PARTITIONS = """SELECT sum(pg_total_relation_size(c.oid)) FROM pg_inherits i
                JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'access_events'::regclass"""
ROLLUPS = (
    "SELECT pg_total_relation_size('access_rollup') + pg_total_relation_size('access_file_daily')"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000, metavar="N")
    parser.add_argument("--events", type=int, default=1_000_000, metavar="N")
    args = parser.parse_args(argv)
    with postgres_server() as pg:
        url = pg.create_database("silo_capacity")
        migrate(url)

        async def seed() -> None:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await taxonomy.seed(conn, taxonomy.DEFAULT_TAXONOMY)

        asyncio.run(seed())
        started = time.monotonic()
        load(url, files=args.files, events=args.events, log=lambda *_: None)
        print(f"loaded {args.files:,} files and {args.events:,} events in "
              f"{time.monotonic() - started:.0f} s")  # fmt: skip
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

            def size(query: str) -> int:
                return conn.execute(query).fetchone()[0] or 0

            files = size("SELECT pg_total_relation_size('files')")
            events = size(PARTITIONS)
            rollups = size(ROLLUPS)
            total = size("SELECT pg_database_size(current_database())")
        print(f"files:         {files / MIB:8.1f} MiB  {files / args.files:7.0f} B per file")
        print(f"access_events: {events / MIB:8.1f} MiB  {events / args.events:7.0f} B per event")
        print(f"rollups:       {rollups / MIB:8.1f} MiB  {rollups / args.events:7.0f} B per event")
        print(f"database:      {total / MIB:8.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
