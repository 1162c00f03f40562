"""The ASGI application: `create_app(settings=None)` (ASGI factory for `uvicorn --factory`).

The app is assembled explicitly. The database pool, the object storage client, the
authenticator, the access-event recorder and the files domain (`service.files.domain.Files`,
with the upload limits derived once from the settings) are built once in the lifespan and handed to
handlers through `app.state`. Start-up also seeds the tenant's taxonomy (SILO_TAXONOMY);
shutdown writes every buffered access event before the pool closes. A sweeper aborts the
bucket's multipart uploads older than SILO_MULTIPART_MAX_AGE_SECONDS, every
SILO_MULTIPART_SWEEP_INTERVAL_SECONDS (what an instance killed mid-upload leaves behind; on AWS
the bucket's lifecycle rule does it too, locally nothing else would); two more forget expired
tus and direct uploads and delete what they left in storage. The scan worker
(service/scanning/worker.py, engine by SILO_SCAN) gives every stored file its malware verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import psycopg
import psycopg_pool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service import console, errors
from service.api import direct, files, health, keys, stats, tus
from service.api import taxonomy as taxonomy_routes
from service.api.openapi import document as openapi
from service.db.locks import open_lock_sessions
from service.db.pool import database_credentials, open_pool
from service.files import taxonomy
from service.files.cursors import CursorCodec
from service.files.domain import Files
from service.http import admission
from service.http.requestid import RequestIdMiddleware
from service.keys.auth import Authenticator
from service.metrics import Metrics, MetricsMiddleware, metrics_endpoint
from service.scanning.worker import ScanWorker, build_scanner
from service.settings import Settings, from_environ
from service.stats.events import EventRecorder
from service.storage import S3Storage
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


def create_app(settings: Settings | None = None, *, storage=None) -> Starlette:
    """The application for one tenant. `storage` replaces the S3 client (an ObjectStorage)."""
    settings = settings or from_environ()
    limits = rules.Limits.from_settings(settings)
    capacity = admission.default_capacity(settings.max_concurrent_uploads)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        credentials = database_credentials(settings)
        pool = await open_pool(settings, credentials)
        # Beside the pool: the connections holding upload locks (SILO_DB_MAX_CONNECTIONS).
        locks = await open_lock_sessions(settings, credentials)
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
        sweepers = []
        stale, max_age = app.state.storage, settings.multipart_max_age_seconds
        sweepers.append(
            asyncio.create_task(
                _every(
                    settings.multipart_sweep_interval_seconds,
                    lambda: stale.abort_stale_uploads(max_age),
                    "stale multipart uploads aborted",
                )
            )
        )
        app.state.recorder = await EventRecorder(
            pool, flush_interval=settings.events_flush_ms / 1000
        ).start()
        metrics.watch_events(app.state.recorder)
        # Every stored file gets a verdict off the request path (service/scanning/worker.py).
        app.state.scan_worker = ScanWorker(
            pool=pool,
            storage=app.state.storage,
            scanner=build_scanner(settings, app.state.storage),
            infected=settings.scan_infected,
            concurrency=settings.scan_concurrency,
            poll_seconds=settings.scan_poll_seconds,
            guardduty_timeout_seconds=settings.guardduty_verdict_timeout_seconds,
            watch_seconds=settings.scan_watch_seconds,
            on_result=lambda result: metrics.scans.labels(result).inc(),
            on_reachable=lambda up: metrics.scanner_up.set(1 if up else 0),
        ).start()
        app.state.files = Files(
            pool=pool,
            storage=app.state.storage,
            recorder=app.state.recorder,
            presign_ttl_seconds=settings.presign_ttl_seconds,
            scan_off=settings.scan == "off",
            verdict_now=app.state.scan_worker.verdict_now,
        )
        app.state.form_uploads = FormUploads(files=app.state.files, limits=limits)
        app.state.resumable = Resumable(
            pool=pool,
            storage=app.state.storage,
            files=app.state.files,
            limits=limits,
            expiry=timedelta(hours=settings.upload_expiry_hours),
            locks=locks,
        )
        app.state.direct = Direct(
            pool=pool,
            storage=app.state.storage,
            files=app.state.files,
            limits=limits,
            url_ttl_seconds=settings.presign_ttl_seconds,
            expiry=min(timedelta(hours=settings.upload_expiry_hours), DIRECT_MAX_EXPIRY),
            lock=app.state.resumable.hold,
            storage_verifies_checksums=settings.s3_verifies_checksums,
        )
        for expiring, what in (
            (app.state.resumable, "expired tus uploads swept"),
            (app.state.direct, "expired direct uploads swept"),
        ):
            sweepers.append(
                asyncio.create_task(
                    _every(settings.upload_sweep_interval_seconds, expiring.sweep, what)
                )
            )
        log.info(
            "silo service for tenant %s started; up to %d concurrent uploads (%s)",
            settings.tenant,
            capacity.slots,
            capacity.reason,
        )
        try:
            yield
        finally:
            # The scan worker and the sweepers (stale multipart uploads, expired tus and direct
            # uploads) stop first; a scan cut short is picked up again (its claim runs out).
            await app.state.scan_worker.aclose()
            for sweeper in sweepers:
                sweeper.cancel()
            for sweeper in sweepers:
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            # After the server has finished its in-flight requests: no event is lost.
            await app.state.recorder.aclose()
            seeding.cancel()
            if own_storage and hasattr(app.state.storage, "aclose"):
                await app.state.storage.aclose()
            await locks.pool.close()
            await pool.close()
            log.info("silo service for tenant %s stopped", settings.tenant)

    metrics = Metrics()
    metrics.upload_capacity.set(capacity.slots)
    routes = [
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
    app = Starlette(
        routes=routes,
        middleware=[
            *_cors(settings),
            Middleware(MetricsMiddleware, metrics=metrics, routes=routes),
            Middleware(RequestIdMiddleware),
        ],
        exception_handlers={
            **dict.fromkeys(errors.TRANSLATED, _error),
            Exception: _error,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    # Upload bodies held at once (POST /files, tus PATCH): `async with admission.slot():`.
    app.state.admission = admission.Admission(
        capacity.slots,
        on_change=metrics.uploads_in_flight.set,
        on_reject=metrics.admission_rejections.inc,
    )
    # Its own registry: GET /metrics, and the counters the upload paths feed (service/metrics.py).
    app.state.metrics = metrics
    # Cursors are signed with a key every instance of the tenant shares.
    app.state.cursors = CursorCodec(settings.admin_key)
    return app
