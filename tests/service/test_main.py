"""`python -m service` as a process: migrate, serve, configuration errors, graceful SIGTERM."""

from __future__ import annotations

import signal
import time

import httpx
import psycopg

from tests.service.helpers import (
    connect,
    multipart,
    new_boundary,
    part,
    pdf,
    raw_request_head,
    read_response,
)
from tests.support.env import ADMIN_KEY, process_env
from tests.support.process import run_service, spawned_service
from tests.support.waiting import eventually


def test_configuration_error_is_one_line_naming_the_variable(database_url, s3, bucket):
    env = process_env(database_url, s3, bucket, SILO_MAX_UPLOAD_BYTES="ten")
    done = run_service(env)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "SILO_MAX_UPLOAD_BYTES" in done.stderr
    env.pop("S3_BUCKET")
    assert "S3_BUCKET" in run_service(env, "migrate").stderr


def test_no_scan_engine_stops_start_up_naming_silo_scan(database_url, s3, bucket):
    # No default: a deployment that forgot to choose would otherwise serve files unscanned.
    env = process_env(database_url, s3, bucket)
    del env["SILO_SCAN"]
    done = run_service(env)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "SILO_SCAN is not set" in done.stderr


def test_migrate_command_is_idempotent(database_url, s3, bucket):
    env = process_env(database_url, s3, bucket)
    assert run_service(env, "migrate").returncode == 0
    assert run_service(env, "migrate").returncode == 0
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 0


def test_serves_and_finishes_in_flight_requests_on_sigterm(database_url, s3, bucket, tmp_path):
    env = process_env(database_url, s3, bucket)
    with spawned_service(env, tmp_path / "service.log") as svc:
        url, proc = svc.url, svc.process
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/readyz").status_code == 200

        boundary = new_boundary()
        body = multipart([part("title", b"in flight"), part("file", pdf(300_000))], boundary)
        with connect(url) as sock:
            sock.sendall(raw_request_head(url, ADMIN_KEY, boundary, len(body)))
            sock.sendall(body[:150_000])
            time.sleep(0.3)  # the request is in the app, reading its body
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert proc.poll() is None, "exited with a request in flight"
            sock.sendall(body[150_000:])
            status, raw = read_response(sock)
        assert status == 201, raw
        assert proc.wait(timeout=30) == 0
    output = svc.output()
    assert "migrations applied" in output
    assert "stopped gracefully on SIGTERM" in output
    assert "tenant=test-tenant" in output
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT title FROM files").fetchall() == [("in flight",)]


def test_shutdown_timeout_aborts_a_stalled_upload(database_url, s3, bucket, tmp_path):
    env = process_env(database_url, s3, bucket, SILO_SHUTDOWN_TIMEOUT_SECONDS="1")
    client = s3.client()
    with spawned_service(env, tmp_path / "service.log") as svc:
        url = svc.url
        boundary = new_boundary()
        body = multipart([part("title", b"stalled"), part("file", pdf(20 * 1024**2))], boundary)
        with connect(url) as sock:
            sock.sendall(raw_request_head(url, ADMIN_KEY, boundary, len(body)))
            sock.sendall(body[: 12 * 1024**2])  # a multipart upload is under way, then silence
            eventually(
                lambda: client.list_multipart_uploads(Bucket=bucket).get("Uploads"),
                timeout=15,
                message="the upload never reached S3",
            )
            svc.process.send_signal(signal.SIGTERM)
            assert svc.process.wait(timeout=20) == 0
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert not client.list_objects_v2(Bucket=bucket).get("Contents")
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 0
