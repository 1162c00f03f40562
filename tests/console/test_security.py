"""The console's security, over HTTP without a browser: sign-in and its cookie, sessions that
end, CSRF and cross-site requests, the Content-Security-Policy, and what a read key is offered
and refused."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from service.console import sessions, signin
from tests.console.conftest import csrf_of, sign_in, wait_until_clean
from tests.service.conftest import ADMIN_KEY, Service
from tests.service.helpers import jpeg, png

# The cookies of the test service's tenant (`SILO_TENANT=test-tenant`).
COOKIE = f"{sessions.COOKIE}_test-tenant"
SIGN_IN_COOKIE = f"{signin.SIGN_IN_COOKIE}_test-tenant"
PAGES = ["/console", "/console/files", "/console/upload", "/console/stats", "/console/admin"]


def new_key(console: Service, *scopes: str) -> tuple[str, str]:
    with console.client() as admin:
        created = admin.post("/keys", json={"name": "console test", "scopes": list(scopes)})
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["key"]


def uploaded(console: Service, title: str = "A harbour") -> str:
    with console.client() as admin:
        answer = admin.post(
            "/files",
            files={"file": ("harbour.png", png(), "image/png")},
            data={"title": title},
        )
    assert answer.status_code == 201, answer.text
    wait_until_clean(console, answer.json()["id"])
    return answer.json()["id"]


@pytest.fixture
def signed_in(browser_client: httpx.Client) -> Iterator[httpx.Client]:
    assert sign_in(browser_client).status_code == 303
    yield browser_client


@pytest.mark.parametrize("path", [*PAGES, "/console/files/00000000-0000-0000-0000-000000000000"])
def test_without_a_cookie_every_page_redirects_to_sign_in(browser_client, path):
    answer = browser_client.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/sign-in?next=")


def test_a_post_without_a_cookie_changes_nothing_and_goes_to_sign_in(console, browser_client):
    file_id = uploaded(console)
    answer = browser_client.post(f"/console/files/{file_id}/delete", data={"csrf": "x"})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/sign-in")
    with console.client() as admin:
        assert admin.get(f"/files/{file_id}").status_code == 200


def test_sign_in_sets_a_strict_httponly_cookie_and_never_shows_the_key(browser_client):
    answer = sign_in(browser_client)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP here: a Secure cookie would never come back
    assert ADMIN_KEY not in cookie
    for path in ["/console/files", "/console/upload", "/console/stats"]:
        page = browser_client.get(path)
        assert page.status_code == 200
        assert ADMIN_KEY not in page.text


def test_the_cookie_is_secure_behind_a_tls_load_balancer(console):
    with httpx.Client(
        base_url=console.url, headers={"X-Forwarded-Proto": "https"}, timeout=30
    ) as client:
        form = client.get("/console/sign-in")
        assert "Secure" in form.headers["set-cookie"]  # the sign-in form's own token
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        # httpx keeps Secure cookies for https URLs only: send it by hand.
        answer = client.post(
            "/console/sign-in",
            data={"csrf": csrf, "key": ADMIN_KEY},
            headers={"Cookie": f"{SIGN_IN_COOKIE}={csrf}"},
        )
    assert answer.status_code == 303
    assert "Secure" in answer.headers["set-cookie"]


def test_a_wrong_key_is_refused_next_to_the_field(browser_client):
    answer = sign_in(browser_client, "silo_not-a-key")
    assert answer.status_code == 401
    assert 'id="key-error"' in answer.text and "not a valid API key" in answer.text
    assert COOKIE not in browser_client.cookies


@pytest.mark.parametrize("path", ["/console/sign-in", "/console/files", "/console/nope"])
def test_every_page_has_a_strict_content_security_policy(signed_in, path):
    answer = signed_in.get(path)
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text), "an inline script"
    assert not re.search(r"\son[a-z]+=", answer.text), "an inline event handler"


def test_the_file_page_lets_only_storage_show_its_preview(console, signed_in):
    file_id = uploaded(console)
    answer = signed_in.get(f"/console/files/{file_id}")
    policy = answer.headers["content-security-policy"]
    storage = console.s3.endpoint_url.rstrip("/")
    assert f"img-src 'self' {storage}" in policy
    assert re.search(rf'<img src="{re.escape(storage)}/[^"]+"', answer.text)


def test_a_form_without_the_session_token_is_refused(console, signed_in):
    file_id = uploaded(console, "Unchanged")
    for data in ({"title": "Changed"}, {"title": "Changed", "csrf": "forged"}):
        answer = signed_in.post(f"/console/files/{file_id}", data=data)
        assert answer.status_code == 403
    with console.client() as admin:
        assert admin.get(f"/files/{file_id}").json()["title"] == "Unchanged"


def test_a_cross_site_post_is_refused_even_with_the_token(console, signed_in):
    file_id = uploaded(console, "Unchanged")
    csrf = csrf_of(signed_in.get(f"/console/files/{file_id}"))
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        answer = signed_in.post(
            f"/console/files/{file_id}", data={"csrf": csrf, "title": "Changed"}, headers=headers
        )
        assert answer.status_code == 403
    with console.client() as admin:
        assert admin.get(f"/files/{file_id}").json()["title"] == "Unchanged"
    # The same form from this origin goes through.
    host = signed_in.base_url.netloc.decode()
    answer = signed_in.post(
        f"/console/files/{file_id}",
        data={"csrf": csrf, "title": "Changed"},
        headers={"Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"},
    )
    assert answer.status_code == 303


def test_a_cross_site_sign_in_is_refused(browser_client):
    form = browser_client.get("/console/sign-in")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    answer = browser_client.post(
        "/console/sign-in",
        data={"csrf": csrf, "key": ADMIN_KEY},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert COOKIE not in browser_client.cookies
    # Without the sign-in form's cookie (a forged form elsewhere), too.
    browser_client.cookies.clear()
    answer = browser_client.post("/console/sign-in", data={"csrf": csrf, "key": ADMIN_KEY})
    assert answer.status_code == 403


def test_signing_out_ends_the_session(signed_in):
    csrf = csrf_of(signed_in.get("/console/files"))
    cookie = signed_in.cookies[COOKIE]
    answer = signed_in.post("/console/sign-out", data={"csrf": csrf})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/sign-in"
    # The old cookie, replayed, is dead server-side.
    signed_in.cookies.set(COOKIE, cookie, path="/console")
    assert signed_in.get("/console/files").status_code == 303


def test_a_revoked_key_ends_its_sessions(console, browser_client):
    key_id, key = new_key(console, "read")
    assert sign_in(browser_client, key).status_code == 303
    assert browser_client.get("/console/files").status_code == 200
    with console.client() as admin:
        assert admin.delete(f"/keys/{key_id}").status_code == 204
    answer = browser_client.get("/console/files")
    assert answer.status_code == 303 and "/console/sign-in" in answer.headers["location"]


def test_sessions_expire(console, signed_in):
    assert signed_in.get("/console/files").status_code == 200
    with psycopg.connect(console.settings.database_url, autocommit=True) as conn:
        conn.execute("UPDATE console_sessions SET expires_at = now() - interval '1 second'")
    assert signed_in.get("/console/files").status_code == 303


def test_a_read_key_is_offered_no_write_controls_and_its_writes_are_403(console, browser_client):
    file_id = uploaded(console, "Read only")
    _, key = new_key(console, "read")
    assert sign_in(browser_client, key).status_code == 303
    listing = browser_client.get("/console/files")
    assert listing.status_code == 200 and "Read only" in listing.text
    assert 'href="/console/upload"' not in listing.text
    page = browser_client.get(f"/console/files/{file_id}")
    assert page.status_code == 200
    assert "/delete" not in page.text and 'method="post" action="/console/files/' not in page.text
    assert 'name="title"' not in page.text
    csrf = csrf_of(page)
    assert browser_client.get("/console/upload").status_code == 403
    assert browser_client.get(f"/console/files/{file_id}/delete").status_code == 403
    edit = browser_client.post(f"/console/files/{file_id}", data={"csrf": csrf, "title": "X"})
    assert edit.status_code == 403
    delete = browser_client.post(f"/console/files/{file_id}/delete", data={"csrf": csrf})
    assert delete.status_code == 403
    tus = browser_client.post(
        "/console/uploads",
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "10",
            "Upload-Metadata": "title eA==",
            "X-CSRF-Token": csrf,
        },
    )
    assert tus.status_code == 403
    with console.client() as admin:
        assert admin.get(f"/files/{file_id}").json()["title"] == "Read only"


def test_the_consoles_tus_needs_the_session_and_its_token(console, signed_in):
    csrf = csrf_of(signed_in.get("/console/upload"))
    headers = {"Tus-Resumable": "1.0.0", "Upload-Length": "10", "Upload-Metadata": "title eA=="}
    assert signed_in.post("/console/uploads", headers=headers).status_code == 403
    with httpx.Client(base_url=console.url) as stranger:
        no_session = stranger.post("/console/uploads", headers={**headers, "X-CSRF-Token": csrf})
        assert no_session.status_code == 401
    created = signed_in.post("/console/uploads", headers={**headers, "X-CSRF-Token": csrf})
    assert created.status_code == 201
    assert created.headers["location"].startswith("/console/uploads/")


def test_a_refused_type_shows_the_apis_message(console, signed_in):
    """A JPEG named report.pdf, through the console's tus: the API's 415 and message."""
    csrf = csrf_of(signed_in.get("/console/upload"))
    body = jpeg()
    headers = {"Tus-Resumable": "1.0.0", "X-CSRF-Token": csrf}
    created = signed_in.post(
        "/console/uploads",
        headers={
            **headers,
            "Upload-Length": str(len(body)),
            # filename report.pdf, filetype application/pdf, title Report
            "Upload-Metadata": "filename cmVwb3J0LnBkZg==,filetype YXBwbGljYXRpb24vcGRm,"
            "title UmVwb3J0",
        },
    )
    assert created.status_code == 201
    sent = signed_in.patch(
        created.headers["location"],
        content=body,
        headers={
            **headers,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert sent.status_code == 415
    assert sent.json()["error"]["message"] == "content is jpeg but the name says .pdf"


def test_an_edit_is_refused_with_the_apis_message_next_to_the_field(console, signed_in):
    file_id = uploaded(console, "Title")
    with console.client() as admin:
        api = admin.patch(f"/files/{file_id}", json={"title": "x" * 201})
    assert api.status_code == 422
    csrf = csrf_of(signed_in.get(f"/console/files/{file_id}"))
    page = signed_in.post(f"/console/files/{file_id}", data={"csrf": csrf, "title": "x" * 201})
    assert page.status_code == 422
    error = re.search(r'<p class="error" id="title-error">([^<]+)</p>', page.text)
    assert error and error.group(1) == api.json()["error"]["message"]


def test_signing_in_again_replaces_the_session(console, signed_in):
    first = signed_in.cookies[COOKIE]
    # Already signed in: the sign-in page sends the browser straight on.
    answer = signed_in.get("/console/sign-in?next=/console/upload")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/upload"
    # A sign-in posted while holding a session (another tab's form) swaps it for the new one.
    _, key = new_key(console, "read", "write")
    form = httpx.get(console.url + "/console/sign-in")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    answer = signed_in.post(
        "/console/sign-in",
        data={"csrf": csrf, "key": key},
        headers={"Cookie": f"{COOKIE}={first}; {SIGN_IN_COOKIE}={csrf}"},
    )
    assert answer.status_code == 303
    assert signed_in.cookies[COOKIE] != first
    with psycopg.connect(console.settings.database_url, autocommit=True) as conn:

        def sessions_of(token: str) -> int:
            return conn.execute(
                "SELECT count(*) FROM console_sessions WHERE token_hash = sha256(%s::bytea)",
                (token.encode(),),
            ).fetchone()[0]

        assert sessions_of(first) == 0
        assert sessions_of(signed_in.cookies[COOKIE]) == 1


@pytest.mark.parametrize(
    ("asked", "landing"),
    [
        ("/console/files?q=report", "/console/files?q=report"),
        ("//evil.example/console", "/console"),
        ("https://evil.example/console", "/console"),
        ("/consolex/../../evil", "/console"),
        ("/files", "/console"),
    ],
)
def test_sign_in_returns_only_to_a_console_page(browser_client, asked, landing):
    form = browser_client.get("/console/sign-in", params={"next": asked})
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    answer = browser_client.post(
        "/console/sign-in", data={"csrf": csrf, "key": ADMIN_KEY, "next": asked}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == landing
