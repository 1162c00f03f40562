"""The contract between the platform stack and the tenant stacks: what the platform exports
(`exports`) and how a tenant program reads it back (`PlatformReference`), as the same
attributes `Platform` has, so `TenantDeployment` cannot tell the two apart.

A tenant stack only reads these values; nothing in it can change the platform or another
tenant's stack.
"""

from __future__ import annotations

import pulumi

from provisioning.aws.platform import LoadBalancer, Platform

OUTPUTS = (
    "vpcId",
    "vpcCidr",
    "privateSubnetIds",
    "albSecurityGroupId",
    "loadBalancers",
    "https",
    "alarmTopicArn",
    "clusterArn",
    "clusterName",
    "dbSubnetGroupName",
    "signaturesBucket",
)


def exports(platform: Platform, signatures_bucket: pulumi.Input[str]) -> dict[str, object]:
    """What the platform stack exports for its tenants (every name of `OUTPUTS`): the
    platform's parts, and the bucket clamav tenants' scanners load their signatures from."""
    return {
        "vpcId": platform.vpc_id,
        "vpcCidr": platform.vpc_cidr,
        "privateSubnetIds": platform.private_subnet_ids,
        "albSecurityGroupId": platform.alb_security_group_id,
        "loadBalancers": [
            {
                "arnSuffix": lb.arn_suffix,
                "dnsName": lb.dns_name,
                "zoneId": lb.zone_id,
                "listenerArn": lb.listener_arn,
            }
            for lb in platform.load_balancers
        ],
        "https": platform.https,
        "alarmTopicArn": platform.alarm_topic_arn,
        "clusterArn": platform.cluster_arn,
        "clusterName": platform.cluster_name,
        "dbSubnetGroupName": platform.db_subnet_group_name,
        "signaturesBucket": signatures_bucket,
    }


class _LoadBalancers:
    """Load balancer `index` of the platform's list, read lazily from the reference."""

    def __init__(self, outputs: pulumi.Output) -> None:
        self._outputs = outputs

    def __getitem__(self, index: int) -> LoadBalancer:
        def field(key: str) -> pulumi.Output[str]:
            return self._outputs.apply(lambda lbs: _pick(lbs, index)[key])

        return LoadBalancer(
            arn_suffix=field("arnSuffix"),
            dns_name=field("dnsName"),
            zone_id=field("zoneId"),
            listener_arn=field("listenerArn"),
        )


def _pick(load_balancers: list, index: int) -> dict:
    if index >= len(load_balancers):
        raise ValueError(
            f"the platform has {len(load_balancers)} load balancer(s), not {index + 1}: "
            "deploy the platform stack first (silo deploy)"
        )
    return load_balancers[index]


class PlatformReference:
    """The platform as a tenant stack sees it: `Platform`'s attributes, from the outputs of the
    environment's platform stack. `https` is the tenant stack's own setting (a plain value is
    needed to decide which resources exist; `silo deploy` copies it from the platform stack),
    checked against the platform's when the reference resolves."""

    def __init__(self, reference: pulumi.StackReference, *, https: bool) -> None:
        get = reference.require_output
        self.https = https
        # Every tenant resource is in the platform's VPC: the check travels with its id.
        self.vpc_id = pulumi.Output.all(get("vpcId"), get("https")).apply(self._checked)
        self.vpc_cidr = get("vpcCidr")
        self.private_subnet_ids = get("privateSubnetIds")
        self.alb_security_group_id = get("albSecurityGroupId")
        self.load_balancers = _LoadBalancers(get("loadBalancers"))
        self.alarm_topic_arn = get("alarmTopicArn")
        self.cluster_arn = get("clusterArn")
        self.cluster_name = get("clusterName")
        self.db_subnet_group_name = get("dbSubnetGroupName")
        self.signatures_bucket = get("signaturesBucket")

    def _checked(self, values: list) -> str:
        vpc_id, platform_https = values
        if bool(platform_https) != self.https:
            raise ValueError(
                "silo:certificateArn differs between this tenant stack and the platform stack "
                f"(platform https={platform_https}): copy the platform's config (silo deploy)"
            )
        return vpc_id
