"""The taxonomy: GET /categories, /languages, /roles (read scope); admins create (POST),
rename (PATCH) and delete (DELETE; 409 `in_use` while files use the entry)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service import errors
from service.api import resource
from service.files.taxonomy import CATEGORY, LANGUAGE, ROLE, Kind
from service.http import inputs
from service.keys import auth

if TYPE_CHECKING:
    from service.state import State


def _only(body: dict, allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise errors.ValidationFailed(f"unknown field(s): {', '.join(unknown)}")


def _handlers(kind: Kind):
    path = "/" + kind.table
    item = path + "/{key}"

    async def list_(request: Request[State]) -> Response:
        await auth.require(request, "read")
        items = await request.state["taxonomy"].entries(kind)
        return JSONResponse({"items": items})

    async def create(request: Request[State]) -> Response:
        await auth.require(request, "admin")
        body = await inputs.json_object(request)
        _only(body, {"code", "name"} if kind is LANGUAGE else {"name"})
        if kind is LANGUAGE and "code" not in body:
            raise errors.ValidationFailed("`code` is required")
        if "name" not in body:
            raise errors.ValidationFailed("`name` is required")
        entry = await request.state["taxonomy"].create(kind, body["name"], body.get("code"))
        location = f"{path}/{entry[kind.key]}"
        return JSONResponse(entry, status_code=201, headers={"Location": location})

    async def rename(request: Request[State]) -> Response:
        await auth.require(request, "admin")
        body = await inputs.json_object(request)
        _only(body, {"name"})
        if "name" not in body:
            raise errors.ValidationFailed("`name` is required")
        key = request.path_params["key"]
        entry = await request.state["taxonomy"].rename(kind, key, body["name"])
        return JSONResponse(entry)

    async def delete(request: Request[State]) -> Response:
        await auth.require(request, "admin")
        await request.state["taxonomy"].delete(kind, request.path_params["key"])
        return Response(status_code=204)

    list_.__name__ = f"list_{kind.table}"
    create.__name__ = f"create_{kind.name}"
    rename.__name__ = f"rename_{kind.name}"
    delete.__name__ = f"delete_{kind.name}"
    return [resource(path, get=list_, post=create), resource(item, patch=rename, delete=delete)]


routes = [*_handlers(CATEGORY), *_handlers(LANGUAGE), *_handlers(ROLE)]
