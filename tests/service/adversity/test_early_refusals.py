"""What an upload declares is refused when it is declared, not after its bytes have travelled
(issue 21, item 7), and no declared value reaches the database or the JSON parser as a 500
(item 8): control characters in tus `filename` and `filetype`, NUL, `roles` nested deeper than
any parser should follow, on every path that reads them."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.console.conftest import csrf_of, sign_in
from tests.service.conftest import Service
from tests.service.helpers import pdf, sha256, upload
from tests.service.uploads.test_tus import TUS, b64, metadata_header

DEEP_ROLES = "[" * 1500 + "]" * 1500
NESTED_ROLES = "[" * 100 + "]" * 100  # shallow enough for json.loads, too deep for a list


def _refused(response: httpx.Response, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert f"`{field}`" in error["message"], error


def _tus_create(client: httpx.Client, path: str = "/uploads", **meta) -> httpx.Response:
    meta = {"title": "Early", "filename": "doc.pdf", **meta}
    return client.post(
        path,
        headers={**TUS, "Upload-Length": "5000", "Upload-Metadata": metadata_header(**meta)},
    )


def _open_tus_uploads(service: Service) -> int:
    text = httpx.get(f"{service.url}/metrics").text
    line = next(x for x in text.splitlines() if x.startswith("silo_tus_uploads_open "))
    return int(float(line.split()[1]))


# --- item 7: a name or type the final PATCH would refuse is refused at creation -------------


@pytest.mark.parametrize("char", ["\r", "\t", "\x7f", "\x85", "\x00", "\n"])
def test_a_tus_filename_with_a_control_character_is_refused_at_creation(admin, char):
    _refused(_tus_create(admin, filename=f"re{char}port.pdf"), 422, "filename")


@pytest.mark.parametrize("filetype", ["application/pdf\x00", "application/\tpdf", "tëxt/plain"])
def test_a_tus_filetype_that_is_no_content_type_is_refused_at_creation(admin, filetype):
    _refused(_tus_create(admin, filetype=filetype), 422, "filetype")


def test_a_tus_filetype_too_long_is_refused_at_creation(admin):
    _refused(_tus_create(admin, filetype="application/" + "x" * 300), 422, "filetype")


@pytest.mark.parametrize(
    ("meta", "code"),
    [
        ({"filename": "tool.exe"}, "unsupported_type"),
        ({"filetype": "application/x-msdownload"}, "unsupported_type"),
        ({"filename": "doc.pdf", "filetype": "image/png"}, "type_mismatch"),
    ],
)
def test_a_tus_declaration_no_content_could_satisfy_is_refused_at_creation(admin, meta, code):
    """As POST /uploads/direct does (rules.check_declared): 415 before a byte is sent."""
    response = _tus_create(admin, **meta)
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == code


def test_nothing_is_left_of_a_refused_creation(admin, service: Service):
    before = _open_tus_uploads(service)
    assert _tus_create(admin, filename="a\x85b.pdf").status_code == 422
    assert _tus_create(admin, filename="a.pdf", filetype="image/png").status_code == 415
    assert _open_tus_uploads(service) == before


def test_a_sound_declaration_still_uploads(admin):
    data = pdf(5000)
    created = _tus_create(admin, filetype="application/pdf; charset=binary")
    assert created.status_code == 201, created.text
    done = admin.patch(
        created.headers["Location"],
        content=data,
        headers={**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"},
    )
    assert done.status_code == 204, done.text
    assert admin.get(f"/files/{done.headers['Silo-File-Id']}").json()["sha256"] == sha256(data)


# --- item 8: never a 500 --------------------------------------------------------------------


@pytest.mark.parametrize("roles", [DEEP_ROLES, NESTED_ROLES])
def test_tus_roles_nested_deep_are_a_422_naming_roles(admin, roles):
    header = f"title {b64('Deep')},roles {b64(roles)}"
    response = admin.post(
        "/uploads", headers={**TUS, "Upload-Length": "5000", "Upload-Metadata": header}
    )
    _refused(response, 422, "roles")


def _direct_body(**extra) -> str:
    data = pdf(3000)
    body = {"filename": "d.pdf", "size": len(data), "sha256": sha256(data), "title": "D"}
    return json.dumps(body)[:-1] + "".join(f', "{k}": {v}' for k, v in extra.items()) + "}"


@pytest.mark.parametrize("roles", [DEEP_ROLES, NESTED_ROLES])
def test_json_bodies_with_roles_nested_deep_are_a_422_naming_roles(admin, roles):
    stored = upload(admin, pdf()).json()
    json_headers = {"Content-Type": "application/json"}
    patched = admin.patch(
        f"/files/{stored['id']}", content=f'{{"roles": {roles}}}', headers=json_headers
    )
    _refused(patched, 422, "roles")
    created = admin.post("/uploads/direct", content=_direct_body(roles=roles), headers=json_headers)
    _refused(created, 422, "roles")


def test_any_json_body_nested_deep_is_refused_naming_its_field(admin):
    json_headers = {"Content-Type": "application/json"}
    key = admin.post(
        "/keys", content=f'{{"name": "k", "scopes": {DEEP_ROLES}}}', headers=json_headers
    )
    _refused(key, 422, "scopes")
    top = admin.post("/categories", content=DEEP_ROLES, headers=json_headers)
    assert top.status_code == 422, top.text
    assert top.json()["error"]["code"] == "validation_error"


def test_the_consoles_tus_path_refuses_them_too(service: Service, admin):
    with httpx.Client(base_url=service.url, timeout=30) as browser:
        assert sign_in(browser).status_code == 303
        token = csrf_of(browser.get("/console/upload"))
        browser.headers["X-CSRF-Token"] = token
        _refused(_tus_create(browser, "/console/uploads", filename="a\x00.pdf"), 422, "filename")
        _refused(_tus_create(browser, "/console/uploads", filetype="a/b\x00"), 422, "filetype")
        header = f"title {b64('Deep')},roles {b64(DEEP_ROLES)}"
        deep = browser.post(
            "/console/uploads",
            headers={**TUS, "Upload-Length": "5000", "Upload-Metadata": header},
        )
        _refused(deep, 422, "roles")


def test_the_consoles_edit_form_refuses_a_nul(service: Service, admin):
    stored = upload(admin, pdf()).json()
    with httpx.Client(base_url=service.url, timeout=30) as browser:
        assert sign_in(browser).status_code == 303
        page = browser.get(f"/console/files/{stored['id']}")
        answer = browser.post(
            f"/console/files/{stored['id']}",
            data={"csrf": csrf_of(page), "title": "a\x00b", "description": "x\x00"},
        )
        assert answer.status_code == 422, answer.text
