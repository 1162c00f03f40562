"""/console/admin over HTTP: keys (created and shown once, listed, revoked: the API refuses the
key and its sessions end) and the taxonomy (created, renamed, deleted; the API's 409 and 422
messages next to the field), for admin sessions only."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.console.conftest import csrf_of, sign_in
from tests.service.conftest import Service


@pytest.fixture
def admin_session(browser_client: httpx.Client) -> Iterator[httpx.Client]:
    assert sign_in(browser_client).status_code == 303
    yield browser_client


def api_key(console: Service, *scopes: str) -> tuple[str, str]:
    with console.client() as admin:
        created = admin.post("/keys", json={"name": "admin page test", "scopes": list(scopes)})
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["key"]


def post(client: httpx.Client, path: str, **fields) -> httpx.Response:
    """A form of the admin page, sent as the browser sends it: with the session's token."""
    csrf = csrf_of(client.get("/console/admin"))
    return client.post(path, data={"csrf": csrf, **fields})


def error_next_to(page: str, field_id: str) -> str:
    """The error shown for the input `field_id`, which names it with aria-describedby."""
    field = re.search(rf'<input id="{re.escape(field_id)}"[^>]*>', page)
    assert field, f"no field {field_id}"
    assert 'aria-invalid="true"' in field.group(0)
    assert f'aria-describedby="{field_id}-error"' in field.group(0)
    found = re.search(rf'<p class="error" id="{re.escape(field_id)}-error">([^<]*)</p>', page)
    assert found, f"no error next to {field_id}"
    return found.group(1)


def test_a_key_is_created_shown_once_and_works_on_the_api(console, admin_session):
    answer = post(admin_session, "/console/admin/keys", name="CI uploader", scopes=["write"])
    assert answer.status_code == 201
    assert answer.headers["cache-control"] == "no-store"
    key = re.search(r'id="new-key-value"[^>]*value="(silo_[^"]+)"', answer.text).group(1)
    assert '<button type="button" data-copy="new-key-value" hidden>' in answer.text
    with console.client(key) as client:
        assert client.get("/files").status_code == 403, "write only: the scope given"
        assert client.get("/keys").status_code == 403
    page = admin_session.get("/console/admin")
    assert "CI uploader" in page.text and key[:11] in page.text
    assert key not in page.text, "shown once: never on a later page"
    with console.client() as admin:
        listed = {k["name"]: k["scopes"] for k in admin.get("/keys").json()["items"]}
    assert listed["CI uploader"] == ["write"]


@pytest.mark.parametrize(
    "fields, field_id, message",
    [
        ({"name": "   ", "scopes": ["read"]}, "key-name", "`name` is required"),
        ({"name": "x" * 101, "scopes": ["read"]}, "key-name", "at most 100 characters"),
        ({"name": "no scope"}, "key-scopes", "`scopes` is required"),
        ({"name": "bad scope", "scopes": ["root"]}, "key-scopes", "may contain only"),
    ],
)
def test_a_refused_key_shows_the_apis_message_next_to_the_field(
    console, admin_session, fields, field_id, message
):
    answer = post(admin_session, "/console/admin/keys", **fields)
    assert answer.status_code == 422
    if field_id == "key-scopes":
        assert '<fieldset aria-invalid="true" aria-describedby="key-scopes-error">' in answer.text
        shown = re.search(r'id="key-scopes-error">([^<]*)<', answer.text).group(1)
    else:
        shown = error_next_to(answer.text, field_id)
    assert message in shown.replace("&#96;", "`")
    assert 'id="new-key-value"' not in answer.text


def test_revoking_a_key_refuses_it_on_the_api_and_ends_its_sessions(console, admin_session):
    key_id, key = api_key(console, "admin")
    with httpx.Client(base_url=console.url) as other:
        assert sign_in(other, key).status_code == 303
        assert other.get("/console/admin").status_code == 200
        confirm = admin_session.get(f"/console/admin/keys/{key_id}/revoke")
        assert confirm.status_code == 200 and "Revoke “admin page test”?" in confirm.text
        assert other.get("/console/admin").status_code == 200, "asking changes nothing"
        answer = post(admin_session, f"/console/admin/keys/{key_id}/revoke")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/admin?done=revoked#keys"
        assert "The key is revoked." in admin_session.get("/console/admin?done=revoked").text
        gone = other.get("/console/admin")
        assert gone.status_code == 303 and "/console/sign-in" in gone.headers["location"]
    with console.client(key) as client:
        assert client.get("/files").status_code == 401
    assert post(admin_session, f"/console/admin/keys/{key_id}/revoke").status_code == 404
    assert admin_session.get(f"/console/admin/keys/{key_id}/revoke").status_code == 404
    assert admin_session.get("/console/admin/keys/not-a-uuid/revoke").status_code == 404


def test_revoking_the_sessions_own_key_signs_it_out(console, browser_client):
    key_id, key = api_key(console, "admin")
    assert sign_in(browser_client, key).status_code == 303
    assert "(this session)" in browser_client.get("/console/admin").text
    answer = post(browser_client, f"/console/admin/keys/{key_id}/revoke")
    assert answer.status_code == 303
    after = browser_client.get(answer.headers["location"])
    assert after.status_code == 303 and "/console/sign-in" in after.headers["location"]


def test_the_taxonomy_is_edited_with_the_apis_rules(console, admin_session):
    created = post(admin_session, "/console/admin/categories", name="Leadership")
    assert created.status_code == 303
    with console.client() as admin:
        categories = {c["name"]: c["id"] for c in admin.get("/categories").json()["items"]}
    leadership = categories["Leadership"]

    # Taken (409, case-insensitively): the message next to the new entry's name, the typed
    # value kept.
    taken = post(admin_session, "/console/admin/categories", name="leadership")
    assert taken.status_code == 409
    assert (
        error_next_to(taken.text, "categories-new-name")
        == "category &#39;leadership&#39; already exists"
    )
    assert re.search(r'id="categories-new-name"[^>]*value="leadership"', taken.text)

    # Renaming is a page of its own, its form filled with the name; so is deleting.
    form = admin_session.get(f"/console/admin/categories/{leadership}/rename")
    assert form.status_code == 200
    assert re.search(rf'id="categories-{leadership}-name"[^>]*value="Leadership"', form.text)
    confirm = admin_session.get(f"/console/admin/categories/{leadership}/delete")
    assert "Delete the category “Leadership”?" in confirm.text
    assert admin_session.get("/console/admin/categories/999999/rename").status_code == 404
    renamed = post(admin_session, f"/console/admin/categories/{leadership}/rename", name="Leading")
    assert renamed.status_code == 303
    clash = post(admin_session, f"/console/admin/categories/{leadership}/rename", name="Skills")
    assert clash.status_code == 409
    assert "already exists" in error_next_to(clash.text, f"categories-{leadership}-name")

    # A language code that is not BCP 47 (422), and one already there (409): next to the code.
    bad = post(admin_session, "/console/admin/languages", code="english", name="English")
    assert bad.status_code == 422
    assert "not a BCP 47 language tag" in error_next_to(bad.text, "languages-new-code")
    dup = post(admin_session, "/console/admin/languages", code="EN", name="English again")
    assert dup.status_code == 409
    assert "already exists" in error_next_to(dup.text, "languages-new-code")
    added = post(admin_session, "/console/admin/languages", code="pt_br", name="Português")
    assert added.status_code == 303

    # In use (409) while a file has it; deleted once no file does.
    with console.client() as admin:
        file = admin.post(
            "/files",
            files={"file": ("a.pdf", b"%PDF-1.7\n" + b"x" * 100, "application/pdf")},
            data={"title": "Lead", "category": "Leading", "language": "pt-BR"},
        )
        assert file.status_code == 201, file.text
    in_use = post(admin_session, "/console/admin/languages/pt-BR/delete")
    assert in_use.status_code == 409
    # On the confirmation page again, the API's message under its question.
    assert "Delete the language “Português”?" in in_use.text
    shown = re.search(r'<p class="error" id="languages-pt-BR-name-error">([^<]*)</p>', in_use.text)
    assert shown and "is used by 1 file(s)" in shown.group(1)
    with console.client() as admin:
        assert admin.delete(f"/files/{file.json()['id']}").status_code == 204
    assert post(admin_session, "/console/admin/languages/pt-BR/delete").status_code == 303
    with console.client() as admin:
        codes = [x["code"] for x in admin.get("/languages").json()["items"]]
        assert "pt-BR" not in codes
        names = [x["name"] for x in admin.get("/categories").json()["items"]]
        assert "Leading" in names and "Leadership" not in names
    assert post(admin_session, "/console/admin/categories/999999/delete").status_code == 404
    assert post(admin_session, "/console/admin/colours", name="Red").status_code == 404


def test_only_admin_sessions_see_and_use_the_admin_page(console, browser_client):
    _, key = api_key(console, "read", "write")
    assert sign_in(browser_client, key).status_code == 303
    files = browser_client.get("/console/files")
    assert 'href="/console/admin"' not in files.text, "no admin navigation"
    assert browser_client.get("/console/admin").status_code == 403
    csrf = csrf_of(files)
    refused = browser_client.post(
        "/console/admin/keys", data={"csrf": csrf, "name": "sneaky", "scopes": "admin"}
    )
    assert refused.status_code == 403
    refused = browser_client.post("/console/admin/categories", data={"csrf": csrf, "name": "X"})
    assert refused.status_code == 403
    with console.client() as admin:
        assert "sneaky" not in admin.get("/keys").text
        assert "X" not in [c["name"] for c in admin.get("/categories").json()["items"]]


def test_an_admin_form_without_the_session_token_changes_nothing(console, admin_session):
    answer = admin_session.post("/console/admin/categories", data={"name": "Forged"})
    assert answer.status_code == 403
    answer = admin_session.post(
        "/console/admin/keys", data={"csrf": "wrong", "name": "Forged", "scopes": "admin"}
    )
    assert answer.status_code == 403
    with console.client() as admin:
        assert "Forged" not in admin.get("/categories").text
        assert "Forged" not in admin.get("/keys").text
