"""`silo dev` and malware scanning: one real clamd for every tenant that scans when ClamAV is
installed; otherwise one line saying scanning is off, and SILO_SCAN=off."""

from __future__ import annotations

import contextlib

import pytest

import tenants
from provisioning.local import runner as dev
from provisioning.local.clamd import find_clamd, ping
from service.settings import from_environ
from tests.provisioning.local.test_runner import BACKENDS

CATALOGUE = """\
platform:
  domain: uploads.test.example
defaults:
  limits: {allowed_types: [png, pdf]}
tenants:
  - {slug: guarded, name: Guarded, priority: 10, limits: {scan: guardduty}}
  - {slug: bare, name: Bare, priority: 20, limits: {scan: "off", scan_infected: delete}}
  - {slug: deleting, name: Deleting, priority: 30, limits: {scan_infected: delete}}
"""


@pytest.fixture
def catalogue(tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text(CATALOGUE)
    return tenants.load_catalogue(path)


def test_with_clamav_installed_one_clamd_serves_and_is_stopped_with_the_run(catalogue, capsys):
    assert find_clamd(), "this machine has ClamAV's daemon (`uv run silo test` installs it)"
    with contextlib.ExitStack() as cleanup:
        address, recorded = dev.start_scanner(catalogue, cleanup)
        assert address.startswith("tcp://127.0.0.1:")
        assert ping(address), "the clamd answers PING"
        assert recorded == f"clamav at {address}"
    assert not ping(address), "stopped with the run"
    (line,) = capsys.readouterr().out.splitlines()
    assert line == f"malware scanning: clamd on {address} (signatures: the EICAR test file only)"


def test_every_scanning_tenant_uses_the_local_clamd_and_off_stays_off(catalogue):
    plans = dev.plan_tenants(catalogue, BACKENDS, [7001, 7002, 7003], "tcp://127.0.0.1:3310")
    settings = {plan.slug: from_environ(plan.env) for plan in plans}
    # GuardDuty exists only on AWS: locally it is the clamd.
    assert (settings["guarded"].scan, settings["guarded"].clamd_address) == (
        "clamav",
        "tcp://127.0.0.1:3310",
    )
    assert settings["deleting"].scan == "clamav"
    assert settings["deleting"].scan_infected == "delete"
    assert (settings["bare"].scan, settings["bare"].clamd_address) == ("off", None)


def test_without_clamd_one_line_says_scanning_is_off(catalogue, monkeypatch, capsys):
    monkeypatch.setattr(dev, "find_clamd", lambda: None)
    with contextlib.ExitStack() as cleanup:
        assert dev.start_scanner(catalogue, cleanup) == (None, "off (clamd not installed)")
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("malware scanning: off (clamd not found;")
    plans = dev.plan_tenants(catalogue, BACKENDS, [7001, 7002, 7003], None)
    assert {plan.env["SILO_SCAN"] for plan in plans} == {"off"}
    assert all("SILO_CLAMD_ADDRESS" not in plan.env for plan in plans)


def test_a_catalogue_that_never_scans_starts_no_clamd(tmp_path, capsys):
    path = tmp_path / "tenants.yaml"
    path.write_text(
        CATALOGUE.replace(
            "allowed_types: [png, pdf]}", 'allowed_types: [png], scan: "off"}'
        ).replace("limits: {scan: guardduty}", 'limits: {scan: "off"}')
    )
    catalogue = tenants.load_catalogue(path)
    with contextlib.ExitStack() as cleanup:
        assert dev.start_scanner(catalogue, cleanup) == (None, "off (catalogue)")
    assert (
        capsys.readouterr().out == "malware scanning: off (limits.scan is off for every tenant)\n"
    )


def test_a_clamd_that_does_not_start_is_one_line_not_a_crash(catalogue, monkeypatch, capsys):
    def refuse(self):
        raise dev.ClamdUnavailable("clamd did not answer PING: bad config\nmore log")

    monkeypatch.setattr(dev.LocalClamd, "start", refuse)
    with contextlib.ExitStack() as cleanup:
        address, recorded = dev.start_scanner(catalogue, cleanup)
    assert address is None
    assert recorded == "off (clamd did not start: clamd did not answer PING: bad config)"
    assert capsys.readouterr().out.count("\n") == 1
