"""The file queries against a real PostgreSQL: unfiltered pages are prepared (psycopg does so
for a query it has seen five times), which is only right if their one generic plan is the
index walk in date order, whatever the cursor and the limit."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from service.migrate import migrate
from service.pagination import Position
from service.repository import files as files_repo

FILES = 5000


@pytest.fixture
def loaded(database_url: str) -> str:
    migrate(database_url)
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


def unfiltered(template, *, after: bool) -> str:
    position = Position(datetime.now(UTC), uuid.uuid4()) if after else None
    query, _ = files_repo._page("test", template, position, [])
    return query


@pytest.mark.parametrize(
    "template", ["_PAGE", "_VERSIONS_PAGE", "_PAGE_VERSIONED"], ids=["rows", "versions", "both"]
)
@pytest.mark.parametrize(
    ("after", "arguments"),
    [(False, "(101)"), (True, "(now() - interval '1 day', gen_random_uuid(), 101)")],
    ids=["first page", "after a cursor"],
)
def test_the_generic_plan_of_an_unfiltered_page_walks_the_date_index(
    loaded, template, after, arguments
):
    query = unfiltered(getattr(files_repo, template), after=after)
    with psycopg.connect(loaded, autocommit=True) as conn:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute(f"PREPARE page AS {positional(query)}")
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN EXECUTE page{arguments}"))
    lines = [line for line in plan.splitlines() if "InitPlan" not in line]
    limit = next(i for i, line in enumerate(lines) if line.strip().startswith("Limit"))
    assert "Index Scan Backward using files_created_at_id" in "\n".join(lines[limit:]), plan


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
