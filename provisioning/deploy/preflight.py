"""Before anything is created: the account's applied quotas (Service Quotas, else AWS's
defaults) against what the account already uses (every stack, Silo's or not) plus what this
deploy adds. A plan that cannot finish is refused whole, instead of failing at the 41st
database. The boto3 clients are passed in (tests pass fakes).

Quota codes (Service Quotas `list-service-quotas`; see docs/operations/quotas.md):
"""

from __future__ import annotations

from dataclasses import dataclass

from tenants import quotas
from tenants.model import Tenant


@dataclass(frozen=True)
class Quota:
    name: str
    service: str  # Service Quotas service code
    code: str | None  # None: not in Service Quotas (the published default applies)
    default: int


RDS_INSTANCES = Quota("RDS DB instances", "rds", "L-7B6409FD", quotas.RDS_INSTANCES_PER_REGION)
ALBS = Quota(
    "Application Load Balancers per Region",
    "elasticloadbalancing",
    "L-53DA6B97",
    quotas.LOAD_BALANCERS_PER_REGION,
)
TARGET_GROUPS = Quota("Target Groups per Region", "elasticloadbalancing", "L-B22855CB", 3000)
SECURITY_GROUPS = Quota("VPC security groups per Region", "vpc", "L-E79EC296", 2500)
# GuardDuty Malware Protection for S3: 25 protected buckets per account and Region, not in
# Service Quotas and not raised on request (tenants/quotas.py).
PROTECTED_BUCKETS = Quota(
    "GuardDuty Malware Protection plans (buckets)",
    "guardduty",
    None,
    quotas.PROTECTED_BUCKETS_PER_REGION,
)


class QuotaError(Exception):
    pass


def applied(service_quotas, quota: Quota) -> int:
    """The account's applied value, else AWS's default for it, else the published default."""
    if quota.code is None:
        return quota.default
    for call in ("get_service_quota", "get_aws_default_service_quota"):
        try:
            answer = getattr(service_quotas, call)(ServiceCode=quota.service, QuotaCode=quota.code)
            return int(answer["Quota"]["Value"])
        except Exception:
            continue
    return quota.default


def _pages(client, operation: str, key: str, **kwargs) -> list:
    items: list = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items += page[key]
    return items


@dataclass
class Clients:
    service_quotas: object
    rds: object
    elbv2: object
    ec2: object
    guardduty: object


def in_use(clients: Clients) -> dict[Quota, int]:
    """What the account uses now, whichever stack (or none) created it."""
    albs = _pages(clients.elbv2, "describe_load_balancers", "LoadBalancers")
    return {
        RDS_INSTANCES: len(_pages(clients.rds, "describe_db_instances", "DBInstances")),
        ALBS: sum(1 for lb in albs if lb.get("Type") == "application"),
        TARGET_GROUPS: len(_pages(clients.elbv2, "describe_target_groups", "TargetGroups")),
        SECURITY_GROUPS: len(_pages(clients.ec2, "describe_security_groups", "SecurityGroups")),
        PROTECTED_BUCKETS: len(
            _pages(clients.guardduty, "list_malware_protection_plans", "MalwareProtectionPlans")
        ),
    }


def added(new_tenants: list[Tenant], new_load_balancers: int = 0) -> dict[Quota, int]:
    """What creating these tenants' stacks (and that many more ALBs) adds: per tenant one
    database, one target group, two security groups (task, database), and with GuardDuty one
    protected bucket; per ALB one more."""
    return {
        RDS_INSTANCES: len(new_tenants),
        ALBS: new_load_balancers,
        TARGET_GROUPS: len(new_tenants),
        SECURITY_GROUPS: 2 * len(new_tenants) + (1 if new_load_balancers else 0),
        PROTECTED_BUCKETS: len(quotas.guardduty_tenants(new_tenants)),
    }


def problems(clients: Clients, new_tenants: list[Tenant], new_load_balancers: int = 0) -> list:
    used = in_use(clients)
    problems = []
    for quota, more in added(new_tenants, new_load_balancers).items():
        if not more:
            continue
        limit = applied(clients.service_quotas, quota)
        if used[quota] + more > limit:
            where = f"quota {quota.code}" if quota.code else "not adjustable"
            problems.append(
                f"{quota.name}: {used[quota]} in use + {more} to create > {limit} ({where})"
            )
    return problems


def check(clients: Clients, new_tenants: list[Tenant], new_load_balancers: int = 0) -> None:
    found = problems(clients, new_tenants, new_load_balancers)
    if found:
        raise QuotaError(
            "the plan cannot finish within the account's quotas; nothing was created:\n  - "
            + "\n  - ".join(found)
        )
