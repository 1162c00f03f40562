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
import os
import unicodedata
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.requests import ClientDisconnect

from service import errors, filetypes, metadata
from service.multipart import MultipartReader, PartData, PartEnd, PartStart
from service.settings import Settings

log = logging.getLogger("silo.upload")

FILE_FIELD = "file"
# Room for the multipart framing and metadata fields on top of the file itself, when judging a
# request by its Content-Length before reading it.
FORM_OVERHEAD_BYTES = 1024 * 1024
MAX_FIELD_BYTES = 16 * 1024
FILENAME_MAX = 255


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    allowed_types: frozenset[str]
    # A client that sends nothing for this long is dropped: a stalled upload otherwise holds a
    # connection, part buffers and an open S3 multipart upload for as long as it likes.
    idle_timeout_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            settings.max_upload_bytes,
            frozenset(settings.allowed_types),
            settings.body_idle_timeout_seconds,
        )


@dataclass(frozen=True)
class StoredFile:
    """What the pipeline learned and stored; `save` turns it into a row."""

    id: uuid.UUID
    object_key: str
    file_type: filetypes.FileType
    filename: str
    size: int
    sha256: str
    fields: dict[str, Any]


def object_key_for(file_id: uuid.UUID) -> str:
    return f"files/{file_id}"


def check_filename(raw: str | None) -> None:
    """422 naming `filename` when the client's name holds a control character (CR, LF, NUL,
    tab, DEL, C1...): such a name is not a name, and silently dropping the characters (or
    stopping at them) would store something else than what was sent. Checked when the file
    part starts, before anything is stored."""
    # Lone surrogates too (a JSON body can smuggle "\ud800" into a direct upload's name): no
    # database or header can hold them.
    if raw and any(unicodedata.category(ch) in ("Cc", "Cs") for ch in raw):
        raise errors.ValidationFailed(
            "`filename` must not contain control characters or invalid text"
        )


def sanitize_filename(raw: str | None, file_type: filetypes.FileType) -> str:
    """A display name safe for headers and logs: no directory part, no invisible format
    characters, no surrounding blanks or trailing dots, bounded. A leading dot is kept: `.txt`
    is stored as `.txt` (a name without an extension). Nothing left: `file` + the extension."""
    check_filename(raw)
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    name = name.rstrip(" .")
    if len(name) > FILENAME_MAX:
        stem, ext = os.path.splitext(name)
        ext = ext if len(ext) <= 16 else ""
        name = stem[: FILENAME_MAX - len(ext)] + ext
    if not name:
        name = "file" + (file_type.extensions[0] if file_type.extensions else "")
    return name


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
            f"the upload exceeds the limit of {limits.max_bytes} bytes",
            headers={"Connection": "close"},
        )


def check_type(
    head: bytes, *, complete: bool, filename: str | None, declared: str | None, limits: Limits
) -> filetypes.FileType:
    """The type sniffed from a file's first bytes, if Silo accepts it and it agrees with the
    declared content type and the file name; else 415 (422 for an empty file). `complete`:
    `head` is the whole file. The one statement of the rule, for POST /files and tus."""
    if not head:
        raise errors.EmptyFile()
    sniff = head[: filetypes.SNIFF_BYTES]
    detected = filetypes.detect(sniff, complete=complete and len(sniff) == len(head))
    if detected is None:
        raise errors.UnsupportedType("the content is not of a type Silo accepts")
    if detected.id not in limits.allowed_types:
        raise errors.UnsupportedType(f"{detected.id} files are not accepted here")
    declared = declared.split(";", 1)[0].strip().lower() if declared else None
    reason = filetypes.mismatch(detected, filename, declared or None)
    if reason:
        raise errors.TypeMismatch(reason)
    return detected


def check_declared(*, filename: str | None, declared: str | None, limits: Limits) -> None:
    """415 before anything is stored when what the client claims (the name's extension, the
    declared content type) can only be a type the tenant does not accept (`unsupported_type`)
    or claims two types (`type_mismatch`). Direct uploads check this when they are asked for;
    the content is still sniffed with `check_type` once it is stored."""
    claims = filetypes.declared_types(filename, declared)
    if claims.problem is not None:
        error = errors.TypeMismatch if claims.conflicting else errors.UnsupportedType
        raise error(claims.problem)
    if not any(t.id in limits.allowed_types for t in claims.candidates):
        ids = ", ".join(t.id for t in claims.candidates)
        raise errors.UnsupportedType(f"{ids} files are not accepted here")


@dataclass
class _FilePart:
    """The file part in flight: sniff buffer, hash, size, content check and storage upload."""

    storage: Any
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
            raise errors.TooLarge(f"the file exceeds the limit of {self.limits.max_bytes} bytes")
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


async def shielded(awaitable: Awaitable[Any], what: str) -> None:
    """Run cleanup even when the request is being cancelled; never mask the original error."""
    with anyio.CancelScope(shield=True):
        try:
            await awaitable
        except Exception:
            log.exception("cleanup failed: %s", what)


async def with_idle_timeout(chunks: AsyncIterable[bytes], seconds: float) -> AsyncIterator[bytes]:
    """`chunks`, failing with 408 when none arrives for `seconds` (uploads and JSON bodies)."""
    iterator = aiter(chunks)
    while True:
        try:
            with anyio.fail_after(seconds):
                chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise errors.RequestTimeout(
                f"no data received for {seconds:g} seconds; the request was abandoned"
            ) from None
        yield chunk


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
    storage: Any,
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
        values = metadata.validate(fields, partial=False)
        stored = StoredFile(
            id=file_id,
            object_key=object_key,
            file_type=part.file_type,
            filename=sanitize_filename(part.filename, part.file_type),
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
