"""The file queries against a real PostgreSQL: unfiltered pages are prepared (psycopg does so
for a query it has seen five times), which is only right if their one generic plan is the
index walk in date order, whatever the cursor and the limit."""

from __future__ import annotations

import asyncio
import re

import psycopg
import pytest

from service.files import sql as files_repo
from service.files.cursors import Position

FILES = 5000


@pytest.fixture
def loaded(migrated_database_url: str) -> str:
    database_url = migrated_database_url
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO files (id, object_key, title, filename, content_type, type, size,
                                  sha256, uploaded_by, created_at, updated_at)
               SELECT gen_random_uuid(), 'files/' || g, 'file ' || g, 'f.pdf',
                      'application/pdf', 'pdf', g, md5(g::text) || md5(g::text), 'test',
                      now() - g * interval '1 minute', now()
               FROM generate_series(1, %s) AS g""",
            (FILES,),
        )
        conn.execute("ANALYZE files")
    return database_url


def positional(query: str) -> str:
    n = 0

    def next_placeholder(_) -> str:
        nonlocal n
        n += 1
        return f"${n}"

    return re.sub(r"%s", next_placeholder, query)


def unfiltered(template: psycopg.sql.SQL, where: str = "") -> str:
    return template.format(psycopg.sql.SQL(where)).as_string()


TOP = "'9999-12-31 23:59:59.999999+00'"  # files_repo._BEFORE_ALL: page 1 among several
MAX_ID = "'ffffffff-ffff-ffff-ffff-ffffffffffff'"
DAY_AGO = "now() - interval '1 day', gen_random_uuid()"


@pytest.mark.parametrize(
    "kind", [files_repo.OBJECTS, files_repo.VERSIONS, files_repo.VERSIONED], ids=lambda k: k.name
)
@pytest.mark.parametrize(
    ("several", "arguments"),
    [
        (False, "(101)"),
        (False, f"({DAY_AGO}, 21)"),
        (True, f"(ARRAY[{TOP}]::timestamptz[], ARRAY[{MAX_ID}]::uuid[], ARRAY[101])"),
        (
            True,
            f"(ARRAY[{TOP}, now() - interval '1 day', now() - interval '2 days'],"
            f" ARRAY[{MAX_ID}, gen_random_uuid(), gen_random_uuid()]::uuid[], ARRAY[21, 21, 101])",
        ),
    ],
    ids=["first page", "after a cursor", "several: first page", "several: three pages"],
)
def test_the_generic_plan_of_unfiltered_pages_walks_the_date_index(
    loaded, kind, several, arguments
):
    if several:
        query = unfiltered(kind.several)
    else:  # a page alone: after a cursor, or page 1 without one
        query = unfiltered(kind.one, f"WHERE {files_repo._AFTER}" if "," in arguments else "")
    with psycopg.connect(loaded, autocommit=True) as conn:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute(f"PREPARE page AS {positional(query)}")
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN EXECUTE page{arguments}"))
    lines = [line for line in plan.splitlines() if "InitPlan" not in line]
    limit = next(i for i, line in enumerate(lines) if line.lstrip(" ->").startswith("Limit"))
    assert "Index Scan Backward using files_created_at_id" in "\n".join(lines[limit:]), plan


def test_pages_read_together_are_the_pages_read_alone(loaded):
    """Several pages in one query (page 1, cursors, the same page twice, other limits, under a
    filter) are each exactly the page a query of its own returns."""

    def alone(conn, after, limit, where="TRUE"):
        cursor = "(created_at, id) < (%s, %s)" if after else "TRUE"
        return [
            str(r[0])
            for r in conn.execute(
                f"SELECT id FROM files WHERE {where} AND {cursor}"
                " ORDER BY created_at DESC, id DESC LIMIT %s",
                [*((after.created_at, after.id) if after else ()), limit],
            )
        ]

    async def together(pages, filters):
        """Each kind's pages read in one query, and read one by one (the other query)."""
        kinds = (files_repo.OBJECTS, files_repo.VERSIONS, files_repo.VERSIONED)
        async with await psycopg.AsyncConnection.connect(loaded, autocommit=True) as conn:
            read = {k.name: await files_repo.list_pages(conn, k, pages, filters) for k in kinds}
            for k in kinds:
                each = [(await files_repo.list_pages(conn, k, [p], filters))[0] for p in pages]
                assert each == read[k.name], k.name
            return read

    with psycopg.connect(loaded, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT created_at, id FROM files ORDER BY created_at DESC, id DESC"
        ).fetchall()
        at = {n: Position(*rows[n]) for n in (0, 20, 2500, FILES - 3)}
        pages = [(None, 21), (at[20], 21), (at[2500], 101), (at[20], 21), (at[FILES - 3], 21)]
        expected = [alone(conn, after, limit) for after, limit in pages]
        odd = files_repo.Filter("size %% 2 = %s", [1])
        expected_odd = [alone(conn, after, limit, "size %% 2 = 1") for after, limit in pages]
    got = asyncio.run(together(pages, []))
    assert [[str(r["id"]) for r in page] for page in got["objects"]] == expected
    assert [[v[0] for v in page] for page in got["versions"]] == expected
    assert [[r[1] for r in page] for page in got["versioned"]] == expected
    assert [len(p) for p in expected] == [21, 21, 101, 21, 2]
    got_odd = asyncio.run(together(pages, [odd]))
    assert [[str(r["id"]) for r in page] for page in got_odd["objects"]] == expected_odd
    assert expected_odd != expected and all(expected_odd[:4])


def test_filtered_queries_are_rendered_once_per_combination(monkeypatch):
    monkeypatch.setattr(files_repo, "_RENDERED", {})
    calls = []

    def compose(text):
        def composed():
            calls.append(text)
            return psycopg.sql.SQL(text)

        return composed

    lang = [files_repo.Filter("language = %s", ["en"])]
    both = [*lang, files_repo.Filter("type = %s", ["pdf"])]
    assert files_repo._rendered("page", lang, compose("A")) == "A"
    assert files_repo._rendered("page", [files_repo.Filter("language = %s", ["fr"])],
                                compose("B")) == "A"  # fmt: skip
    assert files_repo._rendered("page", both, compose("C")) == "C"
    assert files_repo._rendered("get", lang, compose("D")) == "D"
    assert calls == ["A", "C", "D"]
    # A Composable condition is never cached (its text depends on the connection).
    composable = [files_repo.Filter(psycopg.sql.SQL("x = %s"), [1])]
    assert isinstance(files_repo._rendered("page", composable, compose("E")), psycopg.sql.SQL)
    monkeypatch.setattr(files_repo, "_MAX_RENDERED", 3)
    files_repo._rendered("page", [files_repo.Filter("q = %s")], compose("F"))
    assert list(files_repo._RENDERED.values()) == ["F"]
