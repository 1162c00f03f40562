"""The upload page, and tus for the console's browser at /console/uploads.

The page's script (static/upload.js) speaks tus 1.0.0 to /console/uploads: the API's own tus
handlers (service/api/tus.py, the same rules, limits and refusals as /uploads), behind a check of
the session cookie and of the `X-CSRF-Token` header instead of a bearer key. The principal is
handed to them in the ASGI scope (`auth.SCOPE_PRINCIPAL`), so `auth.require` still checks the
`write` scope and the browser never holds the key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service import errors
from service.api import Handler, tus
from service.console import pages, sessions
from service.console.files import labels
from service.console.sessions import Session
from service.keys import auth

if TYPE_CHECKING:
    from service.state import State


@pages.page("write")
async def upload_page(request: Request[State], session: Session) -> Response:
    return pages.render(
        request,
        session,
        "upload.html",
        max_bytes=request.state["limits"].max_bytes,
        **await labels(request),
    )


def with_session(handler: Handler) -> Handler:
    """`handler` (a tus handler) for the session's key; OPTIONS, which needs no key, as is."""

    @tus.tus_errors
    async def endpoint(request: Request[State]) -> Response:
        if request.method != "OPTIONS":
            session = await sessions.current(request)
            if session is None:
                raise errors.Unauthorized("the console session has ended: sign in again")
            if not pages.same_origin(request) or not sessions.csrf_matches(
                session.csrf_token, request.headers.get("x-csrf-token")
            ):
                raise errors.CrossSiteRequest()
            request.scope[auth.SCOPE_PRINCIPAL] = session.principal
        return await handler(request)

    endpoint.__name__ = f"console_{handler.__name__}"
    return endpoint


routes = [
    Route("/console/upload", upload_page, methods=["GET"]),
    *(
        Route("/console" + route.path, with_session(route.endpoint), methods=sorted(route.methods))
        for route in tus.routes
    ),
]
