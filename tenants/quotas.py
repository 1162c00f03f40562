"""The default AWS quotas a catalogue implies, as pure functions of the tenants.

Each tenant brings one RDS instance, one target group and one listener rule on the ALB it is
placed on (`tenant.load_balancer`), and, with its own certificate, one listener certificate.
`silo tenants validate` warns at 80 % of a default quota, so the increase is requested (or a
new load balancer started) before a `pulumi up` fails halfway. The hard limits, target groups
per ALB and buckets GuardDuty protects, are refused by the loader beyond them.

A tenant scanning with GuardDuty (`limits.scan: guardduty`) brings one Malware Protection plan
on its bucket.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from tenants.model import Tenant

WARN_AT = 0.8

# Defaults of a fresh account (Service Quotas); all but target groups per ALB can be raised.
RDS_INSTANCES_PER_REGION = 40
LOAD_BALANCERS_PER_REGION = 50
TARGET_GROUPS_PER_ALB = 100  # not adjustable
RULES_PER_ALB = 100  # the HTTP and HTTPS listeners' rules together, default rules not counted
CERTIFICATES_PER_ALB = 25  # listener certificates beyond the default one
RULES_PER_SECURITY_GROUP = 60
# The largest group the program creates is the ALB's: 80 and 443 in, one rule out to the
# VPC; tenants add none to it (a task's group has 3 rules, a database's 1).
LARGEST_SECURITY_GROUP_RULES = 3
# Buckets with a GuardDuty Malware Protection for S3 plan, per account and region: 25, and AWS
# has not raised it on request (the GuardDuty user guide's "Quotas in Malware Protection for
# S3"; earlier 10). Other stacks in the same account and region count too.
PROTECTED_BUCKETS_PER_REGION = 25  # not adjustable


@dataclass(frozen=True)
class Usage:
    quota: str
    used: int
    limit: int
    adjustable: bool = True

    @property
    def near(self) -> bool:
        return self.used > WARN_AT * self.limit

    def __str__(self) -> str:
        advice = (
            "request an increase before it is reached"
            if self.adjustable
            else "AWS does not raise it: scan further tenants with clamav"
        )
        return (
            f"{self.quota}: {self.used} of the default {self.limit} "
            f"({100 * self.used // self.limit} %); {advice}"
        )


def guardduty_tenants(tenants: Iterable[Tenant]) -> list[Tenant]:
    """The tenants whose bucket gets a GuardDuty Malware Protection plan."""
    return [t for t in tenants if t.limits.scan == "guardduty"]


def tenants_per_load_balancer(tenants: Iterable[Tenant]) -> Counter[int]:
    return Counter(t.load_balancer for t in tenants)


def usage(tenants: list[Tenant]) -> list[Usage]:
    """What the catalogue uses of each default quota (per ALB where the quota is per ALB)."""
    per_alb = tenants_per_load_balancer(tenants)
    certificates = Counter(t.load_balancer for t in tenants if t.certificate_arn)
    found = [
        Usage("RDS instances per region", len(tenants), RDS_INSTANCES_PER_REGION),
        Usage("load balancers per region", 1 + max(per_alb, default=0), LOAD_BALANCERS_PER_REGION),
        Usage("rules per security group", LARGEST_SECURITY_GROUP_RULES, RULES_PER_SECURITY_GROUP),
        Usage(
            "GuardDuty protected buckets per region",
            len(guardduty_tenants(tenants)),
            PROTECTED_BUCKETS_PER_REGION,
            adjustable=False,
        ),
    ]
    for index in sorted(per_alb):
        found += [
            Usage(f"target groups on load balancer {index}", per_alb[index], TARGET_GROUPS_PER_ALB),
            # One host rule per tenant and the platform's `/metrics` rule; the HTTP listener
            # only redirects (its default action).
            Usage(f"listener rules on load balancer {index}", per_alb[index] + 1, RULES_PER_ALB),
            Usage(
                f"certificates on load balancer {index}",
                certificates[index],
                CERTIFICATES_PER_ALB,
            ),
        ]
    return found


def warnings(tenants: list[Tenant]) -> list[str]:
    return [str(u) for u in usage(tenants) if u.near]
