"""List pages from file objects rendered once per row version (service/files/renderings.py).

The kept renderings must never show anything stale: two instances of the service share one
database, one lists (and so keeps renderings) while the other, or a plain SQL session, changes
titles, scan states, category and role names and deletes files; the first instance's next page
shows every change at once. Then the bookkeeping itself, without a database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import orjson
import psycopg
import pytest

from service.files.renderings import RenderedFiles
from service.files.sql import RowVersion
from service.settings import from_environ
from tests.service.conftest import ADMIN_KEY, serve, service_env
from tests.service.helpers import pdf, upload
from tests.support.databases import migrated_database

MENTOR = "Mentor/Coach"


@pytest.fixture
def two_instances(pg, s3, aws_credentials) -> Iterator[tuple[httpx.Client, httpx.Client, str]]:
    """Two instances of one tenant's service (one database, one bucket), and the database."""
    database_url = migrated_database(pg)
    bucket = s3.create_bucket()
    settings = from_environ(service_env(database_url, s3, bucket))
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    try:
        with (
            serve(settings) as first_url,
            serve(settings, run_migrations=False) as second_url,
            httpx.Client(base_url=first_url, headers=headers, timeout=60) as first,
            httpx.Client(base_url=second_url, headers=headers, timeout=60) as second,
        ):
            yield first, second, database_url
    finally:
        pg.drop_database(database_url)


def listed(client: httpx.Client, **params) -> dict[str, dict]:
    response = client.get("/files", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return {item["id"]: item for item in response.json()["items"]}


def test_a_page_shows_every_change_made_anywhere_at_once(two_instances):
    first, second, database_url = two_instances
    made = []
    for i in range(6):
        response = upload(
            second,
            pdf(),
            fields={"title": f"file {i}", "category": "Skills", "roles": [MENTOR]},
        )
        assert response.status_code == 201, response.text
        made.append(response.json())
    ids = [f["id"] for f in made]

    # The first instance renders and keeps every file; its pages are the file objects.
    page = listed(first)
    assert list(page) == ids[::-1]
    for created in made:
        assert page[created["id"]] == second.get(f"/files/{created['id']}").json()
    assert listed(first) == page

    # Changed through the other instance: a title, and a deletion.
    assert second.patch(f"/files/{ids[0]}", json={"title": "renamed"}).status_code == 200
    assert second.delete(f"/files/{ids[1]}").status_code == 204
    page = listed(first)
    assert page[ids[0]]["title"] == "renamed"
    assert ids[1] not in page

    # Changed by SQL alone (as the scan worker or an operator would): a scan state.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE files SET scan_status = 'failed' WHERE id = %s", [ids[2]])
    assert listed(first)[ids[2]]["scan"]["status"] == "failed"

    # The names of a category and a role, renamed through the other instance.
    categories = second.get("/categories").json()["items"]
    skills = next(c for c in categories if c["name"] == "Skills")
    mentor = next(r for r in second.get("/roles").json()["items"] if r["name"] == MENTOR)
    assert second.patch(f"/categories/{skills['id']}", json={"name": "Hard skills"}).is_success
    page = listed(first)
    assert {page[i]["category"] for i in [ids[0], *ids[2:]]} == {"Hard skills"}
    assert second.patch(f"/roles/{mentor['id']}", json={"name": "Guide"}).is_success
    page = listed(first)
    assert {tuple(page[i]["roles"]) for i in ids[2:]} == {("Guide",)}
    # And a filtered page, through the same renderings.
    assert list(listed(first, category="hard skills")) == [ids[5], ids[4], ids[3], ids[2], ids[0]]
    assert listed(first, category="hard skills")[ids[0]]["title"] == "renamed"


def test_pages_across_cursors_list_each_file_once(two_instances):
    first, second, _ = two_instances
    ids = [upload(second, pdf(), fields={"title": f"f{i}"}).json()["id"] for i in range(7)]
    for _ in range(2):  # cold, then from what the first pages kept
        seen, cursor = [], None
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            body = first.get("/files", params=params).json()
            seen += [item["id"] for item in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == ids[::-1]


# --- the bookkeeping ---------------------------------------------------------------------------


def version(file_id: uuid.UUID, row_version: int, taxonomy: int = 1) -> RowVersion:
    return (str(file_id), row_version, datetime(2026, 1, 1, tzinfo=UTC), taxonomy)


def row(file_id: uuid.UUID, title: str) -> dict:
    return {"id": file_id, "title": title}


def rendered(item: bytes) -> dict:
    return orjson.loads(item)


def test_a_row_is_rendered_again_only_when_its_version_moves():
    cache = RenderedFiles()
    a, b = uuid.uuid4(), uuid.uuid4()
    page = [version(a, 10), version(b, 11)]
    assert cache.lookup(page) == ({}, [str(a), str(b)])
    kept = {
        str(a): cache.add(row(a, "A"), str(a), 10, 1),
        str(b): cache.add(row(b, "B"), str(b), 11, 1),
    }
    found, missing = cache.lookup(page)
    assert missing == [] and found == kept
    assert rendered(found[str(a)]) == {"id": str(a), "title": "A"}
    # b was updated: its new version is missing, a is not.
    found, missing = cache.lookup([version(a, 10), version(b, 12)])
    assert list(found) == [str(a)] and missing == [str(b)]


def test_a_new_taxonomy_version_renders_everything_again():
    cache = RenderedFiles()
    a = uuid.uuid4()
    cache.add(row(a, "A"), str(a), 10, 1)
    assert cache.lookup([version(a, 10, taxonomy=1)])[1] == []
    assert cache.lookup([version(a, 10, taxonomy=2)]) == ({}, [str(a)])
    cache.add(row(a, "A2"), str(a), 10, 2)
    assert len(cache) == 1
    found, _ = cache.lookup([version(a, 10, taxonomy=2)])
    assert rendered(found[str(a)]) == {"id": str(a), "title": "A2"}
    # A page read in an older snapshot keeps nothing: its rows are rendered for it alone.
    assert rendered(cache.add(row(a, "A1"), str(a), 10, 1)) == {"id": str(a), "title": "A1"}
    assert cache.lookup([version(a, 10, taxonomy=1)]) == ({}, [str(a)])
    found, _ = cache.lookup([version(a, 10, taxonomy=2)])
    assert rendered(found[str(a)]) == {"id": str(a), "title": "A2"}


def test_the_renderings_kept_are_bounded_by_bytes():
    budget = 64 * 1024
    cache = RenderedFiles(budget_bytes=budget)
    ids = [uuid.uuid4() for _ in range(2000)]
    for i, file_id in enumerate(ids):
        # Distinct, large renderings (a title of 1-8 KiB): far more than the budget in all.
        cache.add(row(file_id, "x" * (1024 * (1 + i % 8))), str(file_id), i, 1)
        assert cache.size_bytes <= budget
    assert 0 < len(cache) < 100
    # The newest are kept, the oldest went first.
    assert cache.lookup([version(ids[-1], 1999)])[1] == []
    assert cache.lookup([version(ids[0], 0)])[1] == [str(ids[0])]
    # A rendering larger than the whole budget is served, not kept.
    huge = uuid.uuid4()
    assert rendered(cache.add(row(huge, "y" * budget), str(huge), 1, 1))["title"] == "y" * budget
    assert cache.lookup([version(huge, 1)])[1] == [str(huge)]
    assert cache.size_bytes <= budget


def test_renderings_in_use_stay_while_others_come_and_go():
    budget = 32 * 1024
    cache = RenderedFiles(budget_bytes=budget)
    hot = [uuid.uuid4() for _ in range(5)]
    for file_id in hot:
        cache.add(row(file_id, "hot" * 100), str(file_id), 1, 1)
    for i in range(500):
        cold = uuid.uuid4()
        cache.add(row(cold, "c" * 2048), str(cold), i, 1)
        # The hot rows are listed (looked up, or read whole) between the cold ones.
        if i % 2:
            assert cache.lookup([version(file_id, 1) for file_id in hot])[1] == []
        else:
            cache.render([(row(file_id, "hot" * 100), str(file_id), 1, 1) for file_id in hot])
        assert cache.size_bytes <= budget
    assert cache.lookup([version(file_id, 1) for file_id in hot])[1] == []


def test_a_new_taxonomy_version_empties_the_byte_count_too():
    cache = RenderedFiles(budget_bytes=1024 * 1024)
    for _ in range(10):
        file_id = uuid.uuid4()
        cache.add(row(file_id, "x" * 1000), str(file_id), 1, 1)
    assert cache.size_bytes > 10_000
    file_id = uuid.uuid4()
    cache.add(row(file_id, "x"), str(file_id), 1, 2)
    assert len(cache) == 1
    assert cache.size_bytes < 1000


def test_pages_mostly_not_rendered_yet_are_read_whole_until_they_are():
    cache = RenderedFiles()
    assert not cache.cold
    # A walk over new rows: every page is all misses.
    for page in range(6):
        ids = [uuid.uuid4() for _ in range(10)]
        _, missing = cache.lookup([version(i, page) for i in ids])
        assert len(missing) == 10
        for i in ids:
            cache.add(row(i, "x"), str(i), page, 1)
    assert cache.cold
    # Read whole: the rows kept are served from what is kept, the others rendered and kept.
    kept = ids[:5]
    new = [uuid.uuid4() for _ in range(5)]
    rows = [(row(i, "kept"), str(i), 5, 1) for i in kept]
    rows += [(row(i, "new"), str(i), 9, 1) for i in new]
    items = cache.render(rows)
    assert [rendered(item)["title"] for item in items] == ["x"] * 5 + ["new"] * 5
    assert cache.lookup([version(i, 9) for i in new])[1] == []
    # The same pages again, all kept: the share of misses falls, and pages go back to versions.
    for _ in range(6):
        cache.render(rows[:5])
    assert not cache.cold
