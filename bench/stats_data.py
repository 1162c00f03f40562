"""Generated data for bench/stats.py: files and access events, built inside
PostgreSQL (generate_series), which is faster than any client-side COPY of the same rows.

Distributions are skewed the way real file libraries are: most files are PDFs and videos, a few
languages dominate, titles use a Zipf-like vocabulary, and downloads follow a power law (a few
files take most of them).
"""

from __future__ import annotations

import time

import psycopg

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
    SELECT gen_random_uuid() AS id,
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
           (ARRAY['en','en','en','en','en','en','it','it','fr','fr','fr',NULL])
               [1 + floor(random() * 12)::int] AS language,
           (ARRAY['{}', '{}', ARRAY[%(r1)s::int]::text, ARRAY[%(r2)s::int]::text,
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
    FROM generate_series(%(first)s::int, %(last)s::int) AS g, (SELECT {words} AS w) AS v
) AS f
"""

LOAD_EVENTS = """
CREATE TEMP TABLE bench_files AS
    SELECT (row_number() OVER (ORDER BY created_at DESC))::int AS n, id, language FROM files;
ALTER TABLE bench_files ADD PRIMARY KEY (n);
ANALYZE bench_files;
INSERT INTO access_events (at, file_id, action, user_id, role_id, country, company, language,
                           key_id)
SELECT e.at, f.id, e.action, e.user_id, e.role_id, e.country, e.company, f.language, 'bench'
FROM (
    SELECT now() - make_interval(secs => random() * %(days)s * 86400) AS at,
           -- power law over files: the newest files are the most downloaded
           1 + floor(power(random(), 4) * %(nfiles)s)::int AS n,
           CASE WHEN g %% 5 = 0 THEN 'metadata' ELSE 'content' END AS action,
           'user-' || floor(random() * 200000)::int AS user_id,
           (ARRAY[%(r1)s, %(r2)s, NULL])[1 + g %% 3] AS role_id,
           (ARRAY['IT','IT','IT','IT','FR','FR','FR','DE','ES','GB','US','CH','BE','NL','PT',
                  'AT','PL','SE','IE','BR', NULL])[1 + floor(power(random(), 1.5) * 21)::int]
               AS country,
           CASE WHEN g %% 7 = 0 THEN NULL
                ELSE 'Company ' || floor(power(random(), 3) * 2000)::int END AS company
    FROM generate_series(1, %(events)s::int) AS g
) AS e
JOIN bench_files f USING (n)
ORDER BY e.at
"""

# Rollups from raw events in bulk (the recorder maintains them incrementally at run time).
BUILD_ROLLUPS = """
TRUNCATE access_rollup, access_file_daily;
CREATE TEMP TABLE bench_daily AS
    SELECT (at AT TIME ZONE 'UTC')::date AS day, action, country, company, role_id, language,
           count(*) AS n
    FROM access_events GROUP BY 1, 2, 3, 4, 5, 6;
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
INSERT INTO access_rollup (grain, action, dim, period, key, n)
SELECT 'm', action, dim, date_trunc('month', period)::date, key, sum(n)
FROM access_rollup WHERE grain = 'd' GROUP BY 2, 3, 4, 5;
INSERT INTO access_rollup (grain, action, dim, period, key, n)
SELECT 'w', action, dim, date_trunc('week', period)::date, key, sum(n)
FROM access_rollup WHERE grain = 'd' GROUP BY 2, 3, 4, 5;
INSERT INTO access_file_daily (file_id, day, n)
SELECT file_id, (at AT TIME ZONE 'UTC')::date, count(*)
FROM access_events WHERE action = 'content' GROUP BY 1, 2;
"""


def load(url: str, *, files: int, events: int, days: int = 365, log=print) -> None:
    """Fill a migrated, seeded database with `files` files and `events` access events."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET work_mem = '256MB'")
        cats = [r[0] for r in conn.execute("SELECT id FROM categories ORDER BY id LIMIT 3")]
        roles = [r[0] for r in conn.execute("SELECT id FROM roles ORDER BY id LIMIT 2")]
        params = {
            "files": files,
            "events": events,
            "nfiles": files,
            "days": days,
            "span": 2 * 365 * 86400,  # files uploaded over two years
            "c1": cats[0],
            "c2": cats[1],
            "c3": cats[2],
            "r1": roles[0],
            "r2": roles[1],
        }
        # Bulk-load without the secondary indexes (building them afterwards is several times
        # faster than maintaining them row by row); constraint indexes stay.
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'files' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        ).fetchall()
        for name, _definition in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        started = time.monotonic()
        # Load in slices so one statement's trigger transition table stays moderate.
        step = 250_000
        done = 0
        while done < files:
            n = min(step, files - done)
            conn.execute(
                LOAD_FILES.replace("{words}", _sql_array(WORDS)),
                {**params, "total": files, "first": done + 1, "last": done + n},
            )
            done += n
        for _name, definition in indexes:
            conn.execute(definition)
        log(f"  files: {files:,} rows (and their indexes) in {time.monotonic() - started:.0f}s")
        started = time.monotonic()
        _month_partitions(conn, days)
        for statement in LOAD_EVENTS.split(";\n"):
            if statement.strip():
                conn.execute(statement, params)
        log(f"  events: {events:,} rows in {time.monotonic() - started:.0f}s")
        started = time.monotonic()
        for statement in BUILD_ROLLUPS.split(";\n"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("VACUUM ANALYZE")
        log(f"  rollups + vacuum analyze in {time.monotonic() - started:.0f}s")


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
