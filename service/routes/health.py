"""GET /healthz (alive; touches nothing) and GET /readyz (database and bucket reachable)."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service import db, errors
from service.routes import resource

log = logging.getLogger("silo.health")
CHECK_TIMEOUT_SECONDS = 3.0


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "tenant": request.app.state.settings.tenant})


async def _database(request: Request) -> None:
    await db.ping(request.app.state.pool, CHECK_TIMEOUT_SECONDS)


async def _bucket(request: Request) -> None:
    await request.app.state.storage.check()


async def readyz(request: Request) -> Response:
    checks = {"database": _database, "bucket": _bucket}
    results = await asyncio.gather(
        *(asyncio.wait_for(check(request), CHECK_TIMEOUT_SECONDS) for check in checks.values()),
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
