"""The tus 1.0.0 protocol at /uploads: core, creation, creation-with-upload, termination,
expiration and checksum (sha1, sha256). Handlers only translate HTTP; the rules and the durable
state are service/uploads/tus.py's.

    OPTIONS /uploads            what this server speaks (no key needed)
    POST    /uploads            create (Upload-Length, Upload-Metadata), optionally with a body
    HEAD    /uploads/{id}       the offset
    PATCH   /uploads/{id}       append at Upload-Offset (optionally Upload-Checksum)
    DELETE  /uploads/{id}       terminate

Every response, errors included, carries `Tus-Resumable: 1.0.0`; errors keep the API's JSON body
and codes (service/errors.py). Auth: the bearer keys of the rest of the API, `write` scope.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import functools
import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from service import errors
from service.api import Handler
from service.files.acting_user import parse_acting_user
from service.files.domain import Caller
from service.http import inputs
from service.keys import auth
from service.uploads import idempotency
from service.uploads.rules import shielded
from service.uploads.tus import (
    CHECKSUMS,
    USED_KEYS,
    Checksum,
    Resumable,
    UploadState,
    check_declaration,
    check_roles_nesting,
    validate_metadata,
)

if TYPE_CHECKING:
    from service.state import State

TUS_VERSION = "1.0.0"
EXTENSIONS = ("creation", "creation-with-upload", "termination", "expiration", "checksum")
OFFSET_OCTET_STREAM = "application/offset+octet-stream"
# What browsers may read of a response (CORS): every header a tus client looks at.
EXPOSED_HEADERS = (
    "Location",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Expires",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
    "Silo-File-Id",
    "Idempotent-Replayed",
    "X-Request-Id",
)
FILE_ID_HEADER = "Silo-File-Id"
# Paths under /uploads that are not uploads (service/api/direct.py).
NOT_UPLOADS = frozenset({"direct"})
# Header integers (Upload-Length, Upload-Offset): decimal digits, at most a signed 64-bit value.
INT_HEADER_MAX = 2**63 - 1
# Upload-Metadata: comma-separated `key` or `key base64(value)` items, spaces around them allowed;
# a key is printable ASCII but space and comma (tus 1.0.0, creation). Values are standard base64.
METADATA_KEY = r"[\x21-\x2b\x2d-\x7e]+"
BASE64 = r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"


def metadata_pattern(key: str = METADATA_KEY) -> str:
    item = f" *{key}(?: +{BASE64})? *"
    return f"^{item}(?:,{item})*$"  # the document's


# Upload-Checksum: `<algorithm> <base64 digest>`, one space; the algorithm in any case, the digest
# exactly as long as the algorithm's (sha1: 20 bytes, sha256: 32). The OpenAPI document's pattern.
CHECKSUM_PATTERN = r"^([Ss][Hh][Aa]1 [A-Za-z0-9+/]{27}=|[Ss][Hh][Aa]256 [A-Za-z0-9+/]{43}=)$"


def _resumable(request: Request[State]) -> Resumable:
    return request.state["resumable"]


def _headers(state: UploadState | None = None, **extra: str) -> dict[str, str]:
    headers = {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store"}
    if state is not None:
        headers["Upload-Offset"] = str(state.offset)
        if state.expires_at is not None:
            headers["Upload-Expires"] = _http_date(state.expires_at)
        if state.file_id is not None:
            headers[FILE_ID_HEADER] = str(state.file_id)
    return {**headers, **extra}


def _http_date(when: datetime) -> str:
    return email.utils.format_datetime(when.astimezone(UTC), usegmt=True)


def tus_errors(handler: Handler) -> Handler:
    """Errors of a tus handler get `Tus-Resumable` (the app's one handler renders them)."""

    @functools.wraps(handler)
    async def wrapped(request: Request[State]) -> Response:
        try:
            return await handler(request)
        except errors.TRANSLATED as exc:
            error = errors.from_exception(exc)
            error.headers.setdefault("Tus-Resumable", TUS_VERSION)
            if error is exc:
                raise
            raise error from exc

    return wrapped


def _check_version(request: Request[State]) -> None:
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise errors.TusVersionUnsupported(
            f"send Tus-Resumable: {TUS_VERSION}", headers={"Tus-Version": TUS_VERSION}
        )


async def _caller(request: Request[State]) -> Caller:
    _check_version(request)
    principal = await auth.require(request, "write")
    return Caller(principal.key_id, parse_acting_user(request.headers))


def _int_header(request: Request[State], name: str) -> int:
    raw = request.headers.get(name)
    if raw is None:
        raise errors.BadRequest(f"the {name} header is required")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > INT_HEADER_MAX:
        raise errors.BadRequest(f"{name} must be a non-negative integer")
    return int(raw)


def parse_metadata(raw: str | None) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64(value)` pairs (the value may be absent).
    A value must be UTF-8 only under a key Silo reads; any other key's is left out."""
    pairs: dict[str, str] = {}
    if not raw or not raw.strip():
        return pairs
    if not re.fullmatch(metadata_pattern(), raw):
        raise errors.BadRequest("Upload-Metadata is malformed (`key base64(value)` pairs)")
    seen: set[str] = set()
    for item in raw.split(","):
        key, _, encoded = item.strip().partition(" ")
        if not key or not key.isascii() or key in seen:
            raise errors.BadRequest("Upload-Metadata is malformed (empty or repeated key)")
        seen.add(key)
        try:
            value = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error:
            raise errors.BadRequest(f"Upload-Metadata `{key}` is not base64") from None
        try:
            pairs[key] = value.decode("utf-8")
        except UnicodeDecodeError:
            if key in USED_KEYS:
                raise errors.BadRequest(
                    f"Upload-Metadata `{key}` is not base64-encoded UTF-8"
                ) from None
            # Not a key Silo reads: any bytes, ignored.
    return pairs


def parse_checksum(raw: str | None) -> Checksum | None:
    """Upload-Checksum: `<algorithm> <base64 digest>`."""
    if raw is None:
        return None
    algorithm, _, encoded = raw.partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUMS:
        raise errors.BadRequest(
            f"unsupported checksum algorithm `{algorithm}`; use one of {', '.join(CHECKSUMS)}"
        )
    try:
        digest = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise errors.BadRequest("Upload-Checksum's digest is not base64") from None
    if len(digest) != CHECKSUMS[algorithm]().digest_size or not re.fullmatch(CHECKSUM_PATTERN, raw):
        raise errors.BadRequest(f"Upload-Checksum's digest is not a {algorithm} digest")
    return Checksum(algorithm, digest)


def _content_type(request: Request[State]) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _append(
    request: Request[State], caller: Caller, upload_id: uuid.UUID, offset: int
) -> UploadState:
    """Append the request's body at `offset`: THE one place where a tus request starts
    receiving a body (PATCH, and POST with creation-with-upload). Headers are checked before;
    admission control (a cap on concurrent upload streams) wraps the `receive` call below,
    before the first byte is read."""
    if _content_type(request) != OFFSET_OCTET_STREAM:
        raise errors.UnsupportedMediaType(f"the body must be {OFFSET_OCTET_STREAM}")
    checksum = parse_checksum(request.headers.get("upload-checksum"))
    declared = (
        _int_header(request, "content-length") if "content-length" in request.headers else None
    )
    metrics = request.state["metrics"]
    # A slot for the whole body, taken before any of it is read: 503 `busy` beyond the cap.
    async with request.state["admission"].slot():
        state = await _resumable(request).receive(
            upload_id,
            caller,
            offset=offset,
            body=metrics.counted(request.stream(), "tus"),
            checksum=checksum,
            declared_length=declared,
        )
    if state.file_id is not None and state.offset == state.length:
        metrics.upload_completed("tus")
    return state


async def options(request: Request[State]) -> Response:
    headers = {
        "Tus-Resumable": TUS_VERSION,
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": ",".join(EXTENSIONS),
        "Tus-Max-Size": str(request.state["limits"].max_bytes),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
    }
    return Response(status_code=204, headers=headers)


@tus_errors
async def options_upload(request: Request[State]) -> Response:
    """OPTIONS on an upload's URL: the same answer, for an id of the form the other methods of
    that URL take; anything else is not an upload's URL (404, as HEAD/PATCH/DELETE say)."""
    inputs.path_uuid(request, "upload_id")
    return await options(request)


@tus_errors
async def create(request: Request[State]) -> Response:
    caller = await _caller(request)
    idempotency_key = idempotency.parse(request.headers.get(idempotency.HEADER))
    if "upload-defer-length" in request.headers:
        raise errors.BadRequest("Upload-Defer-Length is not supported: send Upload-Length")
    length = _int_header(request, "upload-length")
    raw_metadata = request.headers.get("upload-metadata")
    pairs = parse_metadata(raw_metadata)
    check_roles_nesting(pairs)
    declared = validate_metadata(pairs)
    check_declaration(declared, request.state["limits"])
    # Checked now, before the upload exists, even without a body (then it checks nothing).
    parse_checksum(request.headers.get("upload-checksum"))
    resumable = _resumable(request)
    state = await resumable.create(
        caller,
        length=length,
        declared=declared,
        metadata_header=raw_metadata,
        idempotency_key=idempotency_key,
    )
    # Under the creation URL, whichever it was (/uploads, or the console's /console/uploads).
    location = f"{request.url.path.rstrip('/')}/{state.id}"
    with_body = _content_type(request) == OFFSET_OCTET_STREAM
    if state.replayed:
        # The upload the key's first request created. Any body is not read: the client
        # learns where the upload stands (HEAD, or Upload-Offset here) and resumes from there.
        if state.file_id is not None:
            headers = _headers(state, Location=location, **{idempotency.REPLAYED_HEADER: "true"})
            return Response(status_code=200, headers=headers)
        headers = _headers(state, Location=location)
        if not with_body:
            del headers["Upload-Offset"]
        return Response(status_code=201, headers=headers)
    if with_body:
        # creation-with-upload: the body is the first chunk. If it fails, the client has no
        # Location: nothing of the upload is kept, unless an Idempotency-Key can give it back.
        try:
            state = await _append(request, caller, state.id, 0)
        except BaseException:
            if idempotency_key is None:
                await shielded(resumable.abandon(state.id), f"abandon {state.id}")
            raise
    headers = _headers(state, Location=location)
    if not with_body:
        del headers["Upload-Offset"]
    return Response(status_code=201, headers=headers)


@tus_errors
async def head(request: Request[State]) -> Response:
    caller = await _caller(request)
    state = await _resumable(request).state(inputs.path_uuid(request, "upload_id"), caller)
    headers = _headers(state, **{"Upload-Length": str(state.length)})
    if state.metadata:
        headers["Upload-Metadata"] = state.metadata
    return Response(status_code=200, headers=headers)


@tus_errors
async def patch(request: Request[State]) -> Response:
    caller = await _caller(request)
    upload_id = inputs.path_uuid(request, "upload_id")
    offset = _int_header(request, "upload-offset")
    state = await _append(request, caller, upload_id, offset)
    return Response(status_code=204, headers=_headers(state))


@tus_errors
async def delete(request: Request[State]) -> Response:
    caller = await _caller(request)
    await _resumable(request).terminate(inputs.path_uuid(request, "upload_id"), caller)
    return Response(status_code=204, headers=_headers())


class _UploadRoute(Route):
    """A tus route whose `{upload_id}` is never one of `NOT_UPLOADS`: those paths are other
    resources' (`/uploads/direct`), and a method they do not take must be their 405, not a tus
    answer (the router takes a route matching path and method over one matching the path)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE and child["path_params"].get("upload_id") in NOT_UPLOADS:
            return Match.NONE, {}
        return match, child


def _dispatch(path: str, **handlers: Handler) -> Route:
    by_method = {method.upper(): handler for method, handler in handlers.items()}

    async def endpoint(request: Request[State]) -> Response:
        return await by_method[request.method](request)

    endpoint.__name__ = "tus_" + "_".join(by_method).lower()
    return _UploadRoute(path, endpoint, methods=list(by_method))


routes = [
    _dispatch("/uploads", options=options, post=create),
    _dispatch(
        "/uploads/{upload_id}", options=options_upload, head=head, patch=patch, delete=delete
    ),
]
