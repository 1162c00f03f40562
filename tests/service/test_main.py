"""`python -m service` as a process: migrate, serve, configuration errors, graceful SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

from provisioning.local import free_port, wait_for_port
from tests.service.conftest import ADMIN_KEY, service_env
from tests.service.helpers import (
    connect,
    multipart,
    new_boundary,
    part,
    pdf,
    raw_request_head,
    read_response,
)

ROOT = Path(__file__).resolve().parents[2]


def process_env(database_url, s3, bucket, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SILO_", "DATABASE_", "S3_"))}
    return {
        **env,
        **service_env(database_url, s3, bucket),
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "HOST": "127.0.0.1",
        **extra,
    }


def run_module(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_configuration_error_is_one_line_naming_the_variable(database_url, s3, bucket):
    env = process_env(database_url, s3, bucket, SILO_MAX_UPLOAD_BYTES="ten")
    done = run_module(env)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "SILO_MAX_UPLOAD_BYTES" in done.stderr
    env.pop("S3_BUCKET")
    assert "S3_BUCKET" in run_module(env, "migrate").stderr


def test_no_scan_engine_stops_start_up_naming_silo_scan(database_url, s3, bucket):
    # No default: a deployment that forgot to choose would otherwise serve files unscanned.
    env = process_env(database_url, s3, bucket)
    del env["SILO_SCAN"]
    done = run_module(env)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "SILO_SCAN is not set" in done.stderr


def test_migrate_command_is_idempotent(database_url, s3, bucket):
    env = process_env(database_url, s3, bucket)
    assert run_module(env, "migrate").returncode == 0
    assert run_module(env, "migrate").returncode == 0
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 0


def test_serves_and_finishes_in_flight_requests_on_sigterm(database_url, s3, bucket):
    port = free_port()
    env = process_env(database_url, s3, bucket, PORT=str(port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "service"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert wait_for_port(port, timeout=30), "the service did not start listening"
        url = f"http://127.0.0.1:{port}"
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
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = proc.stdout.read()
    proc.stdout.close()
    assert "migrations applied" in output
    assert "stopped gracefully on SIGTERM" in output
    assert "tenant=test-tenant" in output
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT title FROM files").fetchall() == [("in flight",)]


def test_shutdown_timeout_aborts_a_stalled_upload(database_url, s3, bucket):
    port = free_port()
    env = process_env(database_url, s3, bucket, PORT=str(port), SILO_SHUTDOWN_TIMEOUT_SECONDS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "service"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for_port(port, timeout=30), "the service did not start listening"
        url = f"http://127.0.0.1:{port}"
        boundary = new_boundary()
        body = multipart([part("title", b"stalled"), part("file", pdf(20 * 1024**2))], boundary)
        client = s3.client()
        with connect(url) as sock:
            sock.sendall(raw_request_head(url, ADMIN_KEY, boundary, len(body)))
            sock.sendall(body[: 12 * 1024**2])  # a multipart upload is under way, then silence
            deadline = time.monotonic() + 15
            while not client.list_multipart_uploads(Bucket=bucket).get("Uploads"):
                assert time.monotonic() < deadline, "the upload never reached S3"
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert not client.list_objects_v2(Bucket=bucket).get("Contents")
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 0
