"""What `silo dev` starts each tenant with: the Pulumi task definition's mapping, local values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import tenants
from provisioning.cli import build_parser
from provisioning.local import runner as dev
from provisioning.local.backends import Backends
from provisioning.service_env import (
    SCAN_OFF,
    local_secret_environment,
    service_environment,
    service_target,
)
from service.settings import MIN_ADMIN_KEY_LENGTH, from_environ
from tenants import names

CATALOGUE = """\
platform:
  domain: uploads.test.example
defaults:
  limits: {max_upload_mb: 7, allowed_types: [png, pdf]}
tenants:
  - {slug: alpha, name: Alpha, priority: 10}
  - slug: beta
    name: Beta
    priority: 20
    limits: {allowed_types: [png, jpeg, txt]}
"""

BACKENDS = Backends(
    database_host="127.0.0.1",
    database_port=55432,
    database_user="silo",
    database_password="local-password",
    admin_conninfo={},
    s3_endpoint_url="http://127.0.0.1:59000",
    aws_credentials={"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"},
)


@pytest.fixture
def catalogue(tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text(CATALOGUE)
    return tenants.load_catalogue(path)


def test_each_child_gets_the_task_definition_environment_and_nothing_inherited(
    catalogue, monkeypatch
):
    # Would change what the service connects to if the child inherited the shell's variables.
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone@elsewhere/db")
    monkeypatch.setenv("AWS_PROFILE", "production")
    plans = dev.plan_tenants(catalogue, BACKENDS, [7001, 7002])
    assert [p.slug for p in plans] == ["alpha", "beta"]
    for plan, tenant, port in zip(plans, catalogue.tenants, [7001, 7002], strict=True):
        derived = names.for_tenant(
            names.Scope("silo", dev.LOCAL_STACK),
            tenant,
            account_id=names.LOCAL_ACCOUNT_ID,
            region=BACKENDS.region,
        )
        target = service_target(
            tenant,
            derived,
            region=BACKENDS.region,
            database_host="127.0.0.1",
            database_port=55432,
            # No clamd given to plan_tenants: scanning is off.
            scan=SCAN_OFF,
            port=port,
            s3_endpoint_url="http://127.0.0.1:59000",
        )
        expected = {
            **service_environment(target),
            **local_secret_environment("silo", "local-password", plan.admin_key),
            "AWS_ACCESS_KEY_ID": "id",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "HOST": "127.0.0.1",
        }
        extras = set(plan.env) - set(expected)
        assert extras == {"PATH", "PYTHONUNBUFFERED"}
        assert {k: plan.env[k] for k in expected} == expected
        assert plan.bucket == derived.bucket and plan.database == derived.database_name
        assert plan.port == port


def test_the_service_accepts_every_childs_environment(catalogue):
    plans = dev.plan_tenants(catalogue, BACKENDS, [7001, 7002])
    for plan in plans:
        settings = from_environ(plan.env)
        assert settings.tenant == plan.slug
        assert settings.s3_bucket == plan.bucket
        assert settings.port == plan.port
        assert settings.host == "127.0.0.1"
        assert settings.s3_endpoint_url == "http://127.0.0.1:59000"
        assert f"dbname={plan.database}" in settings.database_url
    assert from_environ(plans[0].env).allowed_types == ("png", "pdf")
    assert from_environ(plans[1].env).allowed_types == ("png", "jpeg", "txt")
    assert from_environ(plans[0].env).max_upload_bytes == 7 * 1024 * 1024


def test_admin_keys_are_fresh_for_every_tenant_and_every_run(catalogue):
    first = dev.plan_tenants(catalogue, BACKENDS, [7001, 7002])
    second = dev.plan_tenants(catalogue, BACKENDS, [7001, 7002])
    keys = [p.admin_key for p in first + second]
    assert len(set(keys)) == 4
    assert all(len(key) >= MIN_ADMIN_KEY_LENGTH for key in keys)


def test_local_bucket_names_are_not_a_deployed_stacks(catalogue):
    plan = dev.plan_tenants(catalogue, BACKENDS, [7001, 7002])[0]
    assert plan.bucket.startswith("silo-dev-alpha-")


def test_arguments_and_their_defaults(monkeypatch):
    monkeypatch.delenv("SILO_TENANTS_FILE", raising=False)
    args = build_parser(["dev"]).parse_args(["dev"])
    assert args.tenants == Path("tenants.yaml")
    assert Path(args.state) == Path(".silo/dev.json")
    assert args.database_url is None and args.s3_endpoint is None and args.logs is None
    argv = [
        "dev",
        "--tenants",
        "t.yaml",
        "--state",
        "s.json",
        "--database-url",
        "postgresql://u@h/db",
        "--s3-endpoint",
        "http://127.0.0.1:9000",
        "--ready-timeout",
        "5",
    ]
    args = build_parser(argv).parse_args(argv)
    assert (args.tenants, args.state, args.ready_timeout) == (Path("t.yaml"), "s.json", 5.0)
    assert args.database_url == "postgresql://u@h/db"
    assert args.s3_endpoint == "http://127.0.0.1:9000"


def test_a_second_dev_on_the_same_state_file_is_refused_while_the_first_lives(tmp_path):
    state = tmp_path / "dev.json"
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        state.write_text(f'{{"pid": {alive.pid}, "tenants": {{}}}}')
        assert f"pid {alive.pid}" in dev.refuse_if_running(state)
    finally:
        alive.kill()
        alive.wait()
    assert dev.refuse_if_running(state) is None  # a stale file from a dead run is fine
    assert dev.refuse_if_running(tmp_path / "missing.json") is None


def test_bad_catalogue_stops_before_starting_anything(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "platform: {domain: x.example}\ntenants:\n  - {slug: a, name: A, priority: 2, typo: 1}\n"
    )
    argv = ["dev", "--tenants", str(bad), "--state", str(tmp_path / "dev.json")]
    assert dev.run(build_parser(argv).parse_args(argv)) == 2
    assert "typo" in capsys.readouterr().err
    assert not (tmp_path / "dev.json").exists()
