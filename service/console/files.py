"""The files pages: the list (every filter of GET /files, keyset pages), a file's page (metadata,
edited in place; preview; download) and its deletion. Every rule is the files domain's
(`service.files.domain.Files`, `file_filters`, `metadata`): these handlers only turn forms into the
values the API routes pass, and errors into messages next to their field.

The console acts as the tenant's back office: no acting user, so every file is visible, as to
an API call without X-Silo-* headers. Nothing it shows is an access event: its file pages,
previews and downloads are the back office looking, and /stats counts what the tenant's users
did (`Files.find`, `download(record=False)`). A preview (the file's presigned URL), like a
download, is served only for a file the malware scan found clean; otherwise the page says why.
"""

from __future__ import annotations

import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from service import errors
from service.console import pages
from service.console.sessions import Session
from service.files import filters as file_filters
from service.files import metadata, taxonomy
from service.files.domain import Caller, FileInfected, Files, ScanPending
from service.http import inputs
from service.scanning import engines as scanner
from service.uploads.filetypes import KNOWN_TYPE_IDS

if TYPE_CHECKING:
    from service.state import State

PAGE_SIZE = 25
# What a browser shows itself, by the start of the stored content type.
PREVIEWS = {"image/": "image", "video/": "video", "audio/": "audio", "application/pdf": "pdf"}
FILTERS = file_filters.PARAMETERS


def _files(request: Request[State]) -> Files:
    return request.state["files"]


def _caller(session: Session) -> Caller:
    return Caller(session.key_id)


async def labels(request: Request[State]) -> dict[str, list[dict[str, Any]]]:
    """The taxonomy, for the filter and metadata selects."""
    return await request.state["taxonomy"].all_entries()


def _errors_of(exc: errors.APIError | errors.DomainError, default: str) -> dict[str, str]:
    """{field: message} for an error about a form's field (`default` when it names none)."""
    message = exc.message
    return {pages.field_of(exc) or default: message}


@pages.page("read")
async def list_files(request: Request[State], session: Session) -> Response:
    values = pages.query_without_blanks(request.query_params)
    filters = {name: values[name] for name in FILTERS if name in values}
    field_errors: dict[str, str] = {}
    status = 200
    rows: list[dict[str, Any]] = []
    next_url = None
    try:
        query = file_filters.parse_file_query(filters, KNOWN_TYPE_IDS)
        file_filters.check_allowed(query, session.principal)
        cursor = values.get("cursor")
        codec = request.state["cursors"]
        page = await _files(request).list_page(
            _caller(session),
            query,
            limit=PAGE_SIZE,
            after=codec.decode(cursor) if cursor else None,
        )
        rows = page.rows
        if page.next is not None:
            next_url = "?" + urllib.parse.urlencode({**filters, "cursor": codec.encode(page.next)})
    except (file_filters.InvalidFilter, file_filters.FilterForbidden) as exc:
        field_errors = {exc.field: exc.message}
        status = errors.from_exception(exc).status
    return pages.render(
        request,
        session,
        "files.html",
        status=status,
        files=rows,
        values=filters,
        errors=field_errors,
        next_url=next_url,
        first_url="?" + urllib.parse.urlencode(filters) if "cursor" in values else None,
        types=KNOWN_TYPE_IDS,
        scan_statuses=scanner.STATUSES,
        deleted="deleted" in request.query_params,
        **await labels(request),
    )


def _preview_kind(row: dict[str, Any]) -> str | None:
    for prefix, kind in PREVIEWS.items():
        if row["content_type"].startswith(prefix):
            return kind
    return None


async def _file_page(
    request: Request[State],
    session: Session,
    row: dict[str, Any],
    *,
    values: dict[str, Any] | None = None,
    field_errors: dict[str, str] | None = None,
    saved: bool = False,
) -> Response:
    kind = _preview_kind(row)
    preview_url = None
    unavailable = None
    origins: list[str] = []
    if kind is not None:
        try:
            download = await _files(request).download(
                _caller(session), row["id"], inline=True, record=False
            )
        except (ScanPending, FileInfected) as exc:
            # Not served until the scan finds it clean: the domain's reason, in its place.
            unavailable = exc.message
        else:
            preview_url = download.url
            parts = urllib.parse.urlsplit(preview_url)
            origins.append(f"{parts.scheme}://{parts.netloc}")
    if values is None:
        values = {
            "title": row["title"],
            "description": row["description"] or "",
            "category": row["category"] or "",
            "language": row["language"] or "",
            "roles": list(row["roles"]),
        }
    return pages.render(
        request,
        session,
        "file.html",
        status=422 if field_errors else 200,
        media_origins=origins,
        file=row,
        values=values,
        errors=field_errors or {},
        saved=saved,
        preview=kind,
        preview_url=preview_url,
        unavailable=unavailable,
        **await labels(request),
    )


@pages.page("read")
async def file_page(request: Request[State], session: Session) -> Response:
    row = await _files(request).find(_caller(session), inputs.path_uuid(request, "file_id"))
    return await _file_page(request, session, row, saved="saved" in request.query_params)


def changes_from_form(form) -> dict[str, Any]:
    """The edit form as the body of PATCH /files/{id}: every field, blanks as "none"."""
    return {
        "title": form.get("title", ""),
        "description": form.get("description") or None,
        "category": form.get("category") or None,
        "language": form.get("language") or None,
        "roles": form.getlist("roles"),
    }


# The edit form answers with the file's page (422: the page with the messages; else a redirect
# to it): it shows the file, so it needs `read` as well (GET /files/{id} does).
@pages.page("read", "write")
async def update_file(request: Request[State], session: Session) -> Response:
    file_id = inputs.path_uuid(request, "file_id")
    form = await pages.read_form(request)
    changes = changes_from_form(form)
    try:
        row = await _files(request).update(
            _caller(session), file_id, metadata.validate(changes, partial=True)
        )
    except (errors.ValidationFailed, taxonomy.InvalidValue) as exc:
        # Unchanged, and no access recorded (an update without changes reads the file).
        row = await _files(request).update(_caller(session), file_id, {})
        shown = {**changes, "description": changes["description"] or ""}
        shown |= {"category": changes["category"] or "", "language": changes["language"] or ""}
        return await _file_page(
            request, session, row, values=shown, field_errors=_errors_of(exc, "title")
        )
    return pages.redirect(request, f"/console/files/{row['id']}?saved=1")


@pages.page("read")
async def download_file(request: Request[State], session: Session) -> Response:
    file_id = inputs.path_uuid(request, "file_id")
    download = await _files(request).download(_caller(session), file_id, record=False)
    return pages.secure(RedirectResponse(download.url, status_code=302))


# The confirmation shows the title, name and size: `read` as well.
@pages.page("read", "write")
async def confirm_delete(request: Request[State], session: Session) -> Response:
    row = await _files(request).find(_caller(session), inputs.path_uuid(request, "file_id"))
    return pages.render(request, session, "delete.html", file=row)


@pages.page("write")
async def delete_file(request: Request[State], session: Session) -> Response:
    file_id: uuid.UUID = inputs.path_uuid(request, "file_id")
    await _files(request).delete(_caller(session), file_id)
    return pages.redirect(request, "/console/files?deleted=1")


routes = [
    Route("/console/files", list_files, methods=["GET"]),
    Route("/console/files/{file_id}", file_page, methods=["GET"]),
    Route("/console/files/{file_id}", update_file, methods=["POST"]),
    Route("/console/files/{file_id}/download", download_file, methods=["GET"]),
    Route("/console/files/{file_id}/delete", confirm_delete, methods=["GET"]),
    Route("/console/files/{file_id}/delete", delete_file, methods=["POST"]),
]
