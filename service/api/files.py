"""The /files resource over HTTP: each handler authorizes, parses the request, calls the files
domain (service/files/domain.py, where every file rule lives) and renders what it returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from service.api import resource
from service.api.responses import JSONResponse
from service.files import filters as file_filters
from service.files import metadata
from service.files.acting_user import ActingUser, parse_acting_user
from service.files.domain import Caller, Files
from service.files.sql import Row
from service.http import inputs
from service.keys import auth
from service.uploads import idempotency
from service.uploads.filetypes import KNOWN_TYPE_IDS

if TYPE_CHECKING:
    from service.state import State

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
NO_STORE = {"Cache-Control": "no-store"}
NOBODY = ActingUser()  # no X-Silo-* header: the tenant's back office (frozen, so shared)
_ACTING_PREFIX = b"x-silo-"


async def _caller(request: Request[State], scope: str) -> tuple[Caller, auth.Principal]:
    """The key (401/403 unless it holds `scope`) and the acting user of its X-Silo-* headers
    (422 for a bad value), on every method; and the key's principal."""
    principal = await auth.require(request, scope)
    # Most calls send no X-Silo-* header: one pass over the raw headers tells, instead of a
    # lookup per header (ASGI header names are lower case; .lower() all the same).
    for name, _ in request.headers.raw:
        if name[:7].lower() == _ACTING_PREFIX:
            return Caller(principal.key_id, parse_acting_user(request.headers)), principal
    return Caller(principal.key_id, NOBODY), principal


def _written(principal: auth.Principal, row: Row) -> Row:
    """What a write answers: the file object when the key may also read it, else only its id.
    A response never shows what the key could not read (`write` does not imply `read`)."""
    if principal.allows("read"):
        return row
    return {"id": str(row["id"])}


def _files(request: Request[State]) -> Files:
    return request.state["files"]


async def upload_file(request: Request[State]) -> Response:
    caller, principal = await _caller(request, "write")
    inputs.refuse_content_encoding(request)
    idempotency_key = idempotency.parse(request.headers.get(idempotency.HEADER))
    metrics = request.state["metrics"]
    # A slot for the whole body, taken before any of it is read: 503 `busy` beyond the cap.
    async with request.state["admission"].slot():
        created = await request.state["form_uploads"].upload(
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
        return JSONResponse(_written(principal, row), status_code=200, headers=headers)
    metrics.upload_completed("form")
    return JSONResponse(_written(principal, row), status_code=201, headers=headers)


async def list_files(request: Request[State]) -> Response:
    caller, principal = await _caller(request, "read")
    limit = inputs.query_int(request, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    query = file_filters.parse_file_query(request.query_params, KNOWN_TYPE_IDS)
    file_filters.check_allowed(query, principal)
    cursor = request.query_params.get("cursor")
    codec = request.state["cursors"]
    page = await _files(request).list_rendered(
        caller, query, limit=limit, after=codec.decode(cursor) if cursor else None
    )
    next_cursor = codec.encode(page.next) if page.next else None
    # The items are file objects already rendered (service/files/renderings.py): joined as they
    # are, the cursor after them as JSON.
    body = (b'{"items":[', b",".join(page.items), b'],"next_cursor":', orjson.dumps(next_cursor))
    return Response(b"".join((*body, b"}")), media_type="application/json")


async def get_file(request: Request[State]) -> Response:
    caller, _ = await _caller(request, "read")
    return JSONResponse(await _files(request).read(caller, inputs.path_uuid(request, "file_id")))


async def update_file(request: Request[State]) -> Response:
    caller, principal = await _caller(request, "write")
    file_id = inputs.path_uuid(request, "file_id")
    changes = metadata.validate(await inputs.json_object(request), partial=True)
    row = await _files(request).update(caller, file_id, changes)
    return JSONResponse(_written(principal, row))


async def delete_file(request: Request[State]) -> Response:
    caller, _ = await _caller(request, "write")
    await _files(request).delete(caller, inputs.path_uuid(request, "file_id"))
    return Response(status_code=204)


async def file_content(request: Request[State]) -> Response:
    caller, _ = await _caller(request, "read")
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
