"""service/http/admission.py: the memory this instance has (cgroup files, read from fake trees), the
cap derived from it, the slot counter, and 503 `busy` over HTTP before any body byte is read."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from service import errors
from service.http import admission
from service.http.admission import MIB, Admission, Busy, capacity_for, memory_limit_bytes
from service.settings import SettingsError, from_environ
from tests.service.conftest import ADMIN_KEY, running_service, service_env
from tests.service.helpers import (
    chunks_of,
    connect,
    multipart,
    new_boundary,
    part,
    pdf,
    raw_request_head,
    read_response,
    upload,
)
from tests.support.waiting import eventually

V1_UNLIMITED = "9223372036854771712"


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


# --- reading the limit -------------------------------------------------------------------------


def test_v2_memory_max_in_a_container_namespace(tmp_path: Path):
    write(tmp_path, "memory.max", str(512 * MIB))
    assert memory_limit_bytes("0::/\n", tmp_path) == 512 * MIB


def test_v2_max_means_no_limit(tmp_path: Path):
    write(tmp_path, "memory.max", "max")
    assert memory_limit_bytes("0::/\n", tmp_path) is None


def test_v2_smallest_limit_on_the_path_wins(tmp_path: Path):
    write(tmp_path, "memory.max", "max")
    write(tmp_path, "outer/memory.max", str(2048 * MIB))
    write(tmp_path, "outer/inner/memory.max", "max")
    assert memory_limit_bytes("0::/outer/inner\n", tmp_path) == 2048 * MIB


def test_v2_under_a_hybrid_unified_mount(tmp_path: Path):
    write(tmp_path, "unified/app/memory.max", str(1024 * MIB))
    assert memory_limit_bytes("0::/app\n", tmp_path) == 1024 * MIB


def test_v1_limit_in_bytes_with_the_host_path(tmp_path: Path):
    write(tmp_path, "memory/memory.limit_in_bytes", V1_UNLIMITED)
    write(tmp_path, "memory/docker/abc/memory.limit_in_bytes", str(768 * MIB))
    proc = "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n"
    assert memory_limit_bytes(proc, tmp_path) == 768 * MIB


def test_v1_container_mount_without_the_host_path(tmp_path: Path):
    # A v1 container sees its own cgroup at the mount root while /proc names the host path.
    write(tmp_path, "memory/memory.limit_in_bytes", str(512 * MIB))
    assert memory_limit_bytes("4:memory:/docker/abc\n", tmp_path) == 512 * MIB


def test_v1_unlimited_and_unreadable_are_no_limit(tmp_path: Path):
    write(tmp_path, "memory/memory.limit_in_bytes", V1_UNLIMITED)
    assert memory_limit_bytes("4:memory:/x\n", tmp_path) is None
    write(tmp_path, "memory/x/memory.limit_in_bytes", "garbage")
    assert memory_limit_bytes("4:memory:/x\n", tmp_path) is None
    assert memory_limit_bytes("", tmp_path) is None
    assert memory_limit_bytes("3:cpu:/x\n", tmp_path) is None


def test_total_memory_from_meminfo():
    text = "MemTotal:       24576000 kB\nMemFree:  100 kB\n"
    assert admission.total_memory_bytes(text) == 24576000 * 1024
    assert admission.total_memory_bytes("nothing\n") is None


# --- the cap -----------------------------------------------------------------------------------


def test_capacity_keeps_base_plus_streams_under_eighty_percent():
    slots = capacity_for(512 * MIB)
    peak = admission.BASE_RSS_BYTES + slots * admission.PER_STREAM_BYTES
    assert peak <= 0.8 * 512 * MIB < peak + admission.PER_STREAM_BYTES
    assert slots == 11  # (0.8 * 512 - 100) / 28, the figure docs/api.md quotes
    assert capacity_for(2048 * MIB) == 54
    assert capacity_for(64 * MIB) == 1  # never zero


def test_override_wins_over_the_memory(monkeypatch):
    assert admission.default_capacity(7) == admission.Capacity(7, "SILO_MAX_CONCURRENT_UPLOADS")
    monkeypatch.setattr(admission, "available_memory", lambda: (1024 * MIB, "cgroup"))
    assert admission.default_capacity(None).slots == capacity_for(1024 * MIB)


def test_setting_is_read_and_checked():
    base = service_env("postgresql://u@h/d", _FakeS3(), "bucket-name")
    assert from_environ(base).max_concurrent_uploads is None
    assert from_environ({**base, "SILO_MAX_CONCURRENT_UPLOADS": "12"}).max_concurrent_uploads == 12
    with pytest.raises(SettingsError, match="SILO_MAX_CONCURRENT_UPLOADS"):
        from_environ({**base, "SILO_MAX_CONCURRENT_UPLOADS": "0"})


class _FakeS3:
    endpoint_url = "http://127.0.0.1:1"
    region = "eu-west-1"


# --- the slot counter --------------------------------------------------------------------------


def test_slots_up_to_the_cap_then_busy():
    changes: list[int] = []
    rejections: list[None] = []
    gate = Admission(2, on_change=changes.append, on_reject=lambda: rejections.append(None))

    async def scenario() -> None:
        async with gate.slot(), gate.slot():
            assert gate.in_flight == 2
            with pytest.raises(Busy) as caught:
                async with gate.slot():
                    pass  # pragma: no cover
            error = errors.from_exception(caught.value)
            assert (error.status, error.code) == (503, "busy")
            assert error.headers["Retry-After"] == str(admission.RETRY_AFTER_SECONDS)
        assert gate.in_flight == 0
        with pytest.raises(RuntimeError):
            async with gate.slot():
                raise RuntimeError("the upload failed")
        assert gate.in_flight == 0

    asyncio.run(scenario())
    assert gate.rejected == 1 and len(rejections) == 1
    assert changes == [1, 2, 1, 0, 1, 0]


# --- over HTTP ---------------------------------------------------------------------------------


def test_beyond_the_cap_is_503_busy_before_the_body_is_read(pg, s3, aws_credentials):
    with running_service(pg, s3, SILO_MAX_CONCURRENT_UPLOADS="1") as svc, svc.client() as client:
        boundary = new_boundary()
        data = pdf(3 * MIB, seed=b"holds-the-slot")
        body = multipart([part("title", b"first"), part("file", data, filename="a.pdf")], boundary)
        with connect(svc.url) as holder:
            # The first upload holds the only slot: its head and half its body are sent.
            holder.sendall(raw_request_head(svc.url, ADMIN_KEY, boundary, len(body)))
            half = len(body) // 2
            for piece in chunks_of(body[:half]):
                holder.sendall(piece)
            eventually(
                lambda: svc_in_flight(client) == 1,
                interval=0.02,
                message="the first upload should hold the slot",
            )

            # The second: only its head, announcing a body it never sends. The answer cannot
            # wait for the body, so it comes before any of it is read.
            with connect(svc.url) as second:
                second.sendall(raw_request_head(svc.url, ADMIN_KEY, new_boundary(), 10 * MIB))
                status, raw = read_response(second)
            assert status == 503, raw
            assert b'"busy"' in raw
            assert b"retry-after: 1" in raw.lower()

            for piece in chunks_of(body[half:]):
                holder.sendall(piece)
            status, raw = read_response(holder)
            assert status == 201, raw
        # The slot is free again.
        assert upload(client, pdf(1000)).status_code == 201


def svc_in_flight(client: httpx.Client) -> float:
    """`silo_uploads_in_flight` from /metrics."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("silo_uploads_in_flight "):
            return float(line.split()[1])
    return 0.0


def test_a_tus_patch_beyond_the_cap_is_503_busy_before_its_body_is_read(pg, s3, aws_credentials):
    from tests.service.uploads.test_tus import new_upload

    with running_service(pg, s3, SILO_MAX_CONCURRENT_UPLOADS="1") as svc, svc.client() as client:
        data = pdf(2 * MIB, seed=b"tus-holds-the-slot")
        first, second = new_upload(client, len(data)), new_upload(client, 1000)
        host = httpx.URL(svc.url).netloc.decode()

        def patch_head(url: str, length: int) -> bytes:
            return (
                f"PATCH {httpx.URL(url).path} HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {ADMIN_KEY}\r\nTus-Resumable: 1.0.0\r\n"
                "Content-Type: application/offset+octet-stream\r\n"
                f"Upload-Offset: 0\r\nContent-Length: {length}\r\n\r\n"
            ).encode()

        with connect(svc.url) as holder:
            holder.sendall(patch_head(first, len(data)) + data[: MIB // 2])
            eventually(lambda: svc_in_flight(client) == 1, interval=0.02)
            with connect(svc.url) as other:
                other.sendall(patch_head(second, 1000))  # the body never comes
                status, raw = read_response(other)
            assert status == 503, raw
            assert b'"busy"' in raw and b"retry-after: 1" in raw.lower()
            assert b"tus-resumable: 1.0.0" in raw.lower()
            holder.sendall(data[MIB // 2 :])
            status, raw = read_response(holder)
            assert status == 204, raw


def test_free_memory_is_given_back_once_uploads_stay_idle():
    trims: list[float] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        gate = Admission(2, idle_trim_seconds=0.05, trim=lambda: trims.append(loop.time()))
        async with gate.slot():
            async with gate.slot():
                pass
            await asyncio.sleep(0.1)
            assert trims == []  # one upload still running
        await asyncio.sleep(0.02)
        async with gate.slot():  # another upload before the delay: the timer starts again
            pass
        await asyncio.sleep(0.02)
        assert trims == []
        await asyncio.sleep(0.1)
        assert len(trims) == 1  # once per idle period
        await asyncio.sleep(0.1)
        assert len(trims) == 1

    asyncio.run(scenario())


def test_no_trim_when_turned_off():
    trims: list[int] = []

    async def scenario() -> None:
        gate = Admission(1, idle_trim_seconds=None, trim=lambda: trims.append(1))
        async with gate.slot():
            pass
        await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert trims == []


def test_release_free_memory_runs_here():
    # glibc on the build machines and in the image (python:3.11-slim, Debian).
    assert admission.release_free_memory() is True
