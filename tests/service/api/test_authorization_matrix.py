"""Who may do what, on every route (issue 21, "the authorization matrix"; docs/api.md, "Who
may do what"). One row per route of the app (the API, tus, direct uploads, the console's pages
and forms, /metrics, /healthz, /readyz, /openapi.json), one column per kind of caller, each cell
the status it answers. A route without a row fails `test_every_route_has_a_row`.

Callers (columns, in this order):

    none          no key (no Authorization header; in the console, no session cookie)
    read          a `["read"]` key            write   a `["write"]` key
    admin         an `["admin"]` key made with POST /keys
    revoked       an `["admin"]` key revoked after it signed in and started its uploads
    other_key     another `["read", "write"]` key of the tenant, on the owner key's tus or direct
                  upload or console upload, or replaying the owner's Idempotency-Key
    role          a `["read", "write"]` key acting as X-Silo-Role "Mentee/Coachee", which
                  cannot see the files (their audience is "Mentor/Coach")
    other_tenant  a key of another tenant's service (its own database); in the console, that
                  tenant's session token presented as this tenant's cookie

Statuses: a number; `in` is a 303 to the console's sign-in page (no session).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount, Route

from service.app import create_app
from tests.console.conftest import csrf_of, sign_in, wait_until_clean
from tests.service.conftest import Service, running_service
from tests.service.helpers import pdf, png, sha256
from tests.service.uploads.test_tus import TUS, metadata_header

CALLERS = ("none", "read", "write", "admin", "revoked", "other_key", "role", "other_tenant")
SCOPES = {
    "read": ["read"],
    "write": ["write"],
    "admin": ["admin"],
    "revoked": ["admin"],
    "owner": ["read", "write"],
    "other_key": ["read", "write"],
    "role": ["read", "write"],
}
SEEN_BY = "Mentor/Coach"
ACTING_ROLE = "Mentee/Coachee"
OCTET = {**TUS, "Content-Type": "application/offset+octet-stream"}
_counter = itertools.count()


def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]} {next(_counter)}"


@dataclass
class Ctx:
    """The two tenants, a key and clients per caller, and the resources cells act on."""

    a: Service
    b: Service
    keys: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, str] = field(default_factory=dict)
    api: dict[str, httpx.Client] = field(default_factory=dict)
    console: dict[str, httpx.Client] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)
    # The revoked key's own uploads, started before it was revoked.
    revoked_tus: dict[str, str] = field(default_factory=dict)
    revoked_direct: str = ""
    file_id: str = ""

    def admin(self) -> httpx.Client:
        return self.api["_admin"]

    # --- resources ---------------------------------------------------------------------------

    def fresh_file(self) -> str:
        answer = self.admin().post(
            "/files",
            files={"file": ("pic.png", png(), "image/png")},
            data={"title": _unique("Matrix"), "roles": SEEN_BY},
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def owner_of(self, caller: str) -> str:
        """Whose upload a caller's cell acts on: its own when it may create one, the owner
        key's for the other key (and for callers that cannot create any)."""
        return caller if caller in ("write", "admin", "role") else "owner"

    def tus_upload(self, caller: str, *, console: bool = False) -> str:
        if caller == "revoked":
            return self.revoked_tus["console" if console else "api"]
        owner = self.owner_of(caller)
        data_length = 5000
        headers = {
            **TUS,
            "Upload-Length": str(data_length),
            "Upload-Metadata": metadata_header(
                title=_unique("Tus"), filename="doc.pdf", roles=[SEEN_BY]
            ),
        }
        if console:
            client = self.console[owner]
            answer = client.post(
                "/console/uploads", headers={**headers, "X-CSRF-Token": self.csrf[owner]}
            )
        else:
            answer = self.api[f"{owner}_plain"].post("/uploads", headers=headers)
        assert answer.status_code == 201, answer.text
        return answer.headers["Location"]

    def direct_upload(self, caller: str, *, by: str | None = None) -> str:
        """A direct upload whose bytes are PUT, ready to complete; `by`: whose key creates it."""
        if caller == "revoked" and by is None:
            return self.revoked_direct
        owner = by or self.owner_of(caller)
        data = pdf(3000)
        body = {"filename": "d.pdf", "size": 3000, "sha256": sha256(data), "title": "Direct"}
        answer = self.api[f"{owner}_plain"].post(
            "/uploads/direct", json={**body, "roles": [SEEN_BY]}
        )
        assert answer.status_code == 201, answer.text
        ticket = answer.json()
        put = httpx.request("PUT", ticket["url"], content=data, headers=ticket["headers"])
        assert put.status_code == 200, put.text
        return ticket["id"]

    def fresh_key_id(self) -> str:
        made = self.admin().post("/keys", json={"name": _unique("victim"), "scopes": ["read"]})
        assert made.status_code == 201, made.text
        return made.json()["id"]

    def fresh_entry(self, kind: str) -> str:
        body = {"name": _unique(kind)}
        if kind == "languages":
            body["code"] = f"xz-{uuid.uuid4().hex[:8]}"
        made = self.admin().post(f"/{kind}", json=body)
        assert made.status_code == 201, made.text
        return made.json()["code" if kind == "languages" else "id"]

    # --- requests ------------------------------------------------------------------------------

    def call(self, caller: str, method: str, path: str, **kwargs) -> httpx.Response:
        return self.api[caller].request(method, path, **kwargs)

    def page(self, caller: str, method: str, path: str, **kwargs) -> httpx.Response:
        return self.console[caller].request(method, path, **kwargs)

    def form(self, caller: str, path: str, data: dict | None = None) -> httpx.Response:
        token = self.csrf.get(caller, "")
        return self.console[caller].post(path, data={"csrf": token, **(data or {})})

    def console_tus(self, caller: str, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), "X-CSRF-Token": self.csrf.get(caller, "")}
        return self.console[caller].request(method, path, headers=headers, **kwargs)


def _replay(ctx: Ctx, caller: str, path: str, headers: dict | None = None, **kwargs):
    """A creating request; the other key replays the owner key's Idempotency-Key with the same
    request (issue 21, item 3: it must get nothing of the owner's, so it creates anew: 201)."""
    headers = dict(headers or {})
    if caller == "other_key":
        headers["Idempotency-Key"] = _unique("idem").replace(" ", "-")
        first = ctx.api["owner"].post(path, headers=headers, **kwargs)
        assert first.status_code == 201, first.text
        again = ctx.call(caller, "POST", path, headers=headers, **kwargs)
        if _created_id(again) == _created_id(first):
            return "the owner's"  # whatever the status: the owner key's upload or file
        return again
    return ctx.call(caller, "POST", path, headers=headers, **kwargs)


def _created_id(response: httpx.Response) -> str | None:
    if "location" in response.headers:
        return response.headers["location"].rsplit("/", 1)[-1]
    try:
        return response.json().get("id")
    except ValueError:
        return None


def _post_file(ctx: Ctx, caller: str) -> httpx.Response:
    files = {"file": ("a.pdf", pdf(2000, seed=b"same"), "application/pdf")}
    return _replay(ctx, caller, "/files", files=files, data={"title": "Replayed"})


def _post_tus(ctx: Ctx, caller: str) -> httpx.Response:
    meta = metadata_header(title="Replayed tus", filename="doc.pdf")
    return _replay(ctx, caller, "/uploads",
                   headers={**TUS, "Upload-Length": "5000", "Upload-Metadata": meta})  # fmt: skip


def _post_direct(ctx: Ctx, caller: str) -> httpx.Response:
    data = pdf(3000, seed=b"direct")
    body = {"filename": "d.pdf", "size": 3000, "sha256": sha256(data), "title": "Replayed"}
    return _replay(ctx, caller, "/uploads/direct", json=body)


def _tus_patch(ctx: Ctx, caller: str, console: bool = False) -> httpx.Response:
    url = ctx.tus_upload(caller, console=console)
    headers = {**OCTET, "Upload-Offset": "0"}
    send = ctx.console_tus if console else ctx.call
    return send(caller, "PATCH", url, content=pdf(5000), headers=headers)


def _tus(method: str, console: bool = False) -> Callable[[Ctx, str], httpx.Response]:
    def run(ctx: Ctx, caller: str) -> httpx.Response:
        url = ctx.tus_upload(caller, console=console)
        if console:
            return ctx.console_tus(caller, method, url, headers=TUS)
        return ctx.call(caller, method, url, headers=TUS)

    return run


def _taxonomy(kind: str) -> dict[tuple[str, str], tuple[Callable, str]]:
    key = "{key}"
    body = {"name": "x"} if kind != "languages" else {"name": "x", "code": "x"}

    def create(ctx: Ctx, caller: str) -> httpx.Response:
        made = {**body, "name": _unique(kind)}
        if kind == "languages":
            made["code"] = f"xy-{uuid.uuid4().hex[:8]}"
        return ctx.call(caller, "POST", f"/{kind}", json=made)

    return {
        ("GET", f"/{kind}"): (lambda c, k: c.call(k, "GET", f"/{kind}"), ADMIN_READ),
        ("POST", f"/{kind}"): (create, ADMIN_ONLY.replace("200", "201")),
        ("PATCH", f"/{kind}/{key}"): (
            lambda c, k: c.call(
                k, "PATCH", f"/{kind}/{c.fresh_entry(kind)}", json={"name": _unique(kind)}
            ),
            ADMIN_ONLY,
        ),
        ("DELETE", f"/{kind}/{key}"): (
            lambda c, k: c.call(k, "DELETE", f"/{kind}/{c.fresh_entry(kind)}"),
            ADMIN_ONLY.replace("200", "204"),
        ),
    }


#             none read write admin revoked other_key role other_tenant
PUBLIC = "     200  200  200   200   200     200       200  200"
ADMIN_ONLY = " 401  403  403   200   401     403       403  401"
ADMIN_READ = " 401  200  403   200   401     200       200  401"
CONSOLE_PAGE_READ = "in 200 403 200 in 200 200 in"
CONSOLE_ADMIN = "in 403 403 200 in 403 403 in"


def _file(ctx: Ctx) -> str:
    return ctx.file_id


ROWS: dict[tuple[str, str], tuple[Callable[[Ctx, str], httpx.Response | str], str]] = {
    # --- open to everyone ------------------------------------------------------------------------
    ("GET", "/healthz"): (lambda c, k: c.call(k, "GET", "/healthz"), PUBLIC),
    ("GET", "/readyz"): (lambda c, k: c.call(k, "GET", "/readyz"), PUBLIC),
    ("GET", "/openapi.json"): (lambda c, k: c.call(k, "GET", "/openapi.json"), PUBLIC),
    ("GET", "/metrics"): (lambda c, k: c.call(k, "GET", "/metrics"), PUBLIC),
    # --- keys (admin) ----------------------------------------------------------------------------
    ("GET", "/keys"): (lambda c, k: c.call(k, "GET", "/keys"), ADMIN_ONLY),
    ("POST", "/keys"): (
        lambda c, k: c.call(k, "POST", "/keys", json={"name": "n", "scopes": ["read"]}),
        ADMIN_ONLY.replace("200", "201"),
    ),
    ("DELETE", "/keys/{key_id}"): (
        lambda c, k: c.call(k, "DELETE", f"/keys/{c.fresh_key_id()}"),
        ADMIN_ONLY.replace("200", "204"),
    ),
    # --- files -----------------------------------------------------------------------------------
    ("GET", "/files"): (lambda c, k: c.call(k, "GET", "/files"), ADMIN_READ),
    ("POST", "/files"): (_post_file, "401 403 201 201 401 201 201 401"),
    ("GET", "/files/{file_id}"): (
        lambda c, k: c.call(k, "GET", f"/files/{_file(c)}"),
        "401 200 403 200 401 200 404 401",
    ),
    ("PATCH", "/files/{file_id}"): (
        lambda c, k: c.call(k, "PATCH", f"/files/{_file(c)}", json={"description": "seen"}),
        "401 403 200 200 401 200 404 401",
    ),
    ("DELETE", "/files/{file_id}"): (
        lambda c, k: c.call(k, "DELETE", f"/files/{c.fresh_file()}"),
        "401 403 204 204 401 204 404 401",
    ),
    ("GET", "/files/{file_id}/content"): (
        lambda c, k: c.call(k, "GET", f"/files/{_file(c)}/content?redirect=false"),
        "401 200 403 200 401 200 404 401",
    ),
    # --- direct uploads --------------------------------------------------------------------------
    ("POST", "/uploads/direct"): (_post_direct, "401 403 201 201 401 201 201 401"),
    ("POST", "/uploads/direct/{upload_id}/complete"): (
        lambda c, k: c.call(k, "POST", f"/uploads/direct/{c.direct_upload(k)}/complete"),
        # An acting role outside the upload's declared audience: 404, as on tus (issue 21).
        "401 403 201 201 401 404 404 401",
    ),
    # --- tus ------------------------------------------------------------------------------------
    ("OPTIONS", "/uploads"): (lambda c, k: c.call(k, "OPTIONS", "/uploads"), "204 " * 8),
    ("POST", "/uploads"): (_post_tus, "401 403 201 201 401 201 201 401"),
    ("OPTIONS", "/uploads/{upload_id}"): (
        lambda c, k: c.call(k, "OPTIONS", f"/uploads/{uuid.uuid4()}"),
        "204 " * 8,
    ),
    ("HEAD", "/uploads/{upload_id}"): (_tus("HEAD"), "401 403 200 200 401 404 404 401"),
    ("PATCH", "/uploads/{upload_id}"): (_tus_patch, "401 403 204 204 401 404 404 401"),
    ("DELETE", "/uploads/{upload_id}"): (_tus("DELETE"), "401 403 204 204 401 404 404 401"),
    # --- taxonomy, stats ------------------------------------------------------------------------
    **_taxonomy("categories"),
    **_taxonomy("languages"),
    **_taxonomy("roles"),
    ("GET", "/stats"): (lambda c, k: c.call(k, "GET", "/stats"), "401 200 403 200 401 200 403 401"),
    # --- the console: sign-in and its front door -------------------------------------------------
    ("GET", "/console"): (
        lambda c, k: c.page(k, "GET", "/console"),
        "in 303 303 303 in 303 303 in",
    ),
    ("GET", "/console/sign-in"): (
        lambda c, k: c.page(k, "GET", "/console/sign-in"),
        "200 303 303 303 200 303 303 200",
    ),
    ("POST", "/console/sign-in"): (
        lambda c, k: _sign_in_with(c, k),
        "401 303 303 303 401 303 303 401",
    ),
    # Signing out lands on the sign-in page, whoever asks.
    ("POST", "/console/sign-out"): (lambda c, k: _sign_out(c, k), "in " * 8),
    # --- the console: files ----------------------------------------------------------------------
    ("GET", "/console/files"): (lambda c, k: c.page(k, "GET", "/console/files"), CONSOLE_PAGE_READ),
    ("GET", "/console/files/{file_id}"): (
        lambda c, k: c.page(k, "GET", f"/console/files/{_file(c)}"),
        CONSOLE_PAGE_READ,
    ),
    ("POST", "/console/files/{file_id}"): (
        lambda c, k: c.form(k, f"/console/files/{_file(c)}", {"title": "Matrix file"}),
        "in 403 403 303 in 303 303 in",
    ),
    ("GET", "/console/files/{file_id}/download"): (
        lambda c, k: c.page(k, "GET", f"/console/files/{_file(c)}/download"),
        "in 302 403 302 in 302 302 in",
    ),
    ("GET", "/console/files/{file_id}/delete"): (
        lambda c, k: c.page(k, "GET", f"/console/files/{_file(c)}/delete"),
        "in 403 403 200 in 200 200 in",
    ),
    ("POST", "/console/files/{file_id}/delete"): (
        lambda c, k: c.form(k, f"/console/files/{c.fresh_file()}/delete"),
        "in 403 303 303 in 303 303 in",
    ),
    # --- the console: uploads (tus behind the session) -------------------------------------------
    ("GET", "/console/upload"): (
        lambda c, k: c.page(k, "GET", "/console/upload"),
        "in 403 200 200 in 200 200 in",
    ),
    ("OPTIONS", "/console/uploads"): (
        lambda c, k: c.page(k, "OPTIONS", "/console/uploads"),
        "204 " * 8,
    ),
    ("POST", "/console/uploads"): (
        lambda c, k: c.console_tus(
            k,
            "POST",
            "/console/uploads",
            headers={
                **TUS,
                "Upload-Length": "5000",
                "Upload-Metadata": metadata_header(title="Console", filename="c.pdf"),
            },
        ),
        "401 403 201 201 401 201 201 401",
    ),
    ("OPTIONS", "/console/uploads/{upload_id}"): (
        lambda c, k: c.page(k, "OPTIONS", f"/console/uploads/{uuid.uuid4()}"),
        "204 " * 8,
    ),
    ("HEAD", "/console/uploads/{upload_id}"): (
        _tus("HEAD", console=True),
        "401 403 200 200 401 404 404 401",
    ),
    ("PATCH", "/console/uploads/{upload_id}"): (
        lambda c, k: _tus_patch(c, k, console=True),
        "401 403 204 204 401 404 404 401",
    ),
    ("DELETE", "/console/uploads/{upload_id}"): (
        _tus("DELETE", console=True),
        "401 403 204 204 401 404 404 401",
    ),
    # --- the console: statistics, admin ----------------------------------------------------------
    ("GET", "/console/stats"): (lambda c, k: c.page(k, "GET", "/console/stats"), CONSOLE_PAGE_READ),
    ("GET", "/console/admin"): (lambda c, k: c.page(k, "GET", "/console/admin"), CONSOLE_ADMIN),
    ("POST", "/console/admin/keys"): (
        lambda c, k: c.form(k, "/console/admin/keys", {"name": _unique("k"), "scopes": "read"}),
        CONSOLE_ADMIN.replace("200", "201"),
    ),
    ("GET", "/console/admin/keys/{key_id}/revoke"): (
        lambda c, k: c.page(k, "GET", f"/console/admin/keys/{c.fresh_key_id()}/revoke"),
        CONSOLE_ADMIN,
    ),
    ("POST", "/console/admin/keys/{key_id}/revoke"): (
        lambda c, k: c.form(k, f"/console/admin/keys/{c.fresh_key_id()}/revoke"),
        CONSOLE_ADMIN.replace("200", "303"),
    ),
    ("POST", "/console/admin/{kind}"): (
        lambda c, k: c.form(k, "/console/admin/categories", {"name": _unique("c")}),
        CONSOLE_ADMIN.replace("200", "303"),
    ),
    ("GET", "/console/admin/{kind}/{key}/rename"): (
        lambda c, k: c.page(k, "GET", f"/console/admin/roles/{c.fresh_entry('roles')}/rename"),
        CONSOLE_ADMIN,
    ),
    ("GET", "/console/admin/{kind}/{key}/delete"): (
        lambda c, k: c.page(k, "GET", f"/console/admin/roles/{c.fresh_entry('roles')}/delete"),
        CONSOLE_ADMIN,
    ),
    ("POST", "/console/admin/{kind}/{key}/rename"): (
        lambda c, k: c.form(
            k,
            f"/console/admin/roles/{c.fresh_entry('roles')}/rename",
            {"name": _unique("r")},
        ),
        CONSOLE_ADMIN.replace("200", "303"),
    ),
    ("POST", "/console/admin/{kind}/{key}/delete"): (
        lambda c, k: c.form(k, f"/console/admin/roles/{c.fresh_entry('roles')}/delete"),
        CONSOLE_ADMIN.replace("200", "303"),
    ),
    ("*", "/console/static"): (
        lambda c, k: c.page(k, "GET", "/console/static/console.css"),
        "200 " * 8,
    ),
    ("GET", "/console/{path:path}"): (
        lambda c, k: c.page(k, "GET", "/console/no-such-page"),
        "404 " * 8,
    ),
}


def _sign_in_with(ctx: Ctx, caller: str) -> httpx.Response:
    """The sign-in form, posted with this caller's key by a browser with no session."""
    with httpx.Client(base_url=ctx.a.url, timeout=30) as browser:
        return sign_in(browser, ctx.keys.get(caller, ""))


def _sign_out(ctx: Ctx, caller: str) -> httpx.Response:
    """A session of its own per cell (signing out ends it)."""
    if caller in ("none", "revoked", "other_tenant"):
        return ctx.form(caller, "/console/sign-out")
    with httpx.Client(base_url=ctx.a.url, timeout=30) as browser:
        assert sign_in(browser, ctx.keys[caller]).status_code == 303
        token = csrf_of(browser.get("/console/upload" if caller == "write" else "/console/files"))
        return browser.post("/console/sign-out", data={"csrf": token})


def _observed(response: httpx.Response | str) -> str:
    if isinstance(response, str):
        return response
    location = response.headers.get("location", "")
    if response.status_code == 303 and location.startswith("/console/sign-in"):
        return "in"
    return str(response.status_code)


def app_routes() -> set[tuple[str, str]]:
    """(method, path) of every route of the app, the console's included; HEAD only where the
    route has no GET (Starlette adds HEAD to every GET); a mount as ("*", its path)."""
    app = create_app(_settings_for_listing())
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, Mount):
            found.add(("*", route.path))
        elif isinstance(route, Route):
            methods = set(route.methods or ())
            if "GET" in methods:
                methods.discard("HEAD")
            found |= {(method, route.path) for method in methods}
        else:  # pragma: no cover - a new kind of route needs a way to be listed here
            found.add(("?", repr(route)))
    return found


def _settings_for_listing():
    from service.settings import from_environ

    return from_environ(
        {
            "SILO_TENANT": "listing",
            "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
            "S3_BUCKET": "listing-bucket",
            "AWS_REGION": "us-east-1",
            "SILO_ADMIN_KEY": "listing-admin-key-0123456789",
            "SILO_SCAN": "off",
        }
    )


def test_every_route_has_a_row():
    routes = app_routes()
    assert sorted(routes - set(ROWS)) == [], "routes without a row in ROWS (add one)"
    assert sorted(set(ROWS) - routes) == [], "rows for routes that no longer exist"


def test_every_row_states_every_caller():
    for route, (_, expected) in ROWS.items():
        assert len(expected.split()) == len(CALLERS), route


@pytest.fixture(scope="module")
def ctx(service: Service, pg, s3, aws_credentials) -> Iterator[Ctx]:
    with running_service(pg, s3, SILO_TENANT="other-tenant") as other:
        context = Ctx(service, other)
        try:
            _set_up(context)
            yield context
        finally:
            for client in [*context.api.values(), *context.console.values()]:
                client.close()


def _set_up(ctx: Ctx) -> None:
    a = ctx.a
    ctx.api["_admin"] = admin = a.client()
    for caller, scopes in SCOPES.items():
        made = admin.post("/keys", json={"name": f"matrix-{caller}", "scopes": scopes})
        assert made.status_code == 201, made.text
        ctx.keys[caller] = made.json()["key"]
        ctx.key_ids[caller] = made.json()["id"]
    with ctx.b.client() as b_admin:
        made = b_admin.post("/keys", json={"name": "elsewhere", "scopes": ["admin"]})
        assert made.status_code == 201, made.text
        ctx.keys["other_tenant"] = made.json()["key"]
    ctx.api["none"] = a.client(key=None)
    for caller in (*SCOPES, "other_tenant"):
        ctx.api[caller] = a.client(key=ctx.keys[caller])
        ctx.api[f"{caller}_plain"] = a.client(key=ctx.keys[caller])
    ctx.api["role"].headers["X-Silo-Role"] = ACTING_ROLE
    # Console sessions: one browser per caller.
    for caller in (*CALLERS, "owner"):
        ctx.console[caller] = httpx.Client(base_url=a.url, timeout=30)
    for caller in (*SCOPES,):
        browser = ctx.console[caller]
        assert sign_in(browser, ctx.keys[caller]).status_code == 303
        home = "/console/upload" if caller == "write" else "/console/files"
        ctx.csrf[caller] = csrf_of(browser.get(home))
    ctx.console["role"].headers["X-Silo-Role"] = ACTING_ROLE
    # The other tenant's session token, presented as this tenant's cookie.
    with httpx.Client(base_url=ctx.b.url, timeout=30) as elsewhere:
        assert sign_in(elsewhere, ctx.keys["other_tenant"]).status_code == 303
        token = next(iter(elsewhere.cookies.jar)).value
    ctx.console["other_tenant"].cookies.set("silo_console_test-tenant", token)
    # The revoked key's uploads in flight, then the key revoked (its session ends with it).
    revoked = ctx.api["revoked_plain"]
    meta = metadata_header(title="Revoked", filename="doc.pdf", roles=[SEEN_BY])
    started = revoked.post(
        "/uploads", headers={**TUS, "Upload-Length": "5000", "Upload-Metadata": meta}
    )
    assert started.status_code == 201, started.text
    ctx.revoked_tus["api"] = started.headers["Location"]
    in_console = ctx.console["revoked"].post(
        "/console/uploads",
        headers={**TUS, "Upload-Length": "5000", "Upload-Metadata": meta,
                 "X-CSRF-Token": ctx.csrf["revoked"]},
    )  # fmt: skip
    assert in_console.status_code == 201, in_console.text
    ctx.revoked_tus["console"] = in_console.headers["Location"]
    ctx.revoked_direct = ctx.direct_upload("revoked", by="revoked")
    assert admin.delete(f"/keys/{ctx.key_ids['revoked']}").status_code == 204
    ctx.file_id = ctx.fresh_file()
    wait_until_clean(a, ctx.file_id)


def test_the_matrix(ctx: Ctx):
    wrong: list[str] = []
    for (method, path), (request, expected_row) in ROWS.items():
        for caller, expected in zip(CALLERS, expected_row.split(), strict=True):
            observed = _observed(request(ctx, caller))
            cell = f"{method} {path} as {caller}: expected {expected}, got {observed}"
            if observed != expected:
                wrong.append(cell)
    assert wrong == [], "\n".join(wrong)


def test_the_documented_matrix_names_every_route_group():
    """docs/api.md's "Who may do what" names every group of routes the matrix covers."""
    doc = (Path(__file__).resolve().parents[3] / "docs" / "api.md").read_text()
    section = doc.split("## Who may do what", 1)[1].split("\n## ", 1)[0]
    for _, path in ROWS:
        group = "/" + path.split("/")[1]
        assert f"`{group}" in section or f" {group}" in section, path
