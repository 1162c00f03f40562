"""The default AWS quotas a catalogue implies, as pure functions of the tenants.

Each tenant brings one RDS instance, one target group and one listener rule on the ALB it is
placed on (`tenant.load_balancer`), and, with its own certificate, one listener certificate.
`silo tenants validate` warns at 80 % of a default quota, so the increase is requested (or a
new load balancer started) before a `pulumi up` fails halfway. The one hard limit, target groups
per ALB, is refused by the loader instead.
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


@dataclass(frozen=True)
class Usage:
    quota: str
    used: int
    limit: int

    @property
    def near(self) -> bool:
        return self.used > WARN_AT * self.limit

    def __str__(self) -> str:
        return (
            f"{self.quota}: {self.used} of the default {self.limit} "
            f"({100 * self.used // self.limit} %); request an increase before it is reached"
        )


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
    ]
    for index in sorted(per_alb):
        found += [
            Usage(f"target groups on load balancer {index}", per_alb[index], TARGET_GROUPS_PER_ALB),
            # One host rule per tenant; the HTTP listener only redirects (its default action).
            Usage(f"listener rules on load balancer {index}", per_alb[index], RULES_PER_ALB),
            Usage(
                f"certificates on load balancer {index}",
                certificates[index],
                CERTIFICATES_PER_ALB,
            ),
        ]
    return found


def warnings(tenants: list[Tenant]) -> list[str]:
    return [str(u) for u in usage(tenants) if u.near]
