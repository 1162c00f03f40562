"""The /files resource over HTTP: upload, get, list, patch, content (presigned URL), delete."""

from __future__ import annotations

import urllib.parse
from datetime import datetime

import httpx
import psycopg
import pytest

from tests.service.conftest import Service
from tests.service.helpers import pdf, sha256, upload
from tests.service.test_app import assert_error


@pytest.fixture(scope="module")
def stored(service: Service) -> tuple[dict, bytes]:
    data = pdf(5000)
    with service.client() as client:
        response = upload(
            client,
            data,
            filename="Quarterly report.pdf",
            fields={
                "title": "  Quarterly report ",
                "description": "Numbers\nand more numbers",
                "category": "Skills",
                "language": "en",
                "roles": ["Mentor/Coach", "Mentee/Coachee", "Mentor/Coach"],
            },
        )
    assert response.status_code == 201, response.text
    return response.json(), data


def test_upload_returns_the_file_object(stored):
    body, data = stored
    assert body["title"] == "Quarterly report"
    assert body["description"] == "Numbers\nand more numbers"
    assert (body["category"], body["language"]) == ("Skills", "en")
    assert body["roles"] == ["Mentor/Coach", "Mentee/Coachee"]
    assert body["filename"] == "Quarterly report.pdf"
    assert (body["type"], body["content_type"]) == ("pdf", "application/pdf")
    assert body["size"] == len(data)
    assert body["sha256"] == sha256(data)
    assert body["uploaded_by"] == "admin"
    datetime.fromisoformat(body["created_at"])
    datetime.fromisoformat(body["updated_at"])


def test_upload_sets_location_and_stores_the_object(service: Service, admin: httpx.Client):
    data = pdf(3000)
    response = upload(admin, data, content_type=None)
    assert response.status_code == 201
    assert response.headers["location"] == f"/files/{response.json()['id']}"
    assert admin.get(response.headers["location"]).json() == response.json()
    obj = service.s3.client().get_object(
        Bucket=service.bucket, Key=f"files/{response.json()['id']}"
    )
    assert obj["Body"].read() == data
    assert obj["ContentType"] == "application/pdf"


def test_uploaded_by_is_the_key_id(service: Service, admin: httpx.Client):
    key = admin.post("/keys", json={"name": "w", "scopes": ["write"]}).json()
    with service.client(key["key"]) as client:
        response = upload(client, pdf())
    # A write-only key gets only the id back; the file is read with the admin key.
    assert admin.get(f"/files/{response.json()['id']}").json()["uploaded_by"] == key["id"]


def test_get_and_list(admin: httpx.Client, stored):
    body, _ = stored
    assert admin.get(f"/files/{body['id']}").json() == body
    listed = admin.get("/files", params={"limit": 100}).json()
    assert body in listed["items"]
    stamps = [(i["created_at"], i["id"]) for i in listed["items"]]
    assert stamps == sorted(stamps, reverse=True)


def test_patch_changes_metadata_and_updated_at(admin: httpx.Client):
    body = upload(admin, pdf(), fields={"title": "Old", "category": "Skills"}).json()
    response = admin.patch(
        f"/files/{body['id']}",
        json={"title": "New", "category": None, "roles": ["Mentor/Coach"], "language": "FR"},
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert (patched["title"], patched["category"], patched["language"]) == ("New", None, "fr")
    assert patched["roles"] == ["Mentor/Coach"]
    assert patched["updated_at"] > body["updated_at"]
    assert patched["created_at"] == body["created_at"]
    assert patched["sha256"] == body["sha256"]
    assert admin.get(f"/files/{body['id']}").json() == patched
    # An empty patch changes nothing.
    assert admin.patch(f"/files/{body['id']}", json={}).json() == patched


@pytest.mark.parametrize(
    "change",
    [
        {"title": None},
        {"title": ""},
        {"title": "x" * 201},
        {"title": 5},
        {"title": "two\nlines"},
        {"description": "x" * 1001},
        {"roles": "Mentor"},
        {"roles": [1]},
        {"roles": [""]},
        {"language": "not a language!"},
        {"uploaded_by": "me"},
        {"size": 1},
        {"sha256": "0" * 64},
        {"title": "ok", "unknown": 1},
    ],
)
def test_invalid_patches_are_422(admin: httpx.Client, stored, change):
    body, _ = stored
    assert_error(admin.patch(f"/files/{body['id']}", json=change), 422, "validation_error")
    assert admin.get(f"/files/{body['id']}").json() == body


def test_patch_body_must_be_a_json_object(admin: httpx.Client, stored):
    body, _ = stored
    url = f"/files/{body['id']}"
    as_json = {"Content-Type": "application/json"}
    assert_error(admin.patch(url, content=b"title=x", headers=as_json), 400, "invalid_json")
    assert_error(admin.patch(url, json=["title"]), 422, "validation_error")
    assert_error(admin.patch(url, content=b"{" * 70000, headers=as_json), 413, "too_large")


def test_content_redirects_to_a_presigned_url(service: Service, admin: httpx.Client, stored):
    body, data = stored
    response = admin.get(f"/files/{body['id']}/content")
    assert response.status_code == 302
    url = response.headers["location"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["X-Amz-Expires"] == [str(service.settings.presign_ttl_seconds)]
    download = httpx.get(url)
    assert download.status_code == 200
    assert sha256(download.content) == body["sha256"] and download.content == data
    assert "Quarterly report.pdf" in urllib.parse.unquote(download.headers["content-disposition"])
    assert download.headers["content-type"] == "application/pdf"


def test_content_as_json(admin: httpx.Client, stored):
    body, data = stored
    response = admin.get(f"/files/{body['id']}/content", params={"redirect": "false"})
    assert response.status_code == 200
    payload = response.json()
    assert datetime.fromisoformat(payload["expires_at"]) > datetime.fromisoformat(
        body["created_at"]
    )
    assert httpx.get(payload["url"]).content == data
    assert_error(
        admin.get(f"/files/{body['id']}/content", params={"redirect": "maybe"}),
        400,
        "invalid_parameter",
    )


def test_delete_removes_row_and_object(service: Service, admin: httpx.Client):
    body = upload(admin, pdf()).json()
    key = f"files/{body['id']}"
    assert key in service.objects()
    assert admin.delete(f"/files/{body['id']}").status_code == 204
    assert key not in service.objects()
    assert_error(admin.get(f"/files/{body['id']}"), 404, "not_found")
    assert_error(admin.delete(f"/files/{body['id']}"), 404, "not_found")
    with psycopg.connect(service.settings.database_url) as conn:
        assert conn.execute("SELECT 1 FROM files WHERE id = %s", (body["id"],)).fetchone() is None


@pytest.mark.parametrize(
    "file_id",
    [
        "not-a-uuid",
        "00000000-0000-0000-0000-000000000000",
        "123",
        "%00",
        "x" * 300,
        "' OR 1=1 --",
        "ffffffff-ffff-ffff-ffff-fffffffffffff",
    ],
)
def test_unknown_or_malformed_ids_are_404(admin: httpx.Client, file_id):
    path = "/files/" + urllib.parse.quote(file_id, safe="")
    assert_error(admin.get(path), 404, "not_found")
    assert_error(admin.get(path + "/content"), 404, "not_found")
    assert_error(admin.patch(path, json={"title": "x"}), 404, "not_found")
    assert_error(admin.delete(path), 404, "not_found")
