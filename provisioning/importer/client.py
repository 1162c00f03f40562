"""The tenant's API as `silo import` uses it: the checks before anything is sent, the taxonomy,
and the two ways a file's bytes travel (a direct upload to a presigned S3 URL, or tus).

Every answer is sorted into one of three outcomes, and the runner acts on the kind:
- `Fatal`: nothing more can succeed (unreachable endpoint, key refused): stop the import;
- `Refused`: the tenant will not take this file (type, size, metadata): report it, go on;
- `Transient`: try again later (503 `busy` with `Retry-After`, other 5xx, 423, a dropped
  connection); `busy` also slows every worker down (`Throttle`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from provisioning.importer.sources import Item, ItemChanged
from provisioning.importer.taxonomy_map import TenantTaxonomy

TUS_VERSION = "1.0.0"
OFFSET_OCTET_STREAM = "application/offset+octet-stream"
# The longest a busy tenant can make us wait between two tries, whatever Retry-After says.
MAX_BACKOFF_SECONDS = 60.0


class Fatal(Exception):
    """Stop the whole import; the message is the one line the user sees."""


class Refused(Exception):
    """The tenant refused this file; the message is the report's reason."""


class Transient(Exception):
    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        busy: bool = False,
        connection: bool = False,
        code: str = "",
    ):
        super().__init__(message)
        self.code = code  # the API's error code, when it answered one
        self.retry_after = retry_after
        self.busy = busy
        # No answer at all (refused, reset, timed out): what every other file would meet too.
        self.connection = connection


class Gone(Exception):
    """A tus upload (or direct upload) the tenant no longer knows: start it again."""


class Stopped(Exception):
    """The import was asked to stop (Ctrl-C) while a body was being sent."""


def _error(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json()["error"]
        return str(error.get("code", "")), str(error.get("message", ""))
    except Exception:
        return "", response.text[:200].strip()


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after", "")
    return float(raw) if raw.strip().isdigit() else None


def check(response: httpx.Response, what: str) -> httpx.Response:
    """The response if it is a success; else the exception for its kind."""
    status = response.status_code
    if status < 300:
        return response
    code, message = _error(response)
    reason = f"{status} {code}: {message}" if code else f"{status}: {message}"
    if status == 401:
        raise Fatal(f"the key was refused ({reason}); check $SILO_IMPORT_KEY (or --key)")
    if status == 403:
        raise Fatal(f"the key may not {what} ({reason}); it needs the write and read scopes")
    if status == 404:
        raise Gone(reason)
    if status in (408, 409, 423, 429, 460) or status >= 500:
        busy = status == 503 and code == "busy"
        raise Transient(reason, retry_after=_retry_after(response), busy=busy, code=code)
    raise Refused(reason)


class Throttle:
    """Back-pressure shared by every worker, as TCP paces a sender. At most `limit` files are
    being sent at once (`slot()`); it starts at `--jobs`. A `busy` answer halves it (at least
    1) and the worker that got it waits Retry-After, doubled for each busy answer in a row it
    got, with jitter (at most MAX_BACKOFF_SECONDS). Each success raises it by 1/limit, back up
    to `--jobs`: the import settles at the pace the tenant can take."""

    def __init__(self, jobs: int, stop: threading.Event) -> None:
        self._jobs = jobs
        self._limit = float(jobs)
        self._active = 0
        self._cond = threading.Condition()
        self._stop = stop
        self.busy_answers = 0
        self.waited = 0.0
        self.lowest_limit = jobs

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        with self._cond:
            while self._active >= int(self._limit):
                if self._stop.is_set():
                    raise Stopped()
                self._cond.wait(0.5)
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def busy(self, retry_after: float | None, streak: int) -> None:
        """After the `streak`-th busy answer in a row for one file: shrink, then wait."""
        with self._cond:
            self.busy_answers += 1
            self._limit = max(1.0, self._limit / 2)
            self.lowest_limit = min(self.lowest_limit, int(self._limit))
        delay = (retry_after or 1.0) * 2 ** min(streak - 1, 5)
        self._sleep(min(delay, MAX_BACKOFF_SECONDS) * random.uniform(1.0, 1.5))

    def backoff(self, attempt: int, retry_after: float | None) -> None:
        """A transient failure of one file (not `busy`): that worker alone waits."""
        delay = retry_after if retry_after is not None else min(0.5 * 2**attempt, 30.0)
        self._sleep(delay * random.uniform(1.0, 1.25))

    def ok(self) -> None:
        with self._cond:
            self._limit = min(float(self._jobs), self._limit + 1 / self._limit)
            self._cond.notify_all()

    def _sleep(self, seconds: float) -> None:
        start = time.monotonic()
        if self._stop.wait(seconds):
            raise Stopped()
        with self._cond:
            self.waited += time.monotonic() - start


@dataclass(frozen=True)
class Stored:
    file_id: str
    replayed: bool  # the tenant already had it (an Idempotency-Key replay or a finished tus)


class Body:
    """A file's bytes for one request: at most `limit` bytes pulled from a chunk iterator,
    counted into `progress` as they go, stopping at once when the import is stopped. `taken`
    and `sha256()` tell what was handed out: the bytes actually sent, hashed as they went."""

    def __init__(
        self, pieces: Iterator[bytes], on_bytes: Callable[[int], None], stop: threading.Event
    ):
        self._pieces = pieces
        self._pending = b""
        self._on_bytes = on_bytes
        self._stop = stop
        self._digest = hashlib.sha256()
        self.taken = 0

    def sha256(self) -> str:
        return self._digest.hexdigest()

    def take(self, limit: int) -> Iterator[bytes]:
        left = limit
        while left > 0:
            if self._stop.is_set():
                raise Stopped()
            piece = self._pending or next(self._pieces, b"")
            self._pending = b""
            if not piece:
                raise ItemChanged("the source file got shorter while being imported")
            if len(piece) > left:
                piece, self._pending = piece[:left], piece[left:]
            left -= len(piece)
            self._digest.update(piece)
            self.taken += len(piece)
            self._on_bytes(len(piece))
            yield piece

    def close(self) -> None:
        close = getattr(self._pieces, "close", None)
        if close:
            close()


def _metadata_header(pairs: dict[str, str | None]) -> str:
    return ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items() if v is not None
    )


def _user_headers(item: Item) -> dict[str, bytes]:
    # The source's uploader becomes the file's `uploaded_by` (X-Silo-User, UTF-8 on the wire).
    return {"X-Silo-User": item.uploaded_by.encode()} if item.uploaded_by else {}


class SiloClient:
    def __init__(self, base_url: str, key: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key
        self._timeout = timeout
        self._local = threading.local()
        # Which transports the tenant offers: the direct endpoint is looked for once.
        self.direct_supported: bool | None = None

    # One connection pool per worker thread: httpx clients are not meant to be shared
    # across threads mid-request.
    @property
    def http(self) -> httpx.Client:
        client = getattr(self._local, "http", None)
        if client is None:
            client = httpx.Client(
                base_url=self.base_url,
                headers={"Authorization": f"Bearer {self._key}"},
                timeout=httpx.Timeout(self._timeout, connect=10.0),
            )
            self._local.http = client
        return client

    @property
    def storage_http(self) -> httpx.Client:
        """For presigned URLs: no Authorization header (the key must never reach S3)."""
        client = getattr(self._local, "storage", None)
        if client is None:
            client = httpx.Client(timeout=httpx.Timeout(self._timeout, connect=10.0))
            self._local.storage = client
        return client

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Transient(
                f"{method} {path}: {type(exc).__name__}: {exc}", connection=True
            ) from None

    # --- before anything is sent ---------------------------------------------------------------

    def preflight(self) -> None:
        """Reachable, and the key may read and write: else Fatal, with one line saying which."""
        try:
            response = self.http.get("/healthz")
        except httpx.TransportError as exc:
            raise Fatal(f"cannot reach {self.base_url}: {exc or type(exc).__name__}") from None
        if response.status_code != 200:
            raise Fatal(
                f"{self.base_url} is not a Silo endpoint (GET /healthz: {response.status_code})"
            )
        try:
            check(self.http.get("/categories"), "read the taxonomy")
            # A HEAD on an upload that cannot exist needs the write scope and changes nothing:
            # 404 says the key may write.
            probe = self.http.head(
                f"/uploads/{uuid.UUID(int=0)}", headers={"Tus-Resumable": TUS_VERSION}
            )
        except httpx.TransportError as exc:
            raise Fatal(f"cannot reach {self.base_url}: {exc or type(exc).__name__}") from None
        except (Refused, Transient, Gone) as exc:
            raise Fatal(f"{self.base_url} answered GET /categories with {exc}") from None
        if probe.status_code in (401, 403):
            check(probe, "upload files")

    def taxonomy(self) -> TenantTaxonomy:
        def items(path: str) -> list[dict]:
            return check(self.http.get(path), "read the taxonomy").json()["items"]

        return TenantTaxonomy(
            categories=[e["name"] for e in items("/categories")],
            languages={e["code"]: e["name"] for e in items("/languages")},
            roles=[e["name"] for e in items("/roles")],
        )

    def create_entry(self, kind: str, name: str, code: str | None = None) -> None:
        path = {"category": "/categories", "language": "/languages", "role": "/roles"}[kind]
        body = {"name": name} if code is None else {"code": code, "name": name}
        response = self.http.post(path, json=body)
        if response.status_code == 403:
            raise Fatal(f"creating {kind} {name!r} needs an admin key (--admin-key)")
        if response.status_code == 409:
            return  # created meanwhile (another run, an admin): what we wanted
        try:
            check(response, f"create {kind} entries")
        except (Refused, Transient, Gone) as exc:
            raise Fatal(f"could not create {kind} {name!r}: {exc}") from None

    # --- files ---------------------------------------------------------------------------------

    def file(self, file_id: str) -> dict:
        """The tenant's file object (GET /files/{id})."""
        return check(self._request("GET", f"/files/{file_id}"), "read files").json()

    def update_file(self, file_id: str, changes: dict) -> dict:
        """PATCH /files/{id} with the fields to change; the file object after it."""
        response = self._request("PATCH", f"/files/{file_id}", json=changes)
        return check(response, "update files").json()

    def delete_file(self, file_id: str) -> None:
        """DELETE /files/{id}; a file already gone is what was wanted."""
        with contextlib.suppress(Gone):
            check(self._request("DELETE", f"/files/{file_id}"), "delete files")

    # --- tus -----------------------------------------------------------------------------------

    def tus_state(self, url: str) -> tuple[int, int, str | None] | None:
        """(offset, length, file id once complete) of a recorded upload; None when gone."""
        response = self._request("HEAD", url, headers={"Tus-Resumable": TUS_VERSION})
        try:
            check(response, "upload files")
        except Gone:
            return None
        file_id = response.headers.get("silo-file-id")
        return (
            int(response.headers["upload-offset"]),
            int(response.headers["upload-length"]),
            file_id,
        )

    def tus_create(
        self, item: Item, size: int, idempotency_key: str
    ) -> tuple[str | None, Stored | None]:
        """(upload URL, None), or (None, Stored) when the tenant says it has the file already."""
        metadata = {
            "filename": item.filename,
            "filetype": item.content_type,
            "title": item.title,
            "description": item.description,
            "category": item.category,
            "language": item.language,
            "roles": json.dumps(list(item.roles)) if item.roles else None,
        }
        headers = {
            "Tus-Resumable": TUS_VERSION,
            "Upload-Length": str(size),
            "Upload-Metadata": _metadata_header(metadata),
            "Idempotency-Key": idempotency_key,
            **_user_headers(item),
        }
        response = check(self._request("POST", "/uploads", headers=headers), "upload files")
        file_id = response.headers.get("silo-file-id")
        if response.status_code == 200 and file_id:
            return None, Stored(file_id, replayed=True)
        return urljoin(self.base_url + "/", response.headers["location"]), None

    def tus_patch(
        self, url: str, offset: int, length: int, body: Iterator[bytes], item: Item
    ) -> tuple[int, str | None]:
        headers = {
            "Tus-Resumable": TUS_VERSION,
            "Upload-Offset": str(offset),
            "Content-Type": OFFSET_OCTET_STREAM,
            "Content-Length": str(length),
            **_user_headers(item),
        }
        response = self._request("PATCH", url, headers=headers, content=body)
        check(response, "upload files")
        return int(response.headers["upload-offset"]), response.headers.get("silo-file-id")

    def tus_terminate(self, url: str) -> None:
        with contextlib.suppress(Transient):  # if it fails, the upload expires by itself
            self._request("DELETE", url, headers={"Tus-Resumable": TUS_VERSION})

    # --- direct uploads ------------------------------------------------------------------------

    def direct_start(self, item: Item, size: int, sha256: str, idempotency_key: str) -> dict | None:
        """The tenant's answer to POST /uploads/direct, or None when it has no such endpoint."""
        body = {
            "filename": item.filename,
            "size": size,
            "sha256": sha256,
            "title": item.title,
            "roles": list(item.roles),
        }
        for name in ("content_type", "description", "category", "language"):
            if getattr(item, name):
                body[name] = getattr(item, name)
        headers = {"Idempotency-Key": idempotency_key, **_user_headers(item)}
        response = self._request("POST", "/uploads/direct", json=body, headers=headers)
        if response.status_code in (404, 405) and self.direct_supported is not True:
            self.direct_supported = False
            return None
        check(response, "upload files")
        self.direct_supported = True
        return response.json()

    def direct_put(self, grant: dict, size: int, body: Iterator[bytes]) -> None:
        headers = dict(grant.get("headers") or {})
        if not any(k.lower() == "content-length" for k in headers):
            headers["Content-Length"] = str(size)
        try:
            response = self.storage_http.request(
                grant.get("method", "PUT"), grant["url"], headers=headers, content=body
            )
        except httpx.TransportError as exc:
            raise Transient(
                f"PUT to storage: {type(exc).__name__}: {exc}", connection=True
            ) from None
        if response.status_code >= 500:
            raise Transient(f"PUT to storage: {response.status_code}")
        if response.status_code >= 300:
            # An expired or refused URL: a new POST /uploads/direct (a replay) gives a fresh one.
            raise Gone(f"PUT to storage: {response.status_code} {response.text[:200]}")

    def direct_complete(self, upload_id: str) -> Stored:
        response = self._request("POST", f"/uploads/direct/{upload_id}/complete")
        check(response, "upload files")
        data = response.json()
        replayed = response.headers.get("idempotent-replayed", "").lower() == "true"
        return Stored(str(data.get("id", upload_id)), replayed=replayed)
