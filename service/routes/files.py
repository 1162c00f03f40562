"""The /files resource over HTTP: each handler authorizes, parses the request, calls the files
domain (service/files.py, where every file rule lives) and renders what it returns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from service import auth, file_filters, idempotency, inputs, metadata
from service.acting_user import ActingUser, parse_acting_user
from service.files import Caller, Files
from service.filetypes import KNOWN_TYPE_IDS
from service.responses import JSONResponse
from service.routes import resource

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
NO_STORE = {"Cache-Control": "no-store"}
NOBODY = ActingUser()  # no X-Silo-* header: the tenant's back office (frozen, so shared)
_ACTING_PREFIX = b"x-silo-"


def _instant(value: datetime) -> datetime | str:
    """A timestamp left to orjson when it writes exactly `isoformat()`, else `isoformat()`:
    orjson rounds an offset to whole minutes, isoformat keeps its seconds (+00:19:32, a
    zone's local mean time before 1900). The offset is the connection's time zone's."""
    if value.tzinfo is UTC:
        return value
    offset = value.utcoffset()
    if offset is not None and not (offset.seconds % 60 or offset.microseconds):
        return value
    return value.isoformat()


def file_object(row: dict[str, Any]) -> dict[str, Any]:
    """The API's file object. UUIDs and UTC timestamps are left to orjson (service/responses),
    which writes them as str() and isoformat() would, without a string per field first."""
    return {
        "id": row["id"],
        "title": row["title"],
        "description": row["description"],
        "category": row["category"],
        "language": row["language"],
        "roles": row["roles"],
        "filename": row["filename"],
        "content_type": row["content_type"],
        "type": row["type"],
        "size": row["size"],
        "sha256": row["sha256"],
        "created_at": _instant(row["created_at"]),
        "updated_at": _instant(row["updated_at"]),
        "uploaded_by": row["uploaded_by"],
        "scan": {
            "status": row["scan_status"],
            "scanned_at": _instant(row["scanned_at"]) if row["scanned_at"] else None,
            "engine": row["scan_engine"],
        },
    }


async def _caller(request: Request, scope: str) -> Caller:
    """The key (401/403 unless it holds `scope`) and the acting user of its X-Silo-* headers
    (422 for a bad value), on every method."""
    principal = await auth.require(request, scope)
    # Most calls send no X-Silo-* header: one pass over the raw headers tells, instead of a
    # lookup per header (ASGI header names are lower case; .lower() all the same).
    for name, _ in request.headers.raw:
        if name[:7].lower() == _ACTING_PREFIX:
            return Caller(principal.key_id, parse_acting_user(request.headers))
    return Caller(principal.key_id, NOBODY)


def _written(request: Request, row: dict[str, Any]) -> dict[str, Any]:
    """What a write answers: the file object when the key may also read it, else only its id.
    A response never shows what the key could not read (`write` does not imply `read`)."""
    if request.state.principal.allows("read"):
        return file_object(row)
    return {"id": str(row["id"])}


def _files(request: Request) -> Files:
    return request.app.state.files


async def upload_file(request: Request) -> Response:
    caller = await _caller(request, "write")
    inputs.refuse_content_encoding(request)
    idempotency_key = idempotency.parse(request.headers.get(idempotency.HEADER))
    metrics = request.app.state.metrics
    # A slot for the whole body, taken before any of it is read: 503 `busy` beyond the cap.
    async with request.app.state.admission.slot():
        created = await _files(request).upload(
            caller,
            metrics.counted(request.stream(), "form"),
            content_type=request.headers.get("content-type"),
            content_length=request.headers.get("content-length"),
            idempotency_key=idempotency_key,
        )
    row = created.row
    headers = {"Location": f"/files/{row['id']}"}
    if created.replayed:
        headers[idempotency.REPLAYED_HEADER] = "true"
        return JSONResponse(_written(request, row), status_code=200, headers=headers)
    metrics.upload_completed("form")
    return JSONResponse(_written(request, row), status_code=201, headers=headers)


async def list_files(request: Request) -> Response:
    caller = await _caller(request, "read")
    limit = inputs.query_int(request, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    query = file_filters.parse_file_query(request.query_params, KNOWN_TYPE_IDS)
    file_filters.check_allowed(query, request.state.principal)
    cursor = request.query_params.get("cursor")
    codec = request.app.state.cursors
    page = await _files(request).list_page(
        caller, query, limit=limit, after=codec.decode(cursor) if cursor else None
    )
    next_cursor = codec.encode(page.next) if page.next else None
    return JSONResponse({"items": [file_object(r) for r in page.rows], "next_cursor": next_cursor})


async def get_file(request: Request) -> Response:
    caller = await _caller(request, "read")
    row = await _files(request).read(caller, inputs.path_uuid(request, "file_id"))
    return JSONResponse(file_object(row))


async def update_file(request: Request) -> Response:
    caller = await _caller(request, "write")
    file_id = inputs.path_uuid(request, "file_id")
    changes = metadata.validate(await inputs.json_object(request), partial=True)
    row = await _files(request).update(caller, file_id, changes)
    return JSONResponse(_written(request, row))


async def delete_file(request: Request) -> Response:
    caller = await _caller(request, "write")
    await _files(request).delete(caller, inputs.path_uuid(request, "file_id"))
    return Response(status_code=204)


async def file_content(request: Request) -> Response:
    caller = await _caller(request, "read")
    redirect = inputs.query_bool(request, "redirect", True)
    download = await _files(request).download(caller, inputs.path_uuid(request, "file_id"))
    if redirect:
        return RedirectResponse(download.url, status_code=302, headers=NO_STORE)
    return JSONResponse(
        {"url": download.url, "expires_at": download.expires_at.isoformat()}, headers=NO_STORE
    )


routes = [
    resource("/files", get=list_files, post=upload_file),
    resource("/files/{file_id}", get=get_file, patch=update_file, delete=delete_file),
    resource("/files/{file_id}/content", get=file_content),
]
