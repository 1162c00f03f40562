"""Idempotency-Key on the three creating endpoints (POST /files, POST /uploads, POST
/uploads/direct), over real HTTP: a replay answers what the first request created and stores
nothing again; the same key for another request is 422; concurrent first uses store once."""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest

from tests.service.conftest import Service
from tests.service.helpers import at_once, pdf, sha256, upload
from tests.service.uploads.test_direct import complete, declare, put
from tests.service.uploads.test_tus import OCTET, TUS, create, patch


def key() -> str:
    return f"import-{uuid.uuid4()}"


def post_file(client: httpx.Client, data: bytes, idem: str, **kwargs) -> httpx.Response:
    file_tuple = (kwargs.pop("filename", "doc.pdf"), data, "application/pdf")
    return client.post(
        "/files",
        data={"title": kwargs.pop("title", "A title")},
        files={"file": file_tuple},
        headers={"Idempotency-Key": idem},
    )


@pytest.mark.parametrize(
    "bad",
    ["", "a" * 256, "has space", "tab\tin", "caf\u00e9"],
    ids=["empty", "long", "sp", "tab", "8bit"],
)
def test_a_malformed_key_is_422_on_every_endpoint(service: Service, bad: str):
    data = pdf()
    header = {"Idempotency-Key": bad.encode("utf-8")}  # raw bytes: httpx sends them as they are
    with service.client() as client:
        responses = [
            client.post(
                "/files", data={"title": "t"}, files={"file": ("a.pdf", data)}, headers=header
            ),
            client.post("/uploads", headers={**TUS, "Upload-Length": "10", **header}),
            client.post(
                "/uploads/direct",
                json={"filename": "a.pdf", "size": 10, "sha256": "0" * 64, "title": "t"},
                headers=header,
            ),
        ]
    for response in responses:
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_idempotency_key"


def test_post_files_replay_answers_the_first_file_and_stores_nothing(fresh_service: Service):
    data = pdf(200_000)
    idem = key()
    with fresh_service.client() as client:
        first = post_file(client, data, idem)
        assert first.status_code == 201, first.text
        assert "Idempotent-Replayed" not in first.headers
        again = post_file(client, data, idem)
        assert again.status_code == 200, again.text
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        assert again.headers["Location"] == first.headers["Location"]
        assert len(client.get("/files").json()["items"]) == 1
        # Another request under the same key: refused, nothing stored.
        other = post_file(client, pdf(1000), idem)
        assert other.status_code == 422
        assert other.json()["error"]["code"] == "idempotency_key_reused"
        retitled = post_file(client, data, idem, title="Another title")
        assert retitled.json()["error"]["code"] == "idempotency_key_reused"
        # Without a key, or with another, the same bytes are a new file.
        assert upload(client, data).status_code == 201
        assert post_file(client, data, key()).status_code == 201
        assert len(client.get("/files").json()["items"]) == 3
    assert len(fresh_service.objects()) == 3
    assert fresh_service.pending_uploads() == []


def test_post_files_key_of_a_deleted_file_creates_again(fresh_service: Service):
    data = pdf()
    idem = key()
    with fresh_service.client() as client:
        first = post_file(client, data, idem).json()
        assert client.delete(f"/files/{first['id']}").status_code == 204
        again = post_file(client, data, idem)
        assert again.status_code == 201
        assert again.json()["id"] != first["id"]
        assert post_file(client, data, idem).json()["id"] == again.json()["id"]


def test_concurrent_post_files_with_one_key_store_one_file(fresh_service: Service):
    data = pdf(3 * 1024 * 1024)
    idem = key()
    answers: list[httpx.Response] = []
    start = threading.Barrier(4)

    def send() -> None:
        with fresh_service.client() as client:
            start.wait()
            answers.append(post_file(client, data, idem))

    at_once(send, 4)
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers]
    assert [a.status_code for a in answers].count(201) == 1
    assert len({a.json()["id"] for a in answers}) == 1
    # The losers deleted their objects.
    assert fresh_service.objects() == [f"files/{answers[0].json()['id']}"]


def test_tus_replay_in_progress_then_completed(fresh_service: Service):
    data = pdf(5000)
    idem = key()
    with fresh_service.client() as client:
        client.headers["Idempotency-Key"] = idem
        first = create(client, len(data))
        assert first.status_code == 201
        location = first.headers["Location"]
        again = create(client, len(data))
        assert again.status_code == 201
        assert again.headers["Location"] == location
        assert "Idempotent-Replayed" not in again.headers
        assert create(client, len(data) + 1).json()["error"]["code"] == "idempotency_key_reused"
        assert patch(client, location, 0, data[:1000]).status_code == 204
        # creation-with-upload replayed: the body is not taken; the offset says where to go on.
        resumed = client.post(
            "/uploads",
            content=data,
            headers={
                **OCTET,
                "Upload-Length": str(len(data)),
                "Upload-Metadata": first.request.headers["Upload-Metadata"],
            },
        )
        assert resumed.status_code == 201
        assert resumed.headers["Upload-Offset"] == "1000"
        done = patch(client, location, 1000, data[1000:])
        assert done.status_code == 204
        file_id = done.headers["Silo-File-Id"]
        replay = create(client, len(data))
        assert replay.status_code == 200
        assert replay.headers["Location"] == location
        assert replay.headers["Silo-File-Id"] == file_id
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert client.get(f"/files/{file_id}").json()["sha256"] == sha256(data)
        assert len(client.get("/files").json()["items"]) == 1


def test_direct_replay_in_progress_then_completed(fresh_service: Service):
    data = pdf(100_000)
    idem = key()
    with fresh_service.client() as client:
        client.headers["Idempotency-Key"] = idem
        first = declare(client, data)
        assert first.status_code == 201
        ticket = first.json()
        again = declare(client, data)
        assert again.status_code == 200
        fresh = again.json()
        assert fresh["id"] == ticket["id"]
        assert set(fresh) == {"id", "method", "url", "headers", "expires_at"}
        assert declare(client, data, title="Other").json()["error"]["code"] == (
            "idempotency_key_reused"
        )
        assert put(fresh, data).status_code == 200
        file = complete(client, ticket["id"]).json()
        replay = declare(client, data)
        assert replay.status_code == 200
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == {"id": ticket["id"], "file": file}
    assert fresh_service.objects() == [f"files/{ticket['id']}"]


def test_a_key_is_one_request_across_endpoints(service: Service):
    data = pdf()
    idem = key()
    with service.client() as client:
        assert post_file(client, data, idem).status_code == 201
        direct = client.post(
            "/uploads/direct",
            json={
                "filename": "doc.pdf",
                "size": len(data),
                "sha256": sha256(data),
                "title": "A title",
            },
            headers={"Idempotency-Key": idem},
        )
        assert direct.status_code == 422
        assert direct.json()["error"]["code"] == "idempotency_key_reused"


def test_direct_key_of_a_refused_upload_starts_a_new_one(fresh_service: Service):
    """A refused upload (its object deleted) frees its key: the importer's retry with the same
    key and request gets a new upload, and a correct PUT then completes it."""
    data = pdf(50_000)
    idem = key()
    with fresh_service.client() as client:
        client.headers["Idempotency-Key"] = idem
        first = declare(client, data).json()
        put(first, data[:-1] + b"\x00")  # a corrupted transfer
        assert complete(client, first["id"]).json()["error"]["code"] == "sha256_mismatch"
        retry = declare(client, data)
        assert retry.status_code == 201
        second = retry.json()
        assert second["id"] != first["id"]
        put(second, data)
        assert complete(client, second["id"]).status_code == 201
        assert declare(client, data).json()["file"]["id"] == second["id"]


def test_concurrent_direct_creations_with_one_key_make_one_upload(fresh_service: Service):
    data = pdf(10_000)
    idem = key()
    answers: list[httpx.Response] = []
    start = threading.Barrier(4)

    def send() -> None:
        with fresh_service.client() as client:
            client.headers["Idempotency-Key"] = idem
            start.wait()
            answers.append(declare(client, data))

    at_once(send, 4)
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert len({a.json()["id"] for a in answers}) == 1
