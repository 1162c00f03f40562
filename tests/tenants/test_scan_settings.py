"""The catalogue's scanning settings: `limits.scan`, `limits.scan_infected` and
`limits.quarantine_days` per tenant with a platform default; a clamav tenant's task must hold
its scanner; GuardDuty within its quota."""

import copy

import pytest

from tenants import load_catalogue
from tests.tenants.test_loader import BASE, REPO, assert_names, only_problem, write


def catalogue(tmp_path, *, platform=None, defaults=None, tenant=None):
    data = copy.deepcopy(BASE)
    data["platform"].update(platform or {})
    data["defaults"]["limits"].update(defaults or {})
    data["tenants"][1].update(tenant or {})
    return write(tmp_path, data)


def test_without_a_setting_every_tenant_is_scanned_by_its_own_clamd_and_quarantines(tmp_path):
    loaded = load_catalogue(catalogue(tmp_path))
    for tenant in loaded.tenants:
        limits = tenant.limits
        assert (limits.scan, limits.scan_infected, limits.quarantine_days) == (
            "clamav",
            "quarantine",
            90,
        )


def test_a_tenant_overrides_the_platform_default(tmp_path):
    path = catalogue(
        tmp_path,
        defaults={"scan": "off"},
        tenant={"limits": {"scan": "guardduty", "scan_infected": "delete"}},
    )
    loaded = load_catalogue(path)
    assert loaded.tenant("pack").limits.scan == "off"
    assert loaded.tenant("hrcomp").limits.scan == "guardduty"
    assert loaded.tenant("hrcomp").limits.scan_infected == "delete"
    assert loaded.tenant("pack").limits.scan_infected == "quarantine"


def test_the_retired_clamd_address_is_refused_with_the_reason(tmp_path):
    problem = only_problem(catalogue(tmp_path, platform={"clamd_address": "tcp://c:3310"}))
    assert_names(problem, None, "platform.clamd_address", "no longer used", "own task")


def test_a_task_too_small_for_its_scanner_is_refused_naming_tenant_and_field(tmp_path):
    problem = only_problem(catalogue(tmp_path, tenant={"api": {"cpu": 1024, "memory": 2048}}))
    assert_names(problem, "hrcomp", "api.memory", "memory 2048", "clamav", "2688")


def test_a_default_too_small_for_the_scanner_is_reported_once_at_the_default(tmp_path):
    data = copy.deepcopy(BASE)
    data["defaults"]["api"] = {"cpu": 256, "memory": 512}
    problem = only_problem(write(tmp_path, data))
    assert_names(problem, None, "defaults.api.memory", "scanner")


def test_choosing_clamav_in_a_small_task_is_reported_at_the_engine(tmp_path):
    data = copy.deepcopy(BASE)
    data["defaults"]["api"] = {"cpu": 256, "memory": 512}
    data["defaults"]["limits"]["scan"] = "off"
    data["tenants"][1]["limits"] = {"scan": "clamav"}
    problem = only_problem(write(tmp_path, data))
    assert_names(problem, "hrcomp", "limits.scan", "memory 512")


def test_small_tasks_are_fine_without_clamav(tmp_path):
    data = copy.deepcopy(BASE)
    data["defaults"]["api"] = {"cpu": 256, "memory": 512}
    data["defaults"]["limits"]["scan"] = "guardduty"
    assert len(load_catalogue(write(tmp_path, data)).tenants) == 2


@pytest.mark.parametrize("days", [0, 3651, "90"])
def test_quarantine_days_are_checked(tmp_path, days):
    problem = only_problem(catalogue(tmp_path, tenant={"limits": {"quarantine_days": days}}))
    assert_names(problem, "hrcomp", "limits.quarantine_days")


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("scan", "virustotal", ("'virustotal' is not one of guardduty, clamav, off",)),
        ("scan", False, ("quoted", "'off'")),
        ("scan_infected", "keep", ("'keep' is not one of quarantine, delete",)),
    ],
)
def test_unknown_values_are_refused_with_the_choices(tmp_path, key, value, words):
    problem = only_problem(catalogue(tmp_path, tenant={"limits": {key: value}}))
    assert_names(problem, "hrcomp", f"limits.{key}", *words)


def test_the_repository_catalogue_scans_every_tenant():
    loaded = load_catalogue(REPO / "tenants.yaml")
    assert {t.limits.scan for t in loaded.tenants} == {"clamav"}


def guardduty_catalogue(tmp_path, count: int):
    data = copy.deepcopy(BASE)
    data["tenants"] = [
        {"slug": f"t{n}", "name": f"T {n}", "priority": n + 1, "limits": {"scan": "guardduty"}}
        for n in range(1, count + 1)
    ]
    return write(tmp_path, data)


def test_more_guardduty_tenants_than_guardduty_protects_is_refused_at_the_last_one(tmp_path):
    load_catalogue(guardduty_catalogue(tmp_path, 25))
    problem = only_problem(guardduty_catalogue(tmp_path, 26))
    assert_names(problem, "t26", "limits.scan", "26 tenants", "at most 25 buckets", "clamav")


def test_nearing_the_protected_buckets_quota_warns_that_it_cannot_be_raised(tmp_path, capsys):
    from provisioning.cli import main

    path = guardduty_catalogue(tmp_path, 21)
    assert main(["tenants", "validate", "--tenants", str(path)]) == 0
    err = capsys.readouterr().err
    assert "GuardDuty protected buckets per region: 21 of the default 25 (84 %)" in err
    assert "AWS does not raise it: scan further tenants with clamav" in err
