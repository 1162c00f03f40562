"""GET /stats?from=&to= (read scope): see service/stats.py for what is counted and how."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service import auth, stats


async def get_stats(request: Request) -> Response:
    await auth.require(request, "read")
    period = stats.parse_range(request.query_params.get("from"), request.query_params.get("to"))
    return JSONResponse(await stats.report(request.app.state.pool, period))


routes = [Route("/stats", get_stats, methods=["GET"])]
