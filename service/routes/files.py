"""The /files resource: upload, list, get, update, delete, and content (presigned download)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from service import auth, errors, file_filters, inputs, metadata, taxonomy, upload
from service.acting_user import ActingUser, parse_acting_user
from service.events import CONTENT, METADATA, AccessEvent
from service.filetypes import KNOWN_TYPE_IDS
from service.pagination import Position
from service.repository import files as files_repo
from service.repository.files import Filter
from service.responses import JSONResponse
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


def acting_user(request: Request) -> ActingUser:
    """The X-Silo-* headers (InvalidActingUser -> 422, rendered by the app)."""
    return parse_acting_user(request.headers)


async def _labels(conn, values: dict[str, Any]) -> dict[str, Any]:
    """category/language/roles names -> the stored ids (422 naming an unknown value). Only the
    keys present are resolved, so PATCH changes just what it names."""
    out = {k: v for k, v in values.items() if k not in ("category", "language", "roles")}
    if len(out) == len(values):
        return out
    labels = await taxonomy.resolve_labels(
        conn,
        category=values.get("category"),
        language=values.get("language"),
        roles=values.get("roles"),
    )
    if "category" in values:
        out["category_id"] = labels.category_id
    if "language" in values:
        out["language"] = labels.language
    if "roles" in values:
        out["role_ids"] = list(labels.role_ids)
    return out


async def upload_file(request: Request) -> Response:
    principal = await auth.require(request, "write")
    who = acting_user(request)
    settings = request.app.state.settings
    limits = upload.Limits(
        settings.max_upload_bytes,
        frozenset(settings.allowed_types),
        idle_timeout_seconds=upload.BODY_IDLE_TIMEOUT_SECONDS,
    )
    content_type = request.headers.get("content-type")
    upload.check_declared_length(request.headers.get("content-length"), limits)

    pool = request.app.state.pool

    async def check_labels(fields: dict[str, Any]) -> None:
        # Labels sent before the file part are checked before any byte is stored.
        if {"category", "language", "roles"} & set(fields):
            async with pool.connection() as conn:
                await _labels(conn, fields)

    async def save(stored: upload.StoredFile) -> dict[str, Any]:
        async with pool.connection() as conn, conn.transaction():
            # Resolved in the insert's transaction: the entries stay locked until it commits.
            values = {
                **await _labels(conn, stored.fields),
                "filename": stored.filename,
                "content_type": stored.file_type.mime,
                "type": stored.file_type.id,
                "size": stored.size,
                "sha256": stored.sha256,
                "uploaded_by": who.user or principal.key_id,
            }
            return await files_repo.insert(
                conn, file_id=stored.id, object_key=stored.object_key, values=values
            )

    row = await upload.ingest(
        request.stream(),
        content_type=content_type,
        limits=limits,
        storage=request.app.state.storage,
        save=save,
        check_fields=check_labels,
    )
    return JSONResponse(
        file_object(row), status_code=201, headers={"Location": f"/files/{row['id']}"}
    )


async def list_files(request: Request) -> Response:
    await auth.require(request, "read")
    who = acting_user(request)
    limit = inputs.query_int(request, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    query = file_filters.parse_file_query(request.query_params, KNOWN_TYPE_IDS)
    cursor = request.query_params.get("cursor")
    codec = request.app.state.cursors
    after = codec.decode(cursor) if cursor else None
    async with request.app.state.pool.connection() as conn:
        resolved = await file_filters.resolve(conn, query, who.role)
        filters = [Filter(c, p) for c, p in file_filters.conditions(query, resolved)]
        # One extra row tells whether another page exists without a COUNT.
        rows = await files_repo.list_page(conn, limit=limit + 1, after=after, filters=filters)
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = codec.encode(Position(last["created_at"], last["id"]))
    return JSONResponse({"items": [file_object(r) for r in page], "next_cursor": next_cursor})


async def _get_row(request: Request, who: ActingUser | None = None) -> dict[str, Any]:
    """The file, if the acting user's role may see it: its audience includes the role or is
    empty. A file the role may not see is 404, exactly like a missing one."""
    file_id = inputs.path_uuid(request, "file_id")
    async with request.app.state.pool.connection() as conn:
        role_id = await taxonomy.role_id(conn, who.role) if who and who.role else None
        row = await files_repo.get(conn, file_id)
    if row is None or (role_id is not None and row["role_ids"] and role_id not in row["role_ids"]):
        raise errors.NotFound("no such file")
    request.state.acting_role_id = role_id
    return row


async def _record(request: Request, row: dict[str, Any], who: ActingUser, action: str) -> None:
    """Buffer an access event (no database round trip; the recorder writes batches)."""
    await request.app.state.recorder.record(
        AccessEvent(
            file_id=row["id"],
            action=action,
            user=who.user,
            role_id=request.state.acting_role_id,
            country=who.country,
            company=who.company,
            language=row["language"],
            key_id=request.state.principal.key_id,
        )
    )


async def get_file(request: Request) -> Response:
    await auth.require(request, "read")
    who = acting_user(request)
    row = await _get_row(request, who)
    await _record(request, row, who, METADATA)
    return JSONResponse(file_object(row))


async def update_file(request: Request) -> Response:
    await auth.require(request, "write")
    file_id = inputs.path_uuid(request, "file_id")
    changes = metadata.validate(await inputs.json_object(request), partial=True)
    async with request.app.state.pool.connection() as conn, conn.transaction():
        if changes:
            row = await files_repo.update(conn, file_id, await _labels(conn, changes))
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
    who = acting_user(request)
    redirect = inputs.query_bool(request, "redirect", True)
    row = await _get_row(request, who)
    settings = request.app.state.settings
    ttl = settings.presign_ttl_seconds
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl)
    url = await request.app.state.storage.presigned_get(
        row["object_key"],
        filename=row["filename"],
        content_type=row["content_type"],
        ttl_seconds=ttl,
    )
    await _record(request, row, who, CONTENT)
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
