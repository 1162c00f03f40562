"""The rules every upload path shares (the form's `POST /files`, tus, direct uploads): the
limits, the type check on a file's first bytes, the file name and the title it gives a file sent
without one (`default_title`), the object key of a stored file, and cleanup that a cancelled
request cannot interrupt."""

from __future__ import annotations

import logging
import os
import unicodedata
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import anyio

from service import errors
from service.files import metadata
from service.uploads import filetypes

log = logging.getLogger("silo.upload")

FILENAME_MAX = 255
CONTENT_TYPE_MAX = 255


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    allowed_types: frozenset[str]
    # A client that sends nothing for this long is dropped: a stalled upload otherwise holds a
    # connection, part buffers and an open S3 multipart upload for as long as it likes.
    idle_timeout_seconds: float


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


def _bare_name(raw: str | None) -> str:
    """The name without a directory part, invisible format characters, surrounding blanks or
    trailing dots (possibly empty)."""
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name.rstrip(" .")


def default_title(filename: str | None) -> str | None:
    """The title of a file uploaded without one: its name without the directory part and the
    last extension, as the console's upload page proposes it (`handbook.pdf` -> `handbook`,
    `lesson-03.v2.pdf` -> `lesson-03.v2`; a name that is only an extension, `.txt`, is kept
    whole), cut to the title's 200 characters. A name with nothing left (`...`) gives `file`,
    the stem of the name it is stored under; no name at all gives None (`title` is then
    required). Pure; the name's control characters are `check_filename`'s 422."""
    if filename is None:
        return None
    check_filename(filename)
    name = _bare_name(filename)
    dot = name.rfind(".")
    stem = name[:dot] if dot > 0 else name
    return stem[: metadata.TITLE_MAX].strip() or "file"


def with_default_title(fields: dict[str, Any], filename: str | None) -> dict[str, Any]:
    """`fields` (the raw metadata values) with `title` from the file name when it is absent;
    a title sent (even empty) is left to `metadata.validate`."""
    if "title" in fields:
        return fields
    title = default_title(filename)
    return fields if title is None else {**fields, "title": title}


def check_content_type(value: str | None, field: str) -> None:
    """422 naming `field` unless a declared content type is printable ASCII of at most
    CONTENT_TYPE_MAX characters (NUL, tabs, line breaks and other text are no content type, and
    no database column or header may carry them)."""
    if value is not None and (
        len(value) > CONTENT_TYPE_MAX or not value.isascii() or not value.isprintable()
    ):
        raise errors.ValidationFailed(f"`{field}` must be a content type like image/png")


def sanitize_filename(raw: str | None, file_type: filetypes.FileType) -> str:
    """A display name safe for headers and logs: no directory part, no invisible format
    characters, no surrounding blanks or trailing dots, bounded. A leading dot is kept: `.txt`
    is stored as `.txt` (a name without an extension). Nothing left: `file` + the extension."""
    check_filename(raw)
    name = _bare_name(raw)
    if len(name) > FILENAME_MAX:
        stem, ext = os.path.splitext(name)
        ext = ext if len(ext) <= 16 else ""
        name = stem[: FILENAME_MAX - len(ext)] + ext
    if not name:
        name = "file" + (file_type.extensions[0] if file_type.extensions else "")
    return name


def accepted_types(limits: Limits) -> str:
    """The way out of a refused type: `accepted types: pdf (.pdf), png (.png), ...`, the
    tenant's types in the registry's order, each with its usual extension."""
    shown = [
        f"{t.id} ({t.extensions[0]})" if t.extensions else t.id
        for t in filetypes.REGISTRY.values()
        if t.id in limits.allowed_types
    ]
    return "accepted types: " + (", ".join(shown) or "none")


_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_bytes(n: int) -> str:
    """A size for a person, in binary units: 1536 -> `1.5 KiB`, 25165824 -> `24 MiB`."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            shown = f"{value:.1f}".removesuffix(".0")
            return f"{shown} {unit}"
    raise AssertionError("unreachable")


def size_limit(max_bytes: int) -> str:
    """The upload limit as a refusal names it: `24 MiB (25,165,824 bytes)`."""
    return f"{human_bytes(max_bytes)} ({max_bytes:,} bytes)"


def check_type(
    head: bytes, *, complete: bool, filename: str | None, declared: str | None, limits: Limits
) -> filetypes.FileType:
    """The type sniffed from a file's first bytes, if Silo accepts it and it agrees with the
    declared content type and the file name; else 415 (422 for an empty file). `complete`:
    `head` is the whole file. The one statement of the rule, for POST /files and tus."""
    if not head:
        raise errors.EmptyFile()
    sniff = head[: filetypes.SNIFF_BYTES]
    whole = complete and len(sniff) == len(head)
    detected = filetypes.detect(sniff, complete=whole)
    if detected is None:
        text = filetypes.REGISTRY["txt"]
        claimed = (
            filetypes.extension_of(filename) in text.extensions
            or filetypes.essence(declared) in text.mimes
        )
        problem = "txt" in limits.allowed_types and filetypes.text_problem(
            sniff, complete=whole, claimed=claimed
        )
        if problem:
            raise errors.UnsupportedType(f"the content is not of a type Silo accepts: {problem}")
        raise errors.UnsupportedType(
            f"the content is not of a type Silo accepts; {accepted_types(limits)}"
        )
    if detected.id not in limits.allowed_types:
        raise errors.UnsupportedType(
            f"{detected.id} files are not accepted here; {accepted_types(limits)}"
        )
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
        if claims.conflicting:
            raise errors.TypeMismatch(claims.problem)
        raise errors.UnsupportedType(f"{claims.problem}; {accepted_types(limits)}")
    if not any(t.id in limits.allowed_types for t in claims.candidates):
        ids = ", ".join(t.id for t in claims.candidates)
        raise errors.UnsupportedType(f"{ids} files are not accepted here; {accepted_types(limits)}")


async def shielded(awaitable: Awaitable[Any], what: str) -> None:
    """Run cleanup even when the request is being cancelled; never mask the original error."""
    with anyio.CancelScope(shield=True):
        try:
            await awaitable
        except Exception:
            log.exception("cleanup failed: %s", what)
