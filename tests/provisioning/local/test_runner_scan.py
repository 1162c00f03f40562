"""`silo dev` and malware scanning: one real clamd per tenant that scans when ClamAV is
installed (as AWS runs a sidecar in each tenant's task); otherwise one line saying scanning is
off, and SILO_SCAN=off."""

from __future__ import annotations

import contextlib

import pytest

import tenants
from provisioning.local import runner as dev
from provisioning.local.clamd import LocalClamd, find_clamd, ping
from service.settings import from_environ
from tests.provisioning.local.test_runner import BACKENDS
from tests.service.conftest import aws_credentials

__all__ = ["aws_credentials"]  # the fixture, registered here by importing it

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


def test_each_scanning_tenant_gets_its_own_clamd_stopped_with_the_run(catalogue, capsys):
    assert find_clamd(), "this machine has ClamAV's daemon (`uv run silo test` installs it)"
    with contextlib.ExitStack() as cleanup:
        scanners, recorded = dev.start_scanner(catalogue, cleanup)
        assert sorted(scanners) == ["deleting", "guarded"]  # `bare` does not scan
        addresses = [clamd.address for clamd in scanners.values()]
        assert len(set(addresses)) == 2
        assert all(a.startswith("tcp://127.0.0.1:") and ping(a) for a in addresses)
        assert recorded.startswith("clamav per tenant: guarded tcp://127.0.0.1:")
    assert not any(ping(a) for a in addresses), "stopped with the run"
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("malware scanning: one clamd per tenant, guarded tcp://")


def test_every_scanning_tenant_uses_its_own_clamd_and_off_stays_off(catalogue):
    scanners = {
        "guarded": LocalClamd(port=3310, stream_max_length="8M"),
        "deleting": LocalClamd(port=3311),
    }
    plans = dev.plan_tenants(catalogue, BACKENDS, [7001, 7002, 7003], scanners)
    settings = {plan.slug: from_environ(plan.env) for plan in plans}
    # GuardDuty exists only on AWS: locally it is the tenant's clamd.
    assert (settings["guarded"].scan, settings["guarded"].clamd_address) == (
        "clamav",
        "tcp://127.0.0.1:3310",
    )
    assert settings["guarded"].scan_max_bytes == 8 * 1024 * 1024
    assert settings["deleting"].clamd_address == "tcp://127.0.0.1:3311"
    assert settings["deleting"].scan_infected == "delete"
    assert (settings["bare"].scan, settings["bare"].clamd_address) == ("off", None)


def test_without_clamd_one_line_says_scanning_is_off(catalogue, monkeypatch, capsys):
    monkeypatch.setattr(dev, "find_clamd", lambda: None)
    with contextlib.ExitStack() as cleanup:
        assert dev.start_scanner(catalogue, cleanup) == ({}, "off (clamd not installed)")
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("malware scanning: off (clamd not found;")
    plans = dev.plan_tenants(catalogue, BACKENDS, [7001, 7002, 7003], {})
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
        assert dev.start_scanner(catalogue, cleanup) == ({}, "off (catalogue)")
    assert (
        capsys.readouterr().out == "malware scanning: off (limits.scan is off for every tenant)\n"
    )


def test_a_clamd_that_does_not_start_is_one_line_not_a_crash(catalogue, monkeypatch, capsys):
    def refuse(self):
        raise dev.ClamdUnavailable("clamd did not answer PING: bad config\nmore log")

    monkeypatch.setattr(dev.LocalClamd, "start", refuse)
    with contextlib.ExitStack() as cleanup:
        scanners, recorded = dev.start_scanner(catalogue, cleanup)
    assert scanners == {}
    assert recorded == "off (clamd did not start: clamd did not answer PING: bad config)"
    assert capsys.readouterr().out.count("\n") == 1


def test_one_tenant_s_clamd_down_leaves_the_other_s_verdicts(catalogue, pg, s3, aws_credentials):
    """The isolation the per-tenant clamds buy: `guarded`'s clamd stopped, its file waits;
    `deleting`'s service still gets its verdict from its own clamd."""
    from tests.service.conftest import running_service
    from tests.service.helpers import pdf
    from tests.service.scanning.test_worker import via_form, wait_for_verdict

    with contextlib.ExitStack() as cleanup:
        scanners, _ = dev.start_scanner(catalogue, cleanup)
        services = {
            slug: cleanup.enter_context(
                running_service(
                    pg,
                    s3,
                    settings_changes={"scan_poll_seconds": 0.1},
                    SILO_SCAN="clamav",
                    SILO_CLAMD_ADDRESS=clamd.address,
                )
            )
            for slug, clamd in scanners.items()
        }
        scanners["guarded"].halt()
        ids = {}
        for slug, svc in services.items():
            with svc.client() as client:
                ids[slug] = via_form(client, pdf(seed=slug.encode()), "d.pdf", "application/pdf")
        with services["deleting"].client() as client:
            assert wait_for_verdict(client, ids["deleting"], timeout=10)["status"] == "clean"
        with services["guarded"].client() as client:
            assert client.get(f"/files/{ids['guarded']}").json()["scan"]["status"] == "pending"
