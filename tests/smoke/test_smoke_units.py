"""The smoke test's own parts: generated files, target resolution, transport, verdicts."""

from __future__ import annotations

import json
import struct
import zlib

import httpx
import pytest

from provisioning import smoke
from provisioning.cli import build_parser
from provisioning.local import free_port
from provisioning.smoke_checks import (
    CHECKS,
    FAIL,
    PASS,
    SKIP,
    CheckResult,
    LocalhostTransport,
    SmokeTarget,
    describe_response,
    key_env_var,
    run_smoke,
    summarize,
)
from provisioning.smoke_files import PNG_SIGNATURE, make_jpeg_bytes, make_png
from service import filetypes
from tests.smoke.conftest import write_catalogue


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data.startswith(PNG_SIGNATURE)
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    return chunks


def test_png_is_a_well_formed_image():
    pixels = bytes(range(256)) * 3  # 16 x 16 RGB
    data = make_png(16, 16, pixels)
    chunks = png_chunks(data)
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, color, *_ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (width, height, depth, color) == (16, 16, 8, 2)
    raw = zlib.decompress(chunks[1][1])
    rows = [raw[i * 49 : (i + 1) * 49] for i in range(16)]
    assert all(row[0] == 0 for row in rows)
    assert b"".join(row[1:] for row in rows) == pixels


def test_png_pixels_are_random_unless_given():
    assert make_png() != make_png()
    with pytest.raises(ValueError, match="RGB pixels"):
        make_png(2, 2, b"\x00")


def test_the_service_sees_the_png_as_png_and_the_spoof_as_a_jpeg_claiming_to_be_pdf():
    png = make_png()
    assert filetypes.detect(png, complete=True).id == "png"
    jpeg = filetypes.detect(make_jpeg_bytes(), complete=True)
    assert jpeg.id == "jpeg"
    assert filetypes.mismatch(jpeg, "x.pdf", "application/pdf") is not None


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
    assert not ok and "gone: FAILED (0 passed, 1 failed, 10 skipped)" in summary


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


def parse(*argv: str):
    full = ["smoke", *argv]
    return build_parser(full).parse_args(full)


def test_targets_from_a_state_file(tmp_path):
    state = tmp_path / "dev.json"
    entry = {"url": "http://127.0.0.1:1", "admin_key": "a" * 20, "bucket": "b"}
    state.write_text(json.dumps({"tenants": {"x": entry, "y": {**entry, "url": "http://y"}}}))
    targets = smoke.resolve_targets(parse("--state", str(state)), {})
    assert targets == [
        SmokeTarget("x", "http://127.0.0.1:1", "a" * 20, key_is_admin=True),
        SmokeTarget("y", "http://y", "a" * 20, key_is_admin=True),
    ]
    only = smoke.resolve_targets(parse("--state", str(state), "--tenant", "y"), {})
    assert [t.tenant for t in only] == ["y"]
    with pytest.raises(smoke.UsageError, match=r"unknown tenant.*zz.*known: x, y"):
        smoke.resolve_targets(parse("--state", str(state), "--tenant", "zz"), {})


def test_state_flag_alone_means_the_default_state_file():
    assert parse("--state").state == ".silo/dev.json"


def test_one_base_url(tmp_path):
    targets = smoke.resolve_targets(parse("--base-url", "http://pack.localhost", "--key", "k"), {})
    assert targets == [SmokeTarget("pack.localhost", "http://pack.localhost", "k")]
    named = smoke.resolve_targets(
        parse("--base-url", "https://h.example", "--tenant", "hr-comp"),
        {"SILO_SMOKE_KEY_HR_COMP": "from-env"},
    )
    assert named == [SmokeTarget("hr-comp", "https://h.example", "from-env")]


def test_state_and_base_url_exclude_each_other():
    with pytest.raises(SystemExit):
        parse("--state", "x.json", "--base-url", "http://h")


def test_deployed_endpoints_default_to_the_catalogue_hosts(tmp_path):
    catalogue = write_catalogue(tmp_path / "t.yaml", ["pack", "hr-comp"])
    environ = {key_env_var("hr-comp"): "hr-key"}
    assert key_env_var("hr-comp") == "SILO_SMOKE_KEY_HR_COMP"
    targets = smoke.resolve_targets(parse("--tenants", str(catalogue)), environ)
    assert targets == [
        SmokeTarget("pack", "https://pack.uploads.test.example", None),
        SmokeTarget("hr-comp", "https://hr-comp.uploads.test.example", "hr-key"),
    ]
    compose = smoke.resolve_targets(
        parse("--tenants", str(catalogue), "--url-template", "http://{slug}.localhost"), environ
    )
    assert [t.base_url for t in compose] == ["http://pack.localhost", "http://hr-comp.localhost"]
    single = smoke.resolve_targets(
        parse("--tenants", str(catalogue), "--tenant", "pack", "--key", "k"), {}
    )
    assert single == [SmokeTarget("pack", "https://pack.uploads.test.example", "k")]
    with pytest.raises(smoke.UsageError, match="--key is one tenant's key"):
        smoke.resolve_targets(parse("--tenants", str(catalogue), "--key", "k"), {})


def test_a_tenant_without_a_key_fails_saying_how_to_give_one():
    target = SmokeTarget("pack", "http://unused", None)
    from provisioning.smoke_checks import CheckFailed, TenantRun, check_key

    with httpx.Client() as client, pytest.raises(CheckFailed, match="SILO_SMOKE_KEY_PACK"):
        check_key(TenantRun(target, client))


def test_cli_reports_a_missing_state_file(tmp_path, capsys):
    assert smoke.run(parse("--state", str(tmp_path / "none.json"))) == 2
    assert "no such state file" in capsys.readouterr().err


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
