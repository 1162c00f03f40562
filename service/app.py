"""The ASGI application: `create_app(settings=None)` (ASGI factory for `uvicorn --factory`).

The app is assembled explicitly: routes, middleware, the one exception handler, the lifespan.
The lifespan builds every part once (`_build`: pool, storage, authenticator, event recorder,
scan worker, `Files`, the upload paths, keys, taxonomy, stats, console sessions) and yields them
as the typed `State` (service/state.py) that each request reads; `_start` starts the background
work (taxonomy seeding, the event recorder's flusher, the sweepers of stale multipart and of
expired tus and direct uploads, the scan worker), and everything stops in the reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import psycopg
import psycopg_pool
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import StatefulLifespan

from service import console, errors
from service.api import direct, files, health, keys, stats, tus
from service.api import taxonomy as taxonomy_routes
from service.api.openapi import document as openapi
from service.console.sessions import SessionStore
from service.db.credentials import SecretCredentials, secretsmanager_fetch
from service.db.locks import LockSessions, open_lock_sessions
from service.db.pool import PoolConfig, open_pool
from service.files.cursors import CursorCodec
from service.files.domain import Files
from service.files.taxonomy import TaxonomyLists
from service.http import admission
from service.http.requestid import RequestIdMiddleware
from service.http.server import ServerConfig
from service.keys.auth import Authenticator
from service.keys.manage import Keys
from service.metrics import Metrics, MetricsMiddleware, metrics_endpoint
from service.scanning import wakeup as scan_wakeup
from service.scanning.worker import ScanWorker, build_scanner
from service.settings import Settings, from_environ
from service.state import State
from service.stats import partitions
from service.stats.events import EventRecorder
from service.stats.report import Stats
from service.storage import ObjectStorage, S3Storage
from service.uploads import rules
from service.uploads.direct import MAX_EXPIRY as DIRECT_MAX_EXPIRY
from service.uploads.direct import Direct
from service.uploads.form import FormUploads
from service.uploads.tus import Resumable

log = logging.getLogger("silo")


def _build_storage(settings: Settings) -> S3Storage:
    return S3Storage(
        bucket=settings.s3_bucket,
        region=settings.aws_region,
        endpoint_url=settings.s3_endpoint_url,
        connect_timeout=settings.s3_connect_timeout_seconds,
        read_timeout=settings.s3_read_timeout_seconds,
        max_attempts=settings.s3_max_attempts,
    )


# --- what is built from Settings: only here (and in __main__.py, with these) -----------------


def pool_config(settings: Settings) -> PoolConfig:
    return PoolConfig(
        url=settings.database_url,
        max_size=settings.db_pool_max,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        connect_timeout_seconds=settings.db_connect_timeout_seconds,
        acquire_timeout_seconds=settings.db_acquire_timeout_seconds,
        max_lifetime_seconds=settings.db_max_lifetime_seconds,
        tenant=settings.tenant,
        lock_slots=settings.db_lock_slots,
    )


def database_credentials(settings: Settings) -> SecretCredentials | None:
    """The secret-backed credentials of DATABASE_SECRET_ARN, or None (fixed credentials)."""
    if settings.database_secret_arn is None:
        return None
    timeout = settings.db_connect_timeout_seconds
    return SecretCredentials(
        secretsmanager_fetch(
            settings.database_secret_arn,
            region=settings.aws_region,
            endpoint_url=settings.secrets_endpoint_url,
            timeout=timeout,
        ),
        ttl=settings.database_secret_ttl_seconds,
        timeout=timeout,
    )


def server_config(settings: Settings) -> ServerConfig:
    """The uvicorn side of the settings (service/http/server.py)."""
    return ServerConfig(
        host=settings.host,
        port=settings.port,
        max_connections=settings.max_connections,
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
        header_timeout_seconds=settings.header_timeout_seconds,
        keep_alive_seconds=settings.keep_alive_seconds,
        shutdown_timeout_seconds=settings.shutdown_timeout_seconds,
    )


async def _every(interval: float, sweep: Callable[[], Awaitable[int]], what: str) -> None:
    """Run one sweeper now and then, for as long as the service runs: a failed round is
    logged and the next one tries again."""
    while True:
        try:
            done = await sweep()
            if done:
                log.info("%s: %d", what, done)
        except Exception:
            log.exception("%s failed; retrying later", what)
        await asyncio.sleep(interval)


async def _error(request: Request, exc: Exception) -> Response:
    """The one exception handler: `errors.from_exception` decides, `errors.render` writes."""
    error = errors.from_exception(exc)
    if isinstance(error, errors.Unavailable):
        log.warning("%s %s -> %s: %r", request.method, request.url.path, error.code, exc)
    elif error.status >= 500 and error is exc:
        log.warning("%s %s -> %s %s", request.method, request.url.path, error.status, error.message)
    # Anything untranslated (a 500): the traceback goes to the log (Starlette re-raises it to
    # the server), the client gets only the request id to quote.
    return errors.render(request, error)


async def _seed_taxonomy(lists: TaxonomyLists) -> None:
    """Seed at start-up; while the database cannot be reached, keep trying in the background
    (readiness reports the database meanwhile) instead of failing the start."""
    delay = 0.5
    while True:
        try:
            inserted = await lists.seed()
            log.info("taxonomy seeded: %s", inserted)
            return
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            log.warning("taxonomy seeding failed (%s); retrying in %.0fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30)


async def _openapi(request: Request) -> Response:
    return JSONResponse(openapi.document())


def _cors(settings: Settings) -> list[Middleware]:
    """Browsers on the tenant's `cors_origins` may call the API (tus uploads from a web app);
    the headers tus clients read are exposed."""
    if not settings.cors_origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=list(tus.EXPOSED_HEADERS),
            max_age=600,
        )
    ]


def create_app(
    settings: Settings | None = None, *, storage: ObjectStorage | None = None
) -> Starlette:
    """The application for one tenant. `storage` replaces the S3 client (an ObjectStorage)."""
    settings = settings or from_environ()
    # Its own registry: GET /metrics, and the counters the upload paths feed (service/metrics.py).
    metrics = Metrics()
    routes = _routes(settings)
    return Starlette(
        routes=routes,
        middleware=[
            *_cors(settings),
            Middleware(MetricsMiddleware, metrics=metrics, routes=routes),
            Middleware(RequestIdMiddleware),
        ],
        exception_handlers={**dict.fromkeys(errors.TRANSLATED, _error), Exception: _error},
        lifespan=_lifespan(settings, metrics, storage),
    )


def _routes(settings: Settings) -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        *health.routes,
        Route("/openapi.json", _openapi, methods=["GET"]),
        *keys.routes,
        *files.routes,
        *direct.routes,
        *tus.routes,
        *taxonomy_routes.routes,
        *stats.routes,
        # The web console (/console), on the same domain objects as the routes above.
        *console.routes,
    ]
    if settings.metrics:
        routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    return routes


def _lifespan(
    settings: Settings, metrics: Metrics, storage: ObjectStorage | None
) -> StatefulLifespan[Starlette]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        """Build the parts, start the background work, yield the state; on the way out, each
        stops in the reverse order (the exit stack), also when the start itself fails."""
        capacity = admission.default_capacity(settings.max_concurrent_uploads)
        try:
            async with contextlib.AsyncExitStack() as stack:
                state = await _build(settings, metrics, capacity.slots, storage, stack)
                await _start(settings, state, stack)
                log.info(
                    "silo service for tenant %s started; up to %d concurrent uploads (%s)",
                    settings.tenant,
                    capacity.slots,
                    capacity.reason,
                )
                yield state
        finally:
            log.info("silo service for tenant %s stopped", settings.tenant)

    return lifespan


async def _build(
    settings: Settings,
    metrics: Metrics,
    slots: int,
    storage: ObjectStorage | None,
    stack: contextlib.AsyncExitStack,
) -> State:
    """Every part, in the order they need each other."""
    pool, locks, storage, credentials = await _clients(settings, storage, stack)
    authenticator = Authenticator(
        settings.admin_key,
        pool,
        cache_seconds=settings.key_cache_seconds,
        cache_budget_bytes=settings.key_cache_bytes,
    )
    recorder = EventRecorder(pool, flush_interval=settings.events_flush_ms / 1000)
    metrics.watch_events(recorder)
    scan_worker = _scan_worker(settings, pool, storage, metrics, credentials)
    metrics.watch_scanner(scan_worker.scanner)
    files = Files(
        pool=pool,
        storage=storage,
        recorder=recorder,
        presign_ttl_seconds=settings.presign_ttl_seconds,
        scan_off=settings.scan == "off",
        verdict_now=scan_worker.verdict_now,
        serve_oversize=settings.scan_oversize == "serve_unscanned",
        renderings_budget_bytes=settings.renderings_cache_bytes,
    )
    limits = rules.Limits(
        settings.max_upload_bytes,
        frozenset(settings.allowed_types),
        settings.body_idle_timeout_seconds,
    )
    resumable = _resumable(settings, pool, storage, files, limits, locks)
    metrics.upload_capacity.set(slots)
    return State(
        tenant=settings.tenant,
        limits=limits,
        body_idle_timeout=settings.body_idle_timeout_seconds,
        files=files,
        form_uploads=FormUploads(files=files, limits=limits),
        resumable=resumable,
        direct=_direct(settings, pool, storage, files, limits, resumable),
        keys=Keys(pool, authenticator),
        taxonomy=TaxonomyLists(pool, settings.taxonomy),
        stats=Stats(pool),
        sessions=SessionStore(pool, authenticator),
        authenticator=authenticator,
        # Cursors are signed with a key every instance of the tenant shares.
        cursors=CursorCodec(settings.admin_key),
        # Upload bodies held at once (POST /files, tus PATCH): `async with admission.slot():`.
        admission=admission.Admission(
            slots,
            on_change=metrics.uploads_in_flight.set,
            on_reject=metrics.admission_rejections.inc,
        ),
        metrics=metrics,
        recorder=recorder,
        scan_worker=scan_worker,
        pool=pool,
        storage=storage,
    )


async def _clients(
    settings: Settings, storage: ObjectStorage | None, stack: contextlib.AsyncExitStack
) -> tuple[AsyncConnectionPool, LockSessions, ObjectStorage, SecretCredentials | None]:
    """The database pool, the lock connections beside it (SILO_DB_MAX_CONNECTIONS) and the
    storage client (unless one was given), closed by `stack`."""
    credentials = database_credentials(settings)
    config = pool_config(settings)
    pool = await open_pool(config, credentials)
    stack.push_async_callback(pool.close)
    locks = await open_lock_sessions(config, credentials)
    stack.push_async_callback(locks.pool.close)
    if storage is None:
        own = _build_storage(settings)
        stack.push_async_callback(own.aclose)
        storage = own
    return pool, locks, storage, credentials


def _scan_worker(
    settings: Settings, pool, storage: ObjectStorage, metrics: Metrics, credentials
) -> ScanWorker:
    """Every stored file gets a verdict off the request path (service/scanning/worker.py)."""
    return ScanWorker(
        pool=pool,
        storage=storage,
        scanner=build_scanner(
            settings.scan,
            storage,
            settings.clamd_address,
            reply_seconds=settings.scan_reply_seconds,
        ),
        infected=settings.scan_infected,
        concurrency=settings.scan_concurrency,
        poll_seconds=settings.scan_poll_seconds,
        guardduty_timeout_seconds=settings.guardduty_verdict_timeout_seconds,
        watch_seconds=settings.scan_watch_seconds,
        on_result=lambda result: metrics.scans.labels(result).inc(),
        on_reachable=lambda up: metrics.scanner_up.set(1 if up else 0),
        listen=None
        if settings.scan == "off"
        else scan_wakeup.connector(pool_config(settings), credentials),
        max_bytes=settings.scan_max_bytes,
    )


def _resumable(settings: Settings, pool, storage, files, limits, locks) -> Resumable:
    return Resumable(
        pool=pool,
        storage=storage,
        files=files,
        limits=limits,
        expiry=timedelta(hours=settings.upload_expiry_hours),
        locks=locks,
    )


def _direct(settings: Settings, pool, storage, files, limits, resumable: Resumable) -> Direct:
    return Direct(
        pool=pool,
        storage=storage,
        files=files,
        limits=limits,
        url_ttl_seconds=settings.presign_ttl_seconds,
        expiry=min(timedelta(hours=settings.upload_expiry_hours), DIRECT_MAX_EXPIRY),
        lock=resumable.hold,
        storage_verifies_checksums=settings.s3_verifies_checksums,
    )


async def _start(settings: Settings, state: State, stack: contextlib.AsyncExitStack) -> None:
    """The background work, each piece's stop pushed on `stack` as it starts: they stop in the
    reverse order. The scan worker and the sweepers first (a scan cut short is picked up again:
    its claim runs out); then the event recorder, after the server has finished its in-flight
    requests, so that no event is lost; then the seeding, the storage client and the pool."""
    seeding = asyncio.create_task(_seed_taxonomy(state["taxonomy"]))
    stack.callback(seeding.cancel)
    with contextlib.suppress(TimeoutError):
        # Normally done in milliseconds; a slow database must not hold the start.
        await asyncio.wait_for(asyncio.shield(seeding), 10)
    await state["recorder"].start()
    stack.push_async_callback(state["recorder"].aclose)
    stack.push_async_callback(_cancel, _start_sweepers(settings, state))
    stack.push_async_callback(state["scan_worker"].start().aclose)


def _start_sweepers(settings: Settings, state: State) -> list[asyncio.Task]:
    """Stale multipart uploads aborted, expired tus and direct uploads forgotten, now and then."""
    every = settings.upload_sweep_interval_seconds
    storage, max_age = state["storage"], settings.multipart_max_age_seconds
    jobs: list[tuple[float, Callable[[], Awaitable[int]], str]] = [
        (
            settings.multipart_sweep_interval_seconds,
            lambda: storage.abort_stale_uploads(max_age),
            "stale multipart uploads aborted",
        ),
        (every, state["resumable"].sweep, "expired tus uploads swept"),
        (every, state["direct"].sweep, "expired direct uploads swept"),
        (
            settings.events_partition_interval_seconds,
            lambda: partitions.maintain(state["pool"], settings.events_retention_months),
            "access-event partitions dropped (retention)",
        ),
    ]
    return [asyncio.create_task(_every(*job)) for job in jobs]


async def _cancel(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
