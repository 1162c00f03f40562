"""An in-memory `ObjectStorage` for tests of the upload pipeline and the files domain, with
switches that make one operation fail the way S3 does (`StorageError`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.storage import StorageError


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
        self.storage.tags[self.key] = {"sha256": sha256, "size": str(size)}

    async def abort(self) -> None:
        # Safe twice, and after a failed complete, like S3Upload.abort.
        self.state = "aborted"
        self.storage.objects.pop(self.key, None)


@dataclass
class MemoryStorage:
    objects: dict[str, bytes] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    uploads: list[MemoryUpload] = field(default_factory=list)
    # Names of operations that raise StorageError: write, complete, delete, presign.
    failing: set[str] = field(default_factory=set)

    async def begin_upload(self, key: str, content_type: str) -> MemoryUpload:
        upload = MemoryUpload(self, key, content_type)
        self.uploads.append(upload)
        return upload

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
        return [u.key for u in self.uploads if u.state == "pending"]
