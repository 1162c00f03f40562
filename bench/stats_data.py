"""Generated data for bench/stats.py: files and access events, built inside
PostgreSQL (generate_series), which is faster than any client-side COPY of the same rows.

Built to load 10 million files and 100 million events on two cores within the hour: file ids and
languages are functions of the file's rank (newest first), so the events need no join to the
files and both load at once on two connections; events are generated a month at a time, in
time order, straight into their monthly partition (no sort; BRIN-friendly), and each month's
rollups are summed from that partition alone; secondary indexes are built after the rows.

Distributions are skewed the way real file libraries are: most files are PDFs and videos, a few
languages dominate, titles use a Zipf-like vocabulary, and downloads follow a power law (a few
files take most of them).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from service.db.migrate import migrate
from service.files import taxonomy

_VOCABULARY = (
    "leadership coaching feedback conflict resolution negotiation listening empathy teamwork "
    "communication mentoring goals career growth mindset resilience stress time management "
    "delegation trust motivation onboarding presentation public speaking writing emails "
    "meetings decision making creativity innovation strategy planning priorities burnout "
    "wellbeing diversity inclusion culture remote hybrid hiring interview performance review "
    "promotion salary networking personal brand storytelling sales customer service quality "
    "project agile scrum kanban retrospective facilitation workshop training course module "
    "lesson quiz exercise case study video podcast guide checklist template handbook policy "
    "compliance security privacy ethics sustainability finance budget forecast reporting "
    "analytics data excel spreadsheet dashboard marketing brand social media content seo "
    "product design ux research prototype testing launch roadmap vision mission values "
    "giulia marco luca sofia paris milano roma lyon introduction advanced beginner session "
    "part chapter episode summary notes slides handout recording transcript webinar"
)
WORDS = _VOCABULARY.split()


def _sql_array(items) -> str:
    return "ARRAY[" + ",".join("'" + w.replace("'", "''") + "'" for w in items) + "]"


# A file's rank n: 1 is the newest. Its id and language are derived from n (the events need both).
_FILE_ID = "md5('bench-file-' || {n})::uuid"
_LANGUAGE = (
    "(ARRAY['en','en','en','en','en','en','it','it','fr','fr','fr',NULL])"
    "[1 + mod(mod({n}::bigint * 2654435761, 4294967296), 12)::int]"
)

LOAD_FILES = """
INSERT INTO files (id, object_key, title, description, category_id, language, role_ids,
                   filename, content_type, type, size, sha256, uploaded_by, created_at,
                   updated_at, scan_status, scan_engine, scanned_at)
SELECT id, 'files/' || id, title, description, category_id, language, role_ids,
       'file.' || type, 'application/octet-stream', type, size, md5(id::text) || md5(title),
       'bench', created_at, created_at,
       -- Already scanned: a backlog of pending rows would keep the service's scan worker busy
       -- through every measurement (the reads are measured, not the scanning).
       'clean', 'none', created_at
FROM (
    SELECT {file_id} AS id,
           -- 3 to 7 title words, Zipf-like (low indexes, the common words, far more likely),
           -- plus a long-tail token (log-uniform over 100,000: names, codes, rare terms)
           (SELECT string_agg(x, ' ') FROM (
               SELECT w[1 + floor(power(random(), 2.5) * cardinality(w))::int] AS x
               FROM generate_series(1, 3 + (g %% 5))) AS t)
               || ' t' || floor(exp(random() * ln(100000)))::int AS title,
           CASE WHEN random() < 0.3 THEN NULL ELSE
           (SELECT string_agg(x, ' ') FROM (
               SELECT w[1 + floor(random() * cardinality(w))::int] AS x
               FROM generate_series(1, 8 + (g %% 17))) AS t)
               || ' d' || floor(exp(random() * ln(100000)))::int END AS description,
           -- Labels drawn independently, with realistic skews.
           (ARRAY[%(c1)s, %(c2)s, %(c3)s, %(c1)s, %(c2)s, NULL])[1 + floor(random() * 6)::int]
               AS category_id,
           {language} AS language,
           (ARRAY['{{}}', '{{}}', ARRAY[%(r1)s::int]::text, ARRAY[%(r2)s::int]::text,
                  ARRAY[%(r1)s::int, %(r2)s::int]::text])[1 + floor(random() * 5)::int]::int[]
               AS role_ids,
           (ARRAY['pdf','pdf','pdf','pdf','pdf','pdf','pdf','pdf','mp4','mp4','mp4','mp4',
                  'mp4','png','png','jpeg','jpeg','docx','mp3','txt','pptx','xlsx','webm',
                  'mov','m4a','gif','wav','ogg','webp','mkv'])[1 + floor(random() * 30)::int]
               AS type,
           (1000 + power(random(), 3) * 500000000)::bigint AS size,
           now() - make_interval(
               secs => (%(total)s - g) * (%(span)s / %(total)s::float8) + random()
           ) AS created_at
    FROM generate_series(%(first)s::int, %(last)s::int) AS g, (SELECT {words} AS w) AS v,
         LATERAL (SELECT %(total)s - g + 1 AS n) AS rank
) AS f
"""

# One month's events, in time order, into that month's partition: `count` events spread evenly
# over [lo, hi), each at a random instant of its own slot.
LOAD_MONTH = """
INSERT INTO {partition} (at, file_id, action, user_id, role_id, country, company, language,
                         key_id)
SELECT %(lo)s::timestamptz + make_interval(secs => (g - 1 + random()) * %(slot)s),
       {file_id}, CASE WHEN g %% 5 = 0 THEN 'metadata' ELSE 'content' END,
       'user-' || floor(random() * 200000)::int,
       (ARRAY[%(r1)s, %(r2)s, NULL])[1 + g %% 3],
       (ARRAY['IT','IT','IT','IT','FR','FR','FR','DE','ES','GB','US','CH','BE','NL','PT',
              'AT','PL','SE','IE','BR', NULL])[1 + floor(power(random(), 1.5) * 21)::int],
       CASE WHEN g %% 7 = 0 THEN NULL
            ELSE 'Company ' || floor(power(random(), 3) * 2000)::int END,
       {language}, 'bench'
FROM (
    -- power law over files: the newest files are the most downloaded
    SELECT g, 1 + floor(power(random(), 4) * %(nfiles)s)::int AS n
    FROM generate_series(1, %(count)s::int) AS g
) AS e
"""

# A month's daily rollups, from its partition alone (a day never spans two months). The
# recorder maintains the same rows incrementally at run time.
MONTH_ROLLUPS = """
CREATE TEMP TABLE bench_daily AS
    SELECT (at AT TIME ZONE 'UTC')::date AS day, action, country, company, role_id, language,
           count(*) AS n
    FROM {partition} GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO access_rollup (grain, action, dim, period, key, n)
SELECT 'd', action, 'total', day, '', sum(n) FROM bench_daily GROUP BY 2, 4
UNION ALL SELECT 'd', action, 'country', day, coalesce(country, ''), sum(n)
    FROM bench_daily GROUP BY 2, 4, 5
UNION ALL SELECT 'd', action, 'company', day, coalesce(company, ''), sum(n)
    FROM bench_daily GROUP BY 2, 4, 5
UNION ALL SELECT 'd', action, 'role', day, coalesce(role_id::text, ''), sum(n)
    FROM bench_daily GROUP BY 2, 4, 5
UNION ALL SELECT 'd', action, 'language', day, coalesce(language, ''), sum(n)
    FROM bench_daily GROUP BY 2, 4, 5;
DROP TABLE bench_daily;
INSERT INTO access_file_daily (file_id, day, n)
SELECT file_id, (at AT TIME ZONE 'UTC')::date, count(*)
FROM {partition} WHERE action = 'content' GROUP BY 1, 2
"""

# Weeks and months straddle partitions: summed from the daily rows once every month is in.
COARSE_ROLLUPS = """
INSERT INTO access_rollup (grain, action, dim, period, key, n)
SELECT 'm', action, dim, date_trunc('month', period)::date, key, sum(n)
FROM access_rollup WHERE grain = 'd' GROUP BY 2, 3, 4, 5;
INSERT INTO access_rollup (grain, action, dim, period, key, n)
SELECT 'w', action, dim, date_trunc('week', period)::date, key, sum(n)
FROM access_rollup WHERE grain = 'd' GROUP BY 2, 3, 4, 5
"""

_SESSION = (
    "SET maintenance_work_mem = '1GB'",
    "SET work_mem = '256MB'",
    # Parallelism comes from the two loading connections, one task each.
    "SET max_parallel_maintenance_workers = 0",
    "SET max_parallel_workers_per_gather = 0",
)

# Settings for a throwaway bulk-loading server (LocalPostgres(settings=...)): nothing here is
# kept after the benchmark, so no WAL is needed for tables filled in the transaction that
# created them, and no checkpoint should interrupt the load. shared_buffers as an 8 GiB RDS
# instance would have (a quarter of memory).
BULK_SERVER_SETTINGS = {
    "shared_buffers": "2GB",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "32GB",
    "checkpoint_timeout": "1h",
    "autovacuum": "off",
}


@dataclass(frozen=True)
class Month:
    partition: str
    lo: datetime
    hi: datetime
    count: int


def months(now: datetime, days: int, events: int) -> list[Month]:
    """The UTC months of the last `days` days, each with its share of `events` (by length)."""
    start = now - timedelta(days=days)
    cuts = []
    m = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while m < now:
        nxt = (m + timedelta(days=32)).replace(day=1)
        cuts.append((m, max(m, start), min(nxt, now)))
        m = nxt
    span = (now - start).total_seconds()
    out, given = [], 0
    for i, (m, lo, hi) in enumerate(cuts):
        share = (
            events - given
            if i == len(cuts) - 1
            else round(events * (hi - lo).total_seconds() / span)
        )
        given += share
        out.append(Month(f"access_events_{m:%Y%m}", lo, hi, share))
    return out


def prepare(url: str) -> None:
    """Migrate the database at `url` to the current version and seed the default taxonomy:
    what `load` expects."""
    migrate(url)

    async def seed() -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await taxonomy.seed(conn, taxonomy.DEFAULT_TAXONOMY)

    asyncio.run(seed())


def load(url: str, *, files: int, events: int, days: int = 365, workers: int = 2, log=print):
    """Fill a migrated, seeded database with `files` files and `events` access events.

    Returns the seconds each phase took: {"rows": ..., "indexes": ..., "vacuum": ...}."""
    now = datetime.now(UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        cats = [r[0] for r in conn.execute("SELECT id FROM categories ORDER BY id LIMIT 3")]
        roles = [r[0] for r in conn.execute("SELECT id FROM roles ORDER BY id LIMIT 2")]
        # Bulk-load without the secondary indexes (building them afterwards is several times
        # faster than maintaining them row by row); access_file_daily loses its primary key too.
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
            "('files', 'access_file_daily') AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint)"
        ).fetchall()
        for name, _definition in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute("ALTER TABLE access_file_daily DROP CONSTRAINT access_file_daily_pkey")
        conn.execute("TRUNCATE access_rollup, access_file_daily, access_file_monthly")
        # The generator draws role ids from the roles above only; the trigger's per-row check
        # (a FOR KEY SHARE lock on the roles) was 40 % of a file's insert time.
        conn.execute("ALTER TABLE files DISABLE TRIGGER files_check_role_ids")
        _month_partitions(conn, days)
    params = {
        "nfiles": files,
        "span": 2 * 365 * 86400,  # files uploaded over two years
        "c1": cats[0],
        "c2": cats[1],
        "c3": cats[2],
        "r1": roles[0],
        "r2": roles[1],
    }
    words = _sql_array(WORDS)
    load_files = LOAD_FILES.format(
        file_id=_FILE_ID.format(n="n"), language=_LANGUAGE.format(n="n"), words=words
    )

    def files_task(first: int, last: int):
        # In slices, so one statement's trigger transition table stays moderate. Two slices
        # may run at once: the file_rollup trigger upserts in a fixed order.
        def run(conn) -> str:
            conn.execute(load_files, {**params, "total": files, "first": first, "last": last})
            return f"files {first:,}-{last:,}"

        return run

    def month_task(month: Month):
        def run(conn) -> str:
            if month.count:
                slot = (month.hi - month.lo).total_seconds() / month.count
                conn.execute(
                    LOAD_MONTH.format(
                        partition=month.partition,
                        file_id=_FILE_ID.format(n="n"),
                        language=_LANGUAGE.format(n="n"),
                    ),
                    {**params, "lo": month.lo, "slot": slot, "count": month.count},
                )
                for statement in MONTH_ROLLUPS.format(partition=month.partition).split(";\n"):
                    conn.execute(statement)
            return f"{month.partition}: {month.count:,} events"

        return run

    def statement_task(statement: str):
        def run(conn) -> str:
            for part in statement.split(";\n"):
                conn.execute(part)
            return " ".join(statement.split())[:70]

        return run

    timings = {}
    started = time.monotonic()
    step = 250_000
    slices = [files_task(g, min(g + step - 1, files)) for g in range(1, files + 1, step)]
    by_month = [month_task(m) for m in months(now, days, events)]
    # Interleaved, so that both connections have both kinds of work to the end.
    tasks = [t for pair in itertools.zip_longest(slices, by_month) for t in pair if t]
    _run(url, tasks, workers, log)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE files ENABLE TRIGGER files_check_role_ids")
    timings["rows"] = time.monotonic() - started
    log(f"  rows: {files:,} files and {events:,} events in {timings['rows']:.0f} s")

    started = time.monotonic()
    rebuild = [definition for _name, definition in indexes]
    rebuild.append("ALTER TABLE access_file_daily ADD PRIMARY KEY (file_id, day)")
    rebuild.append(COARSE_ROLLUPS)
    # The longest (the GIN indexes) first, so that the two connections finish together.
    rebuild.sort(key=lambda statement: "gin" not in statement)
    rebuild = [statement_task(statement) for statement in rebuild]
    _run(url, rebuild, workers, log)
    timings["indexes"] = time.monotonic() - started
    log(f"  indexes and weekly/monthly rollups in {timings['indexes']:.0f} s")

    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace s "
                "ON s.oid = c.relnamespace WHERE s.nspname = 'public' AND c.relkind = 'r' "
                "ORDER BY pg_total_relation_size(c.oid) DESC"
            )
        ]
    vacuum = [statement_task(f"VACUUM (FREEZE, ANALYZE) {t}") for t in tables]
    # The partitioned parent's own statistics (autovacuum never gathers them).
    vacuum.append(statement_task("ANALYZE access_events"))
    _run(url, vacuum, workers, log)
    with psycopg.connect(url, autocommit=True) as conn:
        # Once more, alone: a table vacuumed while the other connection analysed (which holds a
        # snapshot) can keep pages not all-visible (1,642 of access_rollup's 14,449 pages at
        # 1M/10M, each read of them a heap fetch). This pass skips the pages already done.
        conn.execute("VACUUM")
        conn.execute("CHECKPOINT")
    timings["vacuum"] = time.monotonic() - started
    log(f"  vacuum (freeze, analyze) and checkpoint in {timings['vacuum']:.0f} s")
    return timings


def _run(url: str, tasks, workers: int, log) -> None:
    """Run tasks (each a function of a connection) on `workers` connections, in order."""
    queue = list(tasks)
    lock = threading.Lock()

    def worker() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in _SESSION:
                conn.execute(statement)
            while True:
                with lock:
                    if not queue:
                        return
                    task = queue.pop(0)
                started = time.monotonic()
                done = task(conn)
                log(f"    {done} ({time.monotonic() - started:.0f} s)")

    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()


def _month_partitions(conn, days: int) -> None:
    """access_events' monthly partitions for the generated span (the service creates only the
    coming months'; past events would otherwise all land in the DEFAULT partition)."""
    conn.execute(
        """DO $$ DECLARE m timestamptz; BEGIN
           FOR m IN SELECT generate_series(date_trunc('month', now() - %(days)s * interval '1 day',
                       'UTC'), date_trunc('month', now(), 'UTC') - interval '1 month',
                       interval '1 month') LOOP
               EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF access_events
                               FOR VALUES FROM (%L) TO (%L)',
                   'access_events_' || to_char(m AT TIME ZONE 'UTC', 'YYYYMM'),
                   m, m + interval '1 month');
           END LOOP; END $$""".replace("%(days)s", str(int(days)))
    )


_PARTITIONS = """SELECT sum(pg_total_relation_size(c.oid)) FROM pg_inherits i
                 JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'access_events'::regclass"""
_ROLLUP_TABLES = (
    "access_rollup",
    "access_file_daily",
    "access_file_monthly",
    "file_rollup",
    "file_rollup_monthly",
)
_ROLLUPS = "SELECT " + " + ".join(f"pg_total_relation_size('{t}')" for t in _ROLLUP_TABLES)


def sizes(url: str) -> dict[str, int]:
    """Bytes of `files` (indexes and TOAST included), of the raw events' partitions, of the
    rollups, and of the whole database."""
    queries = {
        "files": "SELECT pg_total_relation_size('files')",
        "events": _PARTITIONS,
        "rollups": _ROLLUPS,
        "database": "SELECT pg_database_size(current_database())",
    }
    with psycopg.connect(url) as conn:
        return {k: conn.execute(q).fetchone()[0] or 0 for k, q in queries.items()}


def print_sizes(found: dict[str, int], files: int, events: int) -> None:
    mib = 2**20
    print(
        f"files:         {found['files'] / mib:9.1f} MiB  {found['files'] / files:7.0f} B per file"
    )
    for name, label in (("events", "access_events"), ("rollups", "rollups")):
        per = found[name] / events
        print(f"{label + ':':<14} {found[name] / mib:9.1f} MiB  {per:7.0f} B per event")
    print(f"database:      {found['database'] / mib:9.1f} MiB")
