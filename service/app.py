"""The ASGI application: `create_app(settings=None)` (ASGI factory for `uvicorn --factory`).

The app is assembled explicitly. The database pool, the object storage client, the
authenticator and the access-event recorder are built once in the lifespan and handed to
handlers through `app.state`. Start-up also seeds the tenant's taxonomy (SILO_TAXONOMY);
shutdown writes every buffered access event before the pool closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import psycopg
import psycopg_pool
from botocore.exceptions import BotoCoreError, ClientError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service import errors, file_filters, openapi, taxonomy
from service.acting_user import InvalidActingUser
from service.auth import Authenticator
from service.db import open_pool
from service.events import EventRecorder
from service.pagination import CursorCodec
from service.requestid import RequestIdMiddleware
from service.routes import files, health, keys, stats
from service.routes import taxonomy as taxonomy_routes
from service.settings import Settings, from_environ
from service.storage import S3Storage, StorageError

log = logging.getLogger("silo")


def _build_storage(settings: Settings) -> S3Storage:
    return S3Storage(
        bucket=settings.s3_bucket,
        region=settings.aws_region,
        endpoint_url=settings.s3_endpoint_url,
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.APIError)
    if exc.status >= 500:
        log.warning("%s %s -> %s %s", request.method, request.url.path, exc.status, exc.message)
    return errors.render(request, exc)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error_class = errors.FROM_HTTP_STATUS.get(exc.status_code, errors.BadRequest)
    error = error_class()
    error.headers.update(exc.headers or {})
    return errors.render(request, error)


async def _database_error(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
    return errors.render(request, errors.DatabaseUnavailable())


async def _storage_error(request: Request, exc: Exception) -> Response:
    log.warning("storage unavailable on %s %s: %r", request.method, request.url.path, exc)
    return errors.render(request, errors.StorageUnavailable())


async def _internal_error(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log (uvicorn logs the re-raised exception); the client gets
    # only the request id to quote.
    return errors.render(request, errors.InternalError())


async def _taxonomy_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, taxonomy.TaxonomyError)
    return errors.render(request, taxonomy_routes.api_error(exc))


async def _acting_user_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidActingUser)
    return errors.render(request, errors.ValidationFailed(exc.message))


async def _filter_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, file_filters.InvalidFilter)
    error = errors.ValidationFailed if exc.status == 422 else errors.InvalidParameter
    return errors.render(request, error(exc.message))


async def _seed_taxonomy(pool, configured: taxonomy.Taxonomy) -> None:
    """Seed at start-up; while the database cannot be reached, keep trying in the background
    (readiness reports the database meanwhile) instead of failing the start."""
    delay = 0.5
    while True:
        try:
            async with pool.connection() as conn:
                inserted = await taxonomy.seed(conn, configured)
            log.info("taxonomy seeded: %s", inserted)
            return
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            log.warning("taxonomy seeding failed (%s); retrying in %.0fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30)


async def _openapi(request: Request) -> Response:
    return JSONResponse(openapi.document())


def create_app(settings: Settings | None = None, *, storage=None) -> Starlette:
    """The application for one tenant. `storage` replaces the S3 client (an ObjectStorage)."""
    settings = settings or from_environ()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = await open_pool(settings)
        own_storage = storage is None
        app.state.storage = _build_storage(settings) if own_storage else storage
        app.state.pool = pool
        app.state.authenticator = Authenticator(
            settings.admin_key, pool, cache_seconds=settings.key_cache_seconds
        )
        seeding = asyncio.create_task(_seed_taxonomy(pool, settings.taxonomy))
        with contextlib.suppress(TimeoutError):
            # Normally done in milliseconds; a slow database must not hold the start.
            await asyncio.wait_for(asyncio.shield(seeding), 10)
        app.state.recorder = await EventRecorder(
            pool, flush_interval=settings.events_flush_ms / 1000
        ).start()
        log.info("silo service for tenant %s started", settings.tenant)
        try:
            yield
        finally:
            # After the server has finished its in-flight requests: no event is lost.
            await app.state.recorder.aclose()
            seeding.cancel()
            if own_storage and hasattr(app.state.storage, "aclose"):
                await app.state.storage.aclose()
            await pool.close()
            log.info("silo service for tenant %s stopped", settings.tenant)

    app = Starlette(
        routes=[
            *health.routes,
            Route("/openapi.json", _openapi, methods=["GET"]),
            *keys.routes,
            *files.routes,
            *taxonomy_routes.routes,
            *stats.routes,
        ],
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={
            errors.APIError: _api_error,
            taxonomy.TaxonomyError: _taxonomy_error,
            InvalidActingUser: _acting_user_error,
            file_filters.InvalidFilter: _filter_error,
            HTTPException: _http_exception,
            psycopg.OperationalError: _database_error,
            psycopg_pool.PoolTimeout: _database_error,
            BotoCoreError: _storage_error,
            ClientError: _storage_error,
            StorageError: _storage_error,
            Exception: _internal_error,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    # Cursors are signed with a key every instance of the tenant shares.
    app.state.cursors = CursorCodec(settings.admin_key)
    return app
