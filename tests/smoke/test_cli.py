"""`silo smoke`'s arguments: where the endpoints and keys come from."""

from __future__ import annotations

import json

import pytest

from provisioning.cli import build_parser
from provisioning.smoke import cli as smoke
from provisioning.smoke.checks import SmokeTarget, key_env_var
from tests.smoke.conftest import write_catalogue


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


def test_cli_reports_a_missing_state_file(tmp_path, capsys):
    assert smoke.run(parse("--state", str(tmp_path / "none.json"))) == 2
    assert "no such state file" in capsys.readouterr().err


def test_silo_smoke_key_is_the_key_of_a_single_endpoint(tmp_path):
    catalogue = write_catalogue(tmp_path / "t.yaml", ["pack", "hr-comp"])
    environ = {"SILO_SMOKE_KEY": "one", key_env_var("hr-comp"): "hr-key"}
    base = smoke.resolve_targets(parse("--base-url", "http://pack.localhost"), environ)
    assert base == [SmokeTarget("pack.localhost", "http://pack.localhost", "one")]
    single = smoke.resolve_targets(parse("--tenants", str(catalogue), "--tenant", "pack"), environ)
    assert [t.key for t in single] == ["one"]
    # The tenant's own variable wins; with several tenants, only their own variables count.
    every = smoke.resolve_targets(parse("--tenants", str(catalogue)), environ)
    assert [t.key for t in every] == [None, "hr-key"]
