"""No request, however malformed, gets a 500: garbage bodies, wrong JSON types, huge values,
odd headers; and a dependency that is down is a 503 naming it, not a hang or a traceback."""

from __future__ import annotations

import json
import os
import random

import httpx
import psycopg
import pytest

from service.settings import from_environ
from tests.service.conftest import ADMIN_KEY, Service, running_service, serve, service_env
from tests.service.helpers import pdf, upload
from tests.service.test_app import assert_error
from tests.support.net import free_port

WEIRD_JSON = [
    None,
    0,
    1e308,
    "string",
    [],
    [{"title": "x"}],
    {"title": {"nested": True}},
    {"title": ["a"]},
    {"title": True},
    {"title": 1e400 if False else 12345678901234567890},
    {"title": "\u0000"},
    {"title": "x" * 60000},
    {"roles": [None]},
    {"roles": [["nested"]]},
    {"roles": ["x"] * 1000},
    {"language": 5},
    {"description": {"a": 1}},
    {"": ""},
    {"title": "\ud800"},
]


def assert_client_error(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert set(body["error"]) == {"code", "message", "request_id", "tenant"}
    assert "Traceback" not in response.text


@pytest.fixture(scope="module")
def file_id(service: Service) -> str:
    with service.client() as client:
        return upload(client, pdf()).json()["id"]


@pytest.mark.parametrize("value", WEIRD_JSON, ids=range(len(WEIRD_JSON)))
def test_weird_json_is_4xx(admin: httpx.Client, file_id: str, value):
    raw = json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")
    headers = {"Content-Type": "application/json"}
    assert_client_error(admin.patch(f"/files/{file_id}", content=raw, headers=headers))
    assert_client_error(admin.post("/keys", content=raw, headers=headers))


def test_random_garbage_bodies_are_4xx(admin: httpx.Client, file_id: str):
    rng = random.Random(1234)
    for size in (1, 17, 1000, 70000):
        garbage = rng.randbytes(size)
        for content_type in (
            "application/json",
            "multipart/form-data; boundary=zz",
            "text/plain",
            'multipart/form-data; boundary=""',
        ):
            headers = {"Content-Type": content_type}
            assert_client_error(admin.post("/files", content=garbage, headers=headers))
            assert_client_error(admin.patch(f"/files/{file_id}", content=garbage, headers=headers))
            assert_client_error(admin.post("/keys", content=garbage, headers=headers))


def test_deeply_nested_json_is_4xx(admin: httpx.Client, file_id: str):
    nested = b"[" * 30000 + b"]" * 30000
    headers = {"Content-Type": "application/json"}
    assert_client_error(admin.patch(f"/files/{file_id}", content=nested, headers=headers))


def test_odd_headers_and_queries(admin: httpx.Client, service: Service):
    with service.client(key=None) as client:
        for auth in ("Bearer \u00e9\u00e9", "bearer  " + ADMIN_KEY + "x", "Bearer a b c"):
            response = client.get("/files", headers={"Authorization": auth.encode("utf-8")})
            assert_error(response, 401, "unauthorized")
    assert admin.get("/files", headers={"Authorization": f"bearer {ADMIN_KEY}"}).status_code == 200
    assert_client_error(admin.get("/files", params={"limit": "\u0661"}))  # Arabic-Indic digit
    assert_client_error(admin.get("/files", params=[("limit", "1"), ("cursor", "\x00")]))
    assert_client_error(
        admin.post("/files", content=b"x", headers={"Content-Type": "multipart/form-data"})
    )
    response = admin.post(
        "/files",
        content=b"x",
        headers={"Content-Type": "multipart/form-data; boundary=x", "Content-Length": "1"},
    )
    assert_client_error(response)


def test_multipart_with_weird_parts_is_4xx(admin: httpx.Client):
    boundary = "b0undary"
    bodies = [
        b"--b0undary\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b0undary--\r\n",
        b"--b0undary\r\nContent-Disposition: attachment; name=title\r\n\r\nx\r\n--b0undary--\r\n",
        b"--b0undary\r\nContent-Disposition: form-data; name=title\r\n\r\n\xff\xfe\r\n"
        b"--b0undary--\r\n",
        b"--b0undary\r\nX: " + b"y" * 20000 + b"\r\n\r\nx\r\n--b0undary--\r\n",
        b"".join(
            b"--b0undary\r\nContent-Disposition: form-data; name=roles\r\n\r\nr\r\n"
            for _ in range(100)
        )
        + b"--b0undary--\r\n",
        b"--b0undary\r\nContent-Disposition: form-data; name=title\r\n\r\n"
        + b"t" * 100_000
        + b"\r\n--b0undary--\r\n",
    ]
    for body in bodies:
        response = admin.post(
            "/files",
            content=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert_client_error(response)


def test_database_down_is_503_and_named(s3, bucket, aws_credentials):
    dead = f"postgresql://silo@127.0.0.1:{free_port()}/nowhere?connect_timeout=1"
    settings = from_environ(service_env(dead, s3, bucket))
    with (
        serve(settings, run_migrations=False) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        ready = client.get("/readyz")
        listing = client.get("/files", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        health = client.get("/healthz")
    body = assert_error(ready, 503, "not_ready")
    assert "database" in body["error"]["message"] and "bucket" not in body["error"]["message"]
    # The bootstrap key needs no database, so the listing reaches the database and fails there.
    assert_error(listing, 503, "database_unavailable")
    assert health.status_code == 200


def test_storage_down_is_503_and_leaves_no_row(pg, s3, aws_credentials):
    with running_service(pg, s3) as svc, svc.client() as client:
        kept = upload(client, pdf(1000)).json()
        s3.client().delete_object(Bucket=svc.bucket, Key=f"files/{kept['id']}")
        s3.client().delete_bucket(Bucket=svc.bucket)
        assert_error(upload(client, pdf(1000)), 503, "storage_unavailable")
        assert_error(upload(client, pdf(9 * 1024 * 1024)), 503, "storage_unavailable")
        assert [i["id"] for i in client.get("/files").json()["items"]] == [kept["id"]]
        # A delete whose object cannot be removed keeps the row (the transaction rolls back).
        assert_error(client.delete(f"/files/{kept['id']}"), 503, "storage_unavailable")
        assert client.get(f"/files/{kept['id']}").status_code == 200


def test_database_error_after_the_upload_removes_the_object(pg, s3, aws_credentials):
    with running_service(pg, s3) as svc, svc.client() as client:
        with psycopg.connect(svc.settings.database_url) as conn:
            conn.execute("ALTER TABLE files ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")
        for size in (1000, 9 * 1024 * 1024):
            response = upload(client, pdf(size))
            assert_error(response, 500, "internal_error")
            assert "Traceback" not in response.text and "refuse_all" not in response.text
        assert svc.objects() == [] and svc.pending_uploads() == []


def test_huge_metadata_values_never_500(admin: httpx.Client):
    big = os.urandom(8).hex() * 5000
    for fields in (
        {"title": big},
        {"title": "ok", "description": big},
        {"title": "ok", "roles": big},
    ):
        assert_client_error(upload(admin, pdf(), fields=fields))
