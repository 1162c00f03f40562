"""An in-memory `ObjectStorage` for tests of the upload pipeline and the files domain, with
switches that make one operation fail the way S3 does (`StorageError`). Its resumable uploads
honour the interface's contract as S3Storage does (tests/service/storage/test_s3.py runs the same
contract test against both)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from service.storage import MAX_PARTS, MIN_PART_SIZE, ObjectMissing, StorageError

_ids = itertools.count(1)


@dataclass
class MemoryUpload:
    storage: MemoryStorage
    key: str
    content_type: str
    data: bytearray = field(default_factory=bytearray)
    state: str = "pending"  # pending -> completed | aborted

    async def write(self, chunk: bytes) -> None:
        assert self.state == "pending", f"write after {self.state}"
        if "write" in self.storage.failing:
            raise StorageError("injected write failure")
        self.data += chunk

    async def complete(self, *, sha256: str, size: int) -> None:
        assert self.state == "pending", f"complete after {self.state}"
        if "complete" in self.storage.failing:
            raise StorageError("injected complete failure")
        assert size == len(self.data)
        self.state = "completed"
        self.storage.objects[self.key] = bytes(self.data)
        # As S3Upload: only an object stored with one request (smaller than a part) is tagged.
        small = size < self.storage.part_size
        self.storage.tags[self.key] = {"sha256": sha256, "size": str(size)} if small else {}

    async def abort(self) -> None:
        # Safe twice, and after a failed complete, like S3Upload.abort.
        self.state = "aborted"
        self.storage.objects.pop(self.key, None)


@dataclass
class MemoryResumable:
    """A resumable upload: parts by number (the last sent of a number kept), as S3 keeps them."""

    storage: MemoryStorage
    key: str
    upload_id: str

    def _parts(self) -> dict[int, bytes]:
        found = self.storage.multipart.get(self.upload_id)
        if found is None:
            raise StorageError(f"no such upload: {self.upload_id}")
        return found[1]

    async def send_part(self, number: int, data: bytes | bytearray) -> dict[str, Any]:
        if "part" in self.storage.failing:
            raise StorageError("injected part failure")
        if not 1 <= number <= MAX_PARTS:
            raise StorageError(f"part number {number} out of range")
        self._parts()[number] = bytes(data)
        return {"PartNumber": number, "ETag": hashlib.md5(data).hexdigest()}

    async def exists(self) -> bool:
        return self.upload_id in self.storage.multipart

    async def complete(self, parts: Sequence[Mapping[str, Any]]) -> None:
        if "complete" in self.storage.failing:
            raise StorageError("injected complete failure")
        sent = self._parts()
        numbers = [part["PartNumber"] for part in parts]
        if numbers != sorted(set(numbers)):
            raise StorageError("parts out of order")
        chunks = []
        for part in parts:
            data = sent.get(part["PartNumber"])
            if data is None or hashlib.md5(data).hexdigest() != part["ETag"]:
                raise StorageError(f"invalid part {part['PartNumber']}")
            chunks.append(data)
        if any(len(data) < MIN_PART_SIZE for data in chunks[:-1]):
            raise StorageError("a part but the last is smaller than the minimum")
        del self.storage.multipart[self.upload_id]
        self.storage.objects[self.key] = b"".join(chunks)
        self.storage.tags[self.key] = {}

    async def abort(self) -> None:
        if "abort" in self.storage.failing:
            raise StorageError("injected abort failure")
        self.storage.multipart.pop(self.upload_id, None)


@dataclass
class MemoryStorage:
    objects: dict[str, bytes] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    uploads: list[MemoryUpload] = field(default_factory=list)
    # Open resumable uploads: upload id -> (key, part number -> bytes).
    multipart: dict[str, tuple[str, dict[int, bytes]]] = field(default_factory=dict)
    part_size: int = MIN_PART_SIZE
    # Names of operations that raise StorageError: write, complete, delete, presign, part, abort.
    failing: set[str] = field(default_factory=set)

    async def begin_upload(self, key: str, content_type: str) -> MemoryUpload:
        upload = MemoryUpload(self, key, content_type)
        self.uploads.append(upload)
        return upload

    async def begin_resumable(self, key: str, content_type: str) -> MemoryResumable:
        upload_id = f"memory-{next(_ids)}"
        self.multipart[upload_id] = (key, {})
        return MemoryResumable(self, key, upload_id)

    def resumable(self, key: str, upload_id: str) -> MemoryResumable:
        return MemoryResumable(self, key, upload_id)

    async def put(self, key: str, data: bytes, *, content_type: str, sha256: str) -> None:
        self.objects[key] = bytes(data)
        self.tags[key] = {"sha256": sha256, "size": str(len(data))}

    async def sha256_of(self, key: str, *, etag: str | None = None, validator: Any = None) -> str:
        # No ETags here: `etag` is not checked.
        data = self.objects.get(key)
        if data is None:
            raise StorageError(f"no such object: {key}")
        if validator is not None:
            validator.feed(data)
            validator.finish()
        return hashlib.sha256(data).hexdigest()

    def read_tags(self, key: str) -> dict[str, str]:
        if key not in self.objects:
            raise ObjectMissing(key)
        return dict(self.tags.get(key, {}))

    async def delete(self, key: str) -> None:
        if "delete" in self.failing:
            raise StorageError("injected delete failure")
        self.objects.pop(key, None)

    async def presigned_get(
        self, key: str, *, filename: str, content_type: str, ttl_seconds: int, inline: bool = False
    ) -> str:
        if "presign" in self.failing:
            raise StorageError("injected presign failure")
        return f"memory://{key}?filename={filename}&ttl={ttl_seconds}"

    async def check(self) -> None:
        return None

    async def pending_uploads(self) -> list[str]:
        streamed = [u.key for u in self.uploads if u.state == "pending"]
        return streamed + [key for key, _ in self.multipart.values()]
