"""The VPC's address plan, as a pure function: one public and one private subnet per AZ."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class SubnetPlan:
    availability_zone: str
    public_cidr: str
    private_cidr: str


def plan_subnets(vpc_cidr: str, availability_zones: list[str]) -> list[SubnetPlan]:
    """Carve the VPC into /4-smaller blocks: public subnets first, private after them.

    A /16 gives /20s (4091 addresses each): private subnets hold every tenant's tasks (one IP
    per Fargate task) and databases, so they get room to grow.
    """
    network = ipaddress.ip_network(vpc_cidr)
    if network.prefixlen > 24:
        raise ValueError(f"VPC CIDR {vpc_cidr} is too small; use /24 or larger")
    blocks = list(network.subnets(prefixlen_diff=4))
    count = len(availability_zones)
    return [
        SubnetPlan(zone, str(blocks[i]), str(blocks[count + i]))
        for i, zone in enumerate(availability_zones)
    ]
