"""Keyset pagination: cursors are opaque and tamper-evident; pages have no dupes and no gaps even
when rows are inserted between pages; bad limit or cursor is a 400."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from service.errors import InvalidCursor
from service.files.cursors import CursorCodec, Position
from tests.service.conftest import Service
from tests.service.test_app import assert_error


def insert_rows(url: str, count: int, *, at: datetime | None = None) -> list[str]:
    """Rows straight into the table (listing never touches objects). With `at`, all share
    one created_at, so only the id breaks the tie."""
    ids = []
    with psycopg.connect(url) as conn:
        for i in range(count):
            file_id = uuid.uuid4()
            ids.append(str(file_id))
            conn.execute(
                """INSERT INTO files (id, object_key, title, filename, content_type, type, size,
                                      sha256, uploaded_by, created_at, updated_at)
                   VALUES (%s, %s, %s, 'f.pdf', 'application/pdf', 'pdf', 1, %s, 'admin',
                           coalesce(%s, clock_timestamp()), now())""",
                (file_id, f"files/{file_id}", f"row {i}", "0" * 64, at),
            )
    return ids


def walk(client: httpx.Client, limit: int, between_pages=None) -> list[str]:
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get("/files", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        pages += 1
        if cursor is None:
            return seen
        if between_pages:
            between_pages(pages)


def test_pages_have_no_dupes_or_gaps_while_rows_are_added(fresh_service: Service):
    url = fresh_service.settings.database_url
    original = insert_rows(url, 30)
    original += insert_rows(url, 12, at=datetime.now(UTC) - timedelta(days=1))  # ties
    with psycopg.connect(url) as conn:
        expected = [
            str(r[0])
            for r in conn.execute("SELECT id FROM files ORDER BY created_at DESC, id DESC")
        ]
    added: list[str] = []
    with fresh_service.client() as client:
        seen = walk(client, 10, between_pages=lambda n: added.extend(insert_rows(url, 3)))
        assert seen == expected
        assert len(set(seen)) == len(seen) == 42
        # A new walk sees everything, newest first.
        everything = walk(client, 100)
    assert set(everything) == set(expected) | set(added)
    assert everything[: len(added)] == list(reversed(added))


def test_exact_multiple_of_the_page_size_ends_with_null_cursor(fresh_service: Service):
    insert_rows(fresh_service.settings.database_url, 4)
    with fresh_service.client() as client:
        first = client.get("/files", params={"limit": 2}).json()
        second = client.get("/files", params={"limit": 2, "cursor": first["next_cursor"]}).json()
        empty = client.get("/files").json()
    assert first["next_cursor"] and second["next_cursor"] is None
    assert len(empty["items"]) == 4 and empty["next_cursor"] is None


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", "", "1e3", "99999999999999"])
def test_bad_limit_is_400(admin: httpx.Client, limit):
    assert_error(admin.get("/files", params={"limit": limit}), 400, "invalid_parameter")


def test_bad_cursors_are_400(admin: httpx.Client, service: Service):
    good = CursorCodec(service.settings.admin_key).encode(Position(datetime.now(UTC), uuid.uuid4()))
    assert admin.get("/files", params={"cursor": good}).status_code == 200
    forged = CursorCodec("another secret").encode(Position(datetime.now(UTC), uuid.uuid4()))
    tampered = good[:-2] + ("AA" if good[-2:] != "AA" else "BB")
    for cursor in [forged, tampered, "garbage", "!!!!", "é", "A" * 5000, good + "x", "=" * 8]:
        assert_error(admin.get("/files", params={"cursor": cursor}), 400, "invalid_cursor")


def test_cursor_round_trip_and_rejections():
    codec = CursorCodec("secret")
    position = Position(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), uuid.uuid4())
    assert codec.decode(codec.encode(position)) == position
    with pytest.raises(InvalidCursor):
        CursorCodec("other").decode(codec.encode(position))
    with pytest.raises(InvalidCursor):
        codec.decode("")
