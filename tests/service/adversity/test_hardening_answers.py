"""Each class of input the service used to answer wrongly (500s, silently ignored headers and
bodies, parser internals in messages, mangled file names, answers showing a key what it could not
read)."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from tests.service.conftest import Service
from tests.service.helpers import multipart, new_boundary, part, pdf, post_multipart, upload
from tests.service.test_app import assert_error
from tests.support.waiting import eventually

EDGE_DAYS = ("0001-01-01", "9999-12-31")
BAD_DAYS = ("", " ", "2026-13-01", "2026-02-30", "yesterday", "2026-01-01x", "10000-01-01")


@pytest.fixture(scope="module")
def stored(service: Service) -> dict:
    with service.client() as client:
        response = upload(client, pdf(), fields={"title": "Hardening"})
        assert response.status_code == 201, response.text
        return response.json()


# --- dates at the edges of every date parameter --------------------------------------------------


@pytest.mark.parametrize("name", ["from", "to"])
@pytest.mark.parametrize("day", EDGE_DAYS)
def test_stats_accepts_the_first_and_last_representable_days(admin, name, day):
    response = admin.get("/stats", params={name: day})
    assert response.status_code == 200, response.text
    assert response.json()[name] == day


@pytest.mark.parametrize(("first", "last"), [EDGE_DAYS, (EDGE_DAYS[0],) * 2, (EDGE_DAYS[1],) * 2])
def test_stats_over_the_whole_calendar(admin, stored, first, last):
    response = admin.get("/stats", params={"from": first, "to": last})
    assert response.status_code == 200, response.text
    expected = 1 if (first, last) == EDGE_DAYS else 0
    assert response.json()["files"]["files"] >= expected


@pytest.mark.parametrize("name", ["from", "to"])
@pytest.mark.parametrize("day", BAD_DAYS)
def test_stats_refuses_what_is_not_a_day(admin, name, day):
    body = assert_error(admin.get("/stats", params={name: day}), 422, "validation_error")
    assert f"`{name}`" in body["error"]["message"]


@pytest.mark.parametrize("name", ["uploaded_after", "uploaded_before"])
@pytest.mark.parametrize(
    "value", [*EDGE_DAYS, "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999999-14:00"]
)
def test_upload_date_filters_accept_the_edges(admin, stored, name, value):
    response = admin.get("/files", params={name: value, "limit": 100})
    assert response.status_code == 200, response.text
    ids = [item["id"] for item in response.json()["items"]]
    # Everything is after the first day and before the last one.
    expected = value.startswith("0001" if name == "uploaded_after" else "9999")
    assert (stored["id"] in ids) == expected


def test_upload_date_filters_over_the_whole_calendar(admin, stored):
    params = {"uploaded_after": EDGE_DAYS[0], "uploaded_before": EDGE_DAYS[1]}
    response = admin.get("/files", params={**params, "limit": 100})
    assert response.status_code == 200, response.text
    assert stored["id"] in [item["id"] for item in response.json()["items"]]


@pytest.mark.parametrize("name", ["uploaded_after", "uploaded_before"])
@pytest.mark.parametrize("value", BAD_DAYS)
def test_upload_date_filters_refuse_what_is_not_a_date(admin, name, value):
    body = assert_error(admin.get("/files", params={name: value}), 400, "invalid_parameter")
    assert f"`{name}`" in body["error"]["message"]


# --- acting-user headers: present means valid, on every method ----------------------------------

HEADERS = ("X-Silo-User", "X-Silo-Role", "X-Silo-Country", "X-Silo-Company")
BAD_HEADER_VALUES = {
    # (Blank values are refused too; HTTP clients strip them to empty ones.)
    "X-Silo-User": ["", "a\tb", "x" * 201],
    "X-Silo-Role": ["", "Janitor"],
    "X-Silo-Country": ["", "XX", "UK", "FRA"],
    "X-Silo-Company": ["", "x" * 201],
}


def _every_method(client: httpx.Client, file_id: str, headers: dict) -> dict[str, httpx.Response]:
    as_json = {**headers, "Content-Type": "application/json"}
    return {
        "GET /files": client.get("/files", headers=headers),
        "GET /files/{id}": client.get(f"/files/{file_id}", headers=headers),
        "GET content": client.get(f"/files/{file_id}/content", headers=headers),
        "PATCH": client.patch(f"/files/{file_id}", content=b"{}", headers=as_json),
        "DELETE": client.delete(f"/files/{file_id}", headers=headers),
        "POST": client.post(
            "/files",
            data={"title": "t"},
            files={"file": ("a.pdf", pdf(), "application/pdf")},
            headers=headers,
        ),
    }


@pytest.mark.parametrize(
    ("header", "value"), [(h, v) for h in HEADERS for v in BAD_HEADER_VALUES[h]]
)
def test_a_bad_acting_user_header_is_422_on_every_method(admin, stored, header, value):
    for what, response in _every_method(admin, stored["id"], {header: value}).items():
        body = assert_error(response, 422, "validation_error")
        assert header in body["error"]["message"], what
    # Nothing was deleted or created on the way.
    assert admin.get(f"/files/{stored['id']}").status_code == 200


# --- JSON bodies: declared as JSON, not content-encoded ------------------------------------------


def _json_endpoints(file_id: str) -> list[tuple[str, str, dict]]:
    return [
        ("PATCH", f"/files/{file_id}", {"title": "Hardening"}),
        ("POST", "/keys", {"name": "k", "scopes": ["read"]}),
        ("POST", "/categories", {"name": "Content type check"}),
        ("PATCH", "/categories/999999", {"name": "x"}),
        ("POST", "/roles", {"name": "Content type check"}),
        ("PATCH", "/roles/999999", {"name": "x"}),
        ("POST", "/languages", {"code": "de", "name": "German"}),
        ("PATCH", "/languages/zz", {"name": "x"}),
    ]


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded",
     "application/json; charset=latin-1", "application/jsonx"],
)  # fmt: skip
def test_json_endpoints_refuse_other_content_types(admin, stored, content_type):
    for method, url, body in _json_endpoints(stored["id"]):
        headers = {"Content-Type": content_type} if content_type else {}
        response = admin.request(method, url, content=json.dumps(body).encode(), headers=headers)
        assert_error(response, 415, "unsupported_media_type")
    assert admin.get(f"/files/{stored['id']}").json() == stored


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "x-anything"])
def test_json_endpoints_refuse_content_encoded_bodies(admin, stored, encoding):
    for method, url, body in _json_endpoints(stored["id"]):
        headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
        raw = gzip.compress(json.dumps(body).encode())
        assert_error(admin.request(method, url, content=raw, headers=headers), 415,
                     "unsupported_encoding")  # fmt: skip


def test_uploads_refuse_content_encoded_bodies(admin):
    boundary = new_boundary()
    body = gzip.compress(multipart([part("title", b"t"), part("file", pdf(), filename="a.pdf")],
                                   boundary))  # fmt: skip
    response = admin.post(
        "/files",
        content=body,
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Encoding": "gzip",
        },
    )
    assert_error(response, 415, "unsupported_encoding")


def test_json_media_types_that_are_json_are_accepted(admin, stored):
    for content_type in ("application/json", "Application/JSON; charset=UTF-8",
                         "application/merge-patch+json"):  # fmt: skip
        response = admin.patch(
            f"/files/{stored['id']}", content=b"{}", headers={"Content-Type": content_type}
        )
        assert response.status_code == 200, (content_type, response.text)
    identity = {"Content-Type": "application/json", "Content-Encoding": "identity"}
    response = admin.patch(f"/files/{stored['id']}", content=b"{}", headers=identity)
    assert response.status_code == 200, response.text


# --- messages in API terms, not the parser's -----------------------------------------------------


def test_a_wrong_boundary_is_explained_without_parser_internals(admin):
    body = multipart([part("title", b"t"), part("file", pdf(), filename="a.pdf")], "XXXX")
    response = admin.post(
        "/files", content=body, headers={"Content-Type": "multipart/form-data; boundary=OOOO"}
    )
    message = assert_error(response, 400, "malformed_body")["error"]["message"]
    assert "boundary" in message
    for internal in ("character", "index", "Expected", "got"):
        assert internal not in message


# --- file names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored_as"),
    [(".txt", ".txt"), (".hidden.pdf", ".hidden.pdf"), ("report.pdf.", "report.pdf"),
     ("  spaced.pdf  ", "spaced.pdf"), ("..", "file.pdf"), ("dir/.pdf", ".pdf")],
)  # fmt: skip
def test_file_name_rules(admin, sent, stored_as):
    boundary = new_boundary()
    body = multipart(
        [part("title", b"t"), part("file", pdf(), filename=sent, ctype="application/pdf")],
        boundary,
    )
    response = post_multipart(admin, body, boundary)
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == stored_as


@pytest.mark.parametrize("name", ["a\nb.pdf", "a\tb.pdf", "a\x00.pdf", "a\x7f.pdf", "a\x85.pdf"])
def test_control_characters_in_a_file_name_are_422(service: Service, admin, name):
    before = service.objects()
    boundary = new_boundary()
    body = multipart([part("title", b"t"), part("file", pdf(), filename=name)], boundary)
    message = assert_error(post_multipart(admin, body, boundary), 422, "validation_error")
    assert "`filename`" in message["error"]["message"]
    assert service.objects() == before and service.pending_uploads() == []


@pytest.mark.parametrize("name", ["a\r\nX-Evil: b.pdf", "a\r\n b.pdf", "a\rb.pdf"])
def test_a_line_break_in_a_file_name_does_not_end_it_early(admin, name):
    # The raw header line ends at the CRLF: `filename="a` would be stored as `"a` or `a`.
    boundary = new_boundary()
    body = multipart([part("title", b"t"), part("file", pdf(), filename=name)], boundary)
    assert_error(post_multipart(admin, body, boundary), 400, "malformed_body")


# --- zip-based types must be complete packages ---------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "part_name"),
    [("docx", "word/document.xml"), ("xlsx", "xl/workbook.xml"), ("pptx", "ppt/slides/s1.xml")],
)
def test_a_zip_of_parts_without_content_types_is_not_an_office_document(
    service: Service, admin, kind, part_name
):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(part_name, "<document/>")
    before = service.objects()
    response = upload(admin, buffer.getvalue(), filename=f"x.{kind}", content_type=None)
    assert_error(response, 415, "unsupported_type")
    assert service.objects() == before and service.pending_uploads() == []


# --- a key revoked while its upload streams -------------------------------------------------------


def test_a_key_revoked_during_its_upload_gets_401_and_nothing_is_kept(service: Service, admin):
    import psycopg

    created = admin.post("/keys", json={"name": "revoked mid-upload", "scopes": ["write"]})
    assert created.status_code == 201, created.text
    key = created.json()
    before = service.objects()
    boundary = new_boundary()
    body = multipart(
        [part("title", b"revoked mid-upload"),
         part("file", pdf(18 * 1024 * 1024), filename="a.pdf", ctype="application/pdf")],
        boundary,
    )  # fmt: skip
    half = len(body) // 2

    def slow_body():
        yield body[:half]
        # Once its storage upload exists (past the first 8 MiB part), the request was
        # authenticated and is streaming:
        # revoke its key now.
        eventually(service.pending_uploads, timeout=30, message="the upload never started")
        assert admin.delete(f"/keys/{key['id']}").status_code == 204
        yield body[half:]

    with service.client(key["key"]) as client:
        response = client.post(
            "/files",
            content=slow_body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    assert_error(response, 401, "unauthorized")
    assert "revoked" in response.json()["error"]["message"]
    assert service.objects() == before and service.pending_uploads() == []
    with psycopg.connect(service.settings.database_url) as conn:
        found = conn.execute(
            "SELECT count(*) FROM files WHERE title = 'revoked mid-upload'"
        ).fetchone()
    assert found == (0,)


def test_an_upload_finished_before_the_revocation_is_kept(service: Service, admin):
    key = admin.post("/keys", json={"name": "revoked after", "scopes": ["read", "write"]}).json()
    with service.client(key["key"]) as client:
        stored = upload(client, pdf(), fields={"title": "kept"})
    assert stored.status_code == 201, stored.text
    assert admin.delete(f"/keys/{key['id']}").status_code == 204
    assert admin.get(f"/files/{stored.json()['id']}").status_code == 200


# --- a response never shows what the key could not read --------------------------------------


def test_a_write_only_key_gets_only_the_id_of_what_it_writes(service: Service, admin):
    key = admin.post("/keys", json={"name": "writer", "scopes": ["write"]}).json()
    with service.client(key["key"]) as writer:
        created = upload(writer, pdf(), fields={"title": "Secret plan"})
        assert created.status_code == 201, created.text
        file_id = created.json()["id"]
        assert created.json() == {"id": file_id}
        assert created.headers["location"] == f"/files/{file_id}"
        for body in ({}, {"description": "still secret"}):
            patched = writer.patch(f"/files/{file_id}", json=body)
            assert patched.status_code == 200, patched.text
            assert patched.json() == {"id": file_id}
        assert writer.get(f"/files/{file_id}").status_code == 403
    # A key that may read gets the whole object, as before.
    full = admin.patch(f"/files/{file_id}", json={})
    assert full.json()["title"] == "Secret plan"
    assert full.json()["description"] == "still secret"


@pytest.mark.parametrize(
    ("header", "value"),
    [("X-Silo-Role", "Mentee/Coachee"), ("X-Silo-User", "u-1"), ("X-Silo-Country", "FR")],
)
def test_stats_are_for_the_back_office_only(admin, stored, header, value):
    response = admin.get("/stats", headers={header: value})
    assert_error(response, 403, "forbidden")
    assert header in response.json()["error"]["message"]
    assert admin.get("/stats").status_code == 200
