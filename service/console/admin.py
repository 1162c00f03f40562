"""/console/admin: keys and taxonomy (a placeholder until the admin pages are built)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.console import pages
from service.console.sessions import Session


@pages.page("admin")
async def admin_page(request: Request, session: Session) -> Response:
    return pages.render(request, session, "placeholder.html", heading="Admin")


routes = [Route("/console/admin", admin_page, methods=["GET"])]
