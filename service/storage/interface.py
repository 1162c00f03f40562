"""The object-storage seam: what the service asks of object storage, and nothing of how.

Every method's contract is written on it; `S3Storage` (service/storage/s3.py) honours them, and
nothing outside service/storage/ talks to S3 itself.

Errors, for every method: `StorageError` when storage failed or did not answer in time (the
service answers 503), `ObjectMissing` (a `StorageError`) only where a method says so. Every
wait on storage is bounded (connect and read timeouts, a bounded number of attempts): a stalled
endpoint costs a call seconds, never minutes. Async methods never block the event loop; the
few blocking ones say so.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

MIN_PART_SIZE = 5 * 1024**2  # S3's minimum for every part but the last
MAX_PARTS = 10_000  # S3's maximum part number
# The largest object one PUT may create (S3's limit): the most a direct upload can carry.
MAX_SINGLE_PUT = 5 * 1024**3


class StorageError(RuntimeError):
    """Object storage failed or is unreachable (the service answers 503)."""


class ObjectMissing(StorageError):
    """The object is not in the bucket (NoSuchKey)."""


class ObjectUpload(Protocol):
    """One object streamed in by one request (POST /files), from `ObjectStorage.begin_upload`.
    Lives in one process: nothing of it survives a restart but what `abort_stale_uploads`
    sweeps. Not safe for concurrent `write()` calls."""

    async def write(self, chunk: bytes) -> None:
        """Append `chunk`. May wait for storage (back-pressure) so that the upload holds a
        bounded number of bytes whatever the file's size. After any failure (StorageError) the
        upload cannot be completed: only `abort()` is left. RuntimeError once completed or
        aborted."""
        ...

    async def complete(self, *, sha256: str, size: int) -> None:
        """Make the object visible under its key with every byte written and its content type
        (ValueError if `size` is not the count of bytes written). An object of fewer than
        `part_size` bytes is created with one request carrying the stored file's `sha256` and
        `size` (metadata and tags); a larger one carries neither, as a resumable upload's
        object: they are known only after its last byte, and an object is never tagged after
        it exists (GuardDuty writes its verdict tag then). One attempt: after a failure
        (StorageError) only `abort()` is left; the object may then exist, and `abort()`
        removes it."""
        ...

    async def abort(self) -> None:
        """Leave nothing: parts, the multipart upload, the object if it may have been created.
        Idempotent, safe after a failed `complete()`; what is already gone is not an error.
        Runs to its end even when the caller is cancelled. The caller waits a few seconds at
        most: StorageError if the clean-up failed meanwhile; one failing or still running goes
        on (and is retried) in the background."""
        ...


class ResumableUpload(Protocol):
    """One object written in numbered parts over many requests, by any instance: a tus upload
    (service/uploads/tus.py), as tusd's s3store maps an upload onto one S3 multipart upload.

    The handle holds only `key` and `upload_id`; the caller keeps them (and the receipts of the
    parts sent) durably, and gets the same handle back on any instance with
    `ObjectStorage.resumable`. Nothing is sent in the background: each call returns when
    storage has answered, or raises."""

    key: str
    upload_id: str

    async def send_part(self, number: int, data: bytes | bytearray) -> dict[str, Any]:
        """Store part `number` (1..MAX_PARTS; every part but the last at least MIN_PART_SIZE)
        with a CRC32 storage verifies. Returns the part's receipt (JSON-serialisable), to be
        kept and given back to `complete`. Sending a number again replaces that part (storage
        keeps the last one sent). StorageError on failure, whatever the cause, including an
        upload that is gone: ask `exists()` to tell."""
        ...

    async def exists(self) -> bool:
        """Whether the upload still takes parts: False once it was completed or aborted (by
        this service, the bucket's lifecycle rule, an operator). Only storage's own "no such
        upload" answer is False; any other failure is StorageError, never False."""
        ...

    async def complete(self, parts: Sequence[Mapping[str, Any]]) -> None:
        """Assemble the object from `parts` (the receipts of `send_part`, in part order) under
        `key`; the upload is gone afterwards. The object may become visible some time after
        this returns (S3 drops the upload first). StorageError on failure, including an
        upload already gone; a completion whose answer was lost may still be running."""
        ...

    async def abort(self) -> None:
        """Drop the upload and its parts. Idempotent: an upload already aborted or completed
        is not an error. StorageError on any other failure (nothing is retried for the
        caller). The object, if a completion made one, is not deleted: use `delete`."""
        ...


class ObjectStorage(Protocol):
    """The tenant's bucket. Keys are the service's own (`files/<id>`, `staging/<id>`,
    `quarantine/...`); each key is written by one upload only."""

    # The size of every part but the last of a resumable upload (at least MIN_PART_SIZE).
    part_size: int

    async def begin_upload(self, key: str, content_type: str) -> ObjectUpload:
        """A streamed upload of `key` (nothing is sent before the first `write`)."""
        ...

    async def begin_resumable(self, key: str, content_type: str) -> ResumableUpload:
        """Start a resumable upload of `key` (S3 CreateMultipartUpload, with CRC32 part
        checksums); keep its `upload_id`. StorageError on failure: no upload was made, or one
        was that nobody knows of, left to `abort_stale_uploads`."""
        ...

    def resumable(self, key: str, upload_id: str) -> ResumableUpload:
        """The handle of a resumable upload begun earlier, maybe on another instance. Sends
        nothing and checks nothing: a gone upload shows in its calls (`exists()`)."""
        ...

    async def put(self, key: str, data: bytes, *, content_type: str, sha256: str) -> None:
        """Store a small object (at most `part_size` bytes) with one request, with the content
        type, and the sha256 and size as user metadata and as tags, as `ObjectUpload.complete`
        stores a file. Replaces any object under `key`. StorageError on failure (the object
        may or may not exist then: `delete` removes it)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object. Idempotent: a key that is not there is not an error.
        StorageError on failure (the object may still be there)."""
        ...

    async def presigned_get(
        self, key: str, *, filename: str, content_type: str, ttl_seconds: int, inline: bool = False
    ) -> str:
        """A URL that downloads the object for `ttl_seconds`, answered with `content_type` and
        a Content-Disposition naming `filename` (attachment, or `inline`). Signed locally: no
        request, no check that the object exists. StorageError if it cannot be signed (no
        credentials)."""
        ...

    async def check(self) -> None:
        """Return if the bucket answers (the readiness probe); StorageError otherwise."""
        ...

    async def presigned_put(
        self, key: str, *, size: int, sha256: str, ttl_seconds: int
    ) -> tuple[str, dict[str, str]]:
        """A URL for one PUT of exactly `size` bytes whose SHA-256 is `sha256` (hex), valid for
        `ttl_seconds`, and the headers the client must send with it. Storage refuses a PUT
        whose headers or bytes differ, so a wrong object cannot land. Signed locally, as
        `presigned_get`."""
        ...

    async def stat(self, key: str) -> StoredObject | None:
        """The object's size, ETag and storage's own whole-object SHA-256 (if it keeps one);
        None when there is no such object. StorageError on any other failure."""
        ...

    async def read_range(self, key: str, length: int, *, etag: str) -> bytes:
        """The first `length` bytes of the object, only if it is still the one with `etag`.
        StorageError otherwise, and when it is not there (an object replaced or removed since
        `stat`)."""
        ...

    async def sha256_of(self, key: str, *, etag: str | None = None, validator: Any = None) -> str:
        """The sha256 (hex) of the object's bytes as storage holds them, read whole; each chunk
        is fed to `validator` (a filetypes content validator, whose InvalidContent propagates)
        and `finish()` called at the end. With `etag`, only if it is still that object.
        StorageError otherwise, and when it is not there."""
        ...

    async def copy_to(
        self, source: str, key: str, *, etag: str, content_type: str, sha256: str, size: int
    ) -> None:
        """Copy `source` to `key` inside the bucket, bytes never leaving storage, only if
        `source` is still the object with `etag`; the copy gets the content type, metadata and
        tags of a stored file. StorageError otherwise (`source` changed or gone, a failure)."""
        ...

    async def pending_uploads(self) -> list[str]:
        """The keys of every multipart upload still open in the bucket (tests, the operators'
        view of what a crash left). StorageError on failure."""
        ...

    async def abort_stale_uploads(self, older_than_seconds: float) -> int:
        """Abort every multipart upload of the bucket older than `older_than_seconds` (what a
        killed instance left, or a creation whose answer was lost); returns how many. An
        upload's age never exceeds the time this storage has known of it, so a skewed clock
        never gets a young upload aborted. Idempotent; StorageError on failure."""
        ...

    # For the malware scan (service/scanning/worker.py): blocking, run on the scan worker's
    # threads, never on the event loop.
    def read_chunks(self, key: str, chunk_size: int) -> Iterator[bytes]:
        """The object's bytes, `chunk_size` at a time as they arrive; holds one chunk at a time
        whatever the object's size. Blocking. ObjectMissing if it is not there, StorageError
        on any other failure (also while reading)."""
        ...

    def read_tags(self, key: str) -> dict[str, str]:
        """The object's tags. Blocking. ObjectMissing if it is not there, StorageError on any
        other failure."""
        ...

    async def move(self, key: str, to_key: str) -> None:
        """Copy the object to `to_key` (any size, server-side), then delete it. ObjectMissing if
        it is not there (moved already); StorageError on failure, after which the object may
        be under both keys (a retry finishes the move)."""
        ...


class StoredObject(Protocol):
    """What `ObjectStorage.stat` tells of an object."""

    size: int
    etag: str
    # The object's full SHA-256 (hex) as storage computed it, when it keeps one.
    sha256: str | None
