"""GET /healthz (alive; touches nothing) and GET /readyz (database and bucket reachable).

/readyz answers within `CHECK_TIMEOUT_SECONDS` (plus a little), whatever the dependencies do:
a load balancer's health check (5 s timeout) must get an answer, not a timeout. The database
check bounds the wait for a pool connection and for the server's answer itself (see
`service.db.pool.deadline`), instead of cancelling a query in flight (psycopg then waits for the
server to confirm the cancellation, which a stalled server never does).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service import errors
from service.api import resource
from service.db import pool as db

if TYPE_CHECKING:
    from service.state import State

log = logging.getLogger("silo.health")
CHECK_TIMEOUT_SECONDS = 1.5


async def healthz(request: Request[State]) -> Response:
    return JSONResponse({"status": "ok", "tenant": request.state["tenant"]})


async def _database(request: Request[State]) -> None:
    await db.ping(request.state["pool"], CHECK_TIMEOUT_SECONDS)


async def _bucket(request: Request[State]) -> None:
    await request.state["storage"].check()


async def readyz(request: Request[State]) -> Response:
    checks = {"database": _database, "bucket": _bucket}
    # The bound of wait_for is a backstop (the S3 call goes on in its thread, harmlessly): each
    # check bounds its own waits.
    results = await asyncio.gather(
        *(
            asyncio.wait_for(check(request), CHECK_TIMEOUT_SECONDS + 0.25)
            for check in checks.values()
        ),
        return_exceptions=True,
    )
    failed = []
    for name, result in zip(checks, results, strict=True):
        if isinstance(result, BaseException):
            log.warning("readiness: %s unreachable: %r", name, result)
            failed.append(name)
    if failed:
        raise errors.NotReady(f"not ready: {' and '.join(failed)} unreachable")
    return JSONResponse({"status": "ready", "checks": {name: "ok" for name in checks}})


routes = [
    resource("/healthz", get=healthz),
    resource("/readyz", get=readyz),
]
