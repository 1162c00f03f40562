"""Prometheus metrics of one app instance, served at `GET /metrics` (text format, no key;
SILO_METRICS=0 turns the route off).

- `Metrics`: the app's own registry; `upload_bytes`, `upload_completed`, `set_tus_open`,
  `tus_open_from`, `watch_events`, the scan series, `watch_scanner` (its signatures); `render`
- `MetricsMiddleware`: every request counted and timed by method, route template, status
- `route_template`: a request's route template, or `unmatched`
- `metrics_endpoint`: the route; backlogs read from the tenant's database at each scrape

Design: docs/design/metrics.md
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import psycopg
import psycopg_pool
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.scanning import sql as scans
from service.uploads import tus_sql as uploads

if TYPE_CHECKING:
    from service.state import State

UPLOAD_PATHS = ("form", "tus", "direct")
SCAN_RESULTS = ("clean", "infected", "failed", "oversize")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
# Request durations: health checks and reads in milliseconds, uploads in seconds to minutes.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class _EventsCollector(Collector):
    """The access-event recorder's buffer depth and failed flushes, read at scrape time."""

    def __init__(self) -> None:
        self.recorder = None

    def collect(self) -> Iterator:
        buffered = GaugeMetricFamily(
            "silo_access_events_buffered", "Access events waiting in memory to be written."
        )
        failures = CounterMetricFamily(
            "silo_access_events_flush_failures",
            "Batches of access events whose write failed (and was retried).",
        )
        recorder = self.recorder
        buffered.add_metric([], recorder.buffered if recorder else 0)
        failures.add_metric([], recorder.failed_batches if recorder else 0)
        yield buffered
        yield failures


class _SignaturesCollector(Collector):
    """The scanner's signature database, as its engine last reported it, read at scrape time:
    the daily version (0 while unknown: no engine with signatures, clamd not asked yet, or a
    database without the official daily one) and, when its build date is known, its age."""

    def __init__(self) -> None:
        self.scanner = None

    def collect(self) -> Iterator:
        signatures = getattr(self.scanner, "signatures", None)
        version = GaugeMetricFamily(
            "silo_scanner_signature_version",
            "The malware scanner's daily signature version (clamd's VERSION; 0 when unknown).",
        )
        version.add_metric([], signatures.version if signatures else 0)
        yield version
        if signatures is None:
            return
        info = GaugeMetricFamily(
            "silo_scanner_engine",
            "1, labelled with the scanner's engine as it names itself (clamd's VERSION).",
            labels=["version"],
        )
        info.add_metric([signatures.engine], 1)
        yield info
        if signatures.built is not None:
            age = GaugeMetricFamily(
                "silo_scanner_signature_age_seconds",
                "Age of the malware scanner's signatures: now minus their build time (absent"
                " when unknown).",
            )
            age.add_metric([], max((datetime.now(UTC) - signatures.built).total_seconds(), 0.0))
            yield age


class Metrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "silo_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "silo_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response, by route template.",
            ["method", "route"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self._upload_bytes = Counter(
            "silo_upload_bytes",
            "Upload body bytes received, by path (form: POST /files, tus: /uploads).",
            ["path"],
            registry=registry,
        )
        self._uploads_completed = Counter(
            "silo_uploads_completed",
            "Uploads stored as files, by path (form: POST /files, tus: /uploads,"
            " direct: /uploads/direct).",
            ["path"],
            registry=registry,
        )
        self.uploads_in_flight = Gauge(
            "silo_uploads_in_flight",
            "Upload bodies being received now (each holds an admission slot).",
            registry=registry,
        )
        self.upload_capacity = Gauge(
            "silo_upload_capacity",
            "Upload bodies this instance takes at once (its admission cap).",
            registry=registry,
        )
        self.admission_rejections = Counter(
            "silo_admission_rejections",
            "Uploads refused with 503 busy because every slot was taken.",
            registry=registry,
        )
        self.tus_open = Gauge(
            "silo_tus_uploads_open",
            "tus uploads created and neither finished, terminated nor expired.",
            registry=registry,
        )
        self.scans = Counter(
            "silo_scans",
            "Malware scan verdicts recorded by this instance, by result.",
            ["result"],
            registry=registry,
        )
        for result in SCAN_RESULTS:
            self.scans.labels(result)
        self.scanner_up = Gauge(
            "silo_scanner_up",
            "1 while the malware scanner answers, 0 while it is unreachable (files stay pending).",
            registry=registry,
        )
        self.scan_pending = Gauge(
            "silo_scan_pending_files",
            "Files stored and not yet scanned (the tenant's backlog, from its database).",
            registry=registry,
        )
        self.scan_oversize = Gauge(
            "silo_scan_oversize_files",
            "Files too large for the malware scanner, not scanned: held, or served unscanned by"
            " the tenant's SILO_SCAN_OVERSIZE (from its database).",
            registry=registry,
        )
        self.scan_oldest_pending = Gauge(
            "silo_scan_oldest_pending_age_seconds",
            "Age of the oldest file waiting for its scan (0 without a backlog).",
            registry=registry,
        )
        for path in UPLOAD_PATHS:
            self._upload_bytes.labels(path)
            self._uploads_completed.labels(path)
        self._events = _EventsCollector()
        registry.register(self._events)
        self._signatures = _SignaturesCollector()
        registry.register(self._signatures)

    # -- for the upload paths --

    def upload_bytes(self, path: str, count: int) -> None:
        self._upload_bytes.labels(_upload_path(path)).inc(count)

    async def counted(self, chunks: AsyncIterator[bytes], path: str) -> AsyncIterator[bytes]:
        """`chunks` as they are, each counted into `silo_upload_bytes_total{path}`."""
        counter = self._upload_bytes.labels(_upload_path(path))
        async for chunk in chunks:
            counter.inc(len(chunk))
            yield chunk

    def upload_completed(self, path: str) -> None:
        self._uploads_completed.labels(_upload_path(path)).inc()

    def set_tus_open(self, count: int) -> None:
        self.tus_open.set(count)

    def tus_open_from(self, callback: Callable[[], float]) -> None:
        """Read the number of open tus uploads from `callback` at each scrape."""
        self.tus_open.set_function(callback)

    # -- wiring --

    def watch_events(self, recorder) -> None:
        """Report this `EventRecorder`'s buffer depth and flush failures."""
        self._events.recorder = recorder

    def watch_scanner(self, scanner) -> None:
        """Report this `Scanner`'s signature database (its `signatures`: engines.py)."""
        self._signatures.scanner = scanner

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _upload_path(path: str) -> str:
    if path not in UPLOAD_PATHS:
        raise ValueError(f"unknown upload path {path!r} (one of {', '.join(UPLOAD_PATHS)})")
    return path


async def metrics_endpoint(request: Request[State]) -> Response:
    metrics = request.state["metrics"]
    pool = request.state["pool"]
    # Open tus uploads live in the tenant's database (any instance continues any upload):
    # counted at scrape time, the same figure from every instance. A scrape still answers,
    # with the last figure, when the database does not.
    try:
        async with pool.connection(timeout=1.0) as conn:
            metrics.set_tus_open(await uploads.open_count(conn))
            # The scan backlog is the tenant's, shared by every instance: read, not counted.
            pending, oldest = await scans.backlog(conn)
            metrics.scan_oversize.set(await scans.oversize_count(conn))
        metrics.scan_pending.set(pending)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        metrics.scan_oldest_pending.set(max(age, 0.0))
    except (psycopg.Error, psycopg_pool.PoolTimeout):
        pass
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


def route_template(routes, scope: Scope) -> str:
    """The path template of the route that takes this request, or `unmatched`."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:  # FULL, or PARTIAL (the path matched, not the method)
            return getattr(route, "path", UNMATCHED)
    return UNMATCHED


class MetricsMiddleware:
    """Counts and times every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            # The router records the route it chose in the scope; match again only without it.
            chosen = scope.get("route")
            route = getattr(chosen, "path", None) or route_template(self.routes, scope)
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.duration.labels(method, route).observe(time.perf_counter() - started)
