"""The catalogue's scanning settings: `limits.scan` and `limits.scan_infected` per tenant with
a platform default, and `platform.clamd_address`, without which `clamav` is refused."""

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


def test_without_a_setting_every_tenant_is_scanned_by_guardduty_and_quarantines(tmp_path):
    loaded = load_catalogue(catalogue(tmp_path))
    for tenant in loaded.tenants:
        assert (tenant.limits.scan, tenant.limits.scan_infected) == ("guardduty", "quarantine")
    assert loaded.platform.clamd_address is None


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


def test_clamav_with_a_clamd_address(tmp_path):
    path = catalogue(
        tmp_path,
        platform={"clamd_address": "tcp://clamd.internal:3310"},
        tenant={"limits": {"scan": "clamav"}},
    )
    loaded = load_catalogue(path)
    assert loaded.platform.clamd_address == "tcp://clamd.internal:3310"
    assert loaded.tenant("hrcomp").limits.scan == "clamav"


def test_clamav_without_a_clamd_is_refused_where_it_is_written(tmp_path):
    problem = only_problem(catalogue(tmp_path, tenant={"limits": {"scan": "clamav"}}))
    assert_names(problem, "hrcomp", "limits.scan", "platform.clamd_address", "guardduty")


def test_a_clamav_default_without_a_clamd_is_reported_once_not_per_tenant(tmp_path):
    problem = only_problem(catalogue(tmp_path, defaults={"scan": "clamav"}))
    assert_names(problem, None, "defaults.limits.scan", "platform.clamd_address")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("unix:///run/clamd.sock", ("not tcp://host:port", "Fargate")),
        ("tcp://clamd.internal", ("not tcp://host:port",)),
        ("tcp://clamd.internal:99999", ("not tcp://host:port",)),
        ("clamd.internal:3310", ("not tcp://host:port",)),
        ("tcp://clamd.internal:3310/x", ("not tcp://host:port",)),
        (3310, ("must be a string",)),
    ],
)
def test_a_bad_clamd_address_is_refused_and_not_reported_twice(tmp_path, value, words):
    path = catalogue(
        tmp_path, platform={"clamd_address": value}, tenant={"limits": {"scan": "clamav"}}
    )
    problem = only_problem(path)
    assert_names(problem, None, "platform.clamd_address", *words)


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
    assert {t.limits.scan for t in loaded.tenants} == {"guardduty"}


def guardduty_catalogue(tmp_path, count: int):
    data = copy.deepcopy(BASE)
    data["tenants"] = [
        {"slug": f"t{n}", "name": f"T {n}", "priority": n} for n in range(1, count + 1)
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
