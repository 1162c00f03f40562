"""The upload pipeline over HTTP: validation by content, size limit while streaming, field
order, malformed bodies, disconnects, concurrency. After every rejected upload the bucket holds
no new object, S3 no pending multipart upload, and the table no new row."""

from __future__ import annotations

import concurrent.futures
import os
import time

import httpx
import psycopg
import pytest

from tests.service.conftest import ADMIN_KEY, TEST_MAX_UPLOAD_BYTES, Service, running_service
from tests.service.helpers import (
    chunks_of,
    connect,
    elf,
    jpeg,
    multipart,
    mz,
    new_boundary,
    part,
    pdf,
    png,
    post_multipart,
    raw_request_head,
    read_response,
    sha256,
    upload,
)
from tests.service.test_app import assert_error
from tests.support.waiting import eventually

MIB = 1024 * 1024


def row_count(service: Service) -> int:
    with psycopg.connect(service.settings.database_url) as conn:
        return conn.execute("SELECT count(*) FROM files").fetchone()[0]


def wait_until_clean(service: Service, rows: int, objects: set[str], timeout: float = 15) -> None:
    """Cleanup may finish just after the response (or after a disconnect): poll for it."""
    eventually(
        lambda: (
            (row_count(service), set(service.objects()), service.pending_uploads())
            == (rows, objects, [])
        ),
        timeout=timeout,
        interval=0.1,
        message=lambda: (
            "left behind: rows/objects/pending = "
            f"{(row_count(service), set(service.objects()), service.pending_uploads())}"
        ),
    )


@pytest.fixture
def nothing_left(service: Service):
    """Asserts that the test leaves no row, object or pending multipart upload behind."""
    before = (row_count(service), set(service.objects()))
    yield
    wait_until_clean(service, *before)


@pytest.mark.parametrize(
    ("data", "filename", "declared", "code"),
    [
        (jpeg(), "report.pdf", "application/pdf", "type_mismatch"),
        (jpeg(), "report.pdf", None, "type_mismatch"),
        (jpeg(), "photo.jpg", "application/pdf", "type_mismatch"),
        (png(), "photo.png", "image/jpeg", "type_mismatch"),
        (elf(), "cat.png", "image/png", "unsupported_type"),
        (mz(), "setup.png", None, "unsupported_type"),
        (mz(), "setup.exe", "application/octet-stream", "unsupported_type"),
        (os.urandom(4096), "notes.txt", "text/plain", "unsupported_type"),
        (
            b"plain text " * 10000 + b"\x00\x01\x02 binary tail",
            "notes.txt",
            "text/plain",
            "unsupported_type",
        ),
        (pdf(), "notes.txt", "text/plain", "type_mismatch"),
    ],
)
def test_spoofed_types_are_415(admin, nothing_left, data, filename, declared, code):
    response = upload(admin, data, filename=filename, content_type=declared)
    assert_error(response, 415, code)


def test_type_not_allowed_for_the_tenant_is_415(pg, s3, aws_credentials):
    with running_service(pg, s3, SILO_ALLOWED_TYPES="pdf") as svc, svc.client() as client:
        assert_error(
            upload(client, png(), filename="a.png", content_type="image/png"),
            415,
            "unsupported_type",
        )
        assert upload(client, pdf()).status_code == 201


def test_refusals_name_the_way_out(admin, nothing_left):
    """An .exe is told which types are accepted; Latin-1 text that it must be UTF-8."""
    refused = assert_error(upload(admin, mz(), filename="setup.exe", content_type=None), 415,
                           "unsupported_type")  # fmt: skip
    message = refused["error"]["message"]
    assert message.startswith("the content is not of a type Silo accepts; accepted types: ")
    assert "pdf (.pdf)" in message and "png (.png)" in message and "txt (.txt)" in message
    latin1 = "Café crème\n".encode("latin-1") * 100
    refused = assert_error(upload(admin, latin1, filename="notes.txt", content_type="text/plain"),
                           415, "unsupported_type")  # fmt: skip
    assert refused["error"]["message"].endswith("text must be UTF-8")
    # Past the sniffed head, the same way out.
    late = b"plain text\n" * 10_000 + "Café".encode("latin-1")
    refused = assert_error(upload(admin, late, filename="notes.txt", content_type="text/plain"),
                           415, "unsupported_type")  # fmt: skip
    assert "text must be UTF-8" in refused["error"]["message"]


def test_the_title_defaults_to_the_name_without_its_extension(admin):
    data = pdf(3000)
    response = upload(admin, data, filename="handbook.pdf", fields={"language": "en"})
    assert response.status_code == 201, response.text
    assert (response.json()["title"], response.json()["filename"]) == ("handbook", "handbook.pdf")
    # A title sent is the title, and an empty one is still refused.
    assert upload(admin, data, filename="handbook.pdf").json()["title"] == "A title"
    assert_error(upload(admin, data, fields={"title": ""}), 422, "validation_error")


def test_honest_types_are_accepted_with_detected_content_type(admin):
    text = "Grüße, plain UTF-8 text\n".encode() * 10
    response = upload(admin, text, filename="notes.txt", content_type="text/plain")
    assert response.status_code == 201, response.text
    assert response.json()["type"] == "txt"
    response = upload(admin, png(), filename="pic.png", content_type="application/octet-stream")
    assert response.json()["content_type"] == "image/png"


def test_empty_file_is_422(admin, nothing_left):
    assert_error(upload(admin, b""), 422, "empty_file")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": ""}, "title"),  # no title is the file name's; an empty one is refused
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "description": "x" * 1001}, "description"),
        ({"title": "ok", "language": "english please"}, "language"),
        ({"title": "ok", "colour": "red"}, "colour"),
    ],
)
def test_invalid_metadata_is_422(admin, nothing_left, fields, message):
    body = assert_error(upload(admin, pdf(), fields=fields), 422, "validation_error")
    assert message in body["error"]["message"]


def test_fields_after_the_file_are_validated_and_the_object_removed(admin, nothing_left):
    # The file (more than one S3 part) is streamed to storage before the bad title is seen.
    boundary = new_boundary()
    body = multipart(
        [
            part("file", pdf(9 * MIB), filename="big.pdf", ctype="application/pdf"),
            part("title", b""),
        ],
        boundary,
    )
    assert_error(post_multipart(admin, body, boundary), 422, "validation_error")


def test_fields_after_the_file_are_accepted(admin):
    boundary = new_boundary()
    data = pdf(4000)
    body = multipart(
        [
            part("file", data, filename="late.pdf"),
            part("title", b"Late title"),
            part("roles", b"Mentee/Coachee"),
            part("roles", b"mentor/coach"),
        ],
        boundary,
    )
    response = post_multipart(admin, body, boundary)
    assert response.status_code == 201, response.text
    assert (response.json()["title"], response.json()["roles"]) == (
        "Late title",
        ["Mentee/Coachee", "Mentor/Coach"],
    )
    assert response.json()["sha256"] == sha256(data)


def test_file_names_are_sanitized(admin):
    response = upload(admin, pdf(), filename="..\\..\\etc/evil\u202e.pdf")
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "evil.pdf"
    response = upload(admin, pdf(), filename="")
    assert response.json()["filename"] == "file.pdf"
    # Control characters are refused, not dropped (adversity/test_hardening_answers.py).
    boundary = new_boundary()
    body = multipart(
        [part("title", b"t"), part("file", pdf(), filename="/tmp/\x01\x7fbell\x07.pdf")], boundary
    )
    assert_error(post_multipart(admin, body, boundary), 422, "validation_error")


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [
        ("application/json", b'{"title": "x"}', 415, "unsupported_media_type"),
        (None, b"raw bytes", 415, "unsupported_media_type"),
        ("multipart/form-data", b"--x\r\n", 400, "malformed_body"),
        ("multipart/form-data; boundary=x", b"garbage without boundary", 400, "malformed_body"),
        (
            "multipart/form-data; boundary=x",
            b"--x\r\nno headers here\r\n\r\nv\r\n--x--\r\n",
            400,
            "malformed_body",
        ),
        ("multipart/form-data; boundary=x", b"", 400, "malformed_body"),
        ("multipart/form-data; boundary=" + "b" * 300, b"--", 400, "malformed_body"),
    ],
)
def test_malformed_bodies_are_4xx(admin, nothing_left, content_type, body, status, code):
    headers = {"Content-Type": content_type} if content_type else {}
    assert_error(admin.post("/files", content=body, headers=headers), status, code)


def test_truncated_body_is_400_and_leaves_nothing(admin, nothing_left):
    boundary = new_boundary()
    body = multipart([part("title", b"t"), part("file", pdf(9 * MIB), filename="a.pdf")], boundary)
    cut = body[: len(body) - 100]
    assert_error(post_multipart(admin, cut, boundary), 400, "malformed_body")


def test_missing_or_duplicate_file_part_is_422(admin, nothing_left):
    boundary = new_boundary()
    body = multipart([part("title", b"t")], boundary)
    assert_error(post_multipart(admin, body, boundary), 422, "validation_error")
    body = multipart(
        [
            part("title", b"t"),
            part("file", pdf(), filename="a.pdf"),
            part("file", pdf(), filename="b.pdf"),
        ],
        boundary,
    )
    assert_error(post_multipart(admin, body, boundary), 422, "validation_error")
    body = multipart([part("title", b"t"), part("attachment", pdf(), filename="a.pdf")], boundary)
    assert_error(post_multipart(admin, body, boundary), 422, "validation_error")


def test_oversized_streamed_upload_is_413_and_leaves_nothing(admin, nothing_left):
    # Chunked transfer: no Content-Length to judge by, so the limit is enforced while streaming.
    data = pdf(TEST_MAX_UPLOAD_BYTES + 2 * MIB, seed=b"0123456789abcdef")
    boundary = new_boundary()
    body = multipart([part("title", b"big"), part("file", data, filename="big.pdf")], boundary)
    response = admin.post(
        "/files",
        content=chunks_of(body),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    body = assert_error(response, 413, "too_large")
    # The limit with its value, in bytes and in a person's units.
    assert f"{TEST_MAX_UPLOAD_BYTES:,} bytes" in body["error"]["message"]
    assert "24 MiB" in body["error"]["message"]


def test_oversized_content_length_is_413_before_the_body_is_sent(service: Service, nothing_left):
    boundary = new_boundary()
    with connect(service.url) as sock:
        sock.sendall(raw_request_head(service.url, ADMIN_KEY, boundary, 50 * 1024**3))
        status, raw = read_response(sock)
    assert status == 413
    assert b'"too_large"' in raw


def test_upload_at_exactly_the_limit_is_accepted(pg, s3, aws_credentials):
    with running_service(pg, s3, SILO_MAX_UPLOAD_BYTES="100000") as svc, svc.client() as client:
        assert upload(client, pdf(100000)).status_code == 201
        assert_error(upload(client, pdf(100001)), 413, "too_large")
        assert svc.pending_uploads() == []


def test_client_disconnect_halfway_leaves_nothing(service: Service, nothing_left):
    boundary = new_boundary()
    data = pdf(20 * MIB, seed=b"disconnect-me")
    body = multipart([part("title", b"gone"), part("file", data, filename="gone.pdf")], boundary)
    with connect(service.url) as sock:
        sock.sendall(raw_request_head(service.url, ADMIN_KEY, boundary, len(body)))
        # More than one 8 MiB part, so a multipart upload is under way when we vanish.
        for piece in chunks_of(body[: 13 * MIB]):
            sock.sendall(piece)
        eventually(
            service.pending_uploads,
            timeout=15,
            message="the upload should have reached S3 before we vanish",
        )
    # `nothing_left` now waits for the abort.


def test_concurrent_uploads_download_intact(service: Service):
    sizes = [9 * MIB, 3 * MIB, 17 * MIB, 100_000]
    datas = [pdf(size) for size in sizes]

    def one(data: bytes) -> dict:
        with service.client() as client:
            response = upload(client, data, fields={"title": f"{len(data)} bytes"})
            assert response.status_code == 201, response.text
            return response.json()

    with concurrent.futures.ThreadPoolExecutor(len(datas)) as pool:
        bodies = list(pool.map(one, datas))
    with service.client() as client:
        for body, data in zip(bodies, datas, strict=True):
            assert body["sha256"] == sha256(data) and body["size"] == len(data)
            url = client.get(f"/files/{body['id']}/content", params={"redirect": "false"}).json()[
                "url"
            ]
            assert sha256(httpx.get(url, timeout=60).content) == body["sha256"]
    assert service.pending_uploads() == []


def test_a_stalled_upload_is_dropped_with_408_and_leaves_nothing(pg, s3, aws_credentials):
    with running_service(pg, s3, settings_changes={"body_idle_timeout_seconds": 1.0}) as svc:
        _stall_an_upload(svc)
        wait_until_clean(svc, 0, set())


def _stall_an_upload(service: Service) -> None:
    boundary = new_boundary()
    body = multipart(
        [part("title", b"slow"), part("file", pdf(12 * MIB), filename="s.pdf")], boundary
    )
    with connect(service.url) as sock:
        sock.sendall(raw_request_head(service.url, ADMIN_KEY, boundary, len(body)))
        for piece in chunks_of(body[: 9 * MIB]):
            sock.sendall(piece)
        started = time.monotonic()
        status, raw = read_response(sock)
    assert status == 408, raw
    assert b'"request_timeout"' in raw
    assert time.monotonic() - started < 10
