"""A key means the same on every upload path (issue 21, items 2, 3, 4 and 9): a tus or direct
upload belongs to the key that created it (another key, admin included, and an acting role that
could not see the file get 404); an Idempotency-Key is scoped to the API key that sent it; a
revoked key's uploads never become files; a creation-with-upload that fails leaves nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
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


# --- item 2: an upload belongs to the key that created it -----------------------------------------


def test_another_key_cannot_head_patch_or_delete_a_tus_upload(service: Service, keys):
    one, two, admin = keys
    data = pdf(4096)
    url = tus_new(one, len(data))
    assert tus_patch(one, url, 0, data[:1000]).status_code == 204
    for other in (two, admin):
        assert_not_found(other.head(url, headers=TUS))
        assert_not_found(tus_patch(other, url, 1000, data[1000:]))
        assert_not_found(other.delete(url, headers=TUS))
    head = one.head(url, headers=TUS)
    assert head.status_code == 200 and head.headers["Upload-Offset"] == "1000"
    assert tus_patch(one, url, 1000, data[1000:]).status_code == 204
    # Finished: the upload's URL still tells only its creator.
    assert one.head(url, headers=TUS).headers["Silo-File-Id"] == url.rsplit("/", 1)[1]
    assert_not_found(two.head(url, headers=TUS))
    assert_not_found(admin.head(url, headers=TUS))


def test_a_role_that_could_not_see_the_file_gets_404_from_its_upload(service: Service, keys):
    one, _, _ = keys
    data = pdf(4096)
    url = tus_new(one, len(data), roles=[MENTOR])
    mentee, mentor = {**TUS, "X-Silo-Role": MENTEE}, {**TUS, "X-Silo-Role": MENTOR}
    assert_not_found(one.head(url, headers=mentee))
    assert_not_found(tus_patch(one, url, 0, data, **{"X-Silo-Role": MENTEE}))
    assert_not_found(one.delete(url, headers=mentee))
    assert one.head(url, headers=mentor).status_code == 200
    assert tus_patch(one, url, 0, data, **{"X-Silo-Role": MENTOR}).status_code == 204
    assert_not_found(one.head(url, headers=mentee))
    assert one.head(url, headers=mentor).status_code == 200
    assert one.head(url, headers=TUS).status_code == 200  # no acting role: the back office


def test_another_key_cannot_complete_a_direct_upload(service: Service, keys):
    one, two, admin = keys
    data = pdf(4096)
    upload_id = direct_put(one, data)
    assert_not_found(complete(two, upload_id))
    assert_not_found(complete(admin, upload_id))
    assert complete(one, upload_id).status_code == 201
    # Completed: a repeated `complete` answers the file to its creator only.
    assert complete(one, upload_id).status_code == 200
    assert_not_found(complete(two, upload_id))


def test_a_role_that_could_not_see_the_file_cannot_complete_its_direct_upload(
    service: Service, keys
):
    one, _, _ = keys
    upload_id = direct_put(one, pdf(4096), roles=[MENTOR])
    mentee = one.post(f"/uploads/direct/{upload_id}/complete", headers={"X-Silo-Role": MENTEE})
    assert_not_found(mentee)
    mentor = one.post(f"/uploads/direct/{upload_id}/complete", headers={"X-Silo-Role": MENTOR})
    assert mentor.status_code == 201, mentor.text


def test_the_console_binds_its_uploads_to_the_session_key(service: Service, keys):
    """/console/uploads runs the same handlers with the session's key: an upload made there is
    the session key's, and another key cannot reach it through /uploads."""
    _, two, admin = keys
    k3 = new_key(admin, "write")
    with httpx.Client(base_url=service.url, timeout=30) as browser:
        form = browser.get("/console/sign-in")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        signed = browser.post(
            "/console/sign-in", data={"csrf": csrf, "key": k3["key"], "next": "/console"}
        )
        assert signed.status_code == 303, signed.text
        page = browser.get("/console/upload")
        token = re.search(r'<meta name="silo-csrf" content="([^"]+)"', page.text).group(1)
        headers = {**TUS, "Upload-Length": "4096", "Upload-Metadata": f"title {b64('t')}"}
        created = browser.post("/console/uploads", headers={**headers, "X-CSRF-Token": token})
        assert created.status_code == 201, created.text
        upload_id = created.headers["Location"].rsplit("/", 1)[1]
    assert_not_found(two.head(f"/uploads/{upload_id}", headers=TUS))
    assert_not_found(admin.head(f"/uploads/{upload_id}", headers=TUS))
    with service.client(k3["key"]) as three:
        assert three.head(f"/uploads/{upload_id}", headers=TUS).status_code == 200


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


# --- item 4: a revoked key's uploads never become files -------------------------------------


def test_a_key_revoked_during_a_tus_patch_gets_401_and_nothing_is_kept(service: Service, keys):
    _, _, admin = keys
    k1 = new_key(admin, "write")
    data = pdf(18 * MIB)
    half = len(data) // 2
    with service.client(k1["key"]) as one:
        url = tus_new(one, len(data), title="revoked mid-patch")
        upload_id = url.rsplit("/", 1)[1]

        def body():
            yield data[:half]
            # Past the first 8 MiB part, the PATCH was authenticated and is streaming.
            deadline = time.monotonic() + 30
            while f"files/{upload_id}" not in service.pending_uploads():
                assert time.monotonic() < deadline, "the upload never started"
                time.sleep(0.05)
            assert admin.delete(f"/keys/{k1['id']}").status_code == 204
            yield data[half:]

        response = tus_patch(one, url, 0, body())
    assert response.status_code == 401, response.text
    assert "Silo-File-Id" not in response.headers
    assert count(service, "SELECT count(*) FROM files WHERE id = %s", uuid.UUID(upload_id)) == 0
    assert (
        count(service, "SELECT count(*) FROM tus_uploads WHERE id = %s", uuid.UUID(upload_id)) == 0
    )
    assert f"files/{upload_id}" not in service.objects()
    assert f"files/{upload_id}" not in service.pending_uploads()


def test_a_revoked_keys_direct_upload_is_never_completed(service: Service, keys):
    _, two, admin = keys
    k1 = new_key(admin, "write")
    with service.client(k1["key"]) as one:
        upload_id = direct_put(one, pdf(4096))
        assert admin.delete(f"/keys/{k1['id']}").status_code == 204
        assert_not_found(complete(two, upload_id))
        assert complete(one, upload_id).status_code == 401
    assert count(service, "SELECT count(*) FROM files WHERE id = %s", uuid.UUID(upload_id)) == 0
    assert count(service, "SELECT count(*) FROM files WHERE uploaded_by = %s", k1["id"]) == 0


# --- item 9: a failed creation-with-upload leaves nothing ----------------------------------------


@pytest.mark.parametrize("size", [4096, 9 * MIB])
def test_creation_with_upload_with_a_wrong_checksum_leaves_nothing(
    fresh_service: Service, size: int
):
    data = pdf(size)
    wrong = base64.b64encode(hashlib.sha256(b"not the body").digest()).decode()
    with fresh_service.client() as client:
        meta = f"title {b64('t')},filename {b64('a.pdf')}"
        response = client.post(
            "/uploads",
            content=data,
            headers={
                **OCTET,
                "Upload-Length": str(size),
                "Upload-Metadata": meta,
                "Upload-Checksum": f"sha256 {wrong}",
            },
        )
        assert response.status_code == 460, response.text
        assert "Location" not in response.headers
        metrics = client.get("/metrics").text
    assert count(fresh_service, "SELECT count(*) FROM tus_uploads") == 0
    assert fresh_service.pending_uploads() == [] and fresh_service.objects() == []
    gauge = [line for line in metrics.splitlines() if line.startswith("silo_tus_uploads_open")]
    assert gauge and gauge[0].split()[-1] in ("0", "0.0"), gauge
