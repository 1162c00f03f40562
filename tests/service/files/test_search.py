"""What `q` finds (service/files/search.py, migrations 0030-0031), on a real PostgreSQL: words
as prefixes, accents and case folded, any language; and no `q` is ever an error."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from service.files import filters
from service.files.search import tsquery
from tests.service.conftest import Service
from tests.service.db_support import connect, insert_file, run
from tests.support.databases import migrated_database

LIBRARY = {
    "Employee Handbook": None,
    "Mentors and mentees": "How to run a first session",
    "Quarterly review": "Q3 figures, per Quarter",
    "Guide de l'élève": "Pour les élèves de première année",
    "Straße und Ærø": "Reiseführer",
    "Hand-outs for the workshop": None,
    "Conflict at work": "Resolution in practice",
}
SPECIAL = ["'", ":", "&", "!", "*", "(", ")", "()", "a:*", "'hand'", "hand&", "!hand", "|",
           "hand:* | (", "\\", "\\'", "<->", "a <-> b", '"', '"unclosed', "-", "--", "or",
           "hand or", "or hand", "-(x)", "a & !", "%", "_", "*:*", "🙂", "C++"]  # fmt: skip


@pytest.fixture(scope="module")
def url(pg) -> Iterator[str]:
    url = migrated_database(pg)  # a copy of the session's migrated template

    async def fill() -> None:
        async with await connect(url) as conn:
            for title, description in LIBRARY.items():
                await insert_file(conn, title=title, description=description)

    run(fill())
    yield url
    pg.drop_database(url)


def found(url: str, q: str) -> set[str]:
    query = filters.FileQuery(q=q)
    where = filters.conditions(query, filters.Resolved())
    text = " AND ".join(c for c, _ in where) or "true"
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f"SELECT title FROM files WHERE {text}", [p for _, ps in where for p in ps]
        ).fetchall()
    return {title for (title,) in rows}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("hand", {"Employee Handbook", "Hand-outs for the workshop"}),
        ("handb", {"Employee Handbook"}),
        ("mentor", {"Mentors and mentees"}),
        ("Quarter", {"Quarterly review"}),
        ("QUARTER", {"Quarterly review"}),
        ("quarter review", {"Quarterly review"}),
        ("eleve", {"Guide de l'élève"}),
        ("ÉLÈVE", {"Guide de l'élève"}),
        ("premiere annee", {"Guide de l'élève"}),
        ("strasse", {"Straße und Ærø"}),
        ("aero reisefuhrer", {"Straße und Ærø"}),
        ("l'eleve", {"Guide de l'élève"}),
        ("q", {"Quarterly review"}),
        ("m", {"Mentors and mentees"}),
        ('"conflict at"', {"Conflict at work"}),
        ('"at conflict"', set()),
        ("hand -outs", {"Employee Handbook"}),
        ("mentor or quarter", {"Mentors and mentees", "Quarterly review"}),
        ("handbook mentors", set()),
        ("zyxwvut", set()),
        ("ndbook", set()),  # the start of words, not anywhere inside
    ],
)
def test_q_matches_the_start_of_words(url: str, q: str, expected: set[str]) -> None:
    assert found(url, q) == expected


@pytest.mark.parametrize("q", SPECIAL)
def test_q_with_any_characters_is_a_query(url: str, q: str) -> None:
    found(url, q)  # no syntax error from PostgreSQL, whatever was typed


def test_q_without_a_word_is_no_filter(url: str) -> None:
    assert tsquery("*") is None and tsquery("!&:()") is None
    assert found(url, "*") == set(LIBRARY)


def test_operands_are_quoted_words_only() -> None:
    assert tsquery("hand") == "'hand':*"
    assert tsquery('l\'élève -"a b" or c') == "('l':* <-> 'élève':*) & !('a':* <-> 'b':*) | 'c':*"
    assert tsquery("or") == "'or':*" and tsquery("x or") == "'x':* & 'or':*"


def test_the_api_answers_every_q(service: Service) -> None:
    async def fill() -> None:
        async with await connect(service.settings.database_url) as conn:
            for title, description in LIBRARY.items():
                await insert_file(conn, title=title, description=description)

    run(fill())
    with service.client() as client:
        for q in SPECIAL:
            response = client.get("/files", params={"q": q})
            assert response.status_code == 200, (q, response.text)
        got = client.get("/files", params={"q": "hand"})
        assert {i["title"] for i in got.json()["items"]} == {
            "Employee Handbook",
            "Hand-outs for the workshop",
        }
