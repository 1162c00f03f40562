"""Access events partitioned by month (migration 0032, service/stats/partitions.py), on a real
PostgreSQL: a populated table migrated while events keep arriving, every row kept, new rows
routed by month, the retention dropping only whole old months, /stats unchanged throughout."""

from __future__ import annotations

import random
import shutil
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from service.db.migrate import MIGRATIONS_DIR, migrate
from service.stats import partitions
from service.stats import report as stats
from service.stats.events import CONTENT, METADATA, AccessEvent, write_batch
from tests.service.db_support import connect, migrate_before, run

PARTITIONING = "0032"
MONTHS_BACK = 7


@pytest.fixture
def before(database_url: str, tmp_path: Path) -> str:
    """`database_url` migrated to the version before partitioning."""
    migrate_before(database_url, PARTITIONING, tmp_path)
    return database_url


def partition(url: str, tmp_path: Path) -> list[str]:
    """Apply the partitioning migration alone (later ones need a schema this test does not
    look at)."""
    shutil.copy(next(MIGRATIONS_DIR.glob(f"{PARTITIONING}_*.sql")), tmp_path)
    return migrate(url, tmp_path)


def this_month() -> datetime:
    return datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_rows(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tableoid::regclass::text, count(*) FROM access_events GROUP BY 1"
        ).fetchall()
    return dict(rows)


def everything(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT at, file_id, action, user_id, role_id, country, company, language, key_id "
            "FROM access_events ORDER BY at, file_id"
        ).fetchall()


async def stats_body(url: str) -> tuple:
    """What /stats reads of the downloads (from the rollups, which partitioning leaves as they
    are): the counts per dimension and per day."""
    async with await connect(url) as conn:
        everything = stats.Range(None, None)
        counts = sorted(await stats.access_counts(conn, everything))
        return counts, await stats.per_day(conn, everything)


def populate(url: str) -> None:
    """Events over the last MONTHS_BACK months and this one, written as the recorder does
    (rollups included)."""
    rng = random.Random(25)
    files = [uuid.uuid4() for _ in range(40)]
    start = this_month() - timedelta(days=31 * MONTHS_BACK)
    span = (datetime.now(UTC) - start).total_seconds()
    events = [
        AccessEvent(
            rng.choice(files),
            rng.choice([CONTENT, CONTENT, METADATA]),
            user=f"u{rng.randrange(50)}",
            country=rng.choice(["FR", "IT", None]),
            company=rng.choice(["Acme", None]),
            language=rng.choice(["en", "fr"]),
            key_id="k",
            at=start + timedelta(seconds=rng.uniform(0, span - 1)),
        )
        for _ in range(3000)
    ]

    async def write() -> None:
        async with await connect(url) as conn:
            for i in range(0, len(events), 500):
                async with conn.transaction():
                    await write_batch(conn, events[i : i + 500])

    run(write())


class Writer(threading.Thread):
    """The previous image, still serving: inserts events one by one until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.written, self.errors = url, 0, []
        self.stop = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                try:
                    with (
                        conn.cursor() as cur,
                        cur.copy("COPY access_events (at, file_id, action) FROM STDIN") as copy,
                    ):
                        copy.write_row((datetime.now(UTC), uuid.uuid4(), "metadata"))
                    self.written += 1
                except psycopg.Error as exc:
                    self.errors.append(exc)


def test_a_populated_table_is_partitioned_without_losing_a_row(before: str, tmp_path: Path) -> None:
    url = before
    populate(url)
    rows, figures = everything(url), run(stats_body(url))

    writer = Writer(url)
    writer.start()
    try:
        applied = partition(url, tmp_path)
    finally:
        writer.stop.set()
        writer.join()
    assert applied == [PARTITIONING]
    assert writer.errors == [] and writer.written > 0

    # Every row is there, in the legacy partition (the old table, attached, not copied).
    after = everything(url)
    assert len(after) == len(rows) + writer.written
    assert set(rows) <= set(after)
    assert month_rows(url) == {"access_events_legacy": len(after)}
    assert run(stats_body(url)) == figures

    # New rows land in their month; a month nobody created, in the default partition.
    next_month = (this_month() + timedelta(days=32)).replace(day=1)
    far = next_month.replace(year=next_month.year + 3)
    with psycopg.connect(url) as conn:
        for at in (next_month + timedelta(days=3), far):
            conn.execute(
                "INSERT INTO access_events (at, file_id, action) VALUES (%s, %s, 'content')",
                (at, uuid.uuid4()),
            )
    routed = month_rows(url)
    assert routed[f"access_events_{next_month:%Y%m}"] == 1
    assert routed["access_events_default"] == 1

    # The retention: nothing to drop yet; once the legacy partition's newest month is older
    # than the retention, it goes, and only it. The statistics stay.
    async def maintain(now: datetime, months: int = 13) -> int:
        # Rows as dicts, as the service's pool gives them (CI caught a tuple index on them).
        kwargs = {"row_factory": dict_row}
        async with AsyncConnectionPool(
            url, min_size=1, max_size=1, kwargs=kwargs, open=False
        ) as pool:
            return await partitions.maintain(pool, months, now=now)

    assert run(maintain(datetime.now(UTC))) == 0
    assert sum(month_rows(url).values()) == len(after) + 2
    later = next_month.replace(year=next_month.year + 1, month=next_month.month)
    assert run(maintain(later, months=12)) == 1
    left = month_rows(url)
    assert "access_events_legacy" not in left
    assert left[f"access_events_{next_month:%Y%m}"] == 1
    assert run(stats_body(url)) == figures

    # Months ahead of `later` were created, the far row moved out of the default partition
    # when its month came within reach.
    assert run(maintain(far, months=0)) == 0
    left = month_rows(url)
    assert left.get(f"access_events_{far:%Y%m}") == 1 and "access_events_default" not in left


def test_a_new_database_starts_with_monthly_partitions(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url) as conn:
        names = {
            name
            for (name,) in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'access_events'::regclass"
            )
        }
    month = partitions.month_of(datetime.now(UTC))
    assert names == {"access_events_default"} | {
        partitions.partition_name(partitions.add_months(month, n)) for n in range(4)
    }


def test_months_arithmetic() -> None:
    assert partitions.add_months(datetime(2026, 12, 1).date(), 1).isoformat() == "2027-01-01"
    assert partitions.add_months(datetime(2026, 1, 1).date(), -13).isoformat() == "2024-12-01"
