"""API keys over HTTP: create (shown once), list, use, scopes (401/403), revoke."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from tests.service.conftest import Service
from tests.service.test_app import assert_error


def new_key(admin: httpx.Client, *scopes: str, name: str = "app") -> dict:
    response = admin.post("/keys", json={"name": name, "scopes": list(scopes)})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_list_and_revoke(service: Service, admin: httpx.Client):
    created = new_key(admin, "read", "write", name="uploader")
    assert created["key"].startswith("silo_") and len(created["key"]) >= 40
    assert created["key"].startswith(created["prefix"])
    assert created["scopes"] == ["read", "write"]

    listed = admin.get("/keys").json()["items"]
    mine = [k for k in listed if k["id"] == created["id"]]
    assert mine and "key" not in mine[0] and mine[0]["name"] == "uploader"

    with service.client(created["key"]) as client:
        assert client.get("/files").status_code == 200
    assert admin.delete(f"/keys/{created['id']}").status_code == 204
    with service.client(created["key"]) as client:
        assert_error(client.get("/files"), 401, "unauthorized")
    assert_error(admin.delete(f"/keys/{created['id']}"), 404, "not_found")


def test_only_a_hash_is_stored(service: Service, admin: httpx.Client):
    created = new_key(admin, "read")
    with psycopg.connect(service.settings.database_url) as conn:
        row = conn.execute("SELECT * FROM api_keys WHERE id = %s", (created["id"],)).fetchone()
    assert created["key"] not in repr(row)
    assert created["key"].encode() not in b"".join(v for v in row if isinstance(v, bytes))


def test_missing_or_unknown_key_is_401(service: Service):
    for headers in (
        {},
        {"Authorization": "Bearer silo_nope"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer " + "x" * 5000},
    ):
        with service.client(key=None) as client:
            response = client.get("/files", headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("scopes", "method", "path", "allowed"),
    [
        (["read"], "GET", "/files", True),
        (["read"], "POST", "/keys", False),
        (["read"], "GET", "/keys", False),
        (["write"], "GET", "/files", False),
        (["write"], "DELETE", "/files/00000000-0000-0000-0000-000000000000", True),
        (["admin"], "GET", "/files", True),
    ],
)
def test_scopes(service: Service, admin: httpx.Client, scopes, method, path, allowed):
    key = new_key(admin, *scopes)["key"]
    with service.client(key) as client:
        response = client.request(method, path, json={"name": "x", "scopes": ["read"]})
    if allowed:
        assert response.status_code not in (401, 403), response.text
    else:
        assert_error(response, 403, "forbidden")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "x"},
        {"scopes": ["read"]},
        {"name": "", "scopes": ["read"]},
        {"name": "x" * 101, "scopes": ["read"]},
        {"name": 5, "scopes": ["read"]},
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": "read"},
        {"name": "x", "scopes": ["root"]},
        {"name": "x", "scopes": [["read"]]},
        {"name": "x", "scopes": ["read"], "extra": 1},
        [],
        "read",
    ],
)
def test_invalid_key_requests_are_422(admin: httpx.Client, body):
    assert_error(admin.post("/keys", json=body), 422, "validation_error")


def test_non_json_key_request_is_400(admin: httpx.Client):
    response = admin.post(
        "/keys", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "invalid_json")
    as_json = {"Content-Type": "application/json"}
    assert_error(admin.post("/keys", content=b"\xff\xfe", headers=as_json), 400, "invalid_json")


def test_malformed_key_id_is_404(admin: httpx.Client):
    assert_error(admin.delete("/keys/not-a-uuid"), 404, "not_found")
