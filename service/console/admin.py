"""/console/admin (admin keys only): API keys and the taxonomy, through what the API's routes
call (`service.keys.manage`, `service.files.taxonomy`).

- `admin_page`; `create_key` (the key shown once), `confirm_revoke`, `revoke_key`
- `create_entry`; `confirm_rename`, `rename_entry`; `confirm_delete`, `delete_entry`:
  categories, languages, roles (`TaxonomyLists`); keys through `Keys`
- a refusal is the page of its form again (the admin page, an entry's rename or delete page),
  with the API's status and message by its field

Design: docs/design/console.md
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service import errors
from service.console import pages
from service.console.sessions import Session
from service.files import taxonomy
from service.files.taxonomy import LANGUAGE, Kind
from service.keys import manage as keys
from service.keys.auth import SCOPES

if TYPE_CHECKING:
    from service.state import State

PATH = "/console/admin"
KINDS = {k.table: k for k in taxonomy.KINDS.values()}
TITLES = {"categories": "Categories", "languages": "Languages", "roles": "Roles"}
# What a form shows next to its fields; anything else (a database outage: 503) is the error page.
REFUSALS = (errors.APIError, errors.DomainError)
# Said after a redirect; the query names one of these, so no text of the URL reaches the page.
NOTICES = {"revoked": "The key is revoked.", "saved": "Saved."}


async def _page(
    request: Request[State],
    session: Session,
    *,
    status: int = 200,
    errors_: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    new_key: keys.NewKey | None = None,
) -> Response:
    entries = await request.state["taxonomy"].all_entries()
    return pages.render(
        request,
        session,
        "admin.html",
        status=status,
        keys=await request.state["keys"].list_all(),
        scopes=SCOPES,
        kinds=[(TITLES[t], k, entries[t]) for t, k in KINDS.items()],
        errors=errors_ or {},
        values=values or {},
        new_key=new_key,
        notice=NOTICES.get(request.query_params.get("done", "")),
    )


def _refused(exc: BaseException, form_id: str, field: str | None) -> tuple[int, dict[str, str]]:
    """(status, {error id: message}) for a refusal: the API's status and message, filed under
    `<form id>-<field>` (the field the error names, else `field`)."""
    error = errors.from_exception(exc)
    named = pages.field_of(exc)
    if named not in ("name", "code", "scopes"):
        named = field
    return error.status, {f"{form_id}-{named}": error.message}


@pages.page("admin")
async def admin_page(request: Request[State], session: Session) -> Response:
    return await _page(request, session)


@pages.page("admin")
async def create_key(request: Request[State], session: Session) -> Response:
    form = await pages.read_form(request)
    name, scopes = form.get("name", ""), form.getlist("scopes")
    try:
        new = await request.state["keys"].create(name, scopes)
    except REFUSALS as exc:
        status, found = _refused(exc, "key", "name")
        return await _page(
            request, session, status=status, errors_=found,
            values={"key-name": name, **{f"key-scope-{s}": "on" for s in scopes}},
        )  # fmt: skip
    # 201 like POST /keys: the page is the only place the key will ever be shown.
    return await _page(request, session, status=201, new_key=new)


def _key_id(request: Request[State]) -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params["key_id"])
    except ValueError:
        raise errors.NotFound("no such API key") from None


@pages.page("admin")
async def confirm_revoke(request: Request[State], session: Session) -> Response:
    """Revoking cannot be undone and cuts off whoever uses the key: asked once more."""
    key_id = _key_id(request)
    found = [k for k in await request.state["keys"].list_all() if k["id"] == key_id]
    if not found:
        raise errors.NotFound("no such API key")
    return pages.render(request, session, "revoke.html", key=found[0])


@pages.page("admin")
async def revoke_key(request: Request[State], session: Session) -> Response:
    key_id = _key_id(request)
    if not await request.state["keys"].revoke(key_id):
        raise errors.NotFound("no such API key")
    # Revoking one's own key ended this session: the redirect then lands on the sign-in page.
    return pages.redirect(request, f"{PATH}?done=revoked#keys")


def _kind(request: Request[State]) -> Kind:
    kind = KINDS.get(request.path_params["kind"])
    if kind is None:
        raise errors.NotFound()
    return kind


async def _entry_page(
    request: Request[State],
    session: Session,
    template: str,
    *,
    status: int = 200,
    errors_: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """An entry's own page (`template`: its rename form or its delete confirmation)."""
    kind, key = _kind(request), request.path_params["key"]
    entries = (await request.state["taxonomy"].all_entries())[kind.table]
    found = [e for e in entries if str(e[kind.key]).lower() == key.lower()]
    if not found:
        raise errors.NotFound(f"no such {kind.name}")
    return pages.render(
        request,
        session,
        template,
        status=status,
        kind=kind,
        entry=found[0],
        fid=f"{kind.table}-{key}",
        errors=errors_ or {},
        values=values or {},
    )


async def _taxonomy_action(
    request: Request[State], session: Session, form_id: str, action, template: str | None = None
) -> Response:
    """Run `action(form)`; on a refusal, the page of the form (the admin page, else the entry's
    `template`) with the error next to the field."""
    form = await pages.read_form(request)
    try:
        await action(form)
    except REFUSALS as exc:
        # A taken name or code (409) names no field: the key of the entry being created (a
        # language's code), else its name.
        fallback = "code" if isinstance(exc, taxonomy.Conflict) and "code" in form else "name"
        status, found = _refused(exc, form_id, fallback)
        # What was typed, back in its fields (a delete form has none).
        values = {f"{form_id}-{f}": form[f] for f in ("name", "code") if f in form}
        if template is not None:
            return await _entry_page(
                request, session, template, status=status, errors_=found, values=values
            )
        return await _page(request, session, status=status, errors_=found, values=values)
    return pages.redirect(request, f"{PATH}?done=saved#{form_id.split('-')[0]}")


@pages.page("admin")
async def create_entry(request: Request[State], session: Session) -> Response:
    kind = _kind(request)

    async def create(form) -> Any:
        code = form.get("code") if kind is LANGUAGE else None
        return await request.state["taxonomy"].create(kind, form.get("name", ""), code)

    return await _taxonomy_action(request, session, f"{kind.table}-new", create)


@pages.page("admin")
async def confirm_rename(request: Request[State], session: Session) -> Response:
    return await _entry_page(request, session, "taxonomy_rename.html")


@pages.page("admin")
async def rename_entry(request: Request[State], session: Session) -> Response:
    kind, key = _kind(request), request.path_params["key"]

    async def rename(form) -> Any:
        return await request.state["taxonomy"].rename(kind, key, form.get("name", ""))

    return await _taxonomy_action(
        request, session, f"{kind.table}-{key}", rename, "taxonomy_rename.html"
    )


@pages.page("admin")
async def confirm_delete(request: Request[State], session: Session) -> Response:
    """Deleting an entry cannot be undone: asked once more, as for a key."""
    return await _entry_page(request, session, "taxonomy_delete.html")


@pages.page("admin")
async def delete_entry(request: Request[State], session: Session) -> Response:
    kind, key = _kind(request), request.path_params["key"]

    async def delete(form) -> None:
        await request.state["taxonomy"].delete(kind, key)

    return await _taxonomy_action(
        request, session, f"{kind.table}-{key}", delete, "taxonomy_delete.html"
    )


routes = [
    Route(PATH, admin_page, methods=["GET"]),
    Route(f"{PATH}/keys", create_key, methods=["POST"]),
    Route(f"{PATH}/keys/{{key_id}}/revoke", confirm_revoke, methods=["GET"]),
    Route(f"{PATH}/keys/{{key_id}}/revoke", revoke_key, methods=["POST"]),
    Route(f"{PATH}/{{kind}}", create_entry, methods=["POST"]),
    Route(f"{PATH}/{{kind}}/{{key}}/rename", confirm_rename, methods=["GET"]),
    Route(f"{PATH}/{{kind}}/{{key}}/rename", rename_entry, methods=["POST"]),
    Route(f"{PATH}/{{kind}}/{{key}}/delete", confirm_delete, methods=["GET"]),
    Route(f"{PATH}/{{kind}}/{{key}}/delete", delete_entry, methods=["POST"]),
]
