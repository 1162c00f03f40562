"""The VPC address plan."""

import pytest

from provisioning.aws.subnets import plan_subnets


def test_subnet_plan_gives_each_zone_a_public_and_a_private_block():
    plan = plan_subnets("10.0.0.0/16", ["a", "b"])
    assert [(p.public_cidr, p.private_cidr) for p in plan] == [
        ("10.0.0.0/20", "10.0.32.0/20"),
        ("10.0.16.0/20", "10.0.48.0/20"),
    ]
    with pytest.raises(ValueError, match="too small"):
        plan_subnets("10.0.0.0/26", ["a", "b"])
