"""Direct-to-S3 uploads: the client PUTs the bytes to storage with a presigned URL, and the
service verifies what landed before it becomes a file. No HTTP here (service/api/direct.py).

- `Direct`: `create` (the declaration checked, a presigned PUT to `staging/<id>`), `complete`
  (size, sniff, sha256, copy to the file's key), `discard`, `sweep`
- `parse`, `Declared`: the POST body checked; `Ticket`, `Created`: what creation answers
- `staging_key`, `DirectUploadNotFound` (404)

Design: docs/design/direct-uploads.md
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

from service import errors
from service.files import metadata
from service.files import sql as files_repo
from service.files.domain import (
    Caller,
    Files,
    acting_role_id,
    audience_admits,
    created_by,
    key_still_valid,
    label_ids,
    uploaded_by,
)
from service.files.sql import Row
from service.storage import MAX_SINGLE_PUT, ObjectStorage
from service.uploads import direct_sql as repo
from service.uploads import filetypes, idempotency, rules

log = logging.getLogger("silo.direct")

STAGING_PREFIX = "staging/"
# The longest a pending upload waits for its `complete`, whatever SILO_UPLOAD_EXPIRY_HOURS says:
# the bucket's lifecycle rule on staging/ (provisioning/bucket_rules.py, 2 days) must never
# remove the object of an upload still pending.
MAX_EXPIRY = timedelta(hours=24)
SWEEP_BATCH = 100
FIELDS = ("filename", "size", "sha256", "content_type", *metadata.FIELDS)
# fullmatch, not match with `$`: Python's `$` also matches before a trailing newline, which the
# table's CHECK then refuses (a 500 instead of a 422).
SHA256 = re.compile(r"[0-9a-fA-F]{64}")
CONTENT_TYPE_MAX = 255


def staging_key(upload_id: uuid.UUID) -> str:
    return f"{STAGING_PREFIX}{upload_id}"


class DirectUploadNotFound(errors.DomainError):
    """Unknown or expired (a completed upload is its file)."""

    api_error = errors.NotFound

    def __init__(self) -> None:
        super().__init__("no such upload (unknown, expired or refused)")


@dataclass(frozen=True)
class Declared:
    """What the client says it will upload, validated."""

    filename: str
    size: int
    sha256: str  # lower-case hex
    content_type: str | None
    fields: dict[str, Any]  # metadata.validate() values


def parse(body: Mapping[str, Any]) -> Declared:
    """The JSON body of POST /uploads/direct -> `Declared` (422 naming the field)."""
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise errors.ValidationFailed(f"unknown field(s): {', '.join(unknown)}")
    filename = body.get("filename")
    if not isinstance(filename, str) or not filename.strip():
        raise errors.ValidationFailed("`filename` is required: a non-empty string")
    if len(filename) > 4 * rules.FILENAME_MAX:
        raise errors.ValidationFailed("`filename` is too long")
    rules.check_filename(filename)
    size = body.get("size")
    if isinstance(size, float) and size.is_integer():
        size = int(size)  # 1024.0 is an integer to JSON (and to the document's schema)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise errors.ValidationFailed("`size` is required: the file's size in bytes")
    if size == 0:
        raise errors.EmptyFile()
    sha256 = body.get("sha256")
    if not isinstance(sha256, str) or not SHA256.fullmatch(sha256):
        raise errors.ValidationFailed("`sha256` is required: the file's SHA-256 in hex")
    content_type = body.get("content_type")
    if content_type is not None:
        if not isinstance(content_type, str) or len(content_type) > CONTENT_TYPE_MAX:
            raise errors.ValidationFailed("`content_type` must be a content type like image/png")
        if not content_type.isascii() or not content_type.isprintable():
            raise errors.ValidationFailed("`content_type` must be a content type like image/png")
        content_type = content_type.strip() or None
    # No `title`: the file's name without its extension (rules.default_title).
    fields = metadata.validate(
        rules.with_default_title({k: v for k, v in body.items() if k in metadata.FIELDS}, filename),
        partial=False,
    )
    return Declared(filename, size, sha256.lower(), content_type, fields)


@dataclass(frozen=True)
class Ticket:
    """Where and how to PUT the bytes."""

    url: str
    headers: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True)
class Created:
    """What POST /uploads/direct answers: a ticket, or (a replay of a completed upload) the
    file."""

    id: uuid.UUID
    ticket: Ticket | None = None
    file: Row | None = None
    replayed: bool = False


Lock = Callable[[uuid.UUID], AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class Direct:
    """The tenant's direct uploads; built once when the app starts."""

    pool: AsyncConnectionPool
    storage: ObjectStorage
    files: Files
    limits: rules.Limits
    # How long a presigned PUT URL is accepted (SILO_PRESIGN_TTL_SECONDS): S3 checks it when
    # the PUT starts, so a long upload that starts in time finishes.
    url_ttl_seconds: int
    # How long a pending upload waits for its `complete` (SILO_UPLOAD_EXPIRY_HOURS, at most
    # MAX_EXPIRY).
    expiry: timedelta
    # The upload's lock, shared with tus (service/uploads/tus.py: a PostgreSQL advisory lock on a
    # connection of its own, so a long copy does not hold a pool connection).
    lock: Lock
    storage_verifies_checksums: bool = False

    @property
    def max_bytes(self) -> int:
        # One PUT: S3 takes at most 5 GiB in one (larger files: tus).
        return min(self.limits.max_bytes, MAX_SINGLE_PUT)

    async def create(
        self, caller: Caller, declared: Declared, *, idempotency_key: str | None = None
    ) -> Created:
        if declared.size > self.max_bytes:
            limit = rules.size_limit(self.max_bytes)
            raise errors.TooLarge(
                f"the upload exceeds the limit of {limit} for a direct upload"
                + (
                    "; use tus (/uploads) for larger files"
                    if declared.size <= self.limits.max_bytes
                    else ""
                )
            )
        rules.check_declared(
            filename=declared.filename, declared=declared.content_type, limits=self.limits
        )
        upload_id = uuid.uuid4()
        key = None
        if idempotency_key is not None:
            key = idempotency.Key(
                caller.key_id,
                idempotency_key,
                idempotency.fingerprint(
                    "POST /uploads/direct",
                    filename=declared.filename,
                    size=declared.size,
                    sha256=declared.sha256,
                    content_type=declared.content_type,
                    fields=declared.fields,
                ),
            )
        prior = None
        async with self.pool.connection() as conn, conn.transaction():
            await acting_role_id(conn, caller.user)
            await label_ids(conn, declared.fields)  # unknown category/language/role: 422 now
            if key is not None:
                prior = await idempotency.claim(conn, key, upload_id, _alive)
            if prior is None:
                row = await repo.insert(
                    conn,
                    upload_id=upload_id,
                    fields=declared.fields,
                    filename=declared.filename,
                    content_type=declared.content_type,
                    size=declared.size,
                    sha256=declared.sha256,
                    uploaded_by=uploaded_by(caller),
                    api_key_id=caller.key_id,
                    expires_in=self.expiry,
                )
            else:
                row = await repo.get(conn, prior)
        if prior is None:
            return Created(upload_id, await self._ticket(row))
        if row is not None and not row["expired"]:
            return Created(prior, await self._ticket(row), replayed=True)
        return Created(prior, file=await self.files.find(caller, prior), replayed=True)

    async def _ticket(self, row: Mapping[str, Any]) -> Ticket:
        """A freshly signed PUT, never outliving the upload itself."""
        remaining = (row["expires_at"] - datetime.now(UTC)).total_seconds()
        ttl = max(1, min(self.url_ttl_seconds, int(remaining)))
        url, headers = await self.storage.presigned_put(
            staging_key(row["id"]), size=row["size"], sha256=row["sha256"], ttl_seconds=ttl
        )
        return Ticket(url, headers, datetime.now(UTC) + timedelta(seconds=ttl))

    async def complete(self, caller: Caller, upload_id: uuid.UUID) -> tuple[Row, bool]:
        """Verify the staged object and make it the file: (file row, True) the first time,
        (file row, False) when the upload was already completed. Only for the key that created
        it, acting for a role that could see the file (404 to anyone else, before the lock)."""
        async with self.pool.connection() as conn:
            row = await repo.get(conn, upload_id)
            if row is not None:
                await _check_owner(conn, row, caller)
        async with self._locked(upload_id):
            async with self.pool.connection() as conn:
                row = await repo.get(conn, upload_id)
            if row is None:
                try:
                    return await self.files.find_created(caller, upload_id), False
                except errors.DomainError:
                    raise DirectUploadNotFound() from None
            if row["expired"]:
                await rules.shielded(self.discard(row), f"discard {upload_id}")
                raise DirectUploadNotFound()
            stored, etag = await self._verify(row)
            return await self._store(caller, row, stored, etag), True

    @contextlib.asynccontextmanager
    async def _locked(self, upload_id: uuid.UUID) -> AsyncIterator[None]:
        try:
            async with self.lock(upload_id):
                yield
        except errors.DomainError as exc:
            if exc.api_error is errors.UploadLocked:
                raise errors.UploadLocked(
                    "another request is completing this upload; retry in a moment"
                ) from None
            raise

    async def _verify(self, row: Mapping[str, Any]) -> tuple[rules.StoredFile, str]:
        """The staged object checked against what was declared; (what to store, its ETag).
        Nothing there yet: 409, the upload stays. Any refusal: the object and the upload go."""
        key, size = staging_key(row["id"]), row["size"]
        found = await self.storage.stat(key)
        if found is None:
            raise errors.NotUploaded()
        try:
            if found.size != size:
                raise errors.SizeMismatch(
                    f"{found.size} bytes were uploaded but {size} were declared; start again"
                )
            head = await self.storage.read_range(
                key, min(filetypes.SNIFF_BYTES, size), etag=found.etag
            )
            file_type = rules.check_type(
                head,
                complete=size <= filetypes.SNIFF_BYTES,
                filename=row["filename"],
                declared=row["content_type"],
                limits=self.limits,
            )
            validator = filetypes.content_validator(file_type)
            sha256 = found.sha256 if self.storage_verifies_checksums else None
            if sha256 is None or validator is not None:
                try:
                    sha256 = await self.storage.sha256_of(key, etag=found.etag, validator=validator)
                except filetypes.InvalidContent as exc:
                    raise errors.UnsupportedType(f"invalid {file_type.id} content: {exc}") from None
            if sha256 != row["sha256"]:
                raise errors.Sha256Mismatch(
                    "the uploaded bytes' sha256 is not the declared one; start again"
                )
        except errors.APIError:
            await rules.shielded(self.discard(row), f"discard {row['id']}")
            raise
        stored = rules.StoredFile(
            id=row["id"],
            object_key=rules.object_key_for(row["id"]),
            file_type=file_type,
            filename=rules.sanitize_filename(row["filename"], file_type),
            size=size,
            sha256=sha256,
            fields=dict(row["fields"]),
        )
        return stored, found.etag

    async def _store(
        self, caller: Caller, row: Mapping[str, Any], stored: rules.StoredFile, etag: str
    ) -> Row:
        """Copy the verified object to the file's key, write the file's row and forget the
        upload (one transaction), then delete the staged object."""
        staged = staging_key(row["id"])
        await self.storage.copy_to(
            staged,
            stored.object_key,
            etag=etag,
            content_type=stored.file_type.mime,
            sha256=stored.sha256,
            size=stored.size,
        )
        try:
            async with self.pool.connection() as conn, conn.transaction():
                # The creating key, revoked since `complete` was authenticated: 401, and the
                # upload ends (no other key may complete it).
                await key_still_valid(conn, row["api_key_id"] or caller.key_id)
                file_row = await self.files.insert_stored(
                    conn, stored, row["uploaded_by"], api_key_id=row["api_key_id"]
                )
                await repo.delete(conn, row["id"])
        except (errors.APIError, errors.DomainError):
            await rules.shielded(self.storage.delete(stored.object_key), stored.object_key)
            # Refused for good (a label deleted meanwhile, the key revoked): the upload ends.
            await rules.shielded(self.discard(row), f"discard {row['id']}")
            raise
        except BaseException:
            # The database failed or the request was cancelled: the copy goes, the staged
            # object and the upload stay, and `complete` can be called again.
            await rules.shielded(self.storage.delete(stored.object_key), stored.object_key)
            raise
        # If this fails the lifecycle rule on staging/ removes the object later.
        await rules.shielded(self.storage.delete(staged), f"delete {staged}")
        return file_row

    async def discard(self, row: Mapping[str, Any]) -> None:
        """Leave nothing of an upload: its staged object (deleting a missing key is no error),
        its row. The caller holds the upload's lock."""
        await self.storage.delete(staging_key(row["id"]))
        async with self.pool.connection() as conn:
            await repo.delete(conn, row["id"])

    async def sweep(self) -> int:
        """Discard expired uploads nobody is completing; returns how many."""
        async with self.pool.connection() as conn:
            candidates = await repo.expired(conn, SWEEP_BATCH)
        swept = 0
        for candidate in candidates:
            try:
                async with self.lock(candidate["id"]):
                    async with self.pool.connection() as conn:
                        row = await repo.get(conn, candidate["id"])
                    if row is None or not row["expired"]:
                        continue
                    await self.discard(row)
                    swept += 1
            except errors.DomainError:  # being completed right now
                continue
        if swept:
            log.info("swept %d expired direct upload(s)", swept)
        return swept


async def _check_owner(conn, row: Mapping[str, Any], caller: Caller) -> None:
    """DirectUploadNotFound unless the upload is the caller's (`created_by`) and its declared
    audience admits the caller's acting role (`audience_admits`)."""
    if not created_by(row, caller):
        raise DirectUploadNotFound()
    if not await audience_admits(conn, row["fields"].get("roles"), caller.user):
        raise DirectUploadNotFound()


async def _alive(conn, upload_id: uuid.UUID) -> bool:
    """Whether what an Idempotency-Key stands for still exists: the pending upload, or the
    file it became."""
    row = await repo.get(conn, upload_id)
    if row is not None and not row["expired"]:
        return True
    return await files_repo.exists(conn, upload_id)
