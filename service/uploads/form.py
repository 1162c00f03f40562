"""The upload pipeline: a multipart body streamed to object storage, validated on the way.

    body chunks -> multipart events -> first bytes sniffed (type allowed? agrees with the
    declared type and the file name?) -> size limit enforced per chunk -> sha256 on the fly ->
    storage upload part by part -> complete -> `save` writes the one row.

Metadata fields may come before or after the file part. Fields seen before the file are checked
before anything is sent to storage; fields after it are checked once the body is complete. Any
failure on the way (bad type, too large, client gone, bad metadata, storage or database error)
aborts the storage upload, or deletes the completed object, so nothing is left behind.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import ClientDisconnect

from service import errors
from service.files import domain, metadata
from service.files import sql as files_sql
from service.http.inputs import with_idle_timeout
from service.storage import DISCARDING, ObjectStorage
from service.uploads import filetypes, idempotency
from service.uploads.multipart import MultipartReader, PartData, PartEnd, PartStart
from service.uploads.rules import (
    Limits,
    StoredFile,
    check_filename,
    check_type,
    object_key_for,
    sanitize_filename,
    shielded,
    size_limit,
    with_default_title,
)

log = logging.getLogger("silo.upload")

FILE_FIELD = "file"
# Room for the multipart framing and metadata fields on top of the file itself, when judging a
# request by its Content-Length before reading it.
FORM_OVERHEAD_BYTES = 1024 * 1024
MAX_FIELD_BYTES = 16 * 1024


def check_declared_length(content_length: str | None, limits: Limits) -> None:
    """413 before reading a byte when the declared body cannot fit."""
    if content_length is None:
        return
    try:
        declared = int(content_length)
    except ValueError:
        raise errors.BadRequest("invalid Content-Length") from None
    if declared > limits.max_bytes + FORM_OVERHEAD_BYTES:
        # The rest of the body is not worth reading just to discard it: close the connection.
        raise errors.TooLarge(
            f"the upload exceeds the limit of {size_limit(limits.max_bytes)}",
            headers={"Connection": "close"},
        )


@dataclass(frozen=True)
class Created:
    row: files_sql.Row
    # An Idempotency-Key replay: the file a previous request with the key created.
    replayed: bool = False


class _Replay(Exception):
    """Raised inside the upload pipeline's `save` to unwind it (its object deleted) when the
    request's Idempotency-Key already stands for a file."""

    def __init__(self, file_id: uuid.UUID) -> None:
        super().__init__(str(file_id))
        self.file_id = file_id


class _KeyFreedMeanwhile(errors.DomainError):
    api_error = errors.Unavailable

    def __init__(self) -> None:
        super().__init__(
            "the file this Idempotency-Key stood for was deleted meanwhile; send the request again"
        )


@dataclass
class _FilePart:
    """The file part in flight: sniff buffer, hash, size, content check and storage upload."""

    storage: ObjectStorage
    object_key: str
    limits: Limits
    filename: str | None
    declared: str | None
    head: bytearray = field(default_factory=bytearray)
    size: int = 0
    hasher: Any = field(default_factory=hashlib.sha256)
    file_type: filetypes.FileType | None = None
    validator: Any = None
    upload: Any = None

    async def feed(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limits.max_bytes:
            raise errors.TooLarge(
                f"the file exceeds the limit of {size_limit(self.limits.max_bytes)}"
            )
        self.hasher.update(data)
        if self.upload is None:
            self.head += data
            if len(self.head) >= filetypes.SNIFF_BYTES:
                await self._start(complete=False)
            return
        self._validate(data)
        await self.upload.write(data)

    async def finish(self) -> None:
        if self.upload is None:
            await self._start(complete=True)
        try:
            if self.validator is not None:
                self.validator.finish()
        except filetypes.InvalidContent as exc:
            raise errors.UnsupportedType(f"invalid {self.file_type.id} content: {exc}") from None

    def _validate(self, data: bytes) -> None:
        if self.validator is None:
            return
        try:
            self.validator.feed(data)
        except filetypes.InvalidContent as exc:
            raise errors.UnsupportedType(f"invalid {self.file_type.id} content: {exc}") from None

    async def _start(self, *, complete: bool) -> None:
        """Sniff the type from the first bytes, check it, then open the storage upload."""
        head = bytes(self.head)
        detected = check_type(
            head,
            complete=complete,
            filename=self.filename,
            declared=self.declared,
            limits=self.limits,
        )
        self.file_type = detected
        self.validator = filetypes.content_validator(detected)
        self._validate(head)
        self.upload = await self.storage.begin_upload(self.object_key, detected.mime)
        self.head = bytearray()
        await self.upload.write(head)


def _add_field(fields: dict[str, Any], name: str, raw: bytes) -> None:
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.ValidationFailed(f"`{name}` is not valid UTF-8") from None
    if name == "roles":
        fields.setdefault("roles", []).append(value)
        return
    if name in fields:
        raise errors.ValidationFailed(f"`{name}` is given more than once")
    fields[name] = value


async def ingest(
    chunks: AsyncIterable[bytes],
    *,
    content_type: str | None,
    limits: Limits,
    storage: ObjectStorage,
    save: Callable[[StoredFile], Awaitable[Any]],
    check_fields: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
) -> Any:
    """Run the pipeline over one request body; returns what `save` returns.

    `check_fields` (optional) gets the validated metadata fields that came before the file
    part, before anything is sent to storage: checks that need I/O (the taxonomy) fail early.
    """
    reader = MultipartReader(content_type)
    file_id = uuid.uuid4()
    object_key = object_key_for(file_id)
    fields: dict[str, Any] = {}
    part: _FilePart | None = None
    current: str | None = None  # name of the part being read
    field_value = bytearray()
    completed = False
    try:
        async for event in reader.events(with_idle_timeout(chunks, limits.idle_timeout_seconds)):
            if isinstance(event, PartData):
                if current == FILE_FIELD:
                    await part.feed(event.data)
                else:
                    field_value += event.data
                    if len(field_value) > MAX_FIELD_BYTES:
                        raise errors.ValidationFailed(f"`{current}` is too long")
            elif isinstance(event, PartStart):
                current = event.name
                field_value.clear()
                if event.name == FILE_FIELD:
                    if part is not None:
                        raise errors.ValidationFailed("only one `file` part is allowed")
                    # Fail on bad leading fields before sending anything to storage.
                    leading = metadata.validate(fields, partial=True)
                    if check_fields is not None:
                        await check_fields(leading)
                    check_filename(event.filename)
                    part = _FilePart(
                        storage, object_key, limits, event.filename, event.content_type
                    )
                elif event.filename is not None:
                    raise errors.ValidationFailed(
                        f"unexpected file part `{event.name}`; send the file as `file`"
                    )
                elif event.name not in metadata.FIELDS:
                    raise errors.ValidationFailed(f"unknown field `{event.name}`")
            elif isinstance(event, PartEnd):
                if current == FILE_FIELD:
                    await part.finish()
                else:
                    _add_field(fields, current, bytes(field_value))
                current = None
        if part is None:
            raise errors.ValidationFailed("the `file` part is missing")
        filename = sanitize_filename(part.filename, part.file_type)
        # No `title`: the file's name without its extension (rules.default_title).
        values = metadata.validate(with_default_title(fields, filename), partial=False)
        stored = StoredFile(
            id=file_id,
            object_key=object_key,
            file_type=part.file_type,
            filename=filename,
            size=part.size,
            sha256=part.hasher.hexdigest(),
            fields=values,
        )
        await part.upload.complete(sha256=stored.sha256, size=stored.size)
        completed = True
        return await save(stored)
    except BaseException as exc:
        # Whatever went wrong (including cancellation), the object must not survive.
        if part is not None and part.upload is not None:
            if completed:
                await shielded(storage.delete(object_key), f"delete {object_key}")
            else:
                await shielded(part.upload.abort(), f"abort {object_key}")
        if isinstance(exc, ClientDisconnect):
            log.info("client disconnected during upload of %s; aborted", object_key)
            raise errors.ClientDisconnected() from None
        raise


@dataclass(frozen=True)
class FormUploads:
    """`POST /files` over the file rules: a multipart body streamed to storage, then the row
    through `Files.insert_stored`, as every upload path writes it."""

    files: domain.Files
    limits: Limits

    async def upload(
        self,
        caller: domain.Caller,
        body: AsyncIterable[bytes],
        *,
        content_type: str | None,
        content_length: str | None,
        idempotency_key: str | None = None,
    ) -> Created:
        """`create`, honouring an Idempotency-Key (service/uploads/idempotency.py). Its fingerprint
        needs the body (name, size, sha256, metadata), so a key that already stands for a file
        gets its body read and checked without storing a byte (a discarding storage), then
        the existing file. Concurrent first uses both store; the one that loses the key's row
        deletes its object and answers the winner's file."""
        check_declared_length(content_length, self.limits)
        if caller.user.role is not None:
            # Present means valid: an unknown role is 422 before any byte is read.
            async with self.files.pool.connection() as conn:
                await domain.acting_role_id(conn, caller.user)
        storage = self.files.storage
        if idempotency_key is not None:
            async with self.files.pool.connection() as conn:
                used = await idempotency.peek(conn, caller.key_id, idempotency_key)
                if used is not None and await files_sql.exists(conn, used[1]):
                    storage = DISCARDING

        async def check_labels(fields: dict[str, Any]) -> None:
            # Labels sent before the file part are checked before any byte is stored.
            if set(domain.LABELS) & set(fields):
                async with self.files.pool.connection() as conn:
                    await domain.label_ids(conn, fields)

        async def save(stored: StoredFile) -> files_sql.Row:
            async with self.files.pool.connection() as conn, conn.transaction():
                # A key revoked while its upload streamed does not get the file (401; the
                # pipeline then deletes the stored object).
                await domain.key_still_valid(conn, caller.key_id)
                if idempotency_key is not None:
                    key = idempotency.Key(
                        caller.key_id,
                        idempotency_key,
                        idempotency.fingerprint(
                            "POST /files",
                            filename=stored.filename,
                            size=stored.size,
                            sha256=stored.sha256,
                            fields=stored.fields,
                        ),
                    )
                    prior = await idempotency.claim(conn, key, stored.id, files_sql.exists)
                    if prior is not None:
                        raise _Replay(prior)
                    if storage is DISCARDING:
                        # The key's file was deleted since the check: nothing was stored.
                        raise _KeyFreedMeanwhile()
                return await self.files.insert_stored(
                    conn, stored, domain.uploaded_by(caller), api_key_id=caller.key_id
                )

        try:
            row = await ingest(
                body,
                content_type=content_type,
                limits=self.limits,
                storage=storage,
                save=save,
                check_fields=check_labels,
            )
        except _Replay as replay:
            return Created(await self.files.find(caller, replay.file_id), replayed=True)
        return Created(row)
