"""Full text with prefixes against trigrams (`pg_trgm`), on the same rows, for GET /files?q=.

    uv run python bench/search.py --database-url <a database bench/stats.py loaded (--keep)>

Runs the page query of `GET /files?q=` (`... WHERE <q> ORDER BY created_at DESC, id DESC
LIMIT 21`) in SQL for every case, both designs, `--runs` times each, and prints p50 and p99:

- full text, as the service does it: `search_folded @@ to_tsquery('silo_search', ...)` (a stored
  tsvector, unaccent + 'simple', GIN; service/files/search.py builds the tsquery);
- trigrams: a GIN `gin_trgm_ops` index over the same text folded (lower, unaccent), one
  `LIKE '%word%'` per word, the usual way to get "contains" with pg_trgm.

The trigram index is built first (CREATE EXTENSION pg_trgm, then the index), timed, unless it
exists; `--drop` removes it afterwards. Both indexes' sizes are printed: the budget the issue
compares against. A benchmark that prints, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.files.search import tsquery  # noqa: E402

CASES = {
    "common prefix": ["lead", "coach", "feed"],
    "rare prefix": ["webin", "t9876", "d4321"],
    "two words": ["lead coach", "conf resol"],
    "no match": ["zyxw", "qqq"],
    "one letter": ["l", "m", "s"],
    "three letters": ["man", "ret", "han"],
}
PAGE = " ORDER BY created_at DESC, id DESC LIMIT 21"
FOLDED = "bench_fold(title || ' ' || coalesce(description, ''))"
# unaccent is STABLE (its dictionary could change); an index needs IMMUTABLE, so the usual
# wrapper, with the dictionary named.
FOLD = """CREATE OR REPLACE FUNCTION bench_fold(t text) RETURNS text LANGUAGE sql IMMUTABLE
          PARALLEL SAFE RETURN lower(public.unaccent('public.unaccent'::regdictionary, t))"""
TRIGRAM_INDEX = "files_bench_trigram"


def full_text(q: str) -> tuple[str, list]:
    return "SELECT id FROM files WHERE search_folded @@ to_tsquery('silo_search', %s)" + PAGE, [
        tsquery(q)
    ]


def trigram(q: str) -> tuple[str, list]:
    words = q.lower().split()
    where = " AND ".join(f"{FOLDED} LIKE %s" for _ in words)
    return f"SELECT id FROM files WHERE {where}" + PAGE, [f"%{w}%" for w in words]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--runs", type=int, default=30, help="per query and design")
    parser.add_argument("--drop", action="store_true", help="drop the trigram index afterwards")
    args = parser.parse_args(argv)
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        # As the service's sessions (service/db/pool.py): every execution planned with its values.
        conn.execute("SET plan_cache_mode = force_custom_plan")
        files = conn.execute("SELECT count(*) FROM files").fetchone()[0]
        print(f"{files:,} files")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        conn.execute(FOLD)
        if not conn.execute("SELECT to_regclass(%s)", (TRIGRAM_INDEX,)).fetchone()[0]:
            conn.execute("SET maintenance_work_mem = '1GB'")
            started = time.monotonic()
            conn.execute(f"CREATE INDEX {TRIGRAM_INDEX} ON files USING gin ({FOLDED} gin_trgm_ops)")
            conn.execute("ANALYZE files")
            print(f"trigram index built in {time.monotonic() - started:.0f} s")
        for name in ("files_search_folded", TRIGRAM_INDEX):
            size = conn.execute("SELECT pg_relation_size(%s::regclass)", (name,)).fetchone()[0]
            print(f"{name}: {size / 2**20:,.0f} MiB")
        print(f"\n{'case':<16} {'full text p50/p99 ms':>22} {'trigram p50/p99 ms':>22}")
        # Every query once, untimed, both designs: the first reads of a 10M-file table come
        # from disk (it is larger than memory here), and whichever design ran first would pay.
        for queries in CASES.values():
            for q in queries:
                for build in (full_text, trigram):
                    conn.execute(*build(q)).fetchall()
        for case, queries in CASES.items():
            timings: dict[str, list[float]] = {"full": [], "trigram": []}
            for _ in range(args.runs):
                for q in queries:
                    for design, build in (("full", full_text), ("trigram", trigram)):
                        sql, params = build(q)
                        started = time.perf_counter()
                        conn.execute(sql, params).fetchall()
                        timings[design].append((time.perf_counter() - started) * 1000)
            cells = [
                f"{statistics.median(t):.1f} / {percentile(t, 99):.1f}" for t in timings.values()
            ]
            print(f"{case:<16} {cells[0]:>22} {cells[1]:>22}", flush=True)
        if args.drop:
            conn.execute(f"DROP INDEX {TRIGRAM_INDEX}")
            conn.execute("DROP FUNCTION bench_fold")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
