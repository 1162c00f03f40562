"""tus clients nobody here wrote, against the real service: tuspy (PyPI) and tus-js-client (npm,
run with Node). Each uploads a file; each is interrupted partway and a NEW client process resumes
from the stored upload URL; also after the service process is SIGKILLed (while a request holds
the upload's lock) and a new one started. The downloaded bytes must hash to the original's sha256.

tus-js-client needs Node 20+ and `npm ci --prefix tests/tus_js` (`uv run silo test` does it)."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.infra import PostgresServer, S3Endpoint
from tests.service.conftest import Service
from tests.service.helpers import pdf, sha256
from tests.support.databases import migrated_database
from tests.support.env import ADMIN_KEY, ROOT, process_env
from tests.support.net import free_port
from tests.support.process import spawned_service

TUS_JS = ROOT / "tests" / "tus_js"
TUS_PY = ROOT / "tests" / "tus_py_client.py"
MIB = 1024 * 1024
CHUNK = 3 * MIB
# Over one storage part (8 MiB): the interrupted uploads stop with a part in S3 and a tail in the
# database.
FILE_SIZE = 14 * MIB + 4321
STOP_AFTER = 9 * MIB
HOW_TO_INSTALL_JS = (
    "tus-js-client is not installed: run `npm ci --prefix tests/tus_js` "
    "(Node 20+; `uv run silo test` does)"
)


def run_tuspy(endpoint: str, file: Path, **args) -> dict:
    payload = {
        "endpoint": f"{endpoint}/uploads",
        "file": str(file),
        "key": ADMIN_KEY,
        "chunk_size": CHUNK,
        "metadata": {"title": "From tuspy", "filename": file.name, "filetype": "application/pdf"},
        **args,
    }
    return _run([sys.executable, str(TUS_PY), json.dumps(payload)])


def run_tus_js(endpoint: str, file: Path, **args) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node is not on PATH: tus-js-client needs Node 20+ (`uv run silo test` installs it)"
        )
    if not (TUS_JS / "node_modules" / "tus-js-client").is_dir():
        pytest.fail(HOW_TO_INSTALL_JS)
    payload = {
        "endpoint": f"{endpoint}/uploads",
        "file": str(file),
        "key": ADMIN_KEY,
        "chunkSize": CHUNK,
        "metadata": {"title": "From tus-js-client", "filename": file.name},
        **args,
    }
    return _run([node, str(TUS_JS / "upload.mjs"), json.dumps(payload)])


def _run(command: list[str]) -> dict:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, f"{command[:2]} failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


CLIENTS: dict[str, Callable[..., dict]] = {"tuspy": run_tuspy, "tus-js-client": run_tus_js}


def _resume_args(client: str, url: str) -> dict:
    return {"url": url} if client == "tuspy" else {"uploadUrl": url}


def _stop_args(client: str) -> dict:
    return {"stop_at": STOP_AFTER} if client == "tuspy" else {"stopAfter": STOP_AFTER}


def downloaded_sha256(base_url: str, file_id: str) -> str:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        link = c.get(f"/files/{file_id}/content", params={"redirect": "false"}).json()["url"]
    return sha256(httpx.get(link, timeout=60).content)


def offset_of(base_url: str, upload_url: str) -> int:
    response = httpx.head(
        upload_url.replace(upload_url.split("/uploads/")[0], base_url),
        headers={"Authorization": f"Bearer {ADMIN_KEY}", "Tus-Resumable": "1.0.0"},
    )
    assert response.status_code == 200, response
    return int(response.headers["Upload-Offset"])


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, bytes]:
    data = pdf(FILE_SIZE)
    path = tmp_path / "migration.pdf"
    path.write_bytes(data)
    return path, data


@pytest.mark.parametrize("client", CLIENTS)
def test_interrupted_upload_resumed_by_a_new_client_process(
    client: str, service: Service, sample: tuple[Path, bytes]
):
    path, data = sample
    run = CLIENTS[client]
    first = run(service.url, path, **_stop_args(client))
    assert STOP_AFTER <= first["offset"] < len(data)
    url = first["url"]
    assert offset_of(service.url, url) == first["offset"]
    second = run(service.url, path, **_resume_args(client, url))
    assert second["offset"] == len(data)
    file_id = url.rsplit("/", 1)[-1]  # the upload's id is the file's id
    if client == "tus-js-client":
        assert second["fileId"] == file_id  # Silo-File-Id of the final PATCH
    with service.client() as admin:
        row = admin.get(f"/files/{file_id}").json()
    assert (row["size"], row["sha256"], row["type"]) == (len(data), sha256(data), "pdf")
    assert row["filename"] == path.name
    assert downloaded_sha256(service.url, file_id) == sha256(data)


def test_tuspy_with_checksums(service: Service, sample: tuple[Path, bytes]):
    path, data = sample
    result = run_tuspy(service.url, path, checksum=True)  # Upload-Checksum: sha1 on each PATCH
    assert result["offset"] == len(data)
    assert downloaded_sha256(service.url, result["url"].rsplit("/", 1)[-1]) == sha256(data)


# --- the service as a process of its own, killed and restarted --------------------------------


def hold_a_patch_open(url: str, upload_url: str, offset: int, data: bytes) -> socket.socket:
    """Send a PATCH's head and part of its body, and leave it hanging: the request now holds the
    upload's lock, as a client cut off mid-chunk would."""
    path = "/uploads/" + upload_url.rsplit("/", 1)[-1]
    parsed = httpx.URL(url)
    sock = socket.create_connection((parsed.host, parsed.port), timeout=30)
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: {parsed.netloc.decode()}\r\n"
        f"Authorization: Bearer {ADMIN_KEY}\r\nTus-Resumable: 1.0.0\r\n"
        "Content-Type: application/offset+octet-stream\r\n"
        f"Upload-Offset: {offset}\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    sock.sendall(head.encode() + data[: len(data) // 2])
    return sock


@pytest.mark.parametrize("client", CLIENTS)
def test_resume_after_the_service_process_is_killed(
    client: str,
    pg: PostgresServer,
    s3: S3Endpoint,
    aws_credentials,
    sample: tuple[Path, bytes],
    tmp_path: Path,
):
    path, data = sample
    run = CLIENTS[client]
    database_url = migrated_database(pg)
    env = process_env(database_url, s3, s3.create_bucket())
    port = free_port()
    log = tmp_path / "service.log"
    try:
        with spawned_service(env, log, port=port) as first:
            started = run(first.url, path, **_stop_args(client))
            url, offset = started["url"], started["offset"]
            hanging = hold_a_patch_open(first.url, url, offset, data[offset:])
            time.sleep(0.5)  # the PATCH is being received, and holds the lock
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(10)
            hanging.close()
        # A new process on the same address: the stored upload URL still points at it.
        with spawned_service(env, log, port=port) as second:
            assert offset_of(second.url, url) == offset
            finished = run(second.url, path, **_resume_args(client, url))
            assert finished["offset"] == len(data)
            file_id = url.rsplit("/", 1)[-1]
            assert downloaded_sha256(second.url, file_id) == sha256(data)
    finally:
        pg.drop_database(database_url)
