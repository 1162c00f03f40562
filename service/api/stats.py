"""GET /stats?from=&to= (read scope): see service/stats/report.py for what is counted and how."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service import errors
from service.files.acting_user import ACTING_USER_HEADERS
from service.keys import auth
from service.stats import report as stats

if TYPE_CHECKING:
    from service.state import State


async def get_stats(request: Request[State]) -> Response:
    await auth.require(request, "read")
    # Counts and top files span every audience: they are for the tenant's back office, never
    # shown on behalf of one of its users (whose role could not see some of those files).
    acting = [h.title() for h in ACTING_USER_HEADERS if h in request.headers]
    if acting:
        raise errors.Forbidden(
            f"GET /stats is for the tenant's back office: send it without {', '.join(acting)}"
        )
    period = stats.parse_range(request.query_params.get("from"), request.query_params.get("to"))
    return JSONResponse(await request.state["stats"].report(period))


routes = [Route("/stats", get_stats, methods=["GET"])]
