"""The object-storage seam: what the service asks of object storage, and nothing of how.

Every method's contract is written on it; `S3Storage` (service/storage/s3.py) honours them, and
nothing outside service/storage/ talks to S3 itself.
"""

from __future__ import annotations

from collections.abc import Iterator
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
    async def write(self, chunk: bytes) -> None: ...

    async def complete(self, *, sha256: str, size: int) -> None: ...

    async def abort(self) -> None: ...


class ObjectStorage(Protocol):
    async def begin_upload(self, key: str, content_type: str) -> ObjectUpload: ...

    async def delete(self, key: str) -> None: ...

    async def presigned_get(
        self, key: str, *, filename: str, content_type: str, ttl_seconds: int, inline: bool = False
    ) -> str: ...

    async def check(self) -> None: ...

    async def presigned_put(
        self, key: str, *, size: int, sha256: str, ttl_seconds: int
    ) -> tuple[str, dict[str, str]]: ...

    async def stat(self, key: str) -> StoredObject | None: ...

    async def read_range(self, key: str, length: int, *, etag: str) -> bytes: ...

    async def sha256_of(
        self, key: str, *, etag: str | None = None, validator: Any = None
    ) -> str: ...

    async def copy_to(
        self, source: str, key: str, *, etag: str, content_type: str, sha256: str, size: int
    ) -> None: ...

    async def pending_uploads(self) -> list[str]: ...

    async def abort_stale_uploads(self, older_than_seconds: float) -> int: ...

    # For the malware scan (service/scanning/worker.py): blocking, run on the scan worker's threads.
    def read_chunks(self, key: str, chunk_size: int) -> Iterator[bytes]: ...

    def read_tags(self, key: str) -> dict[str, str]: ...

    async def move(self, key: str, to_key: str) -> None: ...


class StoredObject(Protocol):
    size: int
    etag: str
    # The object's full SHA-256 (hex) as storage computed it, when it keeps one.
    sha256: str | None
