"""`silo tenants validate|list`, through the real `silo` entry point and as a subprocess."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from provisioning.cli import main

REPO = Path(__file__).resolve().parents[2]
BAD = """\
platform: {domain: uploads.example.com}
tenants:
  - {slug: pack, name: Pack, priority: 10, api: {cpu: 1024, memory: 512}}
  - {slug: hrcomp, name: HR Comp, priority: 10, limits: {allowed_types: [exe]}}
"""


def test_validate_accepts_the_repository_catalogue(capsys):
    assert main(["tenants", "validate", "--tenants", str(REPO / "tenants.yaml")]) == 0
    assert "ok, " in capsys.readouterr().out


def test_validate_exits_1_listing_every_problem(tmp_path, capsys):
    path = tmp_path / "tenants.yaml"
    path.write_text(BAD)
    assert main(["tenants", "validate", "--tenants", str(path)]) == 1
    err = capsys.readouterr().err
    assert "3 problems" in err
    assert "tenant 'pack': api.memory" in err
    assert "tenant 'hrcomp': limits.allowed_types" in err
    assert "tenant 'hrcomp': priority" in err


def test_list_shows_derived_names(capsys):
    path = str(REPO / "tenants.yaml")
    argv = ["tenants", "list", "--tenants", path, "--stack", "prod", "--account-id", "1" * 12]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "pack.uploads.example.com" in out
    assert "silo-prod-pack-" in out  # bucket
    assert "silo-prod-hrcomp/silo_hrcomp" in out  # RDS identifier / database
    header, _, pack_row, _ = out.splitlines()[1:5]
    assert header.split()[-1] == "scan"
    assert pack_row.split()[-1] == "clamav/quarantine"  # the engine on AWS


def test_list_rejects_a_stack_name_that_cannot_be_in_names(capsys):
    assert (
        main(["tenants", "list", "--tenants", str(REPO / "tenants.yaml"), "--stack", "Prod_EU"])
        == 2
    )
    assert "stack name" in capsys.readouterr().err


def test_default_file_is_tenants_yaml_in_the_current_directory(tmp_path):
    shutil.copy(REPO / "tenants.yaml", tmp_path / "tenants.yaml")
    env = {k: v for k, v in os.environ.items() if k != "SILO_TENANTS_FILE"}
    command = [sys.executable, "-m", "provisioning.cli", "tenants", "validate"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (tmp_path / "other.yaml").write_text(BAD)
    env["SILO_TENANTS_FILE"] = str(tmp_path / "other.yaml")
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert "other.yaml: tenant 'pack': api.memory" in done.stderr
