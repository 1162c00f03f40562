"""The smoke checks: transport, error summaries, verdicts."""

from __future__ import annotations

import httpx
import pytest

from provisioning.local import free_port
from provisioning.smoke.checks import (
    CHECKS,
    FAIL,
    PASS,
    SKIP,
    CheckFailed,
    CheckResult,
    LocalhostTransport,
    SmokeTarget,
    TenantRun,
    check_key,
    describe_response,
    run_smoke,
    summarize,
)


def test_localhost_names_connect_to_loopback_and_keep_their_host_header():
    seen = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.url.port, request.headers["host"]))
        return httpx.Response(200)

    transport = LocalhostTransport(httpx.MockTransport(record))
    with httpx.Client(transport=transport) as client:
        client.get("http://pack.localhost/healthz")
        client.get("http://s3.localhost:9000/bucket/key?X-Amz-Signature=x")
        client.get("https://pack.uploads.example.com/healthz")
    assert seen == [
        ("127.0.0.1", None, "pack.localhost"),
        ("127.0.0.1", 9000, "s3.localhost:9000"),
        ("pack.uploads.example.com", None, "pack.uploads.example.com"),
    ]


def test_error_bodies_are_summarised_for_fail_lines():
    body = {"error": {"code": "type_mismatch", "message": "content is jpeg", "request_id": "r"}}
    assert describe_response(httpx.Response(415, json=body)) == (
        "HTTP 415 type_mismatch: content is jpeg"
    )
    assert describe_response(httpx.Response(502, text="<html>bad\ngateway</html>")) == (
        "HTTP 502 <html>bad gateway</html>"
    )


def test_an_unreachable_endpoint_fails_once_and_skips_the_rest():
    target = SmokeTarget("gone", f"http://127.0.0.1:{free_port()}", "k" * 20, key_is_admin=True)
    results = run_smoke([target])
    assert [r.check for r in results] == list(CHECKS)
    assert results[0].status == FAIL and "unreachable" in results[0].detail
    assert all(r.status == SKIP for r in results[1:])
    summary, ok = summarize(results)
    skipped = len(CHECKS) - 1
    assert not ok and f"gone: FAILED (0 passed, 1 failed, {skipped} skipped)" in summary


def test_summary_passes_only_without_failures():
    results = [
        CheckResult("a", "healthz", PASS),
        CheckResult("a", "isolation", SKIP, "single tenant"),
        CheckResult("b", "healthz", FAIL, "down"),
    ]
    summary, ok = summarize(results)
    assert not ok
    assert summary.splitlines() == [
        "a: ok (1 passed, 0 failed, 1 skipped)",
        "b: FAILED (0 passed, 1 failed, 0 skipped)",
        "smoke: 1/2 tenant(s) passed; failed: b",
    ]
    assert summarize(results[:2])[1]


def test_a_tenant_without_a_key_fails_saying_how_to_give_one():
    target = SmokeTarget("pack", "http://unused", None)
    with httpx.Client() as client, pytest.raises(CheckFailed, match="SILO_SMOKE_KEY_PACK"):
        check_key(TenantRun(target, client))


def test_a_server_that_drops_connections_fails_each_check_without_skipping_the_rest():
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def drop_everything():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=drop_everything, daemon=True)
    thread.start()
    try:
        target = SmokeTarget("rude", f"http://127.0.0.1:{port}", "k" * 20, key_is_admin=True)
        results = {r.check: r for r in run_smoke([target])}
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert results["healthz"].status == FAIL
    assert "RemoteProtocolError" in results["healthz"].detail
    assert results["readyz"].status == FAIL  # still tried, not skipped
    assert results["upload"].status == SKIP  # no key could be made
