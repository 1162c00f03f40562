"""The env contract: from a catalogue tenant to the environment one service instance starts with.

Written down once, here, and used by the Pulumi task definition, the local runner (`silo dev`)
and the compose renderer, so a tenant runs with the same settings in the cloud and on a laptop;
only the endpoints differ. `service/settings.py` is the reading side.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from tenants.model import Tenant
from tenants.names import TenantNames

# The port the service listens on inside its container or process: the ECS port mapping, the
# target group, the security group rules and the compose file all take it from here.
SERVICE_PORT = 8000

# Variables whose values are secrets: on ECS they come from Secrets Manager through the task
# definition's `secrets` (read by the execution role), never from plain `environment`.
# name -> (which secret, JSON key inside it or None for the whole secret string)
SECRET_VARIABLES: Mapping[str, tuple[str, str | None]] = {
    "SILO_ADMIN_KEY": ("admin_key", None),
}
# The database user and password are not among them: ECS would inject them once, when the
# container starts, and RDS rotates the password (every 7 days by default). On ECS the service
# gets DATABASE_SECRET_ARN instead (the ARN of the RDS-managed secret, JSON {"username",
# "password"}; not the secret itself) and reads the secret with its task role whenever it opens
# a connection (service/db/credentials.py). Local runs have no rotating secret: they pass a
# fixed user and password, alongside the admin key.
LOCAL_SECRET_VARIABLES = ("DATABASE_USER", "DATABASE_PASSWORD", "SILO_ADMIN_KEY")


@dataclass(frozen=True)
class Scan:
    """How one instance scans uploads: SILO_SCAN, SILO_CLAMD_ADDRESS, SILO_SCAN_INFECTED,
    SILO_SCAN_OVERSIZE, SILO_SCAN_MAX_BYTES."""

    engine: str  # off | guardduty | clamav
    clamd_address: str | None = None  # tcp://host:port or unix:///path; with clamav only
    infected: str = "quarantine"  # quarantine | delete
    oversize: str = "hold"  # hold | serve_unscanned
    # The largest file sent to the engine (its limit, e.g. clamd's StreamMaxLength); None:
    # the engine's own answer decides.
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        if (self.engine == "clamav") != (self.clamd_address is not None):
            raise ValueError("a clamd address goes with the clamav engine, and only with it")


SCAN_OFF = Scan("off")


# The RDS CA bundle the image carries (the Dockerfile's final stage puts it here). On AWS the
# service connects with PGSSLMODE=verify-full and PGSSLROOTCERT=this file: libpq checks the
# database's certificate against it and its name against DATABASE_HOST. Off AWS (silo dev,
# compose) the local PostgreSQL has no TLS, so neither is set and libpq keeps its default.
RDS_CA_BUNDLE = "/etc/ssl/certs/rds-global-bundle.pem"


# On AWS a clamav tenant's clamd is a sidecar in its own task, on the task's loopback
# (provisioning/aws/scanner.py, which holds the same value).
SIDECAR_CLAMD_ADDRESS = "tcp://127.0.0.1:3310"


def cloud_scan(tenant: Tenant) -> Scan:
    """On AWS: the catalogue's engine as written; clamav is the clamd in the tenant's own task,
    which only that task can reach."""
    engine = tenant.limits.scan
    return Scan(
        engine,
        SIDECAR_CLAMD_ADDRESS if engine == "clamav" else None,
        infected=tenant.limits.scan_infected,
        oversize=tenant.limits.scan_oversize,
    )


def local_scan(tenant: Tenant, clamd_address: str | None, *, max_bytes: int | None = None) -> Scan:
    """Off AWS (silo dev, compose): GuardDuty does not exist, so a tenant that scans at all
    scans with the local clamd at `clamd_address` (taking up to `max_bytes`); with none there
    (ClamAV not installed), scanning is off. A tenant the catalogue sets `off` stays off
    either way."""
    if tenant.limits.scan == "off" or clamd_address is None:
        return SCAN_OFF
    return Scan(
        "clamav",
        clamd_address,
        infected=tenant.limits.scan_infected,
        oversize=tenant.limits.scan_oversize,
        max_bytes=max_bytes,
    )


@dataclass(frozen=True)
class ServiceTarget:
    """What one tenant's service instance needs to know, in plain values."""

    tenant: str
    bucket: str
    region: str
    database_host: str
    database_port: int
    database_name: str
    max_upload_bytes: int
    allowed_types: tuple[str, ...]
    port: int = SERVICE_PORT
    s3_endpoint_url: str | None = None
    # DATABASE_SECRET_ARN: the RDS-managed secret the service reads its database credentials
    # from at connect time (on ECS); None: fixed DATABASE_USER/PASSWORD (local runs).
    database_secret_arn: str | None = None
    # PGSSLMODE=verify-full, PGSSLROOTCERT=this CA bundle (libpq reads both): on ECS,
    # RDS_CA_BUNDLE; None leaves libpq's default, `prefer` (local runs: no TLS there).
    database_ca_bundle: str | None = None
    # SILO_SHUTDOWN_TIMEOUT_SECONDS: on ECS, derived with the stop timeout (provisioning.
    # timeouts); None leaves the service's default (local runs).
    shutdown_timeout_seconds: int | None = None
    # SILO_KEEP_ALIVE_SECONDS: on ECS, derived to outlast the ALB's idle timeout
    # (provisioning.timeouts); None leaves the service's default (local runs).
    keep_alive_seconds: int | None = None
    # The tenant's content taxonomy, {"categories": [...], "languages": {code: name},
    # "roles": [...]}, seeded by the service at start-up. None: the service's platform defaults.
    taxonomy: Mapping[str, Any] | None = None
    # Browser origins allowed to call the API directly (the bucket's `cors_origins`).
    cors_origins: tuple[str, ...] = ()
    # Malware scanning (cloud_scan / local_scan): the engine differs between AWS and a laptop,
    # like the endpoints do.
    scan: Scan = SCAN_OFF
    # SILO_EVENTS_RETENTION_MONTHS: the catalogue's `database.events_retention_months`.
    events_retention_months: int | None = None


def service_target(
    tenant: Tenant,
    names: TenantNames,
    *,
    region: str,
    database_host: str,
    database_port: int,
    scan: Scan,
    port: int = SERVICE_PORT,
    s3_endpoint_url: str | None = None,
    database_secret_arn: str | None = None,
    database_ca_bundle: str | None = None,
    shutdown_timeout_seconds: int | None = None,
    keep_alive_seconds: int | None = None,
) -> ServiceTarget:
    """What `tenant`'s service instance is started with (see `service_environment`)."""
    return ServiceTarget(
        tenant=tenant.slug,
        bucket=names.bucket,
        region=region,
        database_host=database_host,
        database_port=int(database_port),
        database_name=names.database_name,
        max_upload_bytes=tenant.limits.max_upload_bytes,
        allowed_types=tuple(tenant.limits.allowed_types),
        port=port,
        s3_endpoint_url=s3_endpoint_url,
        database_secret_arn=database_secret_arn,
        database_ca_bundle=database_ca_bundle,
        shutdown_timeout_seconds=shutdown_timeout_seconds,
        keep_alive_seconds=keep_alive_seconds,
        taxonomy=asdict(tenant.taxonomy),
        cors_origins=tuple(tenant.bucket.cors_origins),
        scan=scan,
        events_retention_months=tenant.database.events_retention_months,
    )


def service_environment(target: ServiceTarget) -> dict[str, str]:
    """The non-secret environment for one instance (the task definition's `environment`)."""
    env = {
        "PORT": str(target.port),
        "SILO_TENANT": target.tenant,
        "S3_BUCKET": target.bucket,
        "AWS_REGION": target.region,
        "DATABASE_HOST": target.database_host,
        "DATABASE_PORT": str(target.database_port),
        "DATABASE_NAME": target.database_name,
        "SILO_MAX_UPLOAD_BYTES": str(target.max_upload_bytes),
        "SILO_ALLOWED_TYPES": ",".join(target.allowed_types),
        # Always written: the service requires it, so a caller cannot leave scanning off by
        # forgetting it.
        "SILO_SCAN": target.scan.engine,
    }
    if target.scan.engine != "off":
        env["SILO_SCAN_INFECTED"] = target.scan.infected
        env["SILO_SCAN_OVERSIZE"] = target.scan.oversize
    if target.scan.max_bytes is not None:
        env["SILO_SCAN_MAX_BYTES"] = str(target.scan.max_bytes)
    if target.scan.clamd_address:
        env["SILO_CLAMD_ADDRESS"] = target.scan.clamd_address
    if target.s3_endpoint_url:
        env["S3_ENDPOINT_URL"] = target.s3_endpoint_url
    if target.database_secret_arn:
        env["DATABASE_SECRET_ARN"] = target.database_secret_arn
    if target.database_ca_bundle:
        # libpq's own variables: every connection the service opens (pool, lock connections,
        # migrations) verifies the server, with no setting of the service's own to forget.
        env["PGSSLMODE"] = "verify-full"
        env["PGSSLROOTCERT"] = target.database_ca_bundle
    if target.shutdown_timeout_seconds is not None:
        env["SILO_SHUTDOWN_TIMEOUT_SECONDS"] = str(target.shutdown_timeout_seconds)
    if target.keep_alive_seconds is not None:
        env["SILO_KEEP_ALIVE_SECONDS"] = str(target.keep_alive_seconds)
    if target.cors_origins:
        env["SILO_CORS_ORIGINS"] = ",".join(target.cors_origins)
    if target.events_retention_months is not None:
        env["SILO_EVENTS_RETENTION_MONTHS"] = str(target.events_retention_months)
    if target.taxonomy is not None:
        env["SILO_TAXONOMY"] = taxonomy_json(target.taxonomy)
    return env


def taxonomy_json(taxonomy: Mapping[str, Any]) -> str:
    """SILO_TAXONOMY: compact JSON, ASCII-only so any runtime passes it through unchanged."""
    return json.dumps(
        {
            "categories": list(taxonomy["categories"]),
            "languages": dict(taxonomy["languages"]),
            "roles": list(taxonomy["roles"]),
        },
        separators=(",", ":"),
    )


def ecs_secrets(secret_arns: Mapping[str, str]) -> list[dict[str, str]]:
    """The task definition's `secrets` list, from {"admin_key": arn}.

    ECS selects a JSON key of a secret with `<arn>:<key>::` (version stage and id left empty).
    """
    entries = []
    for name, (secret, key) in SECRET_VARIABLES.items():
        arn = secret_arns[secret]
        entries.append({"name": name, "valueFrom": f"{arn}:{key}::" if key else arn})
    return entries


def local_secret_environment(
    database_user: str, database_password: str, admin_key: str
) -> dict[str, str]:
    """The secret variables of a local run (`silo dev`, compose): the admin key, as ECS
    injects it, and a fixed database user and password (see LOCAL_SECRET_VARIABLES)."""
    values = {
        "DATABASE_USER": database_user,
        "DATABASE_PASSWORD": database_password,
        "SILO_ADMIN_KEY": admin_key,
    }
    assert set(values) == set(LOCAL_SECRET_VARIABLES), "keep in step with LOCAL_SECRET_VARIABLES"
    assert set(SECRET_VARIABLES) <= set(values), "keep in step with SECRET_VARIABLES"
    return values
