"""/console/stats: the tenant's statistics (a placeholder until the charts are built)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.console import pages
from service.console.sessions import Session


@pages.page("read")
async def stats_page(request: Request, session: Session) -> Response:
    return pages.render(request, session, "placeholder.html", heading="Statistics")


routes = [Route("/console/stats", stats_page, methods=["GET"])]
