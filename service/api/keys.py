"""POST /keys, GET /keys, DELETE /keys/{key_id} (admin scope); the rules are
service/keys/manage.py's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service import errors
from service.api import resource
from service.http import inputs
from service.keys import auth

if TYPE_CHECKING:
    from service.state import State


def key_object(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "prefix": row["prefix"],
        "scopes": list(row["scopes"]),
        "created_at": row["created_at"].isoformat(),
    }


async def create_key(request: Request[State]) -> Response:
    await auth.require(request, "admin")
    body = await inputs.json_object(request)
    unknown = sorted(set(body) - {"name", "scopes"})
    if unknown:
        raise errors.ValidationFailed(f"unknown field(s): {', '.join(unknown)}")
    new = await request.state["keys"].create(body.get("name"), body.get("scopes"))
    return JSONResponse(
        {**key_object(new.row), "key": new.key},
        status_code=201,
        headers={"Location": f"/keys/{new.row['id']}"},
    )


async def list_keys(request: Request[State]) -> Response:
    await auth.require(request, "admin")
    rows = await request.state["keys"].list_all()
    return JSONResponse({"items": [key_object(r) for r in rows]})


async def delete_key(request: Request[State]) -> Response:
    await auth.require(request, "admin")
    key_id = inputs.path_uuid(request, "key_id")
    if not await request.state["keys"].revoke(key_id):
        raise errors.NotFound("no such API key")
    return Response(status_code=204)


routes = [
    resource("/keys", get=list_keys, post=create_key),
    resource("/keys/{key_id}", delete=delete_key),
]
