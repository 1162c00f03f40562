"""The /files resource: upload, list, get, update, delete, and content (presigned download)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from service import auth, errors, inputs, metadata, upload
from service.pagination import Position
from service.repository import files as files_repo
from service.routes import resource

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def file_object(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "title": row["title"],
        "description": row["description"],
        "category": row["category"],
        "language": row["language"],
        "roles": list(row["roles"]),
        "filename": row["filename"],
        "content_type": row["content_type"],
        "type": row["type"],
        "size": row["size"],
        "sha256": row["sha256"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "uploaded_by": row["uploaded_by"],
    }


async def upload_file(request: Request) -> Response:
    principal = await auth.require(request, "write")
    settings = request.app.state.settings
    limits = upload.Limits(
        settings.max_upload_bytes,
        frozenset(settings.allowed_types),
        idle_timeout_seconds=upload.BODY_IDLE_TIMEOUT_SECONDS,
    )
    content_type = request.headers.get("content-type")
    upload.check_declared_length(request.headers.get("content-length"), limits)

    async def save(stored: upload.StoredFile) -> dict[str, Any]:
        values = {
            **stored.fields,
            "filename": stored.filename,
            "content_type": stored.file_type.mime,
            "type": stored.file_type.id,
            "size": stored.size,
            "sha256": stored.sha256,
            "uploaded_by": principal.key_id,
        }
        async with request.app.state.pool.connection() as conn:
            return await files_repo.insert(
                conn, file_id=stored.id, object_key=stored.object_key, values=values
            )

    row = await upload.ingest(
        request.stream(),
        content_type=content_type,
        limits=limits,
        storage=request.app.state.storage,
        save=save,
    )
    return JSONResponse(
        file_object(row), status_code=201, headers={"Location": f"/files/{row['id']}"}
    )


async def list_files(request: Request) -> Response:
    await auth.require(request, "read")
    limit = inputs.query_int(request, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    cursor = request.query_params.get("cursor")
    codec = request.app.state.cursors
    after = codec.decode(cursor) if cursor else None
    async with request.app.state.pool.connection() as conn:
        # One extra row tells whether another page exists without a COUNT.
        rows = await files_repo.list_page(conn, limit=limit + 1, after=after)
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = codec.encode(Position(last["created_at"], last["id"]))
    return JSONResponse({"items": [file_object(r) for r in page], "next_cursor": next_cursor})


async def _get_row(request: Request) -> dict[str, Any]:
    file_id = inputs.path_uuid(request, "file_id")
    async with request.app.state.pool.connection() as conn:
        row = await files_repo.get(conn, file_id)
    if row is None:
        raise errors.NotFound("no such file")
    return row


async def get_file(request: Request) -> Response:
    await auth.require(request, "read")
    return JSONResponse(file_object(await _get_row(request)))


async def update_file(request: Request) -> Response:
    await auth.require(request, "write")
    file_id = inputs.path_uuid(request, "file_id")
    changes = metadata.validate(await inputs.json_object(request), partial=True)
    async with request.app.state.pool.connection() as conn:
        if changes:
            row = await files_repo.update(conn, file_id, changes)
        else:
            row = await files_repo.get(conn, file_id)
    if row is None:
        raise errors.NotFound("no such file")
    return JSONResponse(file_object(row))


async def delete_file(request: Request) -> Response:
    await auth.require(request, "write")
    file_id = inputs.path_uuid(request, "file_id")
    storage = request.app.state.storage
    async with request.app.state.pool.connection() as conn, conn.transaction():
        # The row goes only if the object went too: a storage error rolls the delete back.
        object_key = await files_repo.delete_returning_key(conn, file_id)
        if object_key is None:
            raise errors.NotFound("no such file")
        await storage.delete(object_key)
    return Response(status_code=204)


async def file_content(request: Request) -> Response:
    await auth.require(request, "read")
    redirect = inputs.query_bool(request, "redirect", True)
    row = await _get_row(request)
    settings = request.app.state.settings
    ttl = settings.presign_ttl_seconds
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl)
    url = await request.app.state.storage.presigned_get(
        row["object_key"],
        filename=row["filename"],
        content_type=row["content_type"],
        ttl_seconds=ttl,
    )
    if redirect:
        return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
    return JSONResponse(
        {"url": url, "expires_at": expires_at.isoformat()}, headers={"Cache-Control": "no-store"}
    )


routes = [
    resource("/files", get=list_files, post=upload_file),
    resource("/files/{file_id}", get=get_file, patch=update_file, delete=delete_file),
    resource("/files/{file_id}/content", get=file_content),
]
