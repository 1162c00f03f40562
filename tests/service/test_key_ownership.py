"""A key means the same on every upload path (issue 21, items 2, 3, 4 and 9): a tus or direct
upload belongs to the key that created it (another key, admin included, and an acting role that
could not see the file get 404); an Idempotency-Key is scoped to the API key that sent it; a
revoked key's uploads never become files; a creation-with-upload that fails leaves nothing."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.service.conftest import Service
from tests.service.helpers import pdf, sha256

TUS = {"Tus-Resumable": "1.0.0"}
OCTET = {**TUS, "Content-Type": "application/offset+octet-stream"}
MIB = 1024 * 1024
MENTOR, MENTEE = "Mentor/Coach", "Mentee/Coachee"


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def tus_create(client: httpx.Client, length: int, *, headers=None, **meta) -> httpx.Response:
    meta = {"title": "Private: layoffs plan", "filename": "plan.pdf", **meta}
    encoded = ",".join(
        f"{k} {b64(json.dumps(v) if isinstance(v, list) else v)}" for k, v in meta.items()
    )
    return client.post(
        "/uploads",
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": encoded,
            **(headers or {}),
        },
    )


def tus_new(client: httpx.Client, length: int, **meta) -> str:
    response = tus_create(client, length, **meta)
    assert response.status_code == 201, response.text
    return response.headers["Location"]


def tus_patch(client: httpx.Client, url: str, offset: int, data, **headers) -> httpx.Response:
    return client.patch(
        url, content=data, headers={**OCTET, "Upload-Offset": str(offset), **headers}
    )


def direct_declare(client: httpx.Client, data: bytes, **overrides) -> httpx.Response:
    body = {
        "filename": "report.pdf",
        "size": len(data),
        "sha256": sha256(data),
        "content_type": "application/pdf",
        "title": "Quarterly report",
        **overrides,
    }
    return client.post("/uploads/direct", json=body)


def direct_put(client: httpx.Client, data: bytes, **overrides) -> str:
    """A direct upload declared by `client` and PUT to storage: its id."""
    declared = direct_declare(client, data, **overrides)
    assert declared.status_code == 201, declared.text
    ticket = declared.json()
    put = httpx.put(ticket["url"], content=data, headers=ticket["headers"])
    assert put.status_code == 200, put.text
    return ticket["id"]


def complete(client: httpx.Client, upload_id: str) -> httpx.Response:
    return client.post(f"/uploads/direct/{upload_id}/complete")


def new_key(admin: httpx.Client, *scopes: str) -> dict:
    created = admin.post("/keys", json={"name": f"k-{uuid.uuid4().hex[:8]}", "scopes": scopes})
    assert created.status_code == 201, created.text
    return created.json()


@pytest.fixture
def keys(service: Service) -> Iterator[tuple[httpx.Client, httpx.Client, httpx.Client]]:
    """(K1, K2, admin): two write-only keys of the tenant and the bootstrap admin key."""
    with service.client() as admin:
        k1, k2 = new_key(admin, "write"), new_key(admin, "write")
        with service.client(k1["key"]) as one, service.client(k2["key"]) as two:
            yield one, two, admin


def count(service: Service, query: str, *params) -> int:
    with psycopg.connect(service.settings.database_url) as conn:
        return conn.execute(query, params).fetchone()[0]


def assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, (response.status_code, response.text)
    for leaked in ("Upload-Metadata", "Upload-Length", "Upload-Offset", "Silo-File-Id"):
        assert leaked not in response.headers


# --- item 3: an Idempotency-Key is the API key's ----------------------------------------------


def test_tus_idempotency_key_of_another_key_is_a_new_upload(service: Service, keys):
    one, two, _ = keys
    idem = {"Idempotency-Key": f"shared-{uuid.uuid4()}"}
    first = tus_create(one, 4096, headers=idem)
    again = tus_create(one, 4096, headers=idem)
    other = tus_create(two, 4096, headers=idem)
    assert first.status_code == 201 and again.headers["Location"] == first.headers["Location"]
    assert other.status_code == 201, other.text
    assert other.headers["Location"] != first.headers["Location"]
    assert "Idempotent-Replayed" not in other.headers


def test_post_files_idempotency_key_of_another_key_is_a_new_file(service: Service, keys):
    one, two, _ = keys
    data = pdf(4096)
    idem = {"Idempotency-Key": f"shared-{uuid.uuid4()}"}

    def post(client: httpx.Client) -> httpx.Response:
        files = {"file": ("doc.pdf", data, "application/pdf")}
        return client.post("/files", data={"title": "A title"}, files=files, headers=idem)

    first, other = post(one), post(two)
    assert first.status_code == 201, first.text
    assert other.status_code == 201, other.text
    assert other.json()["id"] != first.json()["id"]
    assert post(one).json()["id"] == first.json()["id"]  # the key's own replay still works


def test_direct_idempotency_key_of_another_key_is_a_new_upload(service: Service, keys):
    one, two, _ = keys
    data = pdf(4096)
    idem = {"Idempotency-Key": f"shared-{uuid.uuid4()}"}
    first = one.post("/uploads/direct", json=_declaration(data), headers=idem)
    assert first.status_code == 201, first.text
    ticket = first.json()
    assert httpx.put(ticket["url"], content=data, headers=ticket["headers"]).status_code == 200
    assert complete(one, ticket["id"]).status_code == 201
    other = two.post("/uploads/direct", json=_declaration(data), headers=idem)
    assert other.status_code == 201, other.text
    assert other.json()["id"] != ticket["id"] and "file" not in other.json()


def _declaration(data: bytes) -> dict:
    return {"filename": "r.pdf", "size": len(data), "sha256": sha256(data), "title": "T"}
