"""The access-event recorder against a real PostgreSQL: batching, no loss, back-pressure."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from psycopg_pool import AsyncConnectionPool

from service.stats.events import CONTENT, METADATA, AccessEvent, EventRecorder, rollup_counts
from tests.service.db_support import connect, run


@pytest.fixture
def db(migrated_database_url: str) -> str:
    return migrated_database_url


def pool_for(url: str) -> AsyncConnectionPool:
    return AsyncConnectionPool(url, min_size=1, max_size=4, open=False)


async def count(url: str, query: str = "SELECT count(*) FROM access_events") -> int:
    async with await connect(url) as conn:
        return (await (await conn.execute(query)).fetchone())[0]


def test_rollup_counts_per_dimension_day_and_month():
    t = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    f1, f2 = uuid.uuid4(), uuid.uuid4()
    events = [
        AccessEvent(f1, CONTENT, role_id=1, country="FR", company="Acme", language="fr", at=t),
        AccessEvent(f1, CONTENT, role_id=2, country="FR", at=t + timedelta(hours=1)),  # April
        AccessEvent(f2, METADATA, country="IT", language="it", at=t),
    ]
    rollup, per_file = rollup_counts(events)
    assert rollup["d", CONTENT, "total", t.date(), ""] == 1
    assert rollup["m", CONTENT, "total", t.date().replace(day=1), ""] == 1
    assert rollup["m", CONTENT, "country", datetime(2026, 4, 1).date(), "FR"] == 1
    assert rollup["d", CONTENT, "role", t.date(), "1"] == 1
    assert rollup["d", CONTENT, "company", (t + timedelta(hours=1)).date(), ""] == 1
    assert rollup["d", METADATA, "language", t.date(), "it"] == 1
    assert per_file == Counter({(str(f1), t.date()): 1, (str(f1), t.date() + timedelta(1)): 1})
    assert rollup["w", CONTENT, "total", datetime(2026, 3, 30).date(), ""] == 2  # a Monday
    # Each event adds exactly one to each dimension of its day, its week and its month.
    assert sum(rollup.values()) == len(events) * 5 * 3


def test_rollup_counts_of_alike_and_distinct_events_match_one_by_one_counting():
    """Counting alike events once and expanding them gives what adding each event gives."""
    start = datetime(2026, 2, 27, 22, tzinfo=UTC)
    files = [uuid.uuid4() for _ in range(3)]
    events = [
        AccessEvent(
            files[i % 3],
            (CONTENT, METADATA)[i % 2],
            role_id=(None, 1, 2)[i % 3],
            country=("FR", None)[i % 5 == 0],
            company=("Acme", "Beta", None)[i % 7 % 3],
            language=("en", "it")[i % 4 == 0],
            at=start + timedelta(hours=i % 50),  # across a day, a week and a month boundary
        )
        for i in range(500)
    ]
    expected: Counter = Counter()
    for e in events:
        day = e.at.date()
        periods = (
            ("d", day),
            ("w", day - timedelta(days=day.weekday())),
            ("m", day.replace(day=1)),
        )
        for dim in ("total", "country", "company", "role", "language"):
            key = "" if dim == "total" else e.key(dim)
            for grain, period in periods:
                expected[grain, e.action, dim, period, key] += 1
    rollup, per_file = rollup_counts(events)
    assert rollup == expected
    assert sum(per_file.values()) == sum(e.action == CONTENT for e in events)


def test_unknown_action_is_refused():
    with pytest.raises(ValueError):
        AccessEvent(uuid.uuid4(), "download")


def test_concurrent_recording_loses_nothing_and_rollups_agree(db):
    files = [uuid.uuid4() for _ in range(7)]
    countries = ["FR", "IT", "DE", None]

    async def go():
        async with pool_for(db) as pool:
            recorder = EventRecorder(pool, batch_size=250, flush_interval=0.05)
            await recorder.start()

            async def client(n: int):
                for i in range(200):
                    await recorder.record(
                        AccessEvent(
                            files[(n + i) % len(files)],
                            CONTENT if i % 4 else METADATA,
                            user=f"u{n}",
                            country=countries[i % 4],
                            company="Acme" if n % 2 else None,
                        )
                    )
                    if i % 50 == 0:
                        await asyncio.sleep(0)

            await asyncio.gather(*(client(n) for n in range(40)))
            await recorder.aclose()
            assert recorder.recorded == recorder.written == 8000
            assert recorder.dropped == 0
        assert await count(db) == 8000
        totals = await count(
            db,
            "SELECT sum(n) FROM access_rollup WHERE grain = 'm' AND dim = 'total'",
        )
        assert totals == 8000
        assert await count(db, "SELECT sum(n) FROM access_file_daily") == 6000
        fr = await count(
            db,
            "SELECT sum(n) FROM access_rollup WHERE grain = 'd' AND action = 'content' "
            "AND dim = 'country' AND key = 'FR'",
        )
        assert fr is None  # i % 4 == 0 is both FR and a metadata read: no FR download
        it = await count(
            db,
            "SELECT sum(n) FROM access_rollup WHERE grain = 'd' AND action = 'content' "
            "AND dim = 'country' AND key = 'IT'",
        )
        assert it == 40 * 50

    run(go())


def test_recording_is_buffered_and_written_in_the_background(db):
    async def go():
        async with pool_for(db) as pool, EventRecorder(pool, flush_interval=0.2) as recorder:
            await recorder.record(AccessEvent(uuid.uuid4(), CONTENT))
            assert recorder.buffered == 1
            assert await count(db) == 0
            for _ in range(100):
                if await count(db) == 1:
                    break
                await asyncio.sleep(0.05)
            assert await count(db) == 1

    run(go())


def test_a_failing_batch_is_retried_not_lost(db):
    async def go():
        async with await connect(db) as ddl, pool_for(db) as pool:
            await ddl.execute("ALTER TABLE access_events RENAME TO access_events_away")
            recorder = EventRecorder(pool, batch_size=10, flush_interval=0.05, retry_backoff=0.05)
            await recorder.start()
            for _ in range(25):
                await recorder.record(AccessEvent(uuid.uuid4(), CONTENT))
            for _ in range(100):
                if recorder.failed_batches >= 2:
                    break
                await asyncio.sleep(0.05)
            assert recorder.failed_batches >= 2
            await ddl.execute("ALTER TABLE access_events_away RENAME TO access_events")
            await recorder.aclose()
            assert recorder.written == 25 and recorder.dropped == 0
        assert await count(db) == 25

    run(go())


def test_a_full_buffer_applies_back_pressure_then_drops_only_after_max_wait(db):
    async def go():
        async with await connect(db) as blocker, pool_for(db) as pool:
            recorder = EventRecorder(
                pool, batch_size=5, max_buffered=5, flush_interval=0.05, max_wait=0.5
            )
            await recorder.start()
            # Hold a lock that makes every flush wait.
            await blocker.execute("BEGIN")
            await blocker.execute("LOCK TABLE access_events IN ACCESS EXCLUSIVE MODE")
            for _ in range(5):
                await recorder.record(AccessEvent(uuid.uuid4(), CONTENT))
            waiting = asyncio.create_task(recorder.record(AccessEvent(uuid.uuid4(), CONTENT)))
            await asyncio.sleep(0.2)
            assert not waiting.done()  # back-pressure: the request waits for room
            await blocker.execute("ROLLBACK")
            await asyncio.wait_for(waiting, 5)
            assert recorder.dropped == 0
            # Now keep the database blocked past max_wait: the event is dropped and counted.
            await recorder.flush()
            await blocker.execute("BEGIN")
            await blocker.execute("LOCK TABLE access_events IN ACCESS EXCLUSIVE MODE")
            for _ in range(6):
                await recorder.record(AccessEvent(uuid.uuid4(), CONTENT))
            assert recorder.dropped == 1
            await blocker.execute("ROLLBACK")
            await recorder.aclose()
        assert await count(db) == 6 + 5

    run(go())


def test_aclose_writes_what_is_buffered_and_later_events_are_written_through(db):
    async def go():
        async with pool_for(db) as pool:
            recorder = EventRecorder(pool, batch_size=1000, flush_interval=60)
            await recorder.start()
            for _ in range(1234):
                await recorder.record(AccessEvent(uuid.uuid4(), METADATA))
            for _ in range(100):  # one full batch goes at once, the rest waits for the interval
                if await count(db) == 1000:
                    break
                await asyncio.sleep(0.05)
            assert await count(db) == 1000
            await asyncio.sleep(0.3)
            assert await count(db) == 1000
            await recorder.aclose()
            assert await count(db) == 1234
            await recorder.record(AccessEvent(uuid.uuid4(), METADATA))
            assert await count(db) == 1235

    run(go())
