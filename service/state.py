"""`State`: what the lifespan builds once and every request reads, typed.

The lifespan (service/app.py) yields it; Starlette hands each request a shallow copy as
`request.state`, so a handler annotated `request: Request[State]` reads `request.state["files"]`
with its type. Handlers reach nothing else: no `app.state`, no settings, and the pool only for
the readiness probe and the gauges of GET /metrics.
"""

from __future__ import annotations

from typing import TypedDict

from psycopg_pool import AsyncConnectionPool

from service.console.sessions import SessionStore
from service.files.cursors import CursorCodec
from service.files.domain import Files
from service.files.taxonomy import TaxonomyLists
from service.http.admission import Admission
from service.keys.auth import Authenticator
from service.keys.manage import Keys
from service.metrics import Metrics
from service.scanning.worker import ScanWorker
from service.stats.events import EventRecorder
from service.stats.report import Stats
from service.storage import ObjectStorage
from service.uploads.direct import Direct
from service.uploads.form import FormUploads
from service.uploads.rules import Limits
from service.uploads.tus import Resumable


class State(TypedDict):
    # Plain values the handlers show or apply.
    tenant: str
    limits: Limits  # the upload limits (tus OPTIONS and the console's upload page show them)
    body_idle_timeout: float  # small bodies too (service/http/inputs.py)
    # The domain, one object each.
    files: Files
    form_uploads: FormUploads
    resumable: Resumable
    direct: Direct
    keys: Keys
    taxonomy: TaxonomyLists
    stats: Stats
    sessions: SessionStore
    authenticator: Authenticator
    cursors: CursorCodec
    # What the uploads and the metrics share.
    admission: Admission
    metrics: Metrics
    recorder: EventRecorder
    scan_worker: ScanWorker
    # For the readiness probe and the gauges of GET /metrics only.
    pool: AsyncConnectionPool
    storage: ObjectStorage
