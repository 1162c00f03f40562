"""Schemathesis against the running service: the OpenAPI document and the service must agree.

`schemathesis run --checks all` (every phase: examples, coverage, fuzzing, stateful) over every
operation, once with a read/write key and once with the admin key, against the real app served by
uvicorn on the test PostgreSQL and S3. The number of examples and the time are bounded (about 20 s
per key on a 2-core machine); set SILO_SCHEMATHESIS_SECONDS / SILO_SCHEMATHESIS_EXAMPLES for a
longer run, SILO_SCHEMATHESIS_SEED for another seed. The only failures ignored are the semantic
refusals listed in tests/service/api/schemathesis_hooks.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.api.openapi.document import document
from tests.service.conftest import ADMIN_KEY, Service, running_service
from tests.support.env import ROOT

SECONDS = int(os.environ.get("SILO_SCHEMATHESIS_SECONDS", "20"))
EXAMPLES = int(os.environ.get("SILO_SCHEMATHESIS_EXAMPLES", "30"))
SEED = os.environ.get("SILO_SCHEMATHESIS_SEED", "20261127")


@pytest.fixture(scope="module")
def svc(pg, s3, aws_credentials) -> Iterator[Service]:
    with running_service(pg, s3, SILO_EVENTS_FLUSH_MS="50") as service:
        yield service


@pytest.fixture(scope="module")
def keys(svc: Service) -> dict[str, str]:
    with svc.client() as admin:
        created = admin.post("/keys", json={"name": "schemathesis", "scopes": ["read", "write"]})
        assert created.status_code == 201, created.text
        # Something to read, so that GET operations see real files too.
        upload = admin.post(
            "/files",
            data={"title": "seed"},
            files={"file": ("seed.pdf", b"%PDF-1.7\n" + b"x" * 100, "application/pdf")},
        )
        assert upload.status_code == 201, upload.text
    return {"read-write": created.json()["key"], "admin": ADMIN_KEY}


def schemathesis_run(url: str, key: str, tmp_path: Path) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "schemathesis.cli", "--no-color", "run", f"{url}/openapi.json",
        "--checks", "all",
        "--header", f"Authorization: Bearer {key}",
        "--max-examples", str(EXAMPLES),
        "--max-time", str(SECONDS),
        "--seed", SEED,
        "--workers", "1",
        "--request-timeout", "30",
        "--generation-database", "none",
        "--suppress-health-check", "all",
        "--report-dir", str(tmp_path),
    ]  # fmt: skip
    # Run from tmp_path: schemathesis keeps state in ./.schemathesis, which must not land in the
    # repository; the hooks module is found through PYTHONPATH.
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {
        **os.environ,
        "PYTHONPATH": pythonpath,
        "SCHEMATHESIS_HOOKS": "tests.service.api.schemathesis_hooks",
    }
    return subprocess.run(
        command,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=SECONDS * 4 + 60,
        check=False,
    )


@pytest.mark.parametrize("who", ["read-write", "admin"])
def test_schemathesis_finds_no_disagreement(svc: Service, keys, who, tmp_path):
    result = schemathesis_run(svc.url, keys[who], tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    # It really ran: every operation, and no failure hidden from the exit status.
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    assert selected and selected.group(1) == selected.group(2), output[-5000:]
    # Every operation of the document but /openapi.json itself, which schemathesis leaves out.
    assert int(selected.group(1)) >= len(document()["paths"]) + 8, output[-5000:]
    assert f"Tested: {selected.group(1)}" in output, output[-5000:]
    assert " passed" in output and "failures" not in output, output[-5000:]
    with httpx.Client(base_url=svc.url) as client:
        assert client.get("/healthz").status_code == 200
