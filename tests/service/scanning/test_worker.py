"""Malware scanning end to end: the real service over HTTP, a real clamd (provisioning/local/
clamd.py, with a signature database holding only the EICAR test file's hash), the local S3, and
GuardDuty's verdict as GuardDuty writes it (an object tag).

For every way a file is stored (POST /files, tus, direct uploads, and a row written by an image
that knows nothing of scanning), an EICAR file sent as `.txt` becomes `infected`, is refused
(410) and its bytes leave the readable prefix; a clean PDF becomes `clean` and downloads.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from service.settings import from_environ
from service.uploads import rules
from tests.infra import clamd_server, eicar
from tests.service.conftest import ADMIN_KEY, Service, running_service, serve, service_env
from tests.service.helpers import pdf, sha256, upload
from tests.service.scanning.test_engines import GuardDutyRace
from tests.service.uploads import test_direct as direct
from tests.service.uploads.test_tus import new_upload, patch
from tests.support.databases import migrated_database
from tests.support.net import LocalClamd
from tests.support.waiting import eventually

FAST = {"scan_poll_seconds": 0.1}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
def clamd() -> Iterator[LocalClamd]:
    with clamd_server(stream_max_length="1M") as server:
        yield server


def clamav_service(pg, s3, address: str, *, settings: dict | None = None, **env: str):
    """A service scanning with the clamd at `address` (its own database and bucket)."""
    return running_service(
        pg,
        s3,
        settings_changes={**FAST, **(settings or {})},
        SILO_SCAN="clamav",
        SILO_CLAMD_ADDRESS=address,
        **env,
    )


@pytest.fixture(scope="module")
def scanned(pg, s3, aws_credentials, clamd) -> Iterator[Service]:
    with clamav_service(pg, s3, clamd.address) as svc:
        yield svc


def scan_of(client: httpx.Client, file_id: str) -> dict:
    response = client.get(f"/files/{file_id}")
    assert response.status_code == 200, response.text
    return response.json()["scan"]


def wait_for_verdict(client: httpx.Client, file_id: str, timeout: float = 30.0) -> dict:
    return eventually(
        lambda: (scan := scan_of(client, file_id))["status"] != "pending" and scan,
        timeout=timeout,
        interval=0.1,
        message=f"{file_id} still pending",
    )


def via_form(client: httpx.Client, data: bytes, filename: str, content_type: str) -> str:
    response = upload(client, data, filename=filename, content_type=content_type)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def via_tus(client: httpx.Client, data: bytes, filename: str, content_type: str) -> str:
    url = new_upload(client, len(data), filename=filename, filetype=content_type)
    response = patch(client, url, 0, data)
    assert response.status_code == 204, response.text
    return response.headers["Silo-File-Id"]


def via_direct(client: httpx.Client, data: bytes, filename: str, content_type: str) -> str:
    ticket = direct.new_upload(
        client, data, filename=filename, content_type=content_type, roles=None
    )
    assert direct.put(ticket, data).status_code == 200
    done = direct.complete(client, ticket["id"])
    assert done.status_code == 201, done.text
    return done.json()["id"]


def via_older_image(service: Service, data: bytes, filename: str, content_type: str) -> str:
    """A row written by anything that knows nothing of scanning (an image from before it,
    during a rollout): the object copied into place, the row inserted without the scan
    columns. The columns' defaults make it pending."""
    file_id = uuid.uuid4()
    key = rules.object_key_for(file_id)
    s3 = service.s3.client()
    s3.put_object(Bucket=service.bucket, Key=f"staging/{file_id}", Body=data)
    s3.copy_object(
        Bucket=service.bucket,
        Key=key,
        CopySource={"Bucket": service.bucket, "Key": f"staging/{file_id}"},
    )
    s3.delete_object(Bucket=service.bucket, Key=f"staging/{file_id}")
    type_id = "txt" if filename.endswith(".txt") else "pdf"
    with psycopg.connect(service.settings.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO files (id, object_key, title, filename, content_type, type, size,"
            " sha256, uploaded_by) VALUES (%s, %s, 'copied', %s, %s, %s, %s, %s, 'admin')",
            (file_id, key, filename, content_type, type_id, len(data), sha256(data)),
        )
    return str(file_id)


PATHS = ("form", "tus", "direct", "older_image")


def store(service: Service, client: httpx.Client, path: str, data: bytes, name: str, ctype: str):
    if path == "form":
        return via_form(client, data, name, ctype)
    if path == "tus":
        return via_tus(client, data, name, ctype)
    if path == "direct":
        return via_direct(client, data, name, ctype)
    return via_older_image(service, data, name, ctype)


@pytest.mark.parametrize("path", PATHS)
def test_eicar_is_infected_refused_and_its_bytes_quarantined(scanned: Service, path: str):
    with scanned.client() as client:
        file_id = store(scanned, client, path, eicar(), "notes.txt", "text/plain")
        key = f"files/{file_id}"
        scan = wait_for_verdict(client, file_id)
        assert (scan["status"], scan["engine"]) == ("infected", "clamav")
        assert scan["scanned_at"] is not None
        refused = client.get(f"/files/{file_id}/content")
        assert (refused.status_code, refused.json()["error"]["code"]) == (410, "infected")
        # The bytes left the readable prefix for quarantine/; the row stayed.
        objects = scanned.objects()
        assert key not in objects and f"quarantine/{key}" in objects
        assert client.get(f"/files/{file_id}").json()["filename"] == "notes.txt"
        listed = client.get("/files", params={"scan": "infected", "limit": 100}).json()["items"]
        assert file_id in [f["id"] for f in listed]
    with psycopg.connect(scanned.settings.database_url) as conn:
        events = conn.execute(
            "SELECT status, engine, detail, disposal FROM file_scan_events WHERE file_id = %s",
            (file_id,),
        ).fetchall()
    assert events == [("infected", "clamav", "Eicar-Test-Signature.UNOFFICIAL", "quarantined")]


@pytest.mark.parametrize("path", PATHS)
def test_a_clean_pdf_becomes_clean_and_downloads(scanned: Service, path: str):
    data = pdf(5000, seed=path.encode())
    with scanned.client() as client:
        file_id = store(scanned, client, path, data, "doc.pdf", "application/pdf")
        scan = wait_for_verdict(client, file_id)
        assert (scan["status"], scan["engine"]) == ("clean", "clamav")
        url = client.get(f"/files/{file_id}/content", params={"redirect": "false"}).json()["url"]
        assert sha256(httpx.get(url).content) == sha256(data)


def test_a_pending_file_is_not_served(pg, s3, aws_credentials):
    """Nothing answers at the scanner's address: the file stays pending and is refused 409."""
    with (
        clamav_service(pg, s3, "tcp://127.0.0.1:9") as svc,
        svc.client() as client,
    ):
        file_id = via_form(client, pdf(), "doc.pdf", "application/pdf")
        time.sleep(0.5)
        assert scan_of(client, file_id) == {"status": "pending", "scanned_at": None, "engine": None}
        refused = client.get(f"/files/{file_id}/content")
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "scan_pending")


def test_over_stream_max_length_is_held_as_oversize(scanned: Service):
    """clamd here stops reading at 1 MiB: the file is `oversize` (not `failed`, nor pending
    forever), held by the default policy, and visible in the listing's filter, /metrics and the
    console."""
    from tests.console.conftest import sign_in

    big = pdf(1024 * 1024 + 4096)
    with scanned.client() as client:
        file_id = via_form(client, big, "big.pdf", "application/pdf")
        scan = wait_for_verdict(client, file_id)
        assert (scan["status"], scan["engine"]) == ("oversize", "clamav")
        refused = client.get(f"/files/{file_id}/content")
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "scan_pending")
        assert "too large" in refused.json()["error"]["message"]
        assert "StreamMaxLength" not in refused.text
        listed = client.get("/files", params={"scan": "oversize", "limit": 100}).json()["items"]
        assert [f["id"] for f in listed] == [file_id]
        assert "oversize" in client.get("/openapi.json").text
        # Not infected: the bytes stay where they are.
        assert f"files/{file_id}" in scanned.objects()
    assert metric(scanned.url, "silo_scan_oversize_files") == 1
    assert metric(scanned.url, 'silo_scans_total{result="oversize"}') == 1
    with psycopg.connect(scanned.settings.database_url) as conn:
        (detail,) = conn.execute(
            "SELECT detail FROM file_scan_events WHERE file_id = %s", (file_id,)
        ).fetchone()
    assert "StreamMaxLength" in detail
    with httpx.Client(base_url=scanned.url, timeout=30) as browser:
        assert sign_in(browser).status_code == 303
        listing = browser.get("/console/files", params={"scan": "oversize"})
        assert '<option value="oversize" selected>' in listing.text
        assert '<span class="badge scan-oversize">oversize</span>' in listing.text
        page = browser.get(f"/console/files/{file_id}")
        assert 'scan-oversize">oversize' in page.text
        assert "too large for the malware scan" in page.text


def test_oversize_served_unscanned_by_the_tenant_s_policy(pg, s3, aws_credentials, clamd):
    """SILO_SCAN_MAX_BYTES below the file: clamd is not asked; SILO_SCAN_OVERSIZE=
    serve_unscanned serves it, marked `oversize`, while a file within the limit is scanned."""
    with (
        clamav_service(
            pg, s3, clamd.address, SILO_SCAN_MAX_BYTES="4096", SILO_SCAN_OVERSIZE="serve_unscanned"
        ) as svc,
        svc.client() as client,
    ):
        large = via_form(client, pdf(8000, seed=b"large"), "l.pdf", "application/pdf")
        small = via_form(client, eicar(), "e.txt", "text/plain")
        assert wait_for_verdict(client, large)["status"] == "oversize"
        assert wait_for_verdict(client, small)["status"] == "infected"
        assert client.get(f"/files/{large}/content").status_code == 302
        with psycopg.connect(svc.settings.database_url) as conn:
            (detail,) = conn.execute(
                "SELECT detail FROM file_scan_events WHERE file_id = %s", (large,)
            ).fetchone()
        assert "SILO_SCAN_MAX_BYTES=4096" in detail


def metric(service_url: str, series: str) -> float:
    """One series of /metrics, by its name and labels as printed (`silo_scans_total{...}`)."""
    lines = httpx.get(f"{service_url}/metrics").text.splitlines()
    values = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in lines if line[:1] != "#"
    }
    return values[series]


def test_scanner_down_keeps_files_pending_then_they_are_scanned(pg, s3, aws_credentials):
    with (
        clamd_server() as clamd,
        clamav_service(pg, s3, clamd.address) as svc,
        svc.client() as client,
    ):
        clamd.halt()
        ids = [
            via_form(client, pdf(3000, seed=b"a"), "a.pdf", "application/pdf"),
            via_tus(client, pdf(3000, seed=b"b"), "b.pdf", "application/pdf"),
            via_form(client, eicar(), "e.txt", "text/plain"),
        ]
        time.sleep(1.5)
        assert [scan_of(client, i)["status"] for i in ids] == ["pending"] * 3
        # Uploads still work and the instance is ready; /metrics says what is going on.
        assert client.get("/readyz").status_code == 200
        assert metric(svc.url, "silo_scanner_up") == 0
        assert metric(svc.url, "silo_scan_pending_files") == 3
        assert metric(svc.url, "silo_scan_oldest_pending_age_seconds") >= 1
        clamd.start()
        verdicts = [wait_for_verdict(client, i, timeout=60)["status"] for i in ids]
        assert verdicts == ["clean", "clean", "infected"]
        assert metric(svc.url, "silo_scanner_up") == 1
        assert metric(svc.url, "silo_scan_pending_files") == 0
        assert metric(svc.url, 'silo_scans_total{result="clean"}') == 2
        assert metric(svc.url, 'silo_scans_total{result="infected"}') == 1


def test_an_idle_worker_notices_the_scanner_is_down(pg, s3, aws_credentials):
    with (
        clamd_server() as clamd,
        clamav_service(pg, s3, clamd.address, settings={"scan_watch_seconds": 0.2}) as svc,
    ):
        assert metric(svc.url, "silo_scanner_up") == 1
        clamd.halt()
        eventually(
            lambda: metric(svc.url, "silo_scanner_up") == 0,
            interval=0.1,
            message="the outage never showed",
        )
        clamd.start()
        eventually(
            lambda: metric(svc.url, "silo_scanner_up") == 1,
            timeout=30,
            interval=0.1,
            message="the recovery never showed",
        )


def test_a_hung_clamd_is_down_and_costs_the_file_no_attempt(pg, s3, aws_credentials):
    """clamd SIGSTOPped mid-scan: /metrics says the scanner is down within the watch's period
    plus a PING deadline, the scan stuck in it ends at its reply deadline without counting an
    attempt, and once clamd goes on the file is scanned."""
    settings = {"scan_watch_seconds": 0.2, "scan_reply_seconds": 1.0}
    with (
        clamd_server() as clamd,
        clamav_service(pg, s3, clamd.address, settings=settings) as svc,
        svc.client() as client,
    ):
        assert metric(svc.url, "silo_scanner_up") == 1
        clamd.pause()
        try:
            file_id = via_form(client, pdf(seed=b"hung"), "h.pdf", "application/pdf")
            deadline = time.monotonic() + 6
            while metric(svc.url, "silo_scanner_up") != 0:
                assert time.monotonic() < deadline, "a hung clamd still counts as up"
                time.sleep(0.1)
            time.sleep(3)  # past the stuck scan's reply deadline and its PING
            with psycopg.connect(svc.settings.database_url) as conn:
                status, attempts = conn.execute(
                    "SELECT scan_status, scan_attempts FROM files WHERE id = %s", (file_id,)
                ).fetchone()
            assert (status, attempts) == ("pending", 0)
        finally:
            clamd.resume()
        assert wait_for_verdict(client, file_id, timeout=60)["status"] == "clean"
        assert metric(svc.url, "silo_scanner_up") == 1


def test_a_failed_scan_s_reason_is_not_shown_to_keys(scanned: Service):
    """Why a scan failed can name internals (an endpoint, a bucket): the 409 and the console
    say only that it failed; the reason stays in the row, the events and the logs."""
    internals = "S3 error at http://10.0.3.7:9000 bucket silo-prod-acme: AccessDenied"
    with scanned.client() as client:
        file_id = via_form(client, pdf(seed=b"failing"), "f.pdf", "application/pdf")
        wait_for_verdict(client, file_id)
        with psycopg.connect(scanned.settings.database_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE files SET scan_status = 'failed', scan_detail = %s WHERE id = %s",
                (internals, file_id),
            )
        reader = client.post("/keys", json={"name": "r", "scopes": ["read"]}).json()["key"]
    for key in (ADMIN_KEY, reader):
        with scanned.client(key) as client:
            refused = client.get(f"/files/{file_id}/content")
            assert (refused.status_code, refused.json()["error"]["code"]) == (409, "scan_pending")
            for secret in ("10.0.3.7", "silo-prod-acme", "AccessDenied"):
                assert secret not in refused.text
                assert secret not in client.get(f"/files/{file_id}").text


def test_a_stored_file_wakes_the_worker_of_every_instance(pg, s3, aws_credentials, clamd):
    """The worker polls once a minute here: an upload is scanned at once all the same (the
    insert's NOTIFY), and so is a row another instance stored (the same NOTIFY, heard by every
    instance's listener)."""
    with (
        clamav_service(pg, s3, clamd.address, settings={"scan_poll_seconds": 60.0}) as svc,
        svc.client() as client,
    ):
        time.sleep(0.5)  # past the slots' first look
        file_id = via_form(client, pdf(seed=b"woken"), "w.pdf", "application/pdf")
        assert wait_for_verdict(client, file_id, timeout=5)["status"] == "clean"
        elsewhere = via_older_image(svc, pdf(seed=b"other"), "o.pdf", "application/pdf")
        with psycopg.connect(svc.settings.database_url, autocommit=True) as conn:
            conn.execute("SELECT pg_notify('silo_scan_stored', '')")
        assert wait_for_verdict(client, elsewhere, timeout=5)["status"] == "clean"


def test_a_pending_file_is_scanned_after_a_restart(pg, s3, aws_credentials):
    """An instance stops with a file pending, another dies while scanning one (its claim is
    left behind): the next instance scans both, the second once the claim has run out."""
    database_url = migrated_database(pg)
    bucket = s3.create_bucket()
    env = service_env(database_url, s3, bucket, SILO_SCAN="clamav")
    try:
        with clamd_server() as clamd:
            settings = from_environ({**env, "SILO_CLAMD_ADDRESS": clamd.address})
            settings = dataclasses.replace(settings, **FAST)
            clamd.halt()
            with serve(settings) as url, httpx.Client(base_url=url, headers=ADMIN) as client:
                left = via_form(client, pdf(seed=b"left"), "a.pdf", "application/pdf")
                claimed = via_form(client, pdf(seed=b"claimed"), "b.pdf", "application/pdf")
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute(
                    "UPDATE files SET scan_due_at = clock_timestamp() + interval '12 seconds'"
                    " WHERE id = %s",
                    (claimed,),
                )
            clamd.start()
            with (
                serve(settings, run_migrations=False) as url,
                httpx.Client(base_url=url, headers=ADMIN) as client,
            ):
                assert wait_for_verdict(client, left)["status"] == "clean"
                assert scan_of(client, claimed)["status"] == "pending"
                assert wait_for_verdict(client, claimed)["status"] == "clean"
    finally:
        pg.drop_database(database_url)


def test_two_instances_share_a_backlog_and_scan_each_file_once(pg, s3, aws_credentials):
    with (
        clamd_server() as clamd,
        clamav_service(pg, s3, clamd.address) as first,
        serve(first.settings, run_migrations=False) as second,
        first.client() as client,
    ):
        clamd.halt()
        ids = [via_form(client, pdf(seed=bytes([n])), "d.pdf", "application/pdf") for n in range(8)]
        clamd.start()
        assert {wait_for_verdict(client, i, timeout=60)["status"] for i in ids} == {"clean"}
        with psycopg.connect(first.settings.database_url) as conn:
            counts = conn.execute(
                "SELECT file_id, count(*) FROM file_scan_events GROUP BY file_id"
            ).fetchall()
        assert sorted(str(f) for f, _ in counts) == sorted(ids)
        assert {n for _, n in counts} == {1}
        # Each instance counts the verdicts it recorded: between them, each file once.
        by_instance = [
            metric(url, 'silo_scans_total{result="clean"}') for url in (first.url, second)
        ]
        assert sum(by_instance) == 8


def test_delete_setting_removes_an_infected_files_bytes(pg, s3, aws_credentials, clamd):
    with (
        clamav_service(pg, s3, clamd.address, SILO_SCAN_INFECTED="delete") as svc,
        svc.client() as client,
    ):
        file_id = via_form(client, eicar(), "e.txt", "text/plain")
        assert wait_for_verdict(client, file_id)["status"] == "infected"
        assert svc.objects() == []
        stats = client.get("/stats").json()["files"]
        assert stats["infected"] == {"files": 1, "bytes": len(eicar())}


def test_the_scan_filter_is_for_admins(scanned: Service):
    with scanned.client() as admin:
        key = admin.post("/keys", json={"name": "reader", "scopes": ["read"]}).json()["key"]
        bad = admin.get("/files", params={"scan": "dirty"})
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, "validation_error")
    with scanned.client(key) as reader:
        refused = reader.get("/files", params={"scan": "infected"})
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
        assert reader.get("/files").status_code == 200


def test_scanning_off_stores_files_clean_by_engine_none(admin: httpx.Client):
    file_id = via_form(admin, pdf(), "doc.pdf", "application/pdf")
    scan = scan_of(admin, file_id)
    assert (scan["status"], scan["engine"]) == ("clean", "none")
    assert admin.get(f"/files/{file_id}/content").status_code == 302


def test_scanning_off_serves_a_file_left_pending_by_an_older_image_at_once(service: Service):
    """A tenant upgraded with `off` has every earlier file pending: a download does not wait
    for the worker to reach it (here it never would: its row is not due for an hour)."""
    with service.client() as client:
        file_id = via_form(client, pdf(seed=b"older"), "old.pdf", "application/pdf")
        with psycopg.connect(service.settings.database_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE files SET scan_status = 'pending', scan_engine = NULL, scanned_at = NULL,"
                " scan_due_at = now() + interval '1 hour' WHERE id = %s",
                (file_id,),
            )
        assert scan_of(client, file_id)["status"] == "pending"
        assert client.get(f"/files/{file_id}/content").status_code == 302
        scan = scan_of(client, file_id)
        assert (scan["status"], scan["engine"]) == ("clean", "none")


# -- GuardDuty: the verdict is the tag GuardDuty puts on the object ----------------------------


@pytest.fixture(scope="module")
def guarded(pg, s3, aws_credentials) -> Iterator[Service]:
    with running_service(pg, s3, settings_changes=FAST, SILO_SCAN="guardduty") as svc:
        yield svc


def guardduty_tags(service: Service, key: str, status: str) -> None:
    """As GuardDuty does: its tag added to the object's tags (the service's own are kept)."""
    s3 = service.s3.client()
    tags = s3.get_object_tagging(Bucket=service.bucket, Key=key)["TagSet"]
    tags.append({"Key": "GuardDutyMalwareScanStatus", "Value": status})
    s3.put_object_tagging(Bucket=service.bucket, Key=key, Tagging={"TagSet": tags})


@pytest.mark.parametrize(
    ("tag", "status"),
    [
        ("NO_THREATS_FOUND", "clean"),
        ("THREATS_FOUND", "infected"),
        ("UNSUPPORTED", "failed"),
        ("ACCESS_DENIED", "failed"),
        ("FAILED", "failed"),
    ],
)
def test_guardduty_tag_becomes_the_scan_status(guarded: Service, tag: str, status: str):
    with guarded.client() as client:
        file_id = via_form(client, pdf(4000, seed=tag.encode()), "doc.pdf", "application/pdf")
        time.sleep(0.5)  # no tag yet: no verdict yet
        assert scan_of(client, file_id)["status"] == "pending"
        guardduty_tags(guarded, f"files/{file_id}", tag)
        scan = wait_for_verdict(client, file_id, timeout=30)
        assert (scan["status"], scan["engine"]) == (status, "guardduty")
        content = client.get(f"/files/{file_id}/content")
        assert content.status_code == {"clean": 302, "infected": 410, "failed": 409}[status]
        quarantined = f"quarantine/files/{file_id}" in guarded.objects()
        assert quarantined == (status == "infected")


def wait_until_deferred(service: Service, file_id: str) -> None:
    """Until the worker has looked at the file, found no verdict, and put it off a while."""
    with psycopg.connect(service.settings.database_url, autocommit=True) as conn:
        eventually(
            lambda: conn.execute(
                "SELECT scan_due_at > clock_timestamp() + interval '3 seconds' FROM files"
                " WHERE id = %s",
                (file_id,),
            ).fetchone()[0],
            message="the worker never looked",
        )


def test_a_download_reads_guardduty_s_tag_at_once(guarded: Service):
    """The worker looks again only seconds later (at least 5 s after its first look); a
    download does not wait for that: it reads the tag itself, and the verdict is recorded."""
    with guarded.client() as client:
        file_id = via_form(client, pdf(4000, seed=b"now"), "doc.pdf", "application/pdf")
        assert client.get(f"/files/{file_id}/content").status_code == 409  # no tag yet
        wait_until_deferred(guarded, file_id)
        guardduty_tags(guarded, f"files/{file_id}", "NO_THREATS_FOUND")
        assert client.get(f"/files/{file_id}/content").status_code == 302
        assert scan_of(client, file_id)["status"] == "clean"
        infected = via_form(client, pdf(4000, seed=b"bad"), "doc.pdf", "application/pdf")
        guardduty_tags(guarded, f"files/{infected}", "THREATS_FOUND")
        assert client.get(f"/files/{infected}/content").status_code == 410
        assert f"quarantine/files/{infected}" in guarded.objects()


@pytest.mark.parametrize("via", [via_form, via_tus])
def test_guardduty_s_verdict_written_while_an_upload_completes_is_read(
    pg, s3, aws_credentials, monkeypatch: pytest.MonkeyPatch, via
):
    """GuardDuty tags a multipart object the moment it exists, while the service is still
    completing the upload (a form upload's last part, a tus upload read back): the service never
    writes the object's tags then, so the verdict is neither lost nor refused by the bucket
    policy, and the file is `clean` at its first download."""
    from service.storage import s3 as s3_storage

    race = GuardDutyRace(s3.client())
    real = s3_storage.s3_client
    monkeypatch.setattr(s3_storage, "s3_client", lambda **kw: race.install(real(**kw)))
    data = pdf(9 * 1024 * 1024, seed=via.__name__.encode())  # more than one 8 MiB part
    with (
        running_service(pg, s3, settings_changes=FAST, SILO_SCAN="guardduty") as svc,
        svc.client() as client,
    ):
        file_id = via(client, data, "doc.pdf", "application/pdf")
        assert race.tagged == [f"files/{file_id}"]
        assert client.get(f"/files/{file_id}/content").status_code == 302
        scan = scan_of(client, file_id)
        assert (scan["status"], scan["engine"]) == ("clean", "guardduty")
    assert race.tag_writes == []


def test_a_client_cannot_forge_guardduty_s_verdict_on_a_direct_upload(guarded: Service):
    """The client's PUT to staging/ carries the verdict tag itself: the copy to the file's key
    replaces the tags, so the file waits for GuardDuty's own."""
    data = pdf(4000, seed=b"forged")
    with guarded.client() as client:
        ticket = direct.new_upload(client, data, roles=None)
        forged = direct.put(
            ticket, data, **{"x-amz-tagging": "GuardDutyMalwareScanStatus=NO_THREATS_FOUND"}
        )
        # moto takes the unsigned header (the tag is then on staging/); an endpoint that refuses
        # it gets the honest PUT instead.
        if forged.status_code == 200:
            staged = guarded.s3.client().get_object_tagging(
                Bucket=guarded.bucket, Key=f"staging/{ticket['id']}"
            )
            assert {"Key": "GuardDutyMalwareScanStatus", "Value": "NO_THREATS_FOUND"} in staged[
                "TagSet"
            ]
        else:
            assert direct.put(ticket, data).status_code == 200
        done = direct.complete(client, ticket["id"])
        assert done.status_code == 201, done.text
        file_id = done.json()["id"]
        time.sleep(0.5)
        assert scan_of(client, file_id)["status"] == "pending"
        assert client.get(f"/files/{file_id}/content").status_code == 409
