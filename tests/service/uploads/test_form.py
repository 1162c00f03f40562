"""service/uploads/form.py against an in-memory object storage: what is stored on success, and the
cleanup paths. Whatever fails, no object and no pending upload survive, and no row is written.
(test_form_over_http.py runs the same pipeline over HTTP against real S3.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import psycopg
import pytest
from starlette.requests import ClientDisconnect

from service import errors
from service.storage import StorageError
from service.uploads import form as upload
from service.uploads import rules
from service.uploads.filetypes import SNIFF_BYTES
from tests.service.helpers import elf, multipart, part, pdf, sha256
from tests.service.memory_storage import MemoryStorage

BOUNDARY = "pipeline-boundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
LIMITS = rules.Limits(1024 * 1024, frozenset({"pdf", "png"}), idle_timeout_seconds=5)


class Saver:
    """The `save` step: records what it got, or fails like a database insert can."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.saved: list[rules.StoredFile] = []

    async def __call__(self, stored: rules.StoredFile) -> dict:
        if self.error is not None:
            raise self.error
        self.saved.append(stored)
        return {"id": stored.id}


async def _chunks(pieces: Iterable[bytes], *, then: BaseException | None = None, delay=0.0):
    for piece in pieces:
        yield piece
    if delay:
        await asyncio.sleep(delay)
    if then is not None:
        raise then


def body(data: bytes, *, title: bytes = b"a title", after: list[bytes] = ()) -> bytes:
    parts = [part("title", title), part("file", data, filename="../report.pdf",
             ctype="application/pdf"), *after]  # fmt: skip
    return multipart(parts, BOUNDARY)


def ingest(chunks, storage: MemoryStorage, save: Saver, **kwargs):
    return asyncio.run(
        upload.ingest(
            chunks, content_type=CONTENT_TYPE, limits=LIMITS, storage=storage, save=save, **kwargs
        )
    )


def assert_nothing_left(storage: MemoryStorage, save: Saver) -> None:
    assert storage.objects == {}
    assert asyncio.run(storage.pending_uploads()) == []
    assert save.saved == []


def test_a_good_upload_is_stored_once_and_saved():
    storage, save = MemoryStorage(), Saver()
    data = pdf(3 * SNIFF_BYTES)
    ingest(_chunks([body(data)[i : i + 100] for i in range(0, len(body(data)), 100)]), storage,
           save)  # fmt: skip
    (stored,) = save.saved
    assert storage.objects == {stored.object_key: data}
    assert storage.tags[stored.object_key] == {"sha256": sha256(data), "size": str(len(data))}
    assert (stored.sha256, stored.size, stored.file_type.id) == (sha256(data), len(data), "pdf")
    assert stored.filename == "report.pdf"  # no path (control characters are refused: 422)
    assert stored.fields == {"title": "a title"}
    assert stored.object_key == rules.object_key_for(stored.id)


@pytest.mark.parametrize("size", [10, 3 * SNIFF_BYTES])  # stored at finish / while streaming
def test_the_object_is_removed_when_the_database_insert_fails(size):
    storage, save = MemoryStorage(), Saver(psycopg.OperationalError("the database went away"))
    with pytest.raises(psycopg.OperationalError):
        ingest(_chunks([body(pdf(max(size, 64)))]), storage, save)
    assert_nothing_left(storage, save)
    assert [u.state for u in storage.uploads] == ["completed"]  # completed, then deleted


def test_a_failing_cleanup_never_hides_the_original_error(caplog):
    storage = MemoryStorage(failing={"delete"})
    save = Saver(psycopg.OperationalError("the database went away"))
    with pytest.raises(psycopg.OperationalError):
        ingest(_chunks([body(pdf(2048))]), storage, save)
    assert "cleanup failed" in caplog.text


@pytest.mark.parametrize("failing", ["write", "complete"])
def test_a_storage_failure_aborts_the_upload(failing):
    storage, save = MemoryStorage(failing={failing}), Saver()
    with pytest.raises(StorageError):
        ingest(_chunks([body(pdf(3 * SNIFF_BYTES))]), storage, save)
    assert_nothing_left(storage, save)
    assert [u.state for u in storage.uploads] == ["aborted"]


def test_a_refused_type_never_reaches_storage():
    storage, save = MemoryStorage(), Saver()
    with pytest.raises(errors.UnsupportedType):
        ingest(_chunks([body(elf())]), storage, save)
    assert storage.uploads == []
    assert_nothing_left(storage, save)


def test_too_large_while_streaming_aborts():
    storage, save = MemoryStorage(), Saver()
    data = pdf(LIMITS.max_bytes + 1)
    with pytest.raises(errors.TooLarge):
        ingest(_chunks([body(data)[i : i + 4096] for i in range(0, len(body(data)), 4096)]),
               storage, save)  # fmt: skip
    assert_nothing_left(storage, save)
    assert [u.state for u in storage.uploads] == ["aborted"]


def test_bad_metadata_after_the_file_aborts_without_a_row():
    storage, save = MemoryStorage(), Saver()
    with pytest.raises(errors.ValidationFailed, match="language"):
        ingest(_chunks([body(pdf(2048), after=[part("language", b"not a tag!")])]), storage, save)
    assert_nothing_left(storage, save)


def test_a_failing_check_of_leading_fields_stops_before_storage():
    storage, save = MemoryStorage(), Saver()

    async def unknown_category(fields: dict) -> None:
        raise errors.ValidationFailed(f"category {fields['category']!r} is not in the taxonomy")

    data = body(pdf(2048)).replace(b'name="title"', b'name="category"', 1)
    with pytest.raises(errors.ValidationFailed, match="taxonomy"):
        ingest(_chunks([data]), storage, save, check_fields=unknown_category)
    assert storage.uploads == []
    assert_nothing_left(storage, save)


def test_a_client_that_goes_away_aborts_the_upload():
    storage, save = MemoryStorage(), Saver()
    half = body(pdf(3 * SNIFF_BYTES))[: 2 * SNIFF_BYTES]
    with pytest.raises(errors.ClientDisconnected):
        ingest(_chunks([half], then=ClientDisconnect()), storage, save)
    assert_nothing_left(storage, save)
    assert [u.state for u in storage.uploads] == ["aborted"]


def test_a_stalled_client_is_dropped_and_the_upload_aborted():
    storage, save = MemoryStorage(), Saver()
    half = body(pdf(3 * SNIFF_BYTES))[: 2 * SNIFF_BYTES]
    limits = rules.Limits(LIMITS.max_bytes, LIMITS.allowed_types, idle_timeout_seconds=0.05)
    with pytest.raises(errors.RequestTimeout):
        asyncio.run(
            upload.ingest(_chunks([half], delay=1), content_type=CONTENT_TYPE, limits=limits,
                          storage=storage, save=save)
        )  # fmt: skip
    assert_nothing_left(storage, save)


def test_a_cancelled_request_still_aborts_the_upload():
    storage, save = MemoryStorage(), Saver()
    half = body(pdf(3 * SNIFF_BYTES))[: 2 * SNIFF_BYTES]

    async def cancel_midway() -> None:
        task = asyncio.create_task(
            upload.ingest(_chunks([half], delay=10), content_type=CONTENT_TYPE, limits=LIMITS,
                          storage=storage, save=save)
        )  # fmt: skip
        while not storage.uploads:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    assert_nothing_left(storage, save)
    assert [u.state for u in storage.uploads] == ["aborted"]
