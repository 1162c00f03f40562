"""A storage that stores nothing, for a body that must be read but not kept."""

from __future__ import annotations


class _DiscardingUpload:
    async def write(self, chunk: bytes) -> None:
        pass

    async def complete(self, *, sha256: str, size: int) -> None:
        pass

    async def abort(self) -> None:
        pass


class DiscardingStorage:
    """Stores nothing. The upload pipeline runs on it (sniffing, size, sha256) when a POST
    /files carries an Idempotency-Key that already stands for a file: the body must be read to
    tell the same request from another, and must not be stored a second time."""

    async def begin_upload(self, key: str, content_type: str) -> _DiscardingUpload:
        return _DiscardingUpload()

    async def delete(self, key: str) -> None:
        pass


DISCARDING = DiscardingStorage()
