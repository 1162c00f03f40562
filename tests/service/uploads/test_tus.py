"""The tus 1.0.0 endpoint at /uploads, spoken by hand over real HTTP (the real clients are in
test_tus_clients.py): every status of the protocol, durability across instances, the lock,
expiry and the sweeper, CORS."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
import time
import uuid

import httpx
import psycopg
import pytest

from service.uploads.filetypes import SNIFF_BYTES
from service.uploads.tus_sql import LOCK_CLASS
from tests.service.conftest import ADMIN_KEY, Service, running_service, serve
from tests.service.helpers import elf, pdf, png, sha256
from tests.support.waiting import eventually

TUS = {"Tus-Resumable": "1.0.0"}
OCTET = {**TUS, "Content-Type": "application/offset+octet-stream"}
MIB = 1024 * 1024


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def metadata_header(**values: str | list[str]) -> str:
    return ",".join(
        f"{k} {b64(json.dumps(v) if isinstance(v, list) else v)}" for k, v in values.items()
    )


def create(client: httpx.Client, length: int, **meta) -> httpx.Response:
    meta = {"title": "A title", "filename": "doc.pdf", **meta}
    meta = {k: v for k, v in meta.items() if v is not None}
    return client.post(
        "/uploads",
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata_header(**meta)},
    )


def new_upload(client: httpx.Client, length: int, **meta) -> str:
    response = create(client, length, **meta)
    assert response.status_code == 201, response.text
    return response.headers["Location"]


def patch(client, url, offset, data, **headers) -> httpx.Response:
    return client.patch(
        url, content=data, headers={**OCTET, "Upload-Offset": str(offset), **headers}
    )


def offset_of(client, url) -> int:
    response = client.head(url, headers=TUS)
    assert response.status_code == 200, response
    return int(response.headers["Upload-Offset"])


def test_options_advertises_the_protocol(service: Service):
    with httpx.Client(base_url=service.url) as client:  # discovery needs no key
        response = client.options("/uploads")
    assert response.status_code == 204
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Tus-Version"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "termination",
        "expiration",
        "checksum",
    }
    assert response.headers["Tus-Max-Size"] == str(service.settings.max_upload_bytes)
    assert response.headers["Tus-Checksum-Algorithm"] == "sha1,sha256"


def test_options_on_an_upload_url_takes_a_uuid(service: Service):
    with httpx.Client(base_url=service.url) as client:
        assert client.options(f"/uploads/{uuid.uuid4()}").status_code == 204
        not_an_id = client.options("/uploads/null,null")
    assert not_an_id.status_code == 404
    assert not_an_id.headers["Tus-Resumable"] == "1.0.0"


def test_chunked_upload_becomes_the_file(admin: httpx.Client, service: Service):
    data = pdf(300_000)
    url = new_upload(admin, len(data), title="Chunked", category="Skills")
    assert url.startswith("/uploads/")
    head = admin.head(url, headers=TUS)
    assert head.headers["Upload-Offset"] == "0"
    assert head.headers["Upload-Length"] == str(len(data))
    assert head.headers["Upload-Expires"].endswith("GMT")
    assert head.headers["Cache-Control"] == "no-store"
    offset = 0
    for size in (1000, 70_000, 100_000):  # the sniff waits for 64 KiB
        response = patch(admin, url, offset, data[offset : offset + size])
        assert response.status_code == 204, response.text
        offset += size
        assert response.headers["Upload-Offset"] == str(offset)
        assert "Silo-File-Id" not in response.headers
    response = patch(admin, url, offset, data[offset:])
    assert response.status_code == 204, response.text
    file_id = response.headers["Silo-File-Id"]
    assert url == f"/uploads/{file_id}"
    row = admin.get(f"/files/{file_id}").json()
    assert row["sha256"] == sha256(data)
    assert row["size"] == len(data)
    assert row["type"] == "pdf"
    assert row["title"] == "Chunked"
    assert row["filename"] == "doc.pdf"
    assert row["uploaded_by"] == "admin"
    content = admin.get(f"/files/{file_id}/content", params={"redirect": "false"}).json()
    assert hashlib.sha256(httpx.get(content["url"]).content).hexdigest() == sha256(data)
    # Done is done: HEAD says complete, a repeated final PATCH changes nothing.
    assert offset_of(admin, url) == len(data)
    again = patch(admin, url, len(data), b"")
    assert again.status_code == 204
    assert again.headers["Silo-File-Id"] == file_id


def test_creation_with_upload(admin: httpx.Client):
    data = png()
    response = admin.post(
        "/uploads",
        content=data,
        headers={
            **OCTET,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": metadata_header(title="Pic", filename="p.png", filetype="image/png"),
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["Upload-Offset"] == str(len(data))
    file_id = response.headers["Silo-File-Id"]
    row = admin.get(f"/files/{file_id}").json()
    assert (row["type"], row["content_type"], row["sha256"]) == ("png", "image/png", sha256(data))


def test_multipart_sized_upload_across_instances_with_a_tail_kept_between_requests(
    pg, s3, aws_credentials
):
    """Parts of 8 MiB go to S3, the rest waits in the database: a second instance (sharing the
    database and bucket) continues an upload the first began, mid-part."""
    data = pdf(19 * MIB + 12345)
    with running_service(pg, s3) as first, serve(first.settings, run_migrations=False) as second:
        with (
            first.client() as a,
            httpx.Client(
                base_url=second, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60
            ) as b,
        ):
            url = new_upload(a, len(data), title="Big")
            cuts = [0, 3 * MIB, 9 * MIB, 9 * MIB + 1, 17 * MIB, len(data)]
            for i, (start, end) in enumerate(itertools.pairwise(cuts)):
                client = (a, b)[i % 2]
                assert offset_of(client, url) == start
                response = patch(client, url, start, data[start:end])
                assert response.status_code == 204, response.text
            file_id = response.headers["Silo-File-Id"]
            assert b.get(f"/files/{file_id}").json()["sha256"] == sha256(data)
        assert first.pending_uploads() == []
        assert first.objects() == [f"files/{file_id}"]


def test_offset_mismatch_is_409(admin: httpx.Client):
    data = pdf(100_000)
    url = new_upload(admin, len(data))
    assert patch(admin, url, 0, data[:10]).status_code == 204
    response = patch(admin, url, 0, data[:10])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "offset_mismatch"
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert patch(admin, url, 11, data[11:20]).status_code == 409
    assert offset_of(admin, url) == 10


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_checksum(admin: httpx.Client, algorithm: str):
    data = pdf(100_000)
    url = new_upload(admin, len(data))
    chunk = data[:50_000]
    digest = base64.b64encode(hashlib.new(algorithm, chunk).digest()).decode()
    wrong = base64.b64encode(hashlib.new(algorithm, b"other").digest()).decode()
    bad = patch(admin, url, 0, chunk, **{"Upload-Checksum": f"{algorithm} {wrong}"})
    assert bad.status_code == 460
    assert bad.json()["error"]["code"] == "checksum_mismatch"
    assert offset_of(admin, url) == 0  # the chunk was discarded
    good = patch(admin, url, 0, chunk, **{"Upload-Checksum": f"{algorithm} {digest}"})
    assert good.status_code == 204
    assert good.headers["Upload-Offset"] == "50000"
    unsupported = patch(admin, url, 50_000, data[50_000:], **{"Upload-Checksum": f"md5 {digest}"})
    assert unsupported.status_code == 400


def test_terminate(admin: httpx.Client, fresh_service: Service):
    with fresh_service.client() as client:
        data = pdf(9 * MIB)
        url = new_upload(client, len(data))
        assert patch(client, url, 0, data[: 8 * MIB + 5]).status_code == 204
        assert fresh_service.pending_uploads() != []
        assert client.delete(url, headers=TUS).status_code == 204
        for response in (
            client.head(url, headers=TUS),
            patch(client, url, 8 * MIB + 5, data[8 * MIB + 5 :]),
            client.delete(url, headers=TUS),
        ):
            assert response.status_code == 404
        assert fresh_service.pending_uploads() == []
        assert fresh_service.objects() == []


def test_content_not_allowed_ends_the_upload_with_415(fresh_service: Service):
    with fresh_service.client() as client:
        binary = elf()
        url = new_upload(client, len(binary), filename="tool")
        response = patch(client, url, 0, binary)
        assert response.status_code == 415
        assert response.json()["error"]["code"] == "unsupported_type"
        assert client.head(url, headers=TUS).status_code == 404
        # Disagreeing with the file name or the declared type: also the end of it, once the
        # first 64 KiB are there to sniff.
        data = png()
        url = new_upload(client, len(data), filename="p.pdf")
        response = patch(client, url, 0, data)
        assert (response.status_code, response.json()["error"]["code"]) == (415, "type_mismatch")
        data = pdf(SNIFF_BYTES * 2)
        url = new_upload(client, len(data), filename="p.png", filetype="image/png")
        assert patch(client, url, 0, data[:1000]).status_code == 204  # too early to tell
        response = patch(client, url, 1000, data[1000:])
        assert (response.status_code, response.json()["error"]["code"]) == (415, "type_mismatch")
        assert client.head(url, headers=TUS).status_code == 404
        # Text must be UTF-8 to the last byte, however far into the file.
        text = b"hello world\n" * 1_000_000 + b"\xff"
        url = new_upload(client, len(text), filename="a.txt")
        response = patch(client, url, 0, text)
        assert response.status_code == 415, response.text
        assert client.head(url, headers=TUS).status_code == 404
        assert fresh_service.objects() == []
        assert fresh_service.pending_uploads() == []
        assert client.get("/files").json()["items"] == []


@pytest.mark.parametrize(
    ("meta", "code"),
    [
        ({"title": ""}, "validation_error"),
        ({"filename": "a\x00.pdf"}, "validation_error"),
        ({"roles": "staff"}, "validation_error"),
        ({"roles": ["no-such-role"]}, "validation_error"),
        ({"category": "no-such-category"}, "validation_error"),
        ({"language": "not a language"}, "validation_error"),
    ],
)
def test_metadata_is_validated_at_creation(admin: httpx.Client, meta, code):
    response = create(admin, 1000, **meta)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


def test_metadata_becomes_the_files_metadata(admin: httpx.Client):
    data = pdf(5000)
    roles = admin.get("/roles").json()["items"]
    role = roles[0]["name"]
    meta = metadata_header(title="T", description="D", language="en", roles=[role])
    created = admin.post(
        "/uploads",
        headers={
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": meta,
            "X-Silo-User": "teacher-7",  # the acting user, as on POST /files
        },
    )
    url = created.headers["Location"]
    assert admin.head(url, headers=TUS).headers["Upload-Metadata"] == meta
    response = patch(admin, url, 0, data)
    row = admin.get(f"/files/{response.headers['Silo-File-Id']}").json()
    assert row["uploaded_by"] == "teacher-7"
    assert (row["title"], row["description"], row["language"], row["roles"]) == (
        "T",
        "D",
        "en",
        [role],
    )


def test_uppys_default_metadata_makes_a_file(admin: httpx.Client):
    """A stock Uppy Tus plugin sends `name`, `type`, `relativePath` and `filename`/`filetype`,
    and no title: accepted, the title is the name without its extension, and the metadata as
    sent is what HEAD echoes."""
    data = pdf(5000)
    meta = ",".join(
        [
            metadata_header(name="Lesson 3.pdf", type="application/pdf", relativePath="null"),
            "x-app-flag",  # a key without a value
            f"x-blob {base64.b64encode(bytes([0xFF, 0xFE])).decode()}",  # not even UTF-8
        ]
    )
    created = admin.post(
        "/uploads", headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": meta}
    )
    assert created.status_code == 201, created.text
    url = created.headers["Location"]
    assert admin.head(url, headers=TUS).headers["Upload-Metadata"] == meta
    file_id = patch(admin, url, 0, data).headers["Silo-File-Id"]
    row = admin.get(f"/files/{file_id}").json()
    assert (row["title"], row["filename"], row["type"]) == ("Lesson 3", "Lesson 3.pdf", "pdf")
    # `type` is the declared type when `filetype` is absent: checked with the name at creation
    # (issue 21: refused before a byte is sent, as direct uploads are).
    wrong = create(admin, 1000, filename=None, name="x.pdf", type="image/png", title="T")
    assert wrong.status_code == 415, wrong.text
    assert wrong.json()["error"]["code"] == "type_mismatch"


def test_creation_errors(admin: httpx.Client, service: Service):
    limit = service.settings.max_upload_bytes
    too_large = create(admin, limit + 1)
    assert too_large.status_code == 413
    assert too_large.json()["error"]["message"] == (
        f"the upload exceeds the limit of 24 MiB ({limit:,} bytes)"
    )
    assert create(admin, 0).status_code == 422
    no_length = admin.post(
        "/uploads", headers={**TUS, "Upload-Metadata": metadata_header(title="x")}
    )
    assert no_length.status_code == 400
    old = admin.post("/uploads", headers={"Tus-Resumable": "0.2.2", "Upload-Length": "5"})
    assert old.status_code == 412
    assert old.headers["Tus-Version"] == "1.0.0"


def test_auth_and_scope(service: Service, admin: httpx.Client):
    with service.client(key=None) as anonymous:
        assert create(anonymous, 100).status_code == 401
    key = admin.post("/keys", json={"name": "reader", "scopes": ["read"]}).json()["key"]
    with service.client(key=key) as reader:
        assert create(reader, 100).status_code == 403
        url = new_upload(admin, 100)
        assert reader.head(url, headers=TUS).status_code == 403


def test_unknown_upload_is_404(admin: httpx.Client):
    for url in ("/uploads/0b7d6b4e-3a39-4a8e-9e4e-6f7d0b0a3f11", "/uploads/nope"):
        assert admin.head(url, headers=TUS).status_code == 404
        assert patch(admin, url, 0, b"x").status_code == 404


def test_body_past_upload_length_is_refused(admin: httpx.Client):
    data = pdf(1000)
    url = new_upload(admin, len(data))
    assert patch(admin, url, 0, data + b"extra").status_code == 413  # by its Content-Length

    def streamed():  # no Content-Length: refused once it goes past
        yield data
        yield b"extra"

    assert patch(admin, url, 0, streamed()).status_code == 413
    assert offset_of(admin, url) == 0
    assert patch(admin, url, 0, data).status_code == 204


def test_patch_needs_the_offset_content_type(admin: httpx.Client):
    url = new_upload(admin, 1000)
    response = admin.patch(url, content=b"x", headers={**TUS, "Upload-Offset": "0"})
    assert response.status_code == 415


def _slow_body(first: bytes, release: threading.Event):
    yield first
    release.wait(30)


def test_second_patch_while_receiving_is_423_even_on_another_instance(pg, s3, aws_credentials):
    data = pdf(200_000)
    with (
        running_service(pg, s3) as first,
        serve(first.settings, run_migrations=False) as second,
        first.client() as a,
        httpx.Client(
            base_url=second, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60
        ) as b,
    ):
        url = new_upload(a, len(data))
        release = threading.Event()
        results: list[httpx.Response] = []
        holder = threading.Thread(
            target=lambda: results.append(patch(a, url, 0, _slow_body(data[:100_000], release)))
        )
        holder.start()
        try:
            # Wait until the first PATCH holds the upload's lock (probing with requests would
            # contend for the lock itself).
            with psycopg.connect(first.settings.database_url) as conn:
                eventually(
                    lambda: conn.execute(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                        " AND classid = %s AND database = (SELECT oid FROM pg_database"
                        " WHERE datname = current_database())",
                        [LOCK_CLASS],
                    ).fetchone()[0],
                    message="the first PATCH never took the lock",
                )
            response = patch(b, url, 0, data)
            assert response.status_code == 423, response.text
            assert response.json()["error"]["code"] == "upload_locked"
            assert b.delete(url, headers=TUS).status_code == 423
        finally:
            release.set()
            holder.join(30)
        assert results[0].status_code == 204, results[0].text
        assert results[0].headers["Upload-Offset"] == "100000"
        response = patch(b, url, 100_000, data[100_000:])
        assert response.status_code == 204
        assert "Silo-File-Id" in response.headers


def test_expired_uploads_are_404_and_swept(pg, s3, aws_credentials):
    changes = {"upload_expiry_hours": 2 / 3600, "upload_sweep_interval_seconds": 0.5}
    with running_service(pg, s3, settings_changes=changes) as svc, svc.client() as client:
        data = pdf(9 * MIB)
        url = new_upload(client, len(data))
        assert patch(client, url, 0, data[: 8 * MIB + 1]).status_code == 204
        assert svc.pending_uploads() != []
        time.sleep(2.2)
        assert client.head(url, headers=TUS).status_code == 404
        assert patch(client, url, 8 * MIB + 1, data[8 * MIB + 1 :]).status_code == 404
        eventually(lambda: svc.pending_uploads() == [], interval=0.2, message="not swept")
        with psycopg.connect(svc.settings.database_url) as conn:
            assert conn.execute("SELECT count(*) FROM tus_uploads").fetchone()[0] == 0


def test_cors_for_the_tenants_origins(pg, s3, aws_credentials):
    origin = "https://app.example.com"
    with running_service(pg, s3, SILO_CORS_ORIGINS=origin) as svc, svc.client() as client:
        preflight = client.options(
            "/uploads",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "tus-resumable,upload-offset,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["Access-Control-Allow-Origin"] == origin
        assert "upload-offset" in preflight.headers["Access-Control-Allow-Headers"].lower()
        response = client.post(
            "/uploads",
            headers={
                **TUS,
                "Origin": origin,
                "Upload-Length": "100",
                "Upload-Metadata": metadata_header(title="x"),
            },
        )
        assert response.status_code == 201
        exposed = {
            h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")
        }
        assert {
            "location",
            "upload-offset",
            "upload-length",
            "upload-expires",
            "tus-resumable",
            "tus-version",
            "tus-extension",
            "tus-max-size",
            "silo-file-id",
        } <= exposed
        other = client.options(
            "/uploads",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PATCH"},
        )
        assert "Access-Control-Allow-Origin" not in other.headers


def test_a_completion_cut_short_is_settled_by_the_next_head(
    fresh_service: Service, monkeypatch: pytest.MonkeyPatch
):
    """All bytes stored, then the file's row could not be written (the database blinked, or a
    deploy cancelled the request): the upload stays stored, and the client's next HEAD finishes
    it before answering "complete"."""
    from service.files.domain import Files

    real = Files.insert_stored
    failures = []

    async def failing_once(self, conn, stored, uploaded_by, **kwargs):
        if not failures:
            failures.append(stored.id)
            raise psycopg.OperationalError("the database went away")
        return await real(self, conn, stored, uploaded_by, **kwargs)

    monkeypatch.setattr(Files, "insert_stored", failing_once)
    data = pdf(9 * MIB)  # a multipart object: its sha256 is read back when settling
    with fresh_service.client() as client:
        url = new_upload(client, len(data))
        final = patch(client, url, 0, data)  # sniffed, stored and settled in one request
        assert final.status_code == 503
        assert final.json()["error"]["code"] == "database_unavailable"
        head = client.head(url, headers=TUS)
        assert head.status_code == 200
        assert head.headers["Upload-Offset"] == str(len(data))
        file_id = head.headers["Silo-File-Id"]
        assert str(failures[0]) == file_id
        assert client.get(f"/files/{file_id}").json()["sha256"] == sha256(data)
        again = patch(client, url, len(data), b"")
        assert (again.status_code, again.headers["Silo-File-Id"]) == (204, file_id)
    assert fresh_service.objects() == [f"files/{file_id}"]
    assert fresh_service.pending_uploads() == []


def test_a_completion_that_was_not_recorded_is_recovered(
    fresh_service: Service, monkeypatch: pytest.MonkeyPatch
):
    """S3 completed the object, then the instance died before recording it: the client sends
    its last chunk again, finds the multipart upload gone and the object whole, and gets its
    file."""
    from service.uploads import tus_sql as uploads

    real = uploads.mark_stored
    calls = []

    async def dying_once(conn, upload_id, **kwargs):
        calls.append(upload_id)
        if len(calls) == 1:
            raise psycopg.OperationalError("the instance died here")
        return await real(conn, upload_id, **kwargs)

    monkeypatch.setattr(uploads, "mark_stored", dying_once)
    data = pdf(9 * MIB)
    cut = 8 * MIB + 7
    with fresh_service.client() as client:
        url = new_upload(client, len(data))
        assert patch(client, url, 0, data[:cut]).status_code == 204
        assert patch(client, url, cut, data[cut:]).status_code == 503
        assert offset_of(client, url) == cut  # as far as the database knows
        again = patch(client, url, cut, data[cut:])
        assert again.status_code == 204, again.text
        file_id = again.headers["Silo-File-Id"]
        assert client.get(f"/files/{file_id}").json()["sha256"] == sha256(data)
    assert fresh_service.objects() == [f"files/{file_id}"]


def test_a_multipart_upload_aborted_behind_its_back_ends_the_upload(fresh_service: Service):
    """The bucket's lifecycle rule (or an operator) aborted the multipart upload: the upload can
    never be finished, so it goes, and the client learns it with a 404."""
    data = pdf(9 * MIB)
    cut = 8 * MIB + 7
    with fresh_service.client() as client:
        url = new_upload(client, len(data))
        assert patch(client, url, 0, data[:cut]).status_code == 204
        s3 = fresh_service.s3.client()
        for pending in s3.list_multipart_uploads(Bucket=fresh_service.bucket)["Uploads"]:
            s3.abort_multipart_upload(
                Bucket=fresh_service.bucket, Key=pending["Key"], UploadId=pending["UploadId"]
            )
        assert patch(client, url, cut, data[cut:]).status_code == 404
        assert client.head(url, headers=TUS).status_code == 404
    assert fresh_service.objects() == []


def test_a_patch_right_after_a_completed_patch_is_never_423(
    fresh_service: Service, monkeypatch: pytest.MonkeyPatch
):
    """PostgreSQL drops a closed session's advisory locks when its backend has finished exiting,
    after the client has moved on. Here that backend takes a second to go: the lock must have
    been released explicitly, so the client's next PATCH (and HEAD) right after a 204 is served,
    not 423."""
    import asyncio
    import types

    from service.uploads import tus as resumable

    closing: list[asyncio.Task] = []

    class SlowToClose(psycopg.AsyncConnection):
        async def close(self) -> None:
            async def later() -> None:
                await asyncio.sleep(1)
                await psycopg.AsyncConnection.close(self)

            closing.append(asyncio.get_running_loop().create_task(later()))

    monkeypatch.setattr(resumable, "psycopg", types.SimpleNamespace(AsyncConnection=SlowToClose))
    data = pdf(300_000)
    with fresh_service.client() as client:
        url = new_upload(client, len(data))
        assert patch(client, url, 0, data[:100_000]).status_code == 204
        second = patch(client, url, 100_000, data[100_000:200_000])
        assert second.status_code == 204, second.text
        assert offset_of(client, url) == 200_000
        final = patch(client, url, 200_000, data[200_000:])
        assert final.status_code == 204, final.text
        assert "Silo-File-Id" in final.headers
    time.sleep(1.5)  # let the deferred closes run


def test_a_completion_still_assembling_the_object_is_503_and_the_upload_stays(
    fresh_service: Service, monkeypatch: pytest.MonkeyPatch
):
    """bench/migration.py's lost uploads: under load a CompleteMultipartUpload outlives its read
    timeout and botocore sends it again; S3 (moto: `del bucket.multiparts[id]`, then the object
    is written) has already dropped the multipart upload, so the retry gets NoSuchUpload, so
    does ListParts, and the object is not visible yet. That is not an abort: the answer is 503
    and the upload stays; the client's retry finds the object and gets its file (404 and the
    upload discarded before)."""
    from botocore.exceptions import ClientError

    from service.storage import S3Storage, StorageError

    real_call = S3Storage.call
    assembling: dict[str, bytes] = {}

    async def call(self, fn, /, **kwargs):
        if getattr(fn, "__name__", "") == "complete_multipart_upload" and not assembling:
            await real_call(self, fn, **kwargs)  # S3 completes it...
            # ...but the object is not visible yet, and the answer the service gets is the
            # retry's.
            body = self.client.get_object(Bucket=kwargs["Bucket"], Key=kwargs["Key"])["Body"]
            assembling[kwargs["Key"]] = body.read()
            self.client.delete_object(Bucket=kwargs["Bucket"], Key=kwargs["Key"])
            error = {"Error": {"Code": "NoSuchUpload", "Message": "gone"}}
            raise StorageError("S3 complete_multipart_upload") from ClientError(
                error, "CompleteMultipartUpload"
            )
        return await real_call(self, fn, **kwargs)

    monkeypatch.setattr(S3Storage, "call", call)
    data = pdf(9 * MIB)
    cut = 8 * MIB + 7
    with fresh_service.client() as client:
        url = new_upload(client, len(data))
        assert patch(client, url, 0, data[:cut]).status_code == 204
        final = patch(client, url, cut, data[cut:])
        assert final.status_code == 503, final.text
        assert final.json()["error"]["code"] == "storage_unavailable"
        assert offset_of(client, url) == cut  # still there, resumable
        # The completion finishes writing the object.
        s3 = fresh_service.s3.client()
        ((key, assembled),) = assembling.items()
        s3.put_object(Bucket=fresh_service.bucket, Key=key, Body=assembled)
        again = patch(client, url, cut, data[cut:])
        assert again.status_code == 204, again.text
        file_id = again.headers["Silo-File-Id"]
        assert client.get(f"/files/{file_id}").json()["sha256"] == sha256(data)
    assert fresh_service.objects() == [f"files/{file_id}"]
    assert fresh_service.pending_uploads() == []
