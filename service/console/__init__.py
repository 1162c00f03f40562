"""The console: the tenant's web pages at /console, rendered on the server (jinja2), over the
same domain as the API (service/files/domain.py, auth.py, taxonomy.py, stats.py); no rule is written
twice.

    sessions.py   an API key exchanged for an HttpOnly session cookie; the key checked again on
                  every request (revoked key, expired session: signed out)
    pages.py      the `page` decorator (session, scope, CSRF, errors as pages), `render`, the
                  Content-Security-Policy and the other security headers, form reading
    signin.py     sign in, sign out, /console
    files.py      the files list, a file's page (edit, preview, download), delete
    upload.py     the upload page, and tus at /console/uploads for its script
    stats.py      /console/stats: GET /stats's report (stats/report.py) for a period, as charts
    stats_view.py that report as headline figures and charts (pure)
    charts.py     bar charts as server-side SVG: no script, no style attribute, a table each
    admin.py      /console/admin: keys (keys/manage.py) and the taxonomy (files/taxonomy.py)
    templates/    base.html (navigation) and one template per page
    static/       console.css and the scripts; nothing is loaded from elsewhere

Adding a page:

1. A template in templates/ that `{% extends "base.html" %}` and fills `title` and `content`
   (`{% import "_forms.html" as forms %}` for `forms.csrf(session)` and field errors). Scripts
   are files in static/, added in the `head` block: the CSP allows no inline script or style.
2. A handler in a module here:

       @pages.page("read")   # the scopes the key needs: "read", "write", "admin"; none: any key
                             # (what shows a file's data needs "read", whatever else it needs)
       async def handler(request: Request, session: Session) -> Response:
           ...  # session.principal (key id, scopes), session.csrf_token, session.allows(scope)
           return pages.render(request, session, "mine.html", name=value)

   A POST handler reads its fields with `await pages.read_form(request)`; the decorator has
   already refused it without the session's CSRF token (`csrf` field). Raise the domain's
   errors: they become a page with the API's status and message. After a successful POST,
   `return pages.redirect(request, "/console/...")`.
3. The module's `routes` (full paths under /console) added to `routes` below; a link in
   base.html's navigation if it is a top-level page.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from service import errors
from service.console import admin, files, pages, sessions, signin, stats, upload


class _StaticFiles:
    """The console's own scripts and styles, revalidated by ETag, never sniffed."""

    def __init__(self) -> None:
        self._files = StaticFiles(directory=pages.HERE / "static")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"cache-control", b"no-cache"),
                ]
            await send(message)

        await self._files(scope, receive, with_headers)


async def not_found(request: Request) -> Response:
    return pages.error_page(request, await sessions.current(request), errors.NotFound())


routes = [
    *signin.routes,
    *files.routes,
    *upload.routes,
    *stats.routes,
    *admin.routes,
    Mount("/console/static", app=_StaticFiles(), name="console-static"),
    # Last: any other path under /console is a page that does not exist (HTML, not JSON).
    Route("/console/{path:path}", not_found),
]
