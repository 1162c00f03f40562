"""Catalogue tenant -> ServiceTarget: what one tenant's service instance is started with."""

from pathlib import Path

from provisioning.local import runner as dev
from provisioning.local.backends import Backends
from provisioning.service_env import (
    RDS_CA_BUNDLE,
    SERVICE_PORT,
    ServiceTarget,
    cloud_scan,
    local_scan,
    service_environment,
    service_target,
)
from tenants import load_catalogue, names

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = load_catalogue(REPO / "tenants.yaml")
SCOPE = names.Scope("silo", "prod")


def target_for(slug: str, **overrides) -> ServiceTarget:
    tenant = CATALOGUE.tenant(slug)
    tenant_names = names.for_tenant(SCOPE, tenant, account_id="1" * 12, region="eu-west-1")
    overrides.setdefault("scan", cloud_scan(tenant))
    overrides.setdefault("database_ca_bundle", RDS_CA_BUNDLE)
    return service_target(
        tenant,
        tenant_names,
        region="eu-west-1",
        database_host="db.internal",
        database_port=5432,
        **overrides,
    )


def test_service_target_maps_the_tenant_and_its_names():
    target = target_for("hrcomp")
    tenant = CATALOGUE.tenant("hrcomp")
    assert target.tenant == "hrcomp"
    assert target.bucket == names.bucket(SCOPE, "hrcomp", account_id="1" * 12, region="eu-west-1")
    assert target.database_name == "silo_hrcomp"
    assert (target.database_host, target.database_port) == ("db.internal", 5432)
    assert target.max_upload_bytes == tenant.limits.max_upload_mb * 1024 * 1024
    assert target.allowed_types == tenant.limits.allowed_types
    assert (target.port, target.s3_endpoint_url) == (SERVICE_PORT, None)


def test_local_runs_change_only_the_endpoints():
    """The scanner is an endpoint too: the clamd in the task on AWS, the local clamd on a
    laptop (pack scans with the default engine, clamav, in both). So is the database's TLS:
    RDS is verified against the image's CA bundle, a local PostgreSQL has no TLS."""
    cloud = service_environment(target_for("pack"))
    local = service_environment(
        target_for(
            "pack",
            port=18001,
            s3_endpoint_url="http://127.0.0.1:9000",
            scan=local_scan(CATALOGUE.tenant("pack"), "tcp://127.0.0.1:41234"),
            database_ca_bundle=None,
        )
    )
    changed = {k for k in cloud.keys() | local.keys() if cloud.get(k) != local.get(k)}
    assert changed == {
        "PORT",
        "S3_ENDPOINT_URL",
        "SILO_CLAMD_ADDRESS",
        "PGSSLMODE",
        "PGSSLROOTCERT",
    }
    assert cloud["SILO_SCAN"] == local["SILO_SCAN"] == "clamav"
    assert cloud["SILO_CLAMD_ADDRESS"] == "tcp://127.0.0.1:3310"
    assert cloud["SILO_SCAN_INFECTED"] == local["SILO_SCAN_INFECTED"] == "quarantine"


def test_on_aws_libpq_verifies_rds_against_the_bundle_in_the_image():
    env = service_environment(target_for("hrcomp"))
    assert env["PGSSLMODE"] == "verify-full"
    assert env["PGSSLROOTCERT"] == RDS_CA_BUNDLE == "/etc/ssl/certs/rds-global-bundle.pem"
    # Not given one, a target leaves libpq's default (the local runs' case).
    plain = service_environment(target_for("hrcomp", database_ca_bundle=None))
    assert not {"PGSSLMODE", "PGSSLROOTCERT"} & set(plain)


def test_silo_dev_connects_without_tls_settings():
    """Its PostgreSQL (a local server or a given one) has no TLS: verify-full would refuse it."""
    backends = Backends(
        database_host="127.0.0.1",
        database_port=55432,
        database_user="silo",
        database_password="local-password",
        admin_conninfo={},
        s3_endpoint_url="http://127.0.0.1:59000",
        aws_credentials={},
    )
    ports = [7001 + i for i in range(len(CATALOGUE.tenants))]
    for plan in dev.plan_tenants(CATALOGUE, backends, ports):
        assert not {"PGSSLMODE", "PGSSLROOTCERT"} & set(plan.env), plan.slug
