"""Direct-to-S3 uploads over HTTP (the rules are service/uploads/direct.py's):

POST /uploads/direct                  JSON (name, size, sha256, type, metadata) -> a PUT
POST /uploads/direct/{id}/complete    verify what was PUT; the file
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from service.api import resource
from service.api.files import NO_STORE, _caller, _written
from service.api.responses import JSONResponse
from service.http import inputs
from service.uploads import direct, idempotency
from service.uploads.direct import Created, Direct

if TYPE_CHECKING:
    from service.state import State


def _direct(request: Request[State]) -> Direct:
    return request.state["direct"]


def _ticket(created: Created) -> dict:
    ticket = created.ticket
    return {
        "id": str(created.id),
        "method": "PUT",
        "url": ticket.url,
        "headers": ticket.headers,
        "expires_at": ticket.expires_at.isoformat(),
    }


async def create_upload(request: Request[State]) -> Response:
    caller, principal = await _caller(request, "write")
    idempotency_key = idempotency.parse(request.headers.get(idempotency.HEADER))
    declared = direct.parse(await inputs.json_object(request))
    created = await _direct(request).create(caller, declared, idempotency_key=idempotency_key)
    if created.file is not None:
        # The key's upload is already a file: nothing to PUT.
        body = {"id": str(created.id), "file": _written(principal, created.file)}
        headers = {**NO_STORE, idempotency.REPLAYED_HEADER: "true"}
        return JSONResponse(body, status_code=200, headers=headers)
    return JSONResponse(
        _ticket(created), status_code=200 if created.replayed else 201, headers=NO_STORE
    )


async def complete_upload(request: Request[State]) -> Response:
    caller, principal = await _caller(request, "write")
    upload_id = inputs.path_uuid(request, "upload_id")
    row, first = await _direct(request).complete(caller, upload_id)
    if first:
        request.state["metrics"].upload_completed("direct")
    return JSONResponse(
        _written(principal, row),
        status_code=201 if first else 200,
        headers={"Location": f"/files/{row['id']}"},
    )


routes = [
    resource("/uploads/direct", post=create_upload),
    resource("/uploads/direct/{upload_id}/complete", post=complete_upload),
]
