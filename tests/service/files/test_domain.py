"""service/files/domain.py without HTTP: the file rules against a real PostgreSQL and an in-memory
object storage. Every operation on one file goes through the same audience rule."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import orjson
import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from service import errors
from service.errors import Unauthorized
from service.files import sql as files_repo
from service.files import taxonomy
from service.files.acting_user import ActingUser
from service.files.domain import Caller, FileNotFound, Files
from service.files.filters import FileQuery
from service.files.taxonomy import DEFAULT_TAXONOMY
from service.keys.auth import BOOTSTRAP_KEY_ID
from service.stats.events import CONTENT, METADATA
from service.storage import StorageError
from service.uploads import form as upload
from service.uploads import rules
from service.uploads.form import FormUploads
from tests.service.helpers import multipart, part, pdf
from tests.service.memory_storage import MemoryStorage

MENTOR, MENTEE = "Mentor/Coach", "Mentee/Coachee"
BOUNDARY = "domain-boundary"
# The bootstrap key: it is not stored, so the revocation re-check has no row to find.
KEY = BOOTSTRAP_KEY_ID
BACK_OFFICE = Caller(KEY)
AS_MENTOR = Caller(KEY, ActingUser(user="u-1", role=MENTOR, country="IT", company="ACME"))
AS_MENTEE = Caller(KEY, ActingUser(user="u-2", role=MENTEE))


class Recorder:
    def __init__(self) -> None:
        self.events = []

    async def record(self, event) -> None:
        self.events.append(event)


@contextlib.asynccontextmanager
async def files_domain(url: str, storage: MemoryStorage) -> AsyncIterator[Files]:
    async with AsyncConnectionPool(url, kwargs={"row_factory": dict_row}, open=False) as pool:
        async with pool.connection() as conn:
            await taxonomy.seed(conn, DEFAULT_TAXONOMY)
        yield Files(
            pool=pool,
            storage=storage,
            recorder=Recorder(),
            presign_ttl_seconds=60,
            # Files stored clean: these tests are about the rules, not the malware scan.
            scan_off=True,
        )


async def _body(data: bytes):
    yield data


async def create(files: Files, caller: Caller = BACK_OFFICE, **fields: str | list[str]) -> dict:
    parts = []
    for name, value in {"title": "a file", **fields}.items():
        for item in value if isinstance(value, list) else [value]:
            parts.append(part(name, item.encode()))
    parts.append(part("file", pdf(), filename="f.pdf", ctype="application/pdf"))
    created = await form_uploads(files).upload(
        caller,
        _body(multipart(parts, BOUNDARY)),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        content_length=None,
    )
    return created.row


def form_uploads(files: Files, max_bytes: int = 1024 * 1024) -> FormUploads:
    return FormUploads(files, rules.Limits(max_bytes, frozenset({"pdf"}), idle_timeout_seconds=5))


@pytest.fixture
def db(migrated_database_url: str) -> str:
    return migrated_database_url


def row_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM files").fetchone()[0]


def test_a_file_outside_the_audience_is_missing_for_every_operation(db):
    storage = MemoryStorage()

    async def scenario() -> None:
        async with files_domain(db, storage) as files:
            hidden = await create(files, title="for mentors", roles=[MENTOR])
            shared = await create(files, title="for everyone")
            file_id = hidden["id"]
            operations = {
                "read": files.read(AS_MENTEE, file_id),
                "download": files.download(AS_MENTEE, file_id),
                "update": files.update(AS_MENTEE, file_id, {"title": "taken over"}),
                "widen": files.update(AS_MENTEE, file_id, {"roles": []}),
                "no-op update": files.update(AS_MENTEE, file_id, {}),
                "delete": files.delete(AS_MENTEE, file_id),
            }
            for name, operation in operations.items():
                with pytest.raises(FileNotFound):
                    await operation
                    pytest.fail(f"{name} reached a file outside the audience")
            assert files.recorder.events == []  # nothing read, nothing recorded
            listed = await files.list_page(AS_MENTEE, FileQuery(), limit=10)
            assert [r["title"] for r in listed.rows] == ["for everyone"]
            listed = await files.list_page(AS_MENTOR, FileQuery(), limit=10)
            assert [r["title"] for r in listed.rows] == ["for everyone", "for mentors"]
            # Untouched, and still there for the roles that may see it.
            row = await files.read(AS_MENTOR, file_id)
            assert (row["title"], list(row["roles"])) == ("for mentors", [MENTOR])
            assert (await files.read(AS_MENTEE, shared["id"]))["title"] == "for everyone"
            await files.delete(AS_MENTOR, file_id)
            with pytest.raises(FileNotFound):
                await files.read(BACK_OFFICE, file_id)

    asyncio.run(scenario())
    assert len(storage.objects) == 1


def test_reads_at_once_share_queries_and_each_keeps_its_audience(db, monkeypatch):
    queries = []
    get_many = files_repo.get_many

    async def counted(conn, file_ids, *args, **kwargs):
        queries.append(list(file_ids))
        return await get_many(conn, file_ids, *args, **kwargs)

    monkeypatch.setattr(files_repo, "get_many", counted)

    async def scenario() -> None:
        async with files_domain(db, MemoryStorage()) as files:
            hidden = await create(files, title="for mentors", roles=[MENTOR])
            shared = await create(files, title="for everyone")
            asked = [
                (c, f) for c in (BACK_OFFICE, AS_MENTOR, AS_MENTEE) * 10 for f in (hidden, shared)
            ]
            answers = await asyncio.gather(
                *(files.read(caller, f["id"]) for caller, f in asked),
                *(files.download(caller, f["id"]) for caller, f in asked),
                return_exceptions=True,
            )
            reads, downloads = answers[: len(asked)], answers[len(asked) :]
            for (caller, f), read, download in zip(asked, reads, downloads, strict=True):
                if caller is AS_MENTEE and f is hidden:
                    assert isinstance(read, FileNotFound) and isinstance(download, FileNotFound)
                else:
                    assert read == f, (caller, read)
                    assert "object_key" not in read  # only a download reads it
                    assert download.url.startswith("memory://files/"), download
            # Lookups arriving together went together (one query per role and kind at first).
            assert len(queries) < len(answers) / 4, queries

    asyncio.run(scenario())


def test_pages_asked_at_once_share_queries_and_each_is_the_page_asked_for(db, monkeypatch):
    queries = []
    list_pages = files_repo.list_pages

    async def counted(conn, kind, pages, filters):
        queries.append((kind.name, list(pages)))
        return await list_pages(conn, kind, pages, filters)

    monkeypatch.setattr(files_repo, "list_pages", counted)

    async def page_ids(files: Files, caller: Caller, after, rendered: bool):
        if rendered:
            page = await files.list_rendered(caller, FileQuery(), limit=2, after=after)
            return [orjson.loads(item)["id"] for item in page.items], page.next
        page = await files.list_page(caller, FileQuery(), limit=2, after=after)
        return [str(row["id"]) for row in page.rows], page.next

    async def scenario() -> None:
        async with files_domain(db, MemoryStorage()) as files:
            for i in range(9):
                await create(files, title=f"f{i}", roles=[MENTOR] if i % 3 == 0 else [])
            # Each caller's pages, asked one at a time: what every page must be.
            alone = {}
            for caller in (BACK_OFFICE, AS_MENTEE):
                after = None
                while True:
                    alone[caller, after] = await page_ids(files, caller, after, rendered=False)
                    after = alone[caller, after][1]
                    if after is None:
                        break
            assert len(alone) == 5 + 3  # 9 files by twos; the mentee sees 6 of them
            queries.clear()
            asked = [(c, after, rendered) for c, after in alone for rendered in (True, False)] * 3
            answers = await asyncio.gather(*(page_ids(files, *a) for a in asked))
            for (caller, after, _), answer in zip(asked, answers, strict=True):
                assert answer == alone[caller, after], (caller, after)
            # Pages asked together went together (the first of a kind and audience alone).
            assert len(queries) < len(asked) / 4, queries
            assert max(len(pages) for _, pages in queries) > 1

    asyncio.run(scenario())


def test_an_unknown_acting_role_is_refused_not_ignored(db):
    async def scenario() -> None:
        async with files_domain(db, MemoryStorage()) as files:
            row = await create(files)
            stranger = Caller(KEY, ActingUser(role="Janitor"))
            for operation in (
                files.read(stranger, row["id"]),
                files.update(stranger, row["id"], {"title": "x"}),
                files.delete(stranger, row["id"]),
            ):
                with pytest.raises(taxonomy.InvalidValue) as caught:
                    await operation
                assert errors.from_exception(caught.value).status == 422
            assert (await files.read(BACK_OFFICE, row["id"]))["title"] == "a file"

    asyncio.run(scenario())


def test_reads_record_an_event_with_the_callers_values(db):
    async def scenario() -> None:
        async with files_domain(db, MemoryStorage()) as files:
            row = await create(files, language="it", roles=[MENTOR])
            await files.read(AS_MENTOR, row["id"])
            download = await files.download(AS_MENTOR, row["id"])
            assert download.url.startswith("memory://files/")
            async with files.pool.connection() as conn:
                mentor_id = await taxonomy.role_id(conn, MENTOR)
            metadata_event, content_event = files.recorder.events
            assert (metadata_event.action, content_event.action) == (METADATA, CONTENT)
            for event in (metadata_event, content_event):
                assert event.file_id == row["id"]
                assert (event.user, event.role_id, event.country, event.company) == (
                    "u-1", mentor_id, "IT", "ACME"
                )  # fmt: skip
                assert (event.language, event.key_id) == ("it", KEY)

    asyncio.run(scenario())


def test_uploaded_by_is_the_acting_user_else_the_key(db):
    async def scenario() -> None:
        async with files_domain(db, MemoryStorage()) as files:
            assert (await create(files, AS_MENTOR))["uploaded_by"] == "u-1"
            assert (await create(files, BACK_OFFICE))["uploaded_by"] == KEY

    asyncio.run(scenario())


def test_the_row_stays_when_the_object_cannot_be_deleted(db):
    storage = MemoryStorage()

    async def scenario() -> None:
        async with files_domain(db, storage) as files:
            row = await create(files)
            storage.failing.add("delete")
            with pytest.raises(StorageError):
                await files.delete(BACK_OFFICE, row["id"])
            assert (await files.read(BACK_OFFICE, row["id"]))["id"] == row["id"]
            storage.failing.clear()
            await files.delete(BACK_OFFICE, row["id"])

    asyncio.run(scenario())
    assert storage.objects == {}
    assert row_count(db) == 0


def test_a_key_gone_before_the_insert_stores_nothing(db):
    storage = MemoryStorage()

    async def scenario() -> None:
        async with files_domain(db, storage) as files:
            # A stored key's id with no row: it was revoked while the upload streamed.
            with pytest.raises(Unauthorized, match="revoked"):
                await create(files, Caller(str(uuid.uuid4())))

    asyncio.run(scenario())
    assert storage.objects == {}
    assert row_count(db) == 0


def test_a_label_refused_at_insert_time_leaves_no_object_and_no_row(db):
    storage = MemoryStorage()

    async def scenario() -> None:
        async with files_domain(db, storage) as files:
            # After the file part, so it is checked only by the insert's own resolution.
            body = multipart(
                [part("title", b"t"), part("file", pdf(), filename="f.pdf"),
                 part("category", b"Astrology")],
                BOUNDARY,
            )  # fmt: skip
            with pytest.raises(taxonomy.InvalidValue, match="Astrology"):
                await form_uploads(files).upload(
                    BACK_OFFICE, _body(body),
                    content_type=f"multipart/form-data; boundary={BOUNDARY}", content_length=None,
                )  # fmt: skip

    asyncio.run(scenario())
    assert [u.state for u in storage.uploads] == ["completed"]
    assert storage.objects == {}
    assert row_count(db) == 0


def test_update_resolves_labels_and_a_missing_file_is_not_found(db):
    async def scenario() -> None:
        async with files_domain(db, MemoryStorage()) as files:
            row = await create(files)
            updated = await files.update(
                BACK_OFFICE, row["id"], {"category": "skills", "roles": [MENTEE]}
            )
            assert (updated["category"], list(updated["roles"])) == ("Skills", [MENTEE])
            with pytest.raises(taxonomy.InvalidValue):
                await files.update(BACK_OFFICE, row["id"], {"category": "Astrology"})
            assert (await files.read(BACK_OFFICE, row["id"]))["category"] == "Skills"
            with pytest.raises(FileNotFound):
                await files.update(BACK_OFFICE, uuid.uuid4(), {"title": "x"})

    asyncio.run(scenario())


def test_a_declared_length_beyond_the_limit_is_refused_before_reading():
    async def scenario() -> None:
        storage = MemoryStorage()
        files = Files(None, storage, Recorder(), 60)
        with pytest.raises(errors.TooLarge):
            await form_uploads(files, max_bytes=10).upload(
                BACK_OFFICE, _body(b""), content_type=None,
                content_length=str(10 + upload.FORM_OVERHEAD_BYTES + 1),
            )  # fmt: skip
        assert storage.uploads == []

    asyncio.run(scenario())


def test_a_rename_between_a_pages_two_queries_shows_in_every_item(db, monkeypatch):
    """A list page's items come from renderings kept per row version plus the rows missing
    from them, read in a second query (service/files/renderings.py). A rename landing between
    the two must not give one page old and new names."""
    storage = MemoryStorage()
    real = files_repo.get_versioned

    async def rename_first(conn, ids):
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as other:
            await other.execute("UPDATE categories SET name = 'Hard skills' WHERE name = 'Skills'")
        monkeypatch.setattr(files_repo, "get_versioned", real)
        return await real(conn, ids)

    async def scenario() -> None:
        async with files_domain(db, storage) as files:
            for i in range(3):
                await create(files, title=f"kept {i}", category="Skills")
            page = await files.list_rendered(BACK_OFFICE, FileQuery(), limit=10)
            assert len(page.items) == 3  # all three rendered and kept
            await create(files, title="new", category="Skills")
            monkeypatch.setattr(files_repo, "get_versioned", rename_first)
            page = await files.list_rendered(BACK_OFFICE, FileQuery(), limit=10)
            items = [orjson.loads(item) for item in page.items]
            assert [i["title"] for i in items] == ["new", "kept 2", "kept 1", "kept 0"]
            assert {i["category"] for i in items} == {"Hard skills"}

    asyncio.run(scenario())


def test_a_walk_over_pages_not_rendered_yet_reads_them_whole_and_misses_nothing(db):
    storage = MemoryStorage()

    async def walk(files: Files) -> list[dict]:
        seen, after = [], None
        while True:
            page = await files.list_rendered(BACK_OFFICE, FileQuery(), limit=2, after=after)
            seen += [orjson.loads(item) for item in page.items]
            if page.next is None:
                return seen
            after = page.next

    async def scenario() -> None:
        async with files_domain(db, storage) as files:
            made = [await create(files, title=f"f{i}", category="Skills") for i in range(12)]
            expected = [str(f["id"]) for f in made][::-1]
            assert [item["id"] for item in await walk(files)] == expected
            assert files._rendered.cold  # six pages, every row new
            await files.update(BACK_OFFICE, made[3]["id"], {"title": "changed"})
            async with await psycopg.AsyncConnection.connect(db, autocommit=True) as other:
                await other.execute("UPDATE categories SET name = 'Hard' WHERE name = 'Skills'")
            items = await walk(files)
            assert [item["id"] for item in items] == expected
            assert {i["category"] for i in items} == {"Hard"}
            assert next(i for i in items if i["id"] == expected[-4])["title"] == "changed"

    asyncio.run(scenario())
