"""GET /stats computations against hand-computed expectations on a small data set."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from service.files import taxonomy
from service.stats import report as stats
from service.stats.events import CONTENT, METADATA, AccessEvent, write_batch
from tests.service.db_support import connect, insert_file, run


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@pytest.mark.parametrize(
    ("first", "last", "months", "days"),
    [
        ("2026-01-01", "2026-12-31", ("2026-01-01", "2026-12-01"), []),
        ("2026-01-15", "2026-01-20", None, [("2026-01-15", "2026-01-20")]),
        ("2026-01-31", "2026-02-01", None, [("2026-01-31", "2026-02-01")]),
        (
            "2026-01-31",
            "2026-03-02",
            ("2026-02-01", "2026-02-01"),
            [("2026-01-31", "2026-01-31"), ("2026-03-01", "2026-03-02")],
        ),
        ("2026-02-01", "2026-02-28", ("2026-02-01", "2026-02-01"), []),
        ("2026-02-01", "2026-02-27", None, [("2026-02-01", "2026-02-27")]),
    ],
)
def test_split_range_into_months_and_edge_days(first, last, months, days):
    d = date.fromisoformat
    got_months, got_days = stats.split_range(d(first), d(last))
    assert got_months == (tuple(map(d, months)) if months else None)
    assert got_days == [(d(a), d(b)) for a, b in days]


def test_grain_spans_cover_every_range_exactly_once():
    rng = random.Random(7)
    for _ in range(3000):
        first = date(2025, 1, 1) + timedelta(days=rng.randrange(800))
        last = first + timedelta(days=rng.randrange(400))
        covered: list[date] = []
        for grain, a, b in stats.grain_spans(first, last):
            end = {"d": b, "w": b + timedelta(days=6), "m": stats._next_month(b) - timedelta(1)}
            if grain == "w":
                assert a.weekday() == 0 and b.weekday() == 0
            if grain == "m":
                assert a.day == 1 and b.day == 1
            day = a
            while day <= end[grain]:
                covered.append(day)
                day += timedelta(days=1)
        assert sorted(covered) == [first + timedelta(i) for i in range((last - first).days + 1)]
        single_days = sum(
            (b - a).days + 1 for g, a, b in stats.grain_spans(first, last) if g == "d"
        )
        assert single_days <= 4 * 6


def test_parse_range_errors():
    assert stats.parse_range(None, None) == stats.Range(None, None)
    assert stats.parse_range("2026-01-01", "2026-01-01").start == date(2026, 1, 1)
    for bad in ("2026-13-01", "yesterday", "2026/01/01"):
        with pytest.raises(stats.InvalidRange) as caught:
            stats.parse_range(bad, None)
        assert caught.value.field == "from"
    with pytest.raises(stats.InvalidRange):
        stats.parse_range("2026-02-01", "2026-01-01")


@pytest.fixture
def db(migrated_database_url: str) -> str:
    return migrated_database_url


async def load_small_data_set(conn) -> dict[str, uuid.UUID]:
    await taxonomy.seed(conn, taxonomy.DEFAULT_TAXONOMY)

    async def labels(category=None, language=None, roles=()):
        return await taxonomy.resolve_labels(
            conn, category=category, language=language, roles=list(roles)
        )

    files = {}
    for name, (cat, lang, roles, type_, size, day) in {
        "A": ("Skills", "en", ["Mentor/Coach"], "pdf", 1000, "2026-01-10"),
        "B": ("Skills", "fr", ["Mentor/Coach", "Mentee/Coachee"], "mp4", 5000, "2026-01-20"),
        "C": ("Soft skills", "it", [], "png", 300, "2026-02-05"),
        "D": (None, "en", ["Mentee/Coachee"], "pdf", 700, "2026-03-01"),
        "E": ("Conflict resolution", "en", [], "txt", 50, "2026-03-15"),
    }.items():
        lab = await labels(cat, lang, roles)
        files[name] = await insert_file(
            conn,
            title=f"file {name}",
            category_id=lab.category_id,
            language=lab.language,
            role_ids=lab.role_ids,
            type_=type_,
            size=size,
            created_at=at(day),
        )
    await conn.execute("DELETE FROM files WHERE id = %s", (files["E"],))
    mentor = await taxonomy.role_id(conn, "Mentor/Coach")
    mentee = await taxonomy.role_id(conn, "Mentee/Coachee")

    def times(n, name, action, user, role, country, company, lang, when):
        event = AccessEvent(files[name], action, user, role, country, company, lang, "k", when)
        return [event] * n

    events = [
        *times(3, "A", CONTENT, "u1", mentor, "FR", "Acme", "en", at("2026-01-31")),
        *times(2, "A", CONTENT, "u2", mentee, "IT", "Acme", "en", at("2026-02-01", 0)),
        *times(4, "B", CONTENT, "u3", None, "FR", "Beta", "fr", at("2026-02-01", 23)),
        *times(1, "C", CONTENT, None, None, "DE", None, "it", at("2026-03-02")),
        *times(2, "C", METADATA, None, None, "DE", None, "it", at("2026-03-02")),
        *times(5, "D", CONTENT, "u1", None, "FR", None, "en", at("2026-03-31", 23)),
    ]
    await write_batch(conn, events[:7])  # two batches, as the recorder would write them
    await write_batch(conn, events[7:])
    return files


def test_stats_over_everything(db):
    async def go():
        async with await connect(db) as conn:
            files = await load_small_data_set(conn)
            body = await stats.compute(conn, stats.Range(None, None))
        ids = {v: k for k, v in files.items()}
        assert body["from"] is None and body["to"] is None
        f = body["files"]
        assert (f["files"], f["bytes"]) == (4, 7000)
        assert [(c["name"], c["files"], c["bytes"]) for c in f["by_category"]] == [
            ("Skills", 2, 6000),
            (None, 1, 700),
            ("Soft skills", 1, 300),
        ]
        assert [(x["code"], x["name"], x["files"], x["bytes"]) for x in f["by_language"]] == [
            ("en", "English", 2, 1700),
            ("fr", "Français", 1, 5000),
            ("it", "Italiano", 1, 300),
        ]
        assert [(x["type"], x["files"], x["bytes"]) for x in f["by_type"]] == [
            ("pdf", 2, 1700),
            ("mp4", 1, 5000),
            ("png", 1, 300),
        ]
        assert [(x["name"], x["files"], x["bytes"]) for x in f["by_role"]] == [
            ("Mentor/Coach", 2, 6000),
            ("Mentee/Coachee", 2, 5700),
            (None, 1, 300),  # no audience set
        ]
        d = body["downloads"]
        assert d["count"] == 15
        assert [(x["country"], x["downloads"]) for x in d["by_country"]] == [
            ("FR", 12),
            ("IT", 2),
            ("DE", 1),
        ]
        assert [(x["company"], x["downloads"]) for x in d["by_company"]] == [
            (None, 6),
            ("Acme", 5),
            ("Beta", 4),
        ]
        assert [(x["name"], x["downloads"]) for x in d["by_role"]] == [
            (None, 10),
            ("Mentor/Coach", 3),
            ("Mentee/Coachee", 2),
        ]
        assert [(x["code"], x["downloads"]) for x in d["by_language"]] == [
            ("en", 10),
            ("fr", 4),
            ("it", 1),
        ]
        assert d["per_day"] == [
            {"day": "2026-01-31", "count": 3},
            {"day": "2026-02-01", "count": 6},
            {"day": "2026-03-02", "count": 1},
            {"day": "2026-03-31", "count": 5},
        ]
        top = [(ids[uuid.UUID(t["id"])], t["title"], t["downloads"]) for t in d["top_files"]]
        assert sorted(top[:2]) == [("A", "file A", 5), ("D", "file D", 5)]
        assert top[2:] == [("B", "file B", 4), ("C", "file C", 1)]
        assert body["metadata_reads"] == {
            "count": 2,
            "per_day": [{"day": "2026-03-02", "count": 2}],
        }

    run(go())


def test_stats_for_a_range_spanning_month_edges(db):
    async def go():
        async with await connect(db) as conn:
            files = await load_small_data_set(conn)
            body = await stats.compute(conn, stats.parse_range("2026-02-01", "2026-03-02"))
            one_day = await stats.compute(conn, stats.parse_range("2026-01-31", "2026-01-31"))
            empty = await stats.compute(conn, stats.parse_range("2025-01-01", "2025-12-31"))
        ids = {str(v): k for k, v in files.items()}
        assert (body["from"], body["to"]) == ("2026-02-01", "2026-03-02")
        assert (body["files"]["files"], body["files"]["bytes"]) == (2, 1000)  # C and D
        d = body["downloads"]
        assert d["count"] == 7
        assert [(x["country"], x["downloads"]) for x in d["by_country"]] == [
            ("FR", 4),
            ("IT", 2),
            ("DE", 1),
        ]
        assert [(ids[t["id"]], t["downloads"]) for t in d["top_files"]] == [
            ("B", 4),
            ("A", 2),
            ("C", 1),
        ]
        assert one_day["downloads"]["count"] == 3
        assert one_day["files"]["files"] == 0
        assert [(ids[t["id"]], t["downloads"]) for t in one_day["downloads"]["top_files"]] == [
            ("A", 3)
        ]
        assert empty["downloads"]["count"] == 0 and empty["downloads"]["top_files"] == []
        assert empty["files"] == {
            "files": 0,
            "bytes": 0,
            "by_category": [],
            "by_language": [],
            "by_type": [],
            "by_role": [],
            "infected": {"files": 0, "bytes": 0},
        }

    run(go())


def test_renaming_a_category_renames_it_in_stats(db):
    async def go():
        async with await connect(db) as conn:
            await load_small_data_set(conn)
            skills = next(
                e
                for e in await taxonomy.list_entries(conn, taxonomy.CATEGORY)
                if e["name"] == "Skills"
            )
            await taxonomy.rename_entry(conn, taxonomy.CATEGORY, skills["id"], "Hard skills")
            body = await stats.compute(conn, stats.Range(None, None))
        assert body["files"]["by_category"][0] == {
            "id": skills["id"],
            "name": "Hard skills",
            "files": 2,
            "bytes": 6000,
        }

    run(go())


def test_download_counts_match_the_raw_events_for_any_range(db):
    """Months, weeks and days combined give exactly what counting raw events gives."""
    rng = random.Random(11)

    async def go():
        async with await connect(db) as conn:
            start = date(2026, 1, 1)
            events = [
                AccessEvent(
                    uuid.uuid4(),
                    CONTENT,
                    country=rng.choice(["FR", "IT", None]),
                    company=rng.choice(["Acme", "Beta", None]),
                    at=at((start + timedelta(days=rng.randrange(120))).isoformat(), 12),
                )
                for _ in range(3000)
            ]
            await write_batch(conn, events)
            for _ in range(25):
                first = start + timedelta(days=rng.randrange(-5, 120))
                last = first + timedelta(days=rng.randrange(0, 90))
                inside = [e for e in events if first <= e.at.date() <= last]
                got = {
                    (dim, key): n
                    for action, dim, key, n in await stats.access_counts(
                        conn, stats.Range(first, last)
                    )
                    if action == CONTENT
                }
                assert got.get(("total", ""), 0) == len(inside)
                for dim in ("country", "company"):
                    want = Counter(e.key(dim) for e in inside)
                    assert {k: n for (d, k), n in got.items() if d == dim} == dict(want)

    run(go())


def test_top_files_is_exact_against_brute_force_whatever_the_distribution(db):
    """Skewed counts settle in the first round; flat ones force more rounds or the full sum."""
    rng = random.Random(5)

    async def go():
        async with await connect(db) as conn:
            start = date(2026, 1, 1)
            files = [uuid.uuid4() for _ in range(400)]
            events = []
            for i in range(6000):
                skewed = i % 2 == 0
                pareto = files[min(int(rng.paretovariate(1.2)) - 1, 399)]
                f = pareto if skewed else rng.choice(files)
                day = start + timedelta(days=rng.randrange(60))
                events.append(AccessEvent(f, CONTENT, at=at(day.isoformat())))
            await write_batch(conn, events)
            for first, last in [(None, None), ("2026-01-05", "2026-02-10"), ("2026-02-01", None)]:
                r = stats.parse_range(first, last)
                want = Counter(
                    str(e.file_id)
                    for e in events
                    if (r.start is None or e.at.date() >= r.start)
                    and (r.end is None or e.at.date() <= r.end)
                )
                got = await stats.top_files(conn, r, k=10)
                counts = sorted(want.values(), reverse=True)[:10]
                assert [n for _f, n in got] == counts
                assert all(want[f] == n for f, n in got)

    run(go())
