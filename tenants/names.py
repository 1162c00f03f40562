"""Every name derived from a tenant: pure functions, the only place names are made.

The scheme: most cloud names are `<prefix>-<stack>-<slug>[-<role>]`, where prefix is the
catalogue's `platform.name` (default "silo") and stack the Pulumi stack, so two stacks (or two
platforms) can share an AWS account without colliding, and a reader can tell from a name whose
it is. Two names cannot afford that:
- S3 bucket names are global across all AWS accounts, so they end with 8 hex digits of a hash
  of account, region, prefix and stack (stack-specific, yet stable for a given stack);
- target group names have 32 characters, so they are `<slug>-<6 hex of prefix and stack>`.

Length limits (AWS), and the longest each name can reach with the limits below
(prefix 12, stack 16, slug 24):

| name                  | AWS limit | longest here |
| ---                   | ---       | ---          |
| S3 bucket             | 63        | 63           |
| RDS identifier        | 63        | 54           |
| RDS final snapshot    | 255       | 60           |
| IAM role              | 64        | 59           |
| target group          | 32        | 31           |
| load balancer         | 32        | 29           |
| security group        | 255       | 59           |
| log group             | 512       | 59           |
| ECS cluster / service | 255       | 29 / 24      |
| task family           | 255       | 54           |
| database name (PG)    | 63        | 29           |
| secret name           | 512       | 64           |
| scaling policy        | 256       | 63           |

tests/tenants/test_names.py checks every row with the longest valid values.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tenants.model import Tenant

MAX_SLUG_LENGTH = 24
MAX_PREFIX_LENGTH = 12
MAX_STACK_LENGTH = 16

LIMITS: dict[str, int] = {
    "bucket": 63,
    "rds_identifier": 63,
    "final_snapshot": 255,
    "iam_role": 64,
    "target_group": 32,
    "load_balancer": 32,
    "security_group": 255,
    "log_group": 512,
    "ecs_cluster": 255,
    "ecs_service": 255,
    "task_family": 255,
    "database_name": 63,
    "secret": 512,
    "scaling_policy": 256,
}

# The master user RDS creates; the managed secret holds its password.
DATABASE_USER = "silo"
CONTAINER_NAME = "api"

# A DNS label, lowercase, starting with a letter; no "--" (RDS identifiers forbid it, and it
# reads as punycode "xn--" in hosts and buckets).
_LABEL = re.compile(r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$")
# S3 forbids these bucket-name prefixes.
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")


def label_problem(value: object, max_length: int) -> str | None:
    """Why `value` cannot be used as a slug/prefix/stack token, or None when it can."""
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not value:
        return "must not be empty"
    if len(value) > max_length:
        return (
            f"{value!r} is {len(value)} characters; at most {max_length} fit every name "
            "derived from it"
        )
    if not _LABEL.match(value):
        return (
            f"{value!r} must be lowercase letters, digits and hyphens, start with a letter "
            "and not end with a hyphen"
        )
    if "--" in value:
        return f"{value!r} must not contain '--'"
    return None


def host_problem(value: object) -> str | None:
    """Why `value` is not a usable DNS host name, or None."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > 253:
        return f"{value!r} is longer than 253 characters"
    labels = value.split(".")
    if len(labels) < 2:
        return f"{value!r} must be a fully qualified name (at least two labels)"
    for part in labels:
        if not re.match(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", part):
            return f"{value!r}: label {part!r} is not a lowercase DNS label"
    return None


@dataclass(frozen=True)
class Scope:
    """Where names live: the platform prefix and the Pulumi stack (e.g. "silo", "prod")."""

    prefix: str
    stack: str

    def __post_init__(self) -> None:
        problem = label_problem(self.prefix, MAX_PREFIX_LENGTH)
        if problem:
            raise ValueError(f"platform name: {problem}")
        if self.prefix.startswith(_RESERVED_BUCKET_PREFIXES):
            raise ValueError(f"platform name: {self.prefix!r} starts with a prefix S3 reserves")
        problem = label_problem(self.stack, MAX_STACK_LENGTH)
        if problem:
            raise ValueError(f"stack name: {problem}")

    @property
    def base(self) -> str:
        return f"{self.prefix}-{self.stack}"


def _digest(*parts: str, length: int) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


# -- shared (Platform) names ------------------------------------------------------------------


def cluster(scope: Scope) -> str:
    return scope.base


def load_balancer(scope: Scope, index: int = 0) -> str:
    # The first keeps the name it had before there were several (ALB names are 32 characters
    # at most: a 29-character base leaves room for "-49").
    return scope.base if index == 0 else f"{scope.base}-{index}"


def alb_security_group(scope: Scope) -> str:
    return f"{scope.base}-alb"


def db_subnet_group(scope: Scope) -> str:
    return scope.base


def vpc(scope: Scope) -> str:
    return scope.base


# `/metrics` is for a collector inside the task (127.0.0.1), never the internet: the platform's
# rule on each tenant listener answers it 404 before any tenant's host rule can forward it.
# ALB rules are evaluated lowest priority first, so it takes the lowest, and tenants' catalogue
# priorities start above it (tenants/schema.py). One rule per listener, not one per tenant: a
# per-tenant rule would double the rules a tenant costs (100 per ALB by default).
METRICS_PATHS = ("/metrics", "/metrics/*")
METRICS_RULE_PRIORITY = 1


def metrics_rule_priority() -> int:
    return METRICS_RULE_PRIORITY


# -- per-tenant names -------------------------------------------------------------------------


def host(slug: str, domain: str) -> str:
    return f"{slug}.{domain}"


def bucket(scope: Scope, slug: str, *, account_id: str, region: str) -> str:
    # Globally unique: the hash tells apart the same prefix/stack in other accounts/regions.
    suffix = _digest(account_id, region, scope.prefix, scope.stack, length=8)
    return f"{scope.base}-{slug}-{suffix}"


def rds_identifier(scope: Scope, slug: str) -> str:
    return f"{scope.base}-{slug}"


def final_snapshot(scope: Scope, slug: str) -> str:
    return f"{scope.base}-{slug}-final"


def database_name(slug: str) -> str:
    # PostgreSQL identifiers take no hyphen; the prefix keeps clear of "postgres"/"template1".
    return "silo_" + slug.replace("-", "_")


def log_group(scope: Scope, slug: str) -> str:
    return f"/ecs/{scope.base}/{slug}"


def execution_role(scope: Scope, slug: str) -> str:
    return f"{scope.base}-{slug}-exec"


def task_role(scope: Scope, slug: str) -> str:
    return f"{scope.base}-{slug}-task"


def scan_role(scope: Scope, slug: str) -> str:
    # Assumed by GuardDuty Malware Protection for S3 to scan and tag the tenant's bucket.
    return f"{scope.base}-{slug}-scan"


def task_security_group(scope: Scope, slug: str) -> str:
    return f"{scope.base}-{slug}-task"


def database_security_group(scope: Scope, slug: str) -> str:
    return f"{scope.base}-{slug}-db"


def target_group(scope: Scope, slug: str) -> str:
    return f"{slug}-{_digest(scope.prefix, scope.stack, length=6)}"


def ecs_service(slug: str) -> str:
    # Scoped by its cluster, which is per stack.
    return slug


def task_family(scope: Scope, slug: str) -> str:
    return f"{scope.base}-{slug}"


def admin_key_secret(scope: Scope, slug: str) -> str:
    return f"{scope.prefix}/{scope.stack}/{slug}/admin-key"


def scaling_policy(scope: Scope, slug: str, metric: str) -> str:
    return f"{scope.base}-{slug}-{metric}"


def alarm_topic(scope: Scope) -> str:
    return f"{scope.base}-alarms"


def alarm_prefix(scope: Scope, slug: str) -> str:
    # Alarm names are `<prefix>-<kind>`; the tenant's dashboard is named `<prefix>`.
    return f"{scope.base}-{slug}"


def rule_priority(priority: int) -> int:
    # The catalogue's priority is the rule priority: explicit and stable, so adding a tenant
    # never renumbers another tenant's rule.
    return priority


@dataclass(frozen=True)
class TenantNames:
    """All names of one tenant's deployment, for code that needs several at once."""

    host: str
    bucket: str
    rds_identifier: str
    final_snapshot: str
    database_name: str
    database_user: str
    log_group: str
    execution_role: str
    task_role: str
    scan_role: str
    task_security_group: str
    database_security_group: str
    target_group: str
    rule_priority: int
    ecs_service: str
    task_family: str
    admin_key_secret: str
    cpu_scaling_policy: str
    requests_scaling_policy: str
    alarm_prefix: str


def tenant_names(
    scope: Scope, slug: str, *, host: str, priority: int, account_id: str, region: str
) -> TenantNames:
    return TenantNames(
        host=host,
        bucket=bucket(scope, slug, account_id=account_id, region=region),
        rds_identifier=rds_identifier(scope, slug),
        final_snapshot=final_snapshot(scope, slug),
        database_name=database_name(slug),
        database_user=DATABASE_USER,
        log_group=log_group(scope, slug),
        execution_role=execution_role(scope, slug),
        task_role=task_role(scope, slug),
        scan_role=scan_role(scope, slug),
        task_security_group=task_security_group(scope, slug),
        database_security_group=database_security_group(scope, slug),
        target_group=target_group(scope, slug),
        rule_priority=rule_priority(priority),
        ecs_service=ecs_service(slug),
        task_family=task_family(scope, slug),
        admin_key_secret=admin_key_secret(scope, slug),
        cpu_scaling_policy=scaling_policy(scope, slug, "cpu"),
        requests_scaling_policy=scaling_policy(scope, slug, "requests"),
        alarm_prefix=alarm_prefix(scope, slug),
    )


# What `silo dev` and `silo tenants list` use when no AWS account is involved.
LOCAL_ACCOUNT_ID = "000000000000"


def for_tenant(scope: Scope, tenant: Tenant, *, account_id: str, region: str) -> TenantNames:
    return tenant_names(
        scope,
        tenant.slug,
        host=tenant.host,
        priority=tenant.priority,
        account_id=account_id,
        region=region,
    )
