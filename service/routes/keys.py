"""POST /keys, GET /keys, DELETE /keys/{key_id} (admin scope)."""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service import auth, errors, inputs
from service.repository import keys as keys_repo
from service.routes import resource

NAME_MAX = 100


def key_object(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "prefix": row["prefix"],
        "scopes": list(row["scopes"]),
        "created_at": row["created_at"].isoformat(),
    }


def validate_new_key(body: dict[str, Any]) -> tuple[str, list[str]]:
    unknown = sorted(set(body) - {"name", "scopes"})
    if unknown:
        raise errors.ValidationFailed(f"unknown field(s): {', '.join(unknown)}")
    name = body.get("name")
    if isinstance(name, str) and any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name):
        raise errors.ValidationFailed("`name` must have no control characters")
    if isinstance(name, str) and len(name) > NAME_MAX:
        raise errors.ValidationFailed(f"`name` must be at most {NAME_MAX} characters")
    if not isinstance(name, str) or not name.strip():
        raise errors.ValidationFailed("`name` is required and must be a non-empty string")
    name = name.strip()
    if len(name) > NAME_MAX:
        raise errors.ValidationFailed(f"`name` must be at most {NAME_MAX} characters")
    scopes = body.get("scopes")
    if not isinstance(scopes, list) or not scopes:
        raise errors.ValidationFailed(
            f"`scopes` is required: a non-empty list of {', '.join(auth.SCOPES)}"
        )
    if not all(isinstance(s, str) and s in auth.SCOPES for s in scopes):
        raise errors.ValidationFailed(f"`scopes` may contain only {', '.join(auth.SCOPES)}")
    return name, [s for s in auth.SCOPES if s in scopes]


async def create_key(request: Request) -> Response:
    await auth.require(request, "admin")
    name, scopes = validate_new_key(await inputs.json_object(request))
    key = auth.generate_key()
    async with request.app.state.pool.connection() as conn:
        row = await keys_repo.insert(
            conn,
            key_id=uuid.uuid4(),
            name=name,
            prefix=key[: auth.DISPLAY_PREFIX_LENGTH],
            key_hash=auth.hash_key(key),
            scopes=scopes,
        )
    body = {**key_object(row), "key": key}
    return JSONResponse(body, status_code=201, headers={"Location": f"/keys/{row['id']}"})


async def list_keys(request: Request) -> Response:
    await auth.require(request, "admin")
    async with request.app.state.pool.connection() as conn:
        rows = await keys_repo.list_all(conn)
    return JSONResponse({"items": [key_object(r) for r in rows]})


async def delete_key(request: Request) -> Response:
    await auth.require(request, "admin")
    key_id = inputs.path_uuid(request, "key_id")
    async with request.app.state.pool.connection() as conn:
        deleted = await keys_repo.delete(conn, key_id)
    # This instance refuses the key at once; others within SILO_KEY_CACHE_SECONDS.
    request.app.state.authenticator.forget(str(key_id))
    if not deleted:
        raise errors.NotFound("no such API key")
    return Response(status_code=204)


routes = [
    resource("/keys", get=list_keys, post=create_key),
    resource("/keys/{key_id}", delete=delete_key),
]
