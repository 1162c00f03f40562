"""The raw-event retention: from the catalogue (`database.events_retention_months`) to
SILO_EVENTS_RETENTION_MONTHS, read by service/settings.py."""

from __future__ import annotations

import pytest

from provisioning.service_env import SCAN_OFF, service_environment, service_target
from service.settings import DEFAULT_EVENTS_RETENTION_MONTHS, SettingsError, from_environ
from tenants import load_catalogue
from tenants.names import Scope, for_tenant

CATALOGUE = """\
platform:
  domain: uploads.test.example
tenants:
  - {slug: usual, name: Usual, priority: 10}
  - {slug: brief, name: Brief, priority: 20, database: {events_retention_months: 3}}
  - {slug: keeper, name: Keeper, priority: 30, database: {events_retention_months: 0}}
"""
SERVICE = {
    "SILO_TENANT": "acme",
    "DATABASE_URL": "postgresql://u:p@db:5432/acme",
    "S3_BUCKET": "silo-acme",
    "AWS_REGION": "eu-west-1",
    "SILO_ADMIN_KEY": "k" * 32,
    "SILO_SCAN": "off",
}


def test_each_tenant_gets_its_retention(tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text(CATALOGUE)
    catalogue = load_catalogue(path)
    got = {}
    for tenant in catalogue.tenants:
        derived = for_tenant(Scope("silo", "prod"), tenant, account_id="1" * 12, region="eu-west-1")
        target = service_target(
            tenant,
            derived,
            region="eu-west-1",
            database_host="h",
            database_port=5432,
            scan=SCAN_OFF,
        )
        got[tenant.slug] = service_environment(target)["SILO_EVENTS_RETENTION_MONTHS"]
    assert got == {"usual": "13", "brief": "3", "keeper": "0"}


def test_the_service_reads_it():
    assert from_environ(SERVICE).events_retention_months == DEFAULT_EVENTS_RETENTION_MONTHS == 13
    env = {**SERVICE, "SILO_EVENTS_RETENTION_MONTHS": "0"}
    assert from_environ(env).events_retention_months == 0
    with pytest.raises(SettingsError, match="SILO_EVENTS_RETENTION_MONTHS"):
        from_environ({**SERVICE, "SILO_EVENTS_RETENTION_MONTHS": "-1"})
