"""Monthly rollups (migration 0033) on a real PostgreSQL: a populated database migrated while
the previous image keeps recording downloads and writing files, the monthly tables equal to
their daily tables summed by month afterwards and after every kind of later write, and /stats
as exact as counting the raw rows."""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from service.db.migrate import migrate
from service.stats import report as stats
from service.stats.events import CONTENT, METADATA, AccessEvent, write_batch
from tests.service.db_support import connect, insert_file, migrate_before, run

MONTHLY = "0033"
START = datetime(2026, 1, 1, tzinfo=UTC)
FILES_MONTHLY = """SELECT dim, month, key, files, bytes FROM file_rollup_monthly
                   WHERE files <> 0 OR bytes <> 0 ORDER BY 1, 2, 3"""
FILES_BY_MONTH = """SELECT dim, date_trunc('month', day)::date, key, sum(files), sum(bytes)
                    FROM file_rollup GROUP BY 1, 2, 3
                    HAVING sum(files) <> 0 OR sum(bytes) <> 0 ORDER BY 1, 2, 3"""
DOWNLOADS_MONTHLY = "SELECT file_id, month, n FROM access_file_monthly WHERE n <> 0 ORDER BY 1, 2"
DOWNLOADS_BY_MONTH = """SELECT file_id, date_trunc('month', day)::date, sum(n)
                        FROM access_file_daily GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2"""


@pytest.fixture
def before(database_url: str, tmp_path: Path) -> str:
    """`database_url` migrated to the version before the monthly rollups."""
    migrate_before(database_url, MONTHLY, tmp_path)
    return database_url


def events(rng: random.Random, files: list[uuid.UUID], n: int) -> list[AccessEvent]:
    """Downloads over January to April 2026, skewed over the files."""
    return [
        AccessEvent(
            files[min(int(rng.paretovariate(1.1)) - 1, len(files) - 1)],
            rng.choice([CONTENT, CONTENT, CONTENT, METADATA]),
            at=START + timedelta(seconds=rng.uniform(0, 120 * 86400)),
        )
        for _ in range(n)
    ]


def assert_in_step(url: str) -> None:
    with psycopg.connect(url) as conn:
        assert (
            conn.execute(DOWNLOADS_MONTHLY).fetchall()
            == conn.execute(DOWNLOADS_BY_MONTH).fetchall()
        )
        assert conn.execute(FILES_MONTHLY).fetchall() == conn.execute(FILES_BY_MONTH).fetchall()


class PreviousImage(threading.Thread):
    """Records downloads and uploads files as the previous image does, until stopped."""

    def __init__(self, url: str, files: list[uuid.UUID]) -> None:
        super().__init__(daemon=True)
        self.url, self.files, self.errors = url, files, []
        self.written: list[AccessEvent] = []
        self.stop = threading.Event()

    def run(self) -> None:
        rng = random.Random(33)

        async def go() -> None:
            async with await connect(self.url) as conn:
                while not self.stop.is_set():
                    try:
                        batch = events(rng, self.files, 50)
                        await write_batch(conn, batch)
                        self.written += batch
                        await insert_file(conn, size=rng.randrange(1, 1000), created_at=START)
                    except psycopg.Error as exc:
                        self.errors.append(exc)

        run(go())


def test_a_populated_database_gets_exact_monthly_rollups_while_writes_go_on(before: str) -> None:
    url = before
    rng = random.Random(7)

    async def populate() -> list[uuid.UUID]:
        async with await connect(url) as conn:
            files = [
                await insert_file(
                    conn,
                    size=rng.randrange(1, 10**6),
                    created_at=START + timedelta(days=rng.randrange(120)),
                )
                for _ in range(60)
            ]
            await write_batch(conn, events(rng, files, 4000))
            return files

    files = run(populate())
    writer = PreviousImage(url, files)
    writer.start()
    try:
        applied = migrate(url)
    finally:
        writer.stop.set()
        writer.join()
    assert applied == [MONTHLY]
    assert writer.errors == [] and writer.written
    assert_in_step(url)


def test_every_later_write_moves_the_monthly_rows_with_the_daily_ones(
    migrated_database_url: str,
) -> None:
    url = migrated_database_url
    rng = random.Random(8)

    async def go() -> None:
        async with await connect(url) as conn:
            ids = [
                await insert_file(conn, size=10 * (i + 1), created_at=START + timedelta(days=i))
                for i in range(40)
            ]
            # New daily rows, then increments of the same rows (INSERT ... ON CONFLICT UPDATE).
            await write_batch(conn, events(rng, ids, 2000))
            await write_batch(conn, events(rng, ids, 2000))
            # A file moved to another month and resized, and a file deleted.
            await conn.execute(
                "UPDATE files SET created_at = %s, size = 7 WHERE id = %s",
                (START + timedelta(days=70), ids[0]),
            )
            await conn.execute("DELETE FROM files WHERE id = %s", (ids[1],))
            # A daily row moved to another month by hand, and one deleted.
            await conn.execute(
                "UPDATE access_file_daily SET day = '2026-06-15' WHERE file_id = %s "
                "AND day = (SELECT min(day) FROM access_file_daily WHERE file_id = %s)",
                (ids[2], ids[2]),
            )
            await conn.execute("DELETE FROM access_file_daily WHERE file_id = %s", (ids[3],))

    run(go())
    assert_in_step(url)
    with psycopg.connect(url) as conn:
        # The resized file counts once, in its new month (in January it was 10 bytes).
        assert conn.execute(
            "SELECT files, bytes FROM file_rollup_monthly WHERE dim = 'total' AND month = %s",
            (date(2026, 3, 1),),
        ).fetchone() == (1, 7)


def test_stats_over_months_and_edges_count_what_the_raw_events_count(
    migrated_database_url: str,
) -> None:
    url = migrated_database_url
    rng = random.Random(9)

    async def go() -> None:
        async with await connect(url) as conn:
            created = [START + timedelta(days=i % 120, hours=1) for i in range(300)]
            files = [await insert_file(conn, size=7, created_at=c) for c in created]
            written = events(rng, files, 6000)
            await write_batch(conn, written)
            for first, last in [
                (None, None),
                ("2026-01-15", "2026-04-10"),  # months and both edges
                ("2026-02-01", "2026-03-31"),  # whole months only
                ("2026-02-03", "2026-02-20"),  # days only
            ]:
                r = stats.parse_range(first, last)
                want = Counter(
                    str(e.file_id)
                    for e in written
                    if e.action == CONTENT
                    and (r.start is None or e.at.date() >= r.start)
                    and (r.end is None or e.at.date() <= r.end)
                )
                got = await stats.top_files(conn, r, k=10)
                assert [n for _f, n in got] == sorted(want.values(), reverse=True)[:10]
                assert all(want[f] == n for f, n in got)
                # The files' figures, from months and edge days, against the files themselves.
                uploaded = [c for c in created if r.first <= c.date() <= r.last]
                body = await stats.compute(conn, r)
                assert (body["files"]["files"], body["files"]["bytes"]) == (
                    len(uploaded),
                    7 * len(uploaded),
                )

    run(go())
