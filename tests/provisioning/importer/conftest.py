"""`silo import` as a user runs it: a subprocess (`python -m provisioning.cli import ...`)
against a real service (uvicorn over HTTP, real PostgreSQL and S3 from tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.infra import PostgresServer, S3Endpoint
from tests.service.conftest import ADMIN_KEY, Service, aws_credentials, running_service

__all__ = ["aws_credentials"]

ROOT = Path(__file__).resolve().parents[3]
# Small enough that a few files of the tests are refused for their size.
MAX_UPLOAD_BYTES = 200 * 1024


@pytest.fixture
def tenant(pg: PostgresServer, s3: S3Endpoint, aws_credentials) -> Iterator[Service]:
    """A fresh tenant (own database and bucket) whose uploads are at most MAX_UPLOAD_BYTES."""
    with running_service(pg, s3, SILO_MAX_UPLOAD_BYTES=str(MAX_UPLOAD_BYTES)) as svc:
        yield svc


@pytest.fixture(autouse=True)
def import_key(monkeypatch) -> None:
    """The key as a user gives it, in $SILO_IMPORT_KEY: every `silo import` here inherits it."""
    monkeypatch.setenv("SILO_IMPORT_KEY", ADMIN_KEY)


def import_command(url: str, *args: str | Path) -> list[str]:
    return [sys.executable, "-m", "provisioning.cli", "import", "--url", url, *map(str, args)]


def run_import(
    url: str, *args: str | Path, key: str = ADMIN_KEY, env: dict | None = None, timeout=240
) -> subprocess.CompletedProcess:
    return subprocess.run(
        import_command(url, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "SILO_IMPORT_KEY": key, **(env or {})},
    )


def all_files(client: httpx.Client) -> list[dict]:
    files, cursor = [], None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = client.get("/files", params=params)
        assert page.status_code == 200, page.text
        files += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return files


def download(client: httpx.Client, file_id: str) -> bytes:
    grant = client.get(f"/files/{file_id}/content", params={"redirect": "false"})
    assert grant.status_code == 200, grant.text
    got = httpx.get(grant.json()["url"], timeout=60)
    assert got.status_code == 200
    return got.content
