"""The smoke checks: one tenant's endpoint exercised end to end over HTTP, as a client would.

Usable without the CLI: build `SmokeTarget`s, call `run_smoke(targets)`, read the results.
The checks know only the service's HTTP contract; nothing here imports the service.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import httpx

from provisioning.smoke.samples import make_jpeg_bytes, make_png

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"

# How far `list` pages through to find the upload (newest first, so page 1 unless busy).
LIST_MAX_PAGES = 10
# How long `scan` waits for the upload's malware verdict. clamd answers in well under a second
# for the small sample; GuardDuty tags an object within about a minute, sometimes more.
SCAN_TIMEOUT_SECONDS = 180.0
SCAN_POLL_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class SmokeTarget:
    """One tenant endpoint. `key_is_admin`: True (admin key), False, or None (find out)."""

    tenant: str
    base_url: str
    key: str | None
    key_is_admin: bool | None = None


@dataclass(frozen=True)
class CheckResult:
    tenant: str
    check: str
    status: str
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def line(self, tenant_width: int = 12) -> str:
        text = f"{self.status} {self.tenant:<{tenant_width}} {self.check:<13} {self.detail}"
        return text.rstrip()


class LocalhostTransport(httpx.BaseTransport):
    """Sends requests for `*.localhost` to 127.0.0.1, keeping the Host header.

    RFC 6761 says `*.localhost` is loopback, but not every resolver knows it; the compose router
    tells tenants apart by Host, so the name must stay in the header while the connection goes
    to 127.0.0.1.
    """

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host == "localhost" or host.endswith(".localhost"):
            request.url = request.url.copy_with(host="127.0.0.1")
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def new_client(timeout: float = 15.0) -> httpx.Client:
    return httpx.Client(timeout=timeout, transport=LocalhostTransport(), follow_redirects=False)


def describe_response(response: httpx.Response) -> str:
    """`<status>` plus the error code and message of a JSON error body, for FAIL lines."""
    text = f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        snippet = response.text.strip().replace("\n", " ")[:120]
        return f"{text} {snippet}".rstrip()
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return f"{text} {error.get('code', '')}: {error.get('message', '')}".rstrip(": ")
    return f"{text} {str(body)[:160]}"


def describe_error(exc: httpx.HTTPError) -> str:
    return str(exc) or type(exc).__name__


class CheckFailed(Exception):
    """Raised inside a check: the check FAILs with this message."""


class Unreachable(CheckFailed):
    """The endpoint does not answer at all: the remaining checks are skipped."""


@dataclass
class TenantRun:
    """The state one tenant's checks share: the key in use, the uploaded file, ..."""

    target: SmokeTarget
    client: httpx.Client
    key: str | None = None
    created_key_id: str | None = None
    file_id: str | None = None
    png: bytes = b""
    png_sha256: str = ""
    unreachable: str | None = None
    scan_timeout: float = SCAN_TIMEOUT_SECONDS
    clean: bool = False  # the upload's scan verdict is `clean`: it may be downloaded
    results: list[CheckResult] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.target.base_url.rstrip("/")

    def request(self, method: str, path: str, key: str | None = None, **kwargs) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if key:
            headers["Authorization"] = f"Bearer {key}"
        try:
            return self.client.request(method, self.base + path, headers=headers, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise Unreachable(f"{method} {self.base}{path}: {describe_error(exc)}") from exc
        except httpx.HTTPError as exc:
            # A read timeout or a dropped connection: this check fails, the next ones still run.
            what = type(exc).__name__
            raise CheckFailed(f"{method} {self.base}{path}: {what}: {describe_error(exc)}") from exc


def _expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise CheckFailed(f"{what}: expected {status}, got {describe_response(response)}")


def _json(response: httpx.Response, what: str) -> dict:
    try:
        body = response.json()
    except ValueError as exc:
        raise CheckFailed(f"{what}: response is not JSON") from exc
    if not isinstance(body, dict):
        raise CheckFailed(f"{what}: expected a JSON object, got {type(body).__name__}")
    return body


# --- the checks -------------------------------------------------------------------------------
# Each returns the PASS detail or raises CheckFailed; `needs` (below) says what must exist first.


def check_healthz(run: TenantRun) -> str:
    response = run.request("GET", "/healthz")
    _expect(response, 200, "GET /healthz")
    return "200"


def check_readyz(run: TenantRun) -> str:
    response = run.request("GET", "/readyz")
    _expect(response, 200, "GET /readyz (database and bucket reachable)")
    return "200: database and bucket reachable"


def check_auth(run: TenantRun) -> str:
    response = run.request("GET", "/files")
    _expect(response, 401, "GET /files without a key")
    response = run.request("GET", "/files", key="silo-smoke-" + secrets.token_urlsafe(24))
    _expect(response, 401, "GET /files with an unknown key")
    return "401 without a key and with an unknown key"


def check_key(run: TenantRun) -> str:
    """With an admin key, create a read/write key for the rest; else use the given key."""
    given = run.target.key
    if not given:
        raise CheckFailed(
            f"no key for tenant {run.target.tenant!r} (set {key_env_var(run.target.tenant)}, "
            "or SILO_SMOKE_KEY when one endpoint is tested, or give a state file)"
        )
    if run.target.key_is_admin is False:
        run.key = given
        return "using the given key"
    response = run.request(
        "POST",
        "/keys",
        key=given,
        json={"name": f"silo-smoke-{int(time.time())}", "scopes": ["read", "write"]},
    )
    if response.status_code == 403 and run.target.key_is_admin is None:
        run.key = given
        return "given key has no admin scope; using it as is"
    _expect(response, 201, "POST /keys with the admin key")
    body = _json(response, "POST /keys")
    secret = body.get("key")
    if not isinstance(secret, str) or not secret:
        raise CheckFailed(f"POST /keys: no 'key' in the response (fields: {sorted(body)})")
    run.key = secret
    run.created_key_id = str(body.get("id")) if body.get("id") is not None else None
    return f"created read/write key {run.created_key_id}"


def check_upload(run: TenantRun) -> str:
    run.png = make_png(24, 24)
    run.png_sha256 = hashlib.sha256(run.png).hexdigest()
    response = run.request(
        "POST",
        "/files",
        key=run.key,
        files={"file": ("silo-smoke.png", run.png, "image/png")},
        data={"title": "silo smoke test", "description": "uploaded by silo smoke"},
    )
    _expect(response, 201, "POST /files (PNG)")
    body = _json(response, "POST /files")
    if not body.get("id"):
        raise CheckFailed("POST /files: no id in the response")
    run.file_id = str(body["id"])
    problems = _file_mismatches(body, run)
    if problems:
        raise CheckFailed("POST /files returned " + "; ".join(problems))
    return f"201 id={run.file_id} size={len(run.png)}"


def _file_mismatches(body: dict, run: TenantRun) -> list[str]:
    expected = {
        "sha256": run.png_sha256,
        "size": len(run.png),
        "content_type": "image/png",
        "title": "silo smoke test",
    }
    return [
        f"{name}={body.get(name)!r}, expected {value!r}"
        for name, value in expected.items()
        if body.get(name) != value
    ]


def check_metadata(run: TenantRun) -> str:
    response = run.request("GET", f"/files/{run.file_id}", key=run.key)
    _expect(response, 200, f"GET /files/{run.file_id}")
    body = _json(response, "GET /files/{id}")
    problems = _file_mismatches(body, run)
    if body.get("id") != run.file_id:
        problems.append(f"id={body.get('id')!r}, expected {run.file_id!r}")
    if problems:
        raise CheckFailed("GET /files/{id} returned " + "; ".join(problems))
    return "title, size, sha256 and content type match"


def check_scan(run: TenantRun, sleep: Callable[[float], None] = time.sleep) -> str:
    """Wait (bounded) for the upload's malware verdict: only a clean file is served, and the
    smoke sample is harmless, so anything but `clean` is a failure."""
    started = time.monotonic()
    pauses = iter(SCAN_POLL_SECONDS)
    pause = SCAN_POLL_SECONDS[0]
    while True:
        response = run.request("GET", f"/files/{run.file_id}", key=run.key)
        _expect(response, 200, f"GET /files/{run.file_id}")
        scan = _json(response, "GET /files/{id}").get("scan")
        waited = time.monotonic() - started
        if scan is None:
            # A service from before malware scanning serves every file.
            run.clean = True
            return "no scan in the file object (the service does not scan)"
        if not isinstance(scan, dict):
            raise CheckFailed(f"GET /files/{{id}}: 'scan' is {scan!r}, expected an object")
        status, engine = scan.get("status"), scan.get("engine")
        if status == "clean":
            run.clean = True
            return f"clean ({engine}) after {waited:.1f} s"
        if status != "pending":
            raise CheckFailed(
                f"the harmless smoke sample was found {status!r} by {engine}: the scanner "
                "is misconfigured or failing (see the service's log and GET /metrics)"
            )
        if waited >= run.scan_timeout:
            raise CheckFailed(
                f"still pending after {waited:.0f} s (limit {run.scan_timeout:.0f} s, "
                "--scan-timeout): is the scanner up? (silo_scanner_up in GET /metrics, "
                "the service's log; GuardDuty: the plan's status in the console)"
            )
        pause = next(pauses, pause)
        sleep(min(pause, max(run.scan_timeout - waited, 0.0)))


def check_download(run: TenantRun) -> str:
    response = run.request("GET", f"/files/{run.file_id}/content", key=run.key)
    _expect(response, 302, f"GET /files/{run.file_id}/content")
    location = response.headers.get("location")
    if not location:
        raise CheckFailed("302 without a Location header")
    # The presigned URL is the credential: no Authorization header goes to the object store.
    try:
        download = run.client.get(location)
    except httpx.HTTPError as exc:
        raise CheckFailed(f"GET presigned URL: {describe_error(exc)}") from exc
    _expect(download, 200, "GET presigned URL")
    digest = hashlib.sha256(download.content).hexdigest()
    if digest != run.png_sha256:
        raise CheckFailed(
            f"downloaded {len(download.content)} bytes with sha256 {digest[:16]}..., "
            f"uploaded {len(run.png)} bytes with {run.png_sha256[:16]}..."
        )
    return f"302 -> presigned URL, sha256 matches ({digest[:12]}...)"


def check_list(run: TenantRun) -> str:
    cursor = None
    for page in range(1, LIST_MAX_PAGES + 1):
        params = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        response = run.request("GET", "/files", key=run.key, params=params)
        _expect(response, 200, "GET /files")
        body = _json(response, "GET /files")
        items = body.get("items")
        if not isinstance(items, list):
            raise CheckFailed("GET /files: no 'items' list")
        if any(isinstance(item, dict) and item.get("id") == run.file_id for item in items):
            return f"found on page {page}"
        cursor = body.get("next_cursor")
        if not cursor:
            break
    raise CheckFailed(f"file {run.file_id} not in GET /files ({page} page(s) read)")


def check_spoofed_type(run: TenantRun) -> str:
    response = run.request(
        "POST",
        "/files",
        key=run.key,
        files={"file": ("x.pdf", make_jpeg_bytes(), "application/pdf")},
        data={"title": "silo smoke spoofed"},
    )
    if response.status_code == 201:
        # Do not leave the accepted spoof behind.
        created = _json(response, "POST /files").get("id")
        if created:
            run.request("DELETE", f"/files/{created}", key=run.key)
        raise CheckFailed("JPEG bytes declared as application/pdf named x.pdf were accepted (201)")
    _expect(response, 415, "POST /files with JPEG bytes as x.pdf (application/pdf)")
    return describe_response(response).removeprefix("HTTP ")


def _put_to_storage(run: TenantRun, ticket: dict, data: bytes) -> httpx.Response:
    """The client's PUT of `data` to a direct upload's presigned URL, with its headers."""
    try:
        return run.client.request(
            ticket.get("method", "PUT"), ticket["url"], content=data, headers=ticket["headers"]
        )
    except httpx.HTTPError as exc:
        raise CheckFailed(f"PUT to the presigned URL: {describe_error(exc)}") from exc
    except (KeyError, TypeError) as exc:
        raise CheckFailed(f"POST /uploads/direct: no url/headers in the answer ({exc})") from exc


def _declare_direct(run: TenantRun, data: bytes) -> dict:
    response = run.request(
        "POST",
        "/uploads/direct",
        key=run.key,
        json={
            "filename": "silo-smoke-direct.png",
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "content_type": "image/png",
            "title": "silo smoke direct upload",
        },
    )
    _expect(response, 201, "POST /uploads/direct")
    return _json(response, "POST /uploads/direct")


def check_direct_upload(run: TenantRun) -> str:
    """A direct upload end to end (declared, PUT to storage, completed, same sha256), then a
    client lying about its bytes (same size, another sha256): refused by storage at the PUT
    (S3 checks the signed checksum: 400 BadDigest) or, where storage does not check it, by
    the service at `complete` (422 sha256_mismatch). Nothing of either is left."""
    data = make_png(16, 16)
    ticket = _declare_direct(run, data)
    put = _put_to_storage(run, ticket, data)
    if put.status_code != 200:
        raise CheckFailed(f"PUT to the presigned URL: {describe_response(put)}")
    upload_id = ticket.get("id")
    done = run.request("POST", f"/uploads/direct/{upload_id}/complete", key=run.key)
    if done.status_code == 201:
        # Not left behind, whatever the comparison below says.
        run.request("DELETE", f"/files/{upload_id}", key=run.key)
    _expect(done, 201, f"POST /uploads/direct/{upload_id}/complete")
    body = _json(done, "complete")
    if body.get("sha256") != hashlib.sha256(data).hexdigest() or body.get("size") != len(data):
        raise CheckFailed(f"complete stored size {body.get('size')}, sha256 {body.get('sha256')}")

    lie = _declare_direct(run, data)
    other = data[:-1] + bytes([data[-1] ^ 0xFF])
    put = _put_to_storage(run, lie, other)
    refused = run.request("POST", f"/uploads/direct/{lie.get('id')}/complete", key=run.key)
    if refused.status_code in (200, 201):
        run.request("DELETE", f"/files/{lie.get('id')}", key=run.key)
        raise CheckFailed("other bytes than the declared sha256 were stored as a file")
    if put.status_code == 200:
        _expect(refused, 422, "complete after a PUT of other bytes")
        lied = "storage took other bytes, complete refused them (422)"
    else:
        # Storage refused the PUT: nothing there (the pending upload expires by itself).
        _expect(refused, 409, "complete after storage refused the PUT")
        lied = f"storage refused other bytes ({describe_response(put)})"
    return f"201 id={upload_id}, sha256 matches; {lied}"


def check_delete(run: TenantRun) -> str:
    response = run.request("DELETE", f"/files/{run.file_id}", key=run.key)
    _expect(response, 204, f"DELETE /files/{run.file_id}")
    response = run.request("GET", f"/files/{run.file_id}", key=run.key)
    _expect(response, 404, f"GET /files/{run.file_id} after delete")
    run.file_id = None
    return "204, then 404"


TENANT_CHECKS: tuple[tuple[str, Callable[[TenantRun], str], str | None], ...] = (
    # (name, function, what it needs: None, "key" (a usable key), "file" (the upload) or
    # "clean" (the upload's clean scan verdict))
    ("healthz", check_healthz, None),
    ("readyz", check_readyz, None),
    ("auth", check_auth, None),
    ("key", check_key, None),
    ("upload", check_upload, "key"),
    ("metadata", check_metadata, "file"),
    ("scan", check_scan, "file"),
    ("download", check_download, "clean"),
    ("list", check_list, "file"),
    ("spoofed-type", check_spoofed_type, "key"),
    ("direct-upload", check_direct_upload, "key"),
    ("delete", check_delete, "file"),
)

# Every check, in the order they run and are printed for each tenant.
CHECKS = (*(name for name, _, _ in TENANT_CHECKS), "isolation")


def run_tenant_checks(run: TenantRun, report: Callable[[CheckResult], None]) -> None:
    """Every check but isolation, in order; each result goes to `report` as it is known."""
    for name, check, needs in TENANT_CHECKS:
        result = _run_one(run, name, check, needs)
        run.results.append(result)
        report(result)


def _run_one(run: TenantRun, name: str, check, needs: str | None) -> CheckResult:
    tenant = run.target.tenant
    if run.unreachable:
        return CheckResult(tenant, name, SKIP, f"not run: endpoint unreachable ({run.base})")
    if needs == "key" and not run.key:
        return CheckResult(tenant, name, SKIP, "not run: no usable key (see 'key')")
    if needs in ("file", "clean") and not run.file_id:
        return CheckResult(tenant, name, SKIP, "not run: nothing uploaded (see 'upload')")
    if needs == "clean" and not run.clean:
        return CheckResult(tenant, name, SKIP, "not run: no clean scan verdict (see 'scan')")
    try:
        return CheckResult(tenant, name, PASS, check(run))
    except Unreachable as exc:
        run.unreachable = str(exc)
        return CheckResult(tenant, name, FAIL, f"unreachable: {exc}")
    except CheckFailed as exc:
        return CheckResult(tenant, name, FAIL, str(exc))


def foreign_keys(run: TenantRun) -> list[str]:
    """The keys this tenant's run knows: what another tenant must refuse."""
    keys = [run.target.key, run.key]
    return [k for i, k in enumerate(keys) if k and k not in keys[:i]]


def check_isolation(run: TenantRun, others: list[TenantRun]) -> CheckResult:
    """Keys of every other tenant get 401 here."""
    tenant = run.target.tenant
    if not others:
        return CheckResult(
            tenant, "isolation", SKIP, "not run: needs at least two tenants (only one given)"
        )
    if run.unreachable:
        return CheckResult(tenant, "isolation", SKIP, "not run: endpoint unreachable")
    tried = []
    for other in others:
        for foreign in foreign_keys(other):
            try:
                response = run.request("GET", "/files", key=foreign)
            except CheckFailed as exc:
                return CheckResult(tenant, "isolation", FAIL, str(exc))
            if response.status_code != 401:
                return CheckResult(
                    tenant,
                    "isolation",
                    FAIL,
                    f"a key of tenant {other.target.tenant!r} got "
                    f"{describe_response(response)} here, expected 401",
                )
        if foreign_keys(other):
            tried.append(other.target.tenant)
    if not tried:
        return CheckResult(tenant, "isolation", SKIP, "not run: no other tenant's key known")
    return CheckResult(tenant, "isolation", PASS, "401 for the keys of " + ", ".join(tried))


def cleanup(run: TenantRun) -> None:
    """Best effort: remove what a run that stopped half-way left behind (file, smoke key)."""
    if run.unreachable:
        return
    try:
        if run.file_id and run.key:
            run.request("DELETE", f"/files/{run.file_id}", key=run.key)
        if run.created_key_id and run.target.key:
            run.request("DELETE", f"/keys/{run.created_key_id}", key=run.target.key)
    except CheckFailed:
        pass


def key_env_var(tenant: str) -> str:
    """The variable `silo smoke` reads a tenant's key from: SILO_SMOKE_KEY_<SLUG>."""
    return "SILO_SMOKE_KEY_" + tenant.upper().replace("-", "_")


def run_smoke(
    targets: Iterable[SmokeTarget],
    report: Callable[[CheckResult], None] = lambda result: None,
    client: httpx.Client | None = None,
    scan_timeout: float = SCAN_TIMEOUT_SECONDS,
) -> list[CheckResult]:
    """Run every check against every target; returns all results (also passed to `report`)."""
    own_client = client is None
    client = client or new_client()
    runs = [TenantRun(target, client, scan_timeout=scan_timeout) for target in targets]
    try:
        for run in runs:
            run_tenant_checks(run, report)
        for run in runs:
            result = check_isolation(run, [o for o in runs if o is not run])
            run.results.append(result)
            report(result)
    finally:
        for run in runs:
            cleanup(run)
        if own_client:
            client.close()
    return [result for run in runs for result in run.results]


def summarize(results: list[CheckResult]) -> tuple[str, bool]:
    """(summary text, all passed). A tenant passes when none of its checks FAILed."""
    tenants: dict[str, dict[str, int]] = {}
    for result in results:
        counts = tenants.setdefault(result.tenant, {PASS: 0, FAIL: 0, SKIP: 0})
        counts[result.status] += 1
    lines = []
    for tenant, counts in tenants.items():
        verdict = "FAILED" if counts[FAIL] else "ok"
        lines.append(
            f"{tenant}: {verdict} ({counts[PASS]} passed, {counts[FAIL]} failed, "
            f"{counts[SKIP]} skipped)"
        )
    failed = [t for t, c in tenants.items() if c[FAIL]]
    total = f"smoke: {len(tenants) - len(failed)}/{len(tenants)} tenant(s) passed"
    if failed:
        total += "; failed: " + ", ".join(failed)
    return "\n".join([*lines, total]), not failed
