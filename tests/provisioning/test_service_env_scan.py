"""Malware scanning in the env contract: SILO_SCAN, SILO_CLAMD_ADDRESS, SILO_SCAN_INFECTED, on
AWS (the catalogue's engine; clamav is the clamd in the tenant's own task) and locally (the
local clamd, or off)."""

from dataclasses import replace

import pytest

from provisioning.aws.scanner import CLAMD_PORT
from provisioning.service_env import (
    SCAN_OFF,
    SIDECAR_CLAMD_ADDRESS,
    Scan,
    ServiceTarget,
    cloud_scan,
    local_scan,
    service_environment,
)
from tenants import load_catalogue

CATALOGUE = """\
platform:
  domain: uploads.test.example
tenants:
  - {slug: guarded, name: Guarded, priority: 10, limits: {scan: guardduty}}
  - {slug: clam, name: Clam, priority: 20, limits: {scan: clamav, scan_infected: delete}}
  - {slug: bare, name: Bare, priority: 30, limits: {scan: "off"}}
"""

TARGET = ServiceTarget(
    tenant="pack",
    bucket="silo-prod-pack-abc123",
    region="eu-west-1",
    database_host="db.internal",
    database_port=5432,
    database_name="silo",
    max_upload_bytes=1024,
    allowed_types=("pdf",),
)

SCAN_KEYS = ("SILO_SCAN", "SILO_CLAMD_ADDRESS", "SILO_SCAN_INFECTED")


@pytest.fixture(scope="module")
def tenants(tmp_path_factory):
    path = tmp_path_factory.mktemp("scan") / "tenants.yaml"
    path.write_text(CATALOGUE)
    catalogue = load_catalogue(path)
    return catalogue, {t.slug: t for t in catalogue.tenants}


def scan_env(scan: Scan) -> dict[str, str]:
    env = service_environment(replace(TARGET, scan=scan))
    return {k: env[k] for k in SCAN_KEYS if k in env}


def test_on_aws_each_tenant_scans_with_its_catalogue_engine(tenants):
    _, by_slug = tenants
    assert scan_env(cloud_scan(by_slug["guarded"])) == {
        "SILO_SCAN": "guardduty",
        "SILO_SCAN_INFECTED": "quarantine",
    }
    assert scan_env(cloud_scan(by_slug["clam"])) == {
        "SILO_SCAN": "clamav",
        "SILO_CLAMD_ADDRESS": "tcp://127.0.0.1:3310",
        "SILO_SCAN_INFECTED": "delete",
    }
    assert scan_env(cloud_scan(by_slug["bare"])) == {"SILO_SCAN": "off"}


def test_on_aws_clamav_is_the_sidecar_on_the_tasks_own_loopback():
    """No shared clamd any more (`platform.clamd_address` is refused by the catalogue): a
    clamav tenant's service reaches the clamd of its own task, on loopback, at the port the
    sidecar listens on."""
    assert f"tcp://127.0.0.1:{CLAMD_PORT}" == SIDECAR_CLAMD_ADDRESS


def test_locally_every_scanning_tenant_uses_the_local_clamd(tenants):
    """GuardDuty exists only on AWS: a guardduty tenant scans with the local clamd, with its
    own choice of what happens to infected bytes; an `off` tenant stays off."""
    _, by_slug = tenants
    local = "tcp://127.0.0.1:41234"
    assert scan_env(local_scan(by_slug["guarded"], local)) == {
        "SILO_SCAN": "clamav",
        "SILO_CLAMD_ADDRESS": local,
        "SILO_SCAN_INFECTED": "quarantine",
    }
    assert scan_env(local_scan(by_slug["clam"], local))["SILO_SCAN_INFECTED"] == "delete"
    assert scan_env(local_scan(by_slug["bare"], local)) == {"SILO_SCAN": "off"}


def test_locally_without_clamd_scanning_is_off_for_everyone(tenants):
    _, by_slug = tenants
    for tenant in by_slug.values():
        assert local_scan(tenant, None) == SCAN_OFF
        assert scan_env(local_scan(tenant, None)) == {"SILO_SCAN": "off"}


def test_silo_scan_is_always_written_because_the_service_requires_it():
    assert service_environment(TARGET)["SILO_SCAN"] == "off"


@pytest.mark.parametrize(
    "scan",
    [
        lambda: Scan("clamav"),
        lambda: Scan("guardduty", "tcp://127.0.0.1:3310"),
        lambda: Scan("off", "tcp://127.0.0.1:3310"),
    ],
)
def test_a_clamd_address_goes_with_clamav_and_only_with_it(scan):
    with pytest.raises(ValueError, match="clamav"):
        scan()


def test_the_oversize_policy_goes_from_the_catalogue_to_the_service(tmp_path):
    """`limits.scan_oversize` (default hold) becomes SILO_SCAN_OVERSIZE; a local clamd's limit
    becomes SILO_SCAN_MAX_BYTES; the service reads both."""
    from service.settings import SettingsError, from_environ

    path = tmp_path / "tenants.yaml"
    path.write_text(
        CATALOGUE.replace(
            "scan_infected: delete", "scan_infected: delete, scan_oversize: serve_unscanned"
        )
    )
    guarded, clam, _ = load_catalogue(path).tenants
    assert cloud_scan(guarded).oversize == "hold"
    assert cloud_scan(clam).oversize == "serve_unscanned"
    local = local_scan(clam, "tcp://127.0.0.1:3310", max_bytes=1024)
    env = service_environment(replace(TARGET, scan=local))
    assert (env["SILO_SCAN_OVERSIZE"], env["SILO_SCAN_MAX_BYTES"]) == ("serve_unscanned", "1024")
    base = {
        "SILO_TENANT": "pack",
        "DATABASE_URL": "postgresql://u@h/d",
        "S3_BUCKET": "silo-prod-pack-abc123",
        "AWS_REGION": "eu-west-1",
        "SILO_ADMIN_KEY": "k" * 20,
    }
    settings = from_environ({**base, **env})
    assert (settings.scan_oversize, settings.scan_max_bytes) == ("serve_unscanned", 1024)
    assert from_environ({**base, "SILO_SCAN": "guardduty"}).scan_oversize == "hold"
    with pytest.raises(SettingsError, match="SILO_SCAN_OVERSIZE"):
        from_environ({**base, "SILO_SCAN": "off", "SILO_SCAN_OVERSIZE": "serve"})
