"""Resumable uploads (tus 1.0.0): the rules and the durable state, no HTTP (service/api/tus.py
speaks the protocol and calls `Resumable`).

- `Resumable`: create, hold (the PATCH lock), state, receive, terminate, abandon, settle, sweep
- `Declared`, `validate_metadata`: a creation's length and Upload-Metadata, checked
- `UploadState`, `Checksum`: an upload's offset and status; an Upload-Checksum
- `UploadNotFound` (404), `UploadBusy` (423), `OffsetConflict` (409), `ChecksumFailed` (460)

Design: docs/design/tus.md
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import anyio
import psycopg
import psycopg_pool
from psycopg_pool import AsyncConnectionPool
from starlette.requests import ClientDisconnect

from service import errors
from service.db.locks import LockSessions
from service.files import metadata
from service.files.domain import (
    Caller,
    FileNotFound,
    Files,
    audience_admits,
    created_by,
    key_still_valid,
    label_ids,
    uploaded_by,
)
from service.http import inputs
from service.storage import ObjectStorage, ResumableUpload, StorageError
from service.uploads import filetypes, idempotency, rules
from service.uploads import tus_sql as repo

log = logging.getLogger("silo.resumable")

CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}
# Upload-Metadata keys Silo reads: the file's name and declared type, and the metadata fields of
# POST /files. Other keys are accepted and ignored (tus metadata is the client's: Uppy sends
# `name`, `type`, `relativePath`); they stay in the upload's Upload-Metadata, which HEAD echoes.
METADATA_KEYS = ("filename", "filetype", *metadata.FIELDS)
# Read when `filename` / `filetype` are absent: the names Uppy and other tus front ends use.
ALIASES = {"filename": "name", "filetype": "type"}
USED_KEYS = frozenset((*METADATA_KEYS, *ALIASES.values()))
SWEEP_BATCH = 100


class UploadNotFound(errors.DomainError):
    """Unknown, terminated or expired."""

    api_error = errors.NotFound

    def __init__(self) -> None:
        super().__init__("no such upload (unknown, terminated or expired)")


class UploadBusy(errors.DomainError):
    api_error = errors.UploadLocked

    def __init__(self) -> None:
        super().__init__("the upload is already receiving data in another request")


class OffsetConflict(errors.DomainError):
    api_error = errors.OffsetMismatch


class ChecksumFailed(errors.DomainError):
    api_error = errors.ChecksumMismatch


@dataclass(frozen=True)
class Checksum:
    algorithm: str  # a key of CHECKSUMS
    digest: bytes


@dataclass(frozen=True)
class UploadState:
    id: uuid.UUID
    length: int
    offset: int
    expires_at: datetime | None  # None once it has become a file
    metadata: str | None  # the Upload-Metadata header it was created with
    # The file it became (the same id), once the last byte has arrived.
    file_id: uuid.UUID | None = None
    # An Idempotency-Key replay: the upload a previous creation with the key made.
    replayed: bool = False


def _state(row: Mapping[str, Any]) -> UploadState:
    return UploadState(
        row["id"], row["length"], row["received"], row["expires_at"], row["metadata"]
    )


@dataclass(frozen=True)
class Declared:
    """What Upload-Metadata says, validated."""

    fields: dict[str, Any]  # metadata.validate() values: title, description, labels by name
    filename: str | None
    filetype: str | None


def validate_metadata(pairs: Mapping[str, str]) -> Declared:
    """Upload-Metadata values -> `Declared`, with the rules (and 422s) of POST /files. Keys
    outside `USED_KEYS` are ignored; `name` and `type` stand for absent `filename` and
    `filetype`; an absent `title` is the file name's (rules.default_title)."""
    pairs = {
        **{key: pairs[alias] for key, alias in ALIASES.items() if alias in pairs},
        **{k: v for k, v in pairs.items() if k in METADATA_KEYS},
    }
    filename = pairs.get("filename")
    if filename is not None:
        if len(filename) > 4 * rules.FILENAME_MAX:
            raise errors.ValidationFailed("`filename` is too long")
        rules.check_filename(filename)
    raw: dict[str, Any] = {k: v for k, v in pairs.items() if k in metadata.FIELDS}
    if "roles" in raw:
        try:
            raw["roles"] = json.loads(raw["roles"])
        except ValueError:
            raise errors.ValidationFailed(
                '`roles` must be a JSON array of role names, like ["staff"]'
            ) from None
    fields = metadata.validate(rules.with_default_title(raw, filename), partial=False)
    filetype = (pairs.get("filetype") or "").strip() or None
    return Declared(fields, filename, filetype)


@dataclass(frozen=True)
class Resumable:
    """The tenant's resumable uploads; built once when the app starts."""

    pool: AsyncConnectionPool
    storage: ObjectStorage
    files: Files
    limits: rules.Limits
    expiry: timedelta
    # The connections that hold an upload's lock (a bounded pool of their own).
    locks: LockSessions

    @property
    def part_size(self) -> int:
        return self.storage.part_size

    async def create(
        self,
        caller: Caller,
        *,
        length: int,
        declared: Declared,
        metadata_header: str | None,
        idempotency_key: str | None = None,
    ) -> UploadState:
        """A new upload; with an Idempotency-Key that already stands for one, that upload
        (`replayed`; `file_id` set once it has become a file)."""
        if length > self.limits.max_bytes:
            raise errors.TooLarge(
                f"the upload exceeds the limit of {rules.size_limit(self.limits.max_bytes)}"
            )
        if length == 0:
            raise errors.EmptyFile()
        upload_id = uuid.uuid4()
        async with self.pool.connection() as conn, conn.transaction():
            await label_ids(conn, declared.fields)  # unknown category/language/role: 422 now
            if idempotency_key is not None:
                fingerprint = idempotency.fingerprint(
                    "POST /uploads",
                    filename=declared.filename,
                    filetype=declared.filetype,
                    size=length,
                    fields=declared.fields,
                )
                key = idempotency.Key(caller.key_id, idempotency_key, fingerprint)
                prior = await idempotency.claim(conn, key, upload_id, _alive)
                if prior is not None:
                    row = await repo.get(conn, prior)
                    if row is not None:
                        return replace(_state(row), replayed=True)
                    size = await repo.file_size(conn, prior)
                    return UploadState(prior, size, size, None, None, prior, replayed=True)
            row = await repo.insert(
                conn,
                upload_id=upload_id,
                length=length,
                fields=declared.fields,
                filename=declared.filename,
                filetype=declared.filetype,
                metadata=metadata_header,
                uploaded_by=uploaded_by(caller),
                api_key_id=caller.key_id,
                expires_in=self.expiry,
            )
        return _state(row)

    def hold(self, upload_id: uuid.UUID) -> contextlib.AbstractAsyncContextManager[None]:
        """The upload's lock (423 `upload_locked` while another request holds it). Direct
        uploads (service/uploads/direct.py) take it too: their ids are upload ids like these, never
        the same, and a `complete` copying a large object must not hold a pool connection."""
        return self._receiving(upload_id)

    async def state(self, upload_id: uuid.UUID, caller: Caller) -> UploadState:
        """Where the upload stands (HEAD). One that has become a file stays visible as
        complete, so a client whose final response was lost learns it is done; one whose bytes
        are all stored is settled first (423 while another request settles it), so that a
        client told "complete" finds its file."""
        state = await self._peek(upload_id, caller)
        if state.file_id is not None or state.offset < state.length:
            return state
        async with self._receiving(upload_id):
            async with self.pool.connection() as conn:
                row = await repo.get(conn, upload_id)
            if row is None or not row["stored"]:
                return await self._peek(upload_id, caller)
            return await self.settle(row)

    async def _peek(self, upload_id: uuid.UUID, caller: Caller) -> UploadState:
        """The upload's state, or the file it became, for the key that created it acting for a
        role that could see the file; UploadNotFound to anyone else (docs/api.md, "Who may
        continue an upload"): another key learns nothing, not even that it exists."""
        async with self.pool.connection() as conn:
            row = await repo.get(conn, upload_id)
            if row is not None:
                if not created_by(row, caller):
                    raise UploadNotFound()
                if not await audience_admits(conn, row["fields"].get("roles"), caller.user):
                    raise UploadNotFound()
                return _state(row)
        try:
            size = (await self.files.find_created(caller, upload_id))["size"]
        except FileNotFound:
            raise UploadNotFound() from None
        return UploadState(upload_id, size, size, None, None, file_id=upload_id)

    async def receive(
        self,
        upload_id: uuid.UUID,
        caller: Caller,
        *,
        offset: int,
        body: AsyncIterable[bytes],
        checksum: Checksum | None = None,
        declared_length: int | None = None,
    ) -> UploadState:
        """Append a PATCH body at `offset` (409 unless it is the upload's offset; 423 while
        another request is receiving; 413 before reading it when its declared length goes past
        Upload-Length). Returns the new state; `file_id` set once complete."""
        # Unknown, expired or not the caller's: 404, even while the sweeper holds it.
        await self._peek(upload_id, caller)
        async with self._receiving(upload_id):
            state = await self._peek(upload_id, caller)
            if offset != state.offset:
                raise OffsetConflict(
                    f"Upload-Offset is {offset} but the upload is at {state.offset}"
                )
            if declared_length is not None and offset + declared_length > state.length:
                raise errors.TooLarge(
                    f"the body goes past Upload-Length ({state.length} bytes)",
                    headers={"Connection": "close"},
                )
            if state.file_id is not None:
                return state
            async with self.pool.connection() as conn:
                row = await repo.get(conn, upload_id)
            if row is None:
                raise UploadNotFound()
            if row["stored"]:
                return await self.settle(row)  # a completion cut short: finish it now
            return await _Receiver(self, row, checksum).run(body)

    async def terminate(self, upload_id: uuid.UUID, caller: Caller) -> None:
        # Unknown, expired or not the caller's: 404 without waiting for the lock.
        await self._peek(upload_id, caller)
        async with self._receiving(upload_id):
            async with self.pool.connection() as conn:
                row = await repo.get(conn, upload_id)
            if row is None:
                raise UploadNotFound()
            await self.discard(row)

    async def abandon(self, upload_id: uuid.UUID) -> None:
        """Discard an upload whose creation failed before its client learnt the Location (a
        creation-with-upload refused: 460, 415, ...): nobody could ever continue it."""
        async with self._receiving(upload_id):
            async with self.pool.connection() as conn:
                row = await repo.get(conn, upload_id, include_expired=True)
            if row is not None:
                await self.discard(row)

    async def discard(self, row: Mapping[str, Any]) -> None:
        """Leave nothing of an upload: its multipart upload, any object, its row. The caller
        holds the upload's lock."""
        storage, key = self.storage, rules.object_key_for(row["id"])
        if row["s3_upload_id"]:
            # Already aborted, or completed: not an error.
            await storage.resumable(key, row["s3_upload_id"]).abort()
        # An object exists only if a completion was cut short; deleting a missing key is no error.
        await storage.delete(key)
        async with self.pool.connection() as conn:
            await repo.delete(conn, row["id"])

    async def settle(self, row: Mapping[str, Any], *, sha256: str | None = None) -> UploadState:
        """A stored upload (every byte in its object) becomes a file: its sha256 (read back
        unless given), then the file's row, written as POST /files writes it, and the upload's
        row deleted, in one transaction. The caller holds the upload's lock.

        Content or metadata refused now (text that is not UTF-8 to the end, a label deleted
        meanwhile), or the creating key revoked (401: a revoked key's upload never becomes a
        file, checked as POST /files checks it), discards the upload. Any other failure
        (storage, database, a request cancelled by a deploy) leaves it stored: the next HEAD,
        PATCH or sweep settles it."""
        file_type = filetypes.REGISTRY[row["type"]]
        key = rules.object_key_for(row["id"])
        try:
            if sha256 is None:
                sha256 = await self._read_back(key, file_type)
            stored = rules.StoredFile(
                id=row["id"],
                object_key=key,
                file_type=file_type,
                filename=rules.sanitize_filename(row["filename"], file_type),
                size=row["length"],
                sha256=sha256,
                fields=dict(row["fields"]),
            )
            async with self.pool.connection() as conn, conn.transaction():
                if row["api_key_id"] is not None:
                    await key_still_valid(conn, row["api_key_id"])
                await self.files.insert_stored(
                    conn, stored, row["uploaded_by"], api_key_id=row["api_key_id"]
                )
                await repo.delete(conn, row["id"])
        except (errors.APIError, errors.DomainError):
            await rules.shielded(self.discard(row), f"discard {row['id']}")
            raise
        return UploadState(row["id"], row["length"], row["length"], None, None, file_id=row["id"])

    async def _read_back(self, key: str, file_type: filetypes.FileType) -> str:
        """sha256 of a completed object, read back once (see the module's doc), checked whole
        by the type's content validator. The object is not tagged with it: the file's row
        holds it, and a tag write would race GuardDuty's verdict (docs/design/storage.md)."""
        try:
            return await self.storage.sha256_of(
                key, validator=filetypes.content_validator(file_type)
            )
        except filetypes.InvalidContent as exc:
            raise errors.UnsupportedType(f"invalid {file_type.id} content: {exc}") from None

    async def sweep(self) -> int:
        """Settle stored uploads left unsettled, then discard expired uploads nobody is
        receiving; returns how many were discarded."""
        async with self.pool.connection() as conn:
            unsettled = await repo.stored(conn, SWEEP_BATCH)
        for candidate in unsettled:
            try:
                async with self._receiving(candidate["id"]):
                    async with self.pool.connection() as conn:
                        row = await repo.get(conn, candidate["id"])
                    if row is not None and row["stored"]:
                        await self.settle(row)
            except UploadBusy:
                continue
            except Exception:
                log.exception("settling upload %s failed; retrying later", candidate["id"])
        async with self.pool.connection() as conn:
            candidates = await repo.expired(conn, SWEEP_BATCH)
        swept = 0
        for candidate in candidates:
            try:
                async with self._receiving(candidate["id"]):
                    async with self.pool.connection() as conn:
                        row = await repo.get(conn, candidate["id"], include_expired=True)
                    if row is None or not row["expired"]:
                        continue  # terminated or swept meanwhile
                    await self.discard(row)
                    swept += 1
            except UploadBusy:
                continue
        if swept:
            log.info("swept %d expired upload(s)", swept)
        return swept

    @contextlib.asynccontextmanager
    async def _receiving(self, upload_id: uuid.UUID) -> AsyncIterator[None]:
        """Hold the upload's advisory lock (423 if another session holds it) on a lock
        connection (service/db/locks.py: 503 `busy` when the instance has none left).

        Every wait on it is bounded (docs/design/database.md). The lock is released explicitly
        (`pg_advisory_unlock`, within `RELEASE_SECONDS`) before the connection goes back to its
        pool. After a database failure it is not even tried: the session is closed, and the
        server drops its lock when it notices (at once if it is alive, when it thaws if it is
        frozen), so a stalled database costs the request one bounded wait, not two. The death
        of this process (its connection closing) releases it too."""
        async with self.locks.session() as conn:
            if not await repo.try_lock(conn, upload_id):
                raise UploadBusy()
            try:
                yield
            except (psycopg.OperationalError, psycopg_pool.PoolTimeout):
                with anyio.CancelScope(shield=True):
                    await conn.close()
                raise
            finally:
                if not conn.closed:
                    await self.locks.release(
                        conn, lambda: repo.unlock(conn, upload_id), f"upload {upload_id}"
                    )


class _StorageUploadGone(Exception):
    """The S3 multipart upload no longer exists (completed or aborted)."""


class _Receiver:
    """One PATCH body appended to an upload; the caller holds the upload's lock."""

    def __init__(self, owner: Resumable, row: Mapping[str, Any], checksum: Checksum | None):
        self.owner = owner
        self.row = row
        self.id: uuid.UUID = row["id"]
        self.key = rules.object_key_for(self.id)
        self.length: int = row["length"]
        self.received: int = row["received"]
        self.parts: list[dict[str, Any]] = list(row["parts"])
        self.tail = bytearray(row["tail"])
        self.type_id: str | None = row["type"]
        self.s3_upload_id: str | None = row["s3_upload_id"]
        self.completing: bool = row["completing"]  # a CompleteMultipartUpload was sent
        self.checksum = checksum
        self.hasher = CHECKSUMS[checksum.algorithm]() if checksum else None

    @property
    def file_type(self) -> filetypes.FileType:
        return filetypes.REGISTRY[self.type_id]

    async def run(self, body: AsyncIterable[bytes]) -> UploadState:
        try:
            return await self._run(body)
        except _StorageUploadGone:
            return await self._recover()

    async def _recover(self) -> UploadState:
        """The multipart upload is gone. Either a completion was sent (by this request or an
        earlier one) and the object is whole (record it and settle) or still being assembled
        (503: the upload stays, the client's retry finds the object), or no completion was ever
        sent and it was aborted (by the bucket's lifecycle rule, by hand): the upload cannot be
        finished, and goes (404)."""
        head = await self.owner.storage.stat(self.key)
        if head is None and self.completing:
            log.warning(
                "upload %s: its multipart upload is gone and its object not there yet"
                " (a completion still running); the client will retry",
                self.id,
            )
            raise StorageError(f"upload {self.id}: the object is still being completed")
        if head is None or head.size != self.length:
            await rules.shielded(self.owner.discard(self.row), f"discard {self.id}")
            raise UploadNotFound()
        log.warning("upload %s was completed by a request that did not record it", self.id)
        return await self._stored()

    async def _stored(self, sha256: str | None = None) -> UploadState:
        """Record that every byte is in the object, then settle."""
        async with self.owner.pool.connection() as conn:
            await repo.mark_stored(conn, self.id, length=self.length, type_id=self.type_id)
        row = {
            **self.row,
            "received": self.length,
            "tail": b"",
            "stored": True,
            "type": self.type_id,
            "s3_upload_id": self.s3_upload_id,
        }
        return await self.owner.settle(row, sha256=sha256)

    async def _run(self, body: AsyncIterable[bytes]) -> UploadState:
        limits = self.owner.limits
        try:
            async for chunk in inputs.with_idle_timeout(body, limits.idle_timeout_seconds):
                await self._take(chunk)
        except (ClientDisconnect, errors.RequestTimeout) as exc:
            # Keep what arrived (a checksummed chunk cannot be verified now: it goes).
            if self.hasher is None:
                await rules.shielded(self._commit(), f"commit {self.id}")
            if isinstance(exc, ClientDisconnect):
                raise errors.ClientDisconnected() from None
            raise
        if self.hasher is not None and self.hasher.digest() != self.checksum.digest:
            raise ChecksumFailed(
                f"the body's {self.checksum.algorithm} is not the one in Upload-Checksum;"
                " the chunk was discarded"
            )
        if self.received == self.length:
            return await self._finish()
        row = await self._commit()
        return _state(row)

    async def _take(self, chunk: bytes) -> None:
        if self.received + len(chunk) > self.length:
            raise errors.TooLarge(f"the body goes past Upload-Length ({self.length} bytes)")
        if self.hasher is not None:
            self.hasher.update(chunk)
        self.tail += chunk
        self.received += len(chunk)
        if self.type_id is None:
            if len(self.tail) < filetypes.SNIFF_BYTES and self.received < self.length:
                return
            await self._sniff()
        part_size = self.owner.part_size
        while len(self.tail) >= part_size:
            await self._send_part(self.tail[:part_size])
            del self.tail[:part_size]
            if self.hasher is None:
                await self._commit()

    async def _sniff(self) -> None:
        # Until the type is known no part has been sent: the tail starts at byte 0.
        try:
            detected = rules.check_type(
                bytes(self.tail[: filetypes.SNIFF_BYTES + 1]),
                complete=self.received == self.length,
                filename=self.row["filename"],
                declared=self.row["filetype"],
                limits=self.owner.limits,
            )
        except errors.APIError:
            await rules.shielded(self.owner.discard(self.row), f"discard {self.id}")
            raise
        self.type_id = detected.id

    async def _send_part(self, data: bytearray) -> None:
        if self.s3_upload_id is None:
            created = await self.owner.storage.begin_resumable(self.key, self.file_type.mime)
            self.s3_upload_id = created.upload_id
            # Recorded at once, so that an abort (terminate, expiry) can always find it.
            async with self.owner.pool.connection() as conn:
                await repo.set_storage_upload(conn, self.id, self.s3_upload_id)
            self.row = {**self.row, "s3_upload_id": self.s3_upload_id}
        try:
            part = await self._upload().send_part(len(self.parts) + 1, data)
        except StorageError:
            await self._raise_if_gone()
            raise
        self.parts.append(part)

    async def _commit(self) -> Mapping[str, Any]:
        async with self.owner.pool.connection() as conn:
            row = await repo.save_progress(
                conn,
                self.id,
                received=self.received,
                parts=self.parts,
                tail=bytes(self.tail),
                type_id=self.type_id,
                expires_in=self.owner.expiry,
            )
        if row is None:
            raise UploadNotFound()
        return row

    async def _finish(self) -> UploadState:
        """The last byte is in: complete the object, mark the upload stored, settle it.

        Until the object is complete a failure changes nothing (the client sends its last
        chunk again); after that, see `Resumable.settle`."""
        owner, storage = self.owner, self.owner.storage
        file_type = self.file_type
        sha256 = None
        if self.s3_upload_id is None:
            data = bytes(self.tail)
            sha256 = hashlib.sha256(data).hexdigest()
            try:
                _check_content(file_type, data)
            except errors.APIError:
                await rules.shielded(owner.discard(self.row), f"discard {self.id}")
                raise
            await storage.put(self.key, data, content_type=file_type.mime, sha256=sha256)
        else:
            if self.tail:
                await self._send_part(self.tail)
                self.tail = bytearray()
            if not self.completing:
                # Before the completion is sent: see `_recover`.
                async with owner.pool.connection() as conn:
                    await repo.mark_completing(conn, self.id)
                self.completing = True
            try:
                await self._upload().complete(self.parts)
            except StorageError:
                await self._raise_if_gone()
                raise
        return await self._stored(sha256)

    async def _raise_if_gone(self) -> None:
        """After a failed part or completion: `_StorageUploadGone` if the storage upload no
        longer exists (a failure to tell leaves the caller's error to be raised)."""
        try:
            exists = await self._upload().exists()
        except StorageError:
            return
        if not exists:
            raise _StorageUploadGone()

    def _upload(self) -> ResumableUpload:
        assert self.s3_upload_id is not None
        return self.owner.storage.resumable(self.key, self.s3_upload_id)


async def _alive(conn, upload_id: uuid.UUID) -> bool:
    """Whether what an Idempotency-Key stands for still exists: the upload (not expired), or
    the file it became."""
    if await repo.get(conn, upload_id) is not None:
        return True
    return await repo.file_size(conn, upload_id) is not None


def _check_content(file_type: filetypes.FileType, data: bytes) -> None:
    validator = filetypes.content_validator(file_type)
    if validator is None:
        return
    try:
        validator.feed(data)
        validator.finish()
    except filetypes.InvalidContent as exc:
        raise errors.UnsupportedType(f"invalid {file_type.id} content: {exc}") from None


def check_roles_nesting(pairs: Mapping[str, str]) -> None:
    """Before `validate_metadata` parses `roles` (JSON): 422 naming `roles` when it nests
    deeper than any parser should follow (`[[[...]]]` 1,500 deep was a RecursionError, a 500)."""
    if "roles" in pairs:
        inputs.check_json_depth(pairs["roles"], "`roles`")


def check_declaration(declared: Declared, limits: rules.Limits) -> None:
    """What the creation declares, checked at creation as POST /uploads/direct checks it, not
    once the bytes have travelled: a file name with control characters (422 `filename`), a
    `filetype` that is no content type (422), and a name or type that no content the tenant
    accepts could match (415 `unsupported_type` / `type_mismatch`). The content is still
    sniffed against them when it arrives."""
    rules.check_filename(declared.filename)
    rules.check_content_type(declared.filetype, "filetype")
    rules.check_declared(filename=declared.filename, declared=declared.filetype, limits=limits)
