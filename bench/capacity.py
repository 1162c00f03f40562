"""Bytes per file and per access event in a tenant's database, indexes and rollups included.

Loads `--files` files and `--events` events (bench/stats_data.py's generator, spread over a
year; it vacuums and freezes what it loads) into a throwaway PostgreSQL at the current
migration, and prints the size of `files`, of the `access_events` partitions and of the
rollups, per unit. The capacity table in
docs/operations/capacity.md is computed from these figures.

    uv run python bench/capacity.py --files 100000 --events 1000000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stats_data import load, prepare, print_sizes, sizes  # noqa: E402

from tests.infra import postgres_server  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000, metavar="N")
    parser.add_argument("--events", type=int, default=1_000_000, metavar="N")
    args = parser.parse_args(argv)
    with postgres_server() as pg:
        url = pg.create_database("silo_capacity")
        prepare(url)
        started = time.monotonic()
        load(url, files=args.files, events=args.events, log=lambda *_: None)
        print(f"loaded {args.files:,} files and {args.events:,} events in "
              f"{time.monotonic() - started:.0f} s")  # fmt: skip
        print_sizes(sizes(url), args.files, args.events)
    return 0


if __name__ == "__main__":
    sys.exit(main())
