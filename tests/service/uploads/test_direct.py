"""Direct-to-S3 uploads (POST /uploads/direct, then a PUT to storage, then .../complete) over
real HTTP: the service, the presigned PUT to the S3 endpoint with httpx, the download. Clients
that lie about the size, the sha256 or the type are refused and leave no object behind.

moto verifies neither the signature nor the checksum of a presigned PUT (it stores the body
whatever the headers say), so these lies reach storage here, and the service's own checks at
`complete` are what refuse them; on AWS S3 the PUT itself would already fail."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid

import httpx
import psycopg
import pytest

from service.uploads.filetypes import SNIFF_BYTES
from tests.service.conftest import Service, running_service
from tests.service.helpers import at_once, jpeg, pdf, png, sha256
from tests.support.waiting import eventually

MIB = 1024 * 1024


def declare(client: httpx.Client, data: bytes, **overrides) -> httpx.Response:
    body = {
        "filename": "report.pdf",
        "size": len(data),
        "sha256": sha256(data),
        "content_type": "application/pdf",
        "title": "Quarterly report",
        "roles": ["Mentor/Coach"],
        **overrides,
    }
    body = {k: v for k, v in body.items() if v is not None}
    return client.post("/uploads/direct", json=body)


def new_upload(client: httpx.Client, data: bytes, **overrides) -> dict:
    response = declare(client, data, **overrides)
    assert response.status_code == 201, response.text
    return response.json()


def put(ticket: dict, data: bytes, **header_changes: str) -> httpx.Response:
    """The client's PUT to storage, with the headers the service returned (as told)."""
    headers = {**ticket["headers"], **header_changes}
    response = httpx.request(ticket["method"], ticket["url"], content=data, headers=headers)
    return response


def complete(client: httpx.Client, upload_id: str) -> httpx.Response:
    return client.post(f"/uploads/direct/{upload_id}/complete")


def staged(service: Service) -> list[str]:
    return [key for key in service.objects() if key.startswith("staging/")]


def download(client: httpx.Client, file_id: str) -> bytes:
    found = client.get(f"/files/{file_id}/content", params={"redirect": "false"})
    assert found.status_code == 200, found.text
    return httpx.get(found.json()["url"]).content


def test_a_direct_upload_end_to_end(fresh_service: Service):
    data = pdf(3 * MIB)
    with fresh_service.client() as client:
        ticket = new_upload(client, data)
        assert set(ticket) == {"id", "method", "url", "headers", "expires_at"}
        assert ticket["method"] == "PUT"
        # The signature binds the size and the checksum: the client sends them as told.
        assert ticket["headers"]["Content-Length"] == str(len(data))
        assert (
            ticket["headers"]["x-amz-checksum-sha256"]
            == base64.b64encode(hashlib.sha256(data).digest()).decode()
        )
        signed = httpx.URL(ticket["url"]).params["X-Amz-SignedHeaders"].split(";")
        assert {"content-length", "x-amz-checksum-sha256"} <= set(signed)
        assert f"/staging/{ticket['id']}" in ticket["url"]

        assert put(ticket, data).status_code == 200
        assert staged(fresh_service) == [f"staging/{ticket['id']}"]
        done = complete(client, ticket["id"])
        assert done.status_code == 201, done.text
        file = done.json()
        assert file["id"] == ticket["id"]  # the upload's id is the file's id
        assert done.headers["Location"] == f"/files/{file['id']}"
        assert (file["size"], file["sha256"], file["type"]) == (len(data), sha256(data), "pdf")
        assert (file["title"], file["roles"], file["filename"]) == (
            "Quarterly report",
            ["Mentor/Coach"],
            "report.pdf",
        )
        assert client.get(f"/files/{file['id']}").json() == file
        assert download(client, file["id"]) == data
    # Moved to the file's key; nothing left in staging.
    assert fresh_service.objects() == [f"files/{file['id']}"]
    s3 = fresh_service.s3.client()
    head = s3.head_object(Bucket=fresh_service.bucket, Key=f"files/{file['id']}")
    assert head["ContentType"] == "application/pdf"
    tags = s3.get_object_tagging(Bucket=fresh_service.bucket, Key=f"files/{file['id']}")
    assert {t["Key"]: t["Value"] for t in tags["TagSet"]} == {
        "sha256": sha256(data),
        "size": str(len(data)),
    }


def test_the_title_defaults_to_the_name_without_its_extension(fresh_service: Service):
    data = pdf(3000)
    with fresh_service.client() as client:
        ticket = new_upload(client, data, filename="handbook.pdf", title=None)
        put(ticket, data)
        assert complete(client, ticket["id"]).json()["title"] == "handbook"


def test_a_second_complete_answers_the_same_file(fresh_service: Service):
    data = png()
    with fresh_service.client() as client:
        ticket = new_upload(client, data, filename="dot.png", content_type="image/png")
        put(ticket, data)
        first = complete(client, ticket["id"])
        again = complete(client, ticket["id"])
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json() == first.json()
        listed = client.get("/files").json()["items"]
    assert [f["id"] for f in listed] == [ticket["id"]]


def test_concurrent_completes_store_once(fresh_service: Service):
    data = pdf(2 * MIB)
    with fresh_service.client() as client:
        ticket = new_upload(client, data)
        put(ticket, data)
    answers: list[httpx.Response] = []

    def call() -> None:
        with fresh_service.client() as client:
            for _ in range(50):  # 423 while another request completes it: retry
                response = complete(client, ticket["id"])
                if response.status_code != 423:
                    break
                time.sleep(0.05)
            answers.append(response)

    at_once(call, 4)
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert fresh_service.objects() == [f"files/{ticket['id']}"]


def test_complete_before_the_put_is_409_and_the_upload_stays(fresh_service: Service):
    data = pdf()
    with fresh_service.client() as client:
        ticket = new_upload(client, data)
        early = complete(client, ticket["id"])
        assert early.status_code == 409
        assert early.json()["error"]["code"] == "not_uploaded"
        put(ticket, data)
        assert complete(client, ticket["id"]).status_code == 201


@pytest.mark.parametrize("lie", ["larger", "smaller"])
def test_a_client_lying_about_the_size_is_refused(fresh_service: Service, lie: str):
    data = pdf(100_000)
    sent = data + b"extra bytes" if lie == "larger" else data[:-10]
    with fresh_service.client() as client:
        ticket = new_upload(client, data)
        # What a client that ignores the signed Content-Length sends (moto takes it).
        put(ticket, sent, **{"Content-Length": str(len(sent))})
        refused = complete(client, ticket["id"])
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "size_mismatch"
        assert fresh_service.objects() == []
        # The upload is over: nothing to complete, nothing stored.
        assert complete(client, ticket["id"]).status_code == 404
        assert client.get(f"/files/{ticket['id']}").status_code == 404


def test_a_client_lying_about_the_sha256_is_refused(fresh_service: Service):
    data = pdf(100_000)
    other = data[:-1] + bytes([data[-1] ^ 1])  # same size, one bit differs
    with fresh_service.client() as client:
        ticket = new_upload(client, data)
        put(ticket, other)
        refused = complete(client, ticket["id"])
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "sha256_mismatch"
    assert fresh_service.objects() == []


def test_jpeg_bytes_named_pdf_are_refused(fresh_service: Service):
    data = jpeg()
    with fresh_service.client() as client:
        ticket = new_upload(client, data)  # declared report.pdf, application/pdf
        put(ticket, data)
        refused = complete(client, ticket["id"])
        assert refused.status_code == 415, refused.text
        assert refused.json()["error"]["code"] == "type_mismatch"
    assert fresh_service.objects() == []


def test_text_is_checked_to_the_last_byte(fresh_service: Service):
    """Text must be UTF-8 to the end: a binary byte past the sniffed head is refused, as
    POST /files refuses it (the object is read whole for such types)."""
    data = b"plain text\n" * (SNIFF_BYTES // 10) + b"\xff\xfe binary"
    with fresh_service.client() as client:
        ticket = new_upload(client, data, filename="notes.txt", content_type="text/plain")
        put(ticket, data)
        refused = complete(client, ticket["id"])
        assert refused.status_code == 415, refused.text
        assert refused.json()["error"]["code"] == "unsupported_type"
    assert fresh_service.objects() == []


def test_the_declaration_is_checked_before_any_url_is_given(service: Service):
    data = pdf()
    with service.client() as client:
        cases = [
            ({"title": ""}, 422, "validation_error"),  # none is the name's; empty is refused
            ({"roles": "Mentor/Coach"}, 422, "validation_error"),
            ({"roles": ["nobody-has-this-role"]}, 422, "validation_error"),
            ({"sha256": "abc"}, 422, "validation_error"),
            ({"sha256": sha256(data) + "\n"}, 422, "validation_error"),
            ({"size": "12"}, 422, "validation_error"),
            ({"size": 0}, 422, "empty_file"),
            ({"filename": "a\nb.pdf"}, 422, "validation_error"),
            ({"colour": "red"}, 422, "validation_error"),
            ({"size": service.settings.max_upload_bytes + 1}, 413, "too_large"),
            ({"filename": "tool.exe", "content_type": None}, 415, "unsupported_type"),
            ({"filename": "report.pdf", "content_type": "image/png"}, 415, "type_mismatch"),
        ]
        for changes, status, code in cases:
            response = declare(client, data, **changes)
            assert response.status_code == status, (changes, response.text)
            assert response.json()["error"]["code"] == code, changes
    assert staged(service) == []


def test_a_name_with_a_lone_surrogate_is_refused_as_invalid(service: Service):
    """JSON's \\u escapes can carry half a surrogate pair, which no database or header holds."""
    data = pdf()
    # Written by hand: json.dumps would escape it, but httpx's encoder refuses the surrogate.
    name = "report\\ud800.pdf"
    body = (
        f'{{"filename": "{name}", "size": {len(data)}, "sha256": "{sha256(data)}", "title": "T"}}'
    ).encode()
    with service.client() as client:
        refused = client.post(
            "/uploads/direct", content=body, headers={"Content-Type": "application/json"}
        )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "validation_error"
    assert "`filename`" in refused.json()["error"]["message"]


def test_a_type_the_tenant_does_not_accept_is_refused(pg, s3, aws_credentials):
    with running_service(pg, s3, SILO_ALLOWED_TYPES="pdf") as svc, svc.client() as client:
        declared = declare(client, png(), filename="dot.png", content_type="image/png")
        assert declared.status_code == 415
        assert declared.json()["error"]["code"] == "unsupported_type"
        # Declared as a PDF, PNG bytes PUT: refused when the content is sniffed.
        data = png()
        ticket = new_upload(client, data, filename="doc", content_type=None)
        put(ticket, data)
        refused = complete(client, ticket["id"])
        assert refused.status_code == 415
        assert refused.json()["error"]["code"] == "unsupported_type"
        assert svc.objects() == []


def test_unknown_and_malformed_ids_are_404(service: Service):
    with service.client() as client:
        assert complete(client, str(uuid.uuid4())).status_code == 404
        assert complete(client, "not-a-uuid").status_code == 404


def test_an_expired_upload_is_404_and_swept(pg, s3, aws_credentials):
    data = pdf()
    with (
        running_service(
            pg,
            s3,
            settings_changes={
                "upload_expiry_hours": 1 / 3600,
                "upload_sweep_interval_seconds": 0.3,
            },
        ) as svc,
        svc.client() as client,
    ):
        kept = new_upload(client, data)
        put(kept, data)
        late = new_upload(client, data)
        put(late, data)
        time.sleep(1.2)
        assert complete(client, late["id"]).status_code == 404
        # The sweeper removes the other one.
        eventually(lambda: svc.objects() == [], interval=0.2, message="not swept")
        assert complete(client, kept["id"]).status_code == 404
        with psycopg.connect(svc.settings.database_url) as conn:
            assert conn.execute("SELECT count(*) FROM direct_uploads").fetchone()[0] == 0


def test_write_scope_is_required(service: Service):
    with service.client() as admin:
        key = admin.post("/keys", json={"name": "reader", "scopes": ["read"]}).json()["key"]
    with service.client(key) as reader:
        assert declare(reader, pdf()).status_code == 403
        assert complete(reader, str(uuid.uuid4())).status_code == 403
    with service.client(None) as nobody:
        assert declare(nobody, pdf()).status_code == 401


def test_storage_checksums_are_used_where_storage_verifies_them(pg, s3, aws_credentials):
    """With SILO_S3_VERIFIES_CHECKSUMS (AWS S3), the sha256 is storage's own checksum of the
    object and the object is not read whole; a checksum other than the declared one is
    refused. (moto stores the checksum the PUT declares; that is why it is not trusted by
    default against a custom endpoint.)"""
    data = pdf(2 * MIB)
    with running_service(pg, s3, SILO_S3_VERIFIES_CHECKSUMS="1") as svc, svc.client() as client:
        ticket = new_upload(client, data)
        put(ticket, data)
        done = complete(client, ticket["id"])
        assert done.status_code == 201, done.text
        assert download(client, ticket["id"]) == data

        other = new_upload(client, data)
        wrong = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
        put(other, data, **{"x-amz-checksum-sha256": wrong})
        refused = complete(client, other["id"])
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "sha256_mismatch"
        assert staged(svc) == []


def test_a_write_only_key_gets_only_the_id(service: Service):
    with service.client() as admin:
        key = admin.post("/keys", json={"name": "writer", "scopes": ["write"]}).json()["key"]
    data = pdf()
    with service.client(key) as writer:
        ticket = new_upload(writer, data)
        put(ticket, data)
        done = complete(writer, ticket["id"])
        assert done.status_code == 201
        assert done.json() == {"id": ticket["id"]}
