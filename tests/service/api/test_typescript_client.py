"""A TypeScript tenant app against the real service: tests/ts_client typed by openapi-typescript
from the live /openapi.json, compiled with `tsc --strict` and run with Node. It uploads
(multipart), lists, downloads through the presigned URL and reads /stats, through openapi-fetch.
The OpenAPI document is thereby proven usable by a real generator, not only valid.

Needs Node 20+ and `npm ci --prefix tests/ts_client --no-audit --no-fund` (.ci/run does it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest

from service.api.openapi.document import document
from tests.service.conftest import ADMIN_KEY, Service
from tests.service.helpers import pdf, sha256

ROOT = Path(__file__).resolve().parents[3]
TS_CLIENT = ROOT / "tests" / "ts_client"
HOW_TO_INSTALL = (
    "the TypeScript client's packages are not installed: run "
    "`npm ci --prefix tests/ts_client --no-audit --no-fund` (Node 20+; .ci/run does)"
)


@pytest.fixture(scope="session")
def node() -> str:
    """Node 20+ with the locked packages, checked before any service starts."""
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is not on PATH: the TypeScript client needs Node 20+ (.ci/run has it)")
    major = subprocess.run([found, "--version"], capture_output=True, text=True).stdout
    if int(major.strip().lstrip("v").split(".")[0]) < 20:
        pytest.fail(f"the TypeScript client needs Node 20+, found {major.strip()}")
    for package in ("openapi-typescript", "openapi-fetch", "typescript", "@types/node"):
        if not (TS_CLIENT / "node_modules" / package / "package.json").is_file():
            pytest.fail(HOW_TO_INSTALL)
    return found


def run(command: list[str], cwd: Path) -> tuple[str, float]:
    """Run `command`; fail with its output unless it succeeds. Returns stdout and seconds."""
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=cwd)
    assert done.returncode == 0, f"{command[1:3]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout, time.monotonic() - started


@pytest.fixture
def compiled_client(node: str, service: Service, tmp_path: Path) -> Path:
    """tests/ts_client copied to a temporary folder (its node_modules linked), its types
    generated from the running service's document and compiled: the path of dist/main.js."""
    work = tmp_path / "ts_client"
    shutil.copytree(
        TS_CLIENT, work, ignore=shutil.ignore_patterns("node_modules", "dist", "generated")
    )
    os.symlink(TS_CLIENT / "node_modules", work / "node_modules", target_is_directory=True)
    _, generating = run([node, "generate.mjs", f"{service.url}/openapi.json"], work)
    tsc = str(work / "node_modules" / "typescript" / "bin" / "tsc")
    _, compiling = run([node, tsc, "-p", ".", "--strict"], work)
    print(f"openapi-typescript {generating:.1f} s, tsc --strict {compiling:.1f} s")
    return work / "dist" / "main.js"


def test_typescript_client_uploads_lists_downloads_and_reads_stats(
    node: str, service: Service, compiled_client: Path, tmp_path: Path
):
    data = pdf(300 * 1024)
    upload = tmp_path / "handbook.pdf"
    upload.write_bytes(data)
    downloaded = tmp_path / "downloaded.pdf"
    args = {
        "baseUrl": service.url,
        "key": ADMIN_KEY,
        "file": str(upload),
        "title": "From a TypeScript app",
        "out": str(downloaded),
    }
    out, seconds = run([node, str(compiled_client), json.dumps(args)], tmp_path)
    print(f"the client's run {seconds:.1f} s")
    result = json.loads(out.strip().splitlines()[-1])

    uploaded = result["uploaded"]
    assert (uploaded["size"], uploaded["sha256"]) == (len(data), sha256(data))
    assert (uploaded["type"], uploaded["filename"], uploaded["scan"]) == (
        "pdf",
        "handbook.pdf",
        "clean",  # SILO_SCAN=off: clean at once
    )
    assert result["listed"]["found"] and result["listed"]["sha256"] == sha256(data)
    assert result["downloaded"] == {"size": len(data), "sha256": sha256(data)}
    assert downloaded.read_bytes() == data
    assert result["stats"]["fileDownloads"] == 1
    assert result["stats"]["downloads"] >= 1
    # The document marks every /stats field required, so that the generated types are not all
    # optional: the service's answer, now with a download in it, must hold them all.
    with service.client() as admin:
        body = admin.get("/stats").json()
    jsonschema.Draft202012Validator(document()["components"]["schemas"]["Stats"]).validate(body)
