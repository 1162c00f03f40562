"""The validated catalogue: plain frozen values, already merged with defaults.

Nothing here reads files or validates; `tenants.loader` builds these from tenants.yaml and is
the only place that can produce one, so holding a `Tenant` means holding a valid tenant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MIB = 1024 * 1024


@dataclass(frozen=True)
class Platform:
    """Settings shared by every tenant of one catalogue."""

    domain: str  # a tenant's host is <slug>.<domain> unless it sets `host`
    name: str = "silo"  # prefix of every cloud resource name (see tenants.names)
    log_retention_days: int = 30


@dataclass(frozen=True)
class Api:
    cpu: int  # Fargate CPU units (1024 = one vCPU)
    memory: int  # MiB; must be a Fargate-valid pair with cpu
    min_tasks: int
    max_tasks: int
    target_cpu_percent: int  # autoscaling target: average CPU across the tenant's tasks
    target_requests_per_task: int  # autoscaling target: ALB requests per task per minute
    image: str | None = None  # overrides the stack's silo:image for this tenant


@dataclass(frozen=True)
class Database:
    instance_class: str
    storage_gb: int
    max_storage_gb: int  # storage autoscaling ceiling
    backup_days: int
    multi_az: bool
    engine_version: str  # PostgreSQL major (RDS picks the latest minor)
    # Apply class/storage/version changes now (a short outage for a class change, less with
    # multi_az) rather than at the next maintenance window.
    apply_immediately: bool = True


@dataclass(frozen=True)
class Bucket:
    versioning: bool
    cors_origins: tuple[str, ...]  # browser origins allowed to upload/download directly


@dataclass(frozen=True)
class Limits:
    max_upload_mb: int
    allowed_types: tuple[str, ...]  # service.uploads.filetypes ids
    scan: str = "clamav"  # clamav | guardduty | off (tenants.schema.SCAN_ENGINES)
    scan_infected: str = "quarantine"  # quarantine | delete
    quarantine_days: int = 90  # the lifecycle of quarantine/ in the tenant's bucket
    scan_oversize: str = "hold"  # hold | serve_unscanned: files too large for the engine

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * MIB


@dataclass(frozen=True)
class Taxonomy:
    """What a tenant's files can be labelled with (seeded into the service at start-up)."""

    categories: list[str]
    languages: dict[str, str]  # BCP 47 code -> display name
    roles: list[str]  # audience roles


@dataclass(frozen=True)
class Alarms:
    """Thresholds of the tenant's CloudWatch alarms."""

    http_5xx_percent: int
    unhealthy_hosts: int
    cpu_percent: int
    memory_percent: int
    db_cpu_percent: int
    db_free_storage_gb: int
    db_connections: int


@dataclass(frozen=True)
class Tenant:
    slug: str
    name: str
    priority: int  # ALB listener rule priority: unique across the catalogue
    host: str
    api: Api
    database: Database
    bucket: Bucket
    limits: Limits
    taxonomy: Taxonomy
    alarms: Alarms
    # Which ALB serves it: explicit and never changed once deployed (moving a tenant would
    # replace its listener rule and its DNS target).
    load_balancer: int = 0
    # A host outside the platform's wildcard brings its own certificate and hosted zone.
    certificate_arn: str | None = None
    hosted_zone_id: str | None = None
    index: int = field(default=0, compare=False)  # position in the file, for messages


@dataclass(frozen=True)
class Catalogue:
    path: Path
    platform: Platform
    tenants: list[Tenant]

    @property
    def load_balancers(self) -> int:
        """How many ALBs the placements need (0 .. the highest `load_balancer` used)."""
        return 1 + max((t.load_balancer for t in self.tenants), default=0)

    @property
    def slugs(self) -> list[str]:
        return [t.slug for t in self.tenants]

    def tenant(self, slug: str) -> Tenant:
        for tenant in self.tenants:
            if tenant.slug == slug:
                return tenant
        raise KeyError(f"no tenant {slug!r} in {self.path} (tenants: {', '.join(self.slugs)})")
