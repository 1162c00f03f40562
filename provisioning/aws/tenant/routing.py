"""The tenant's routing: its target group and host rule on the shared listener, its own
certificate when it has one, and the DNS alias when a zone is known."""

from __future__ import annotations

import pulumi_aws as aws

from provisioning.aws.tenant.inputs import Context
from provisioning.timeouts import TIMEOUTS

HEALTH_CHECK = {
    "path": "/healthz",
    "matcher": "200",
    "interval": 15,
    "timeout": 5,
    "healthy_threshold": 2,
    "unhealthy_threshold": 3,
}


def host_route(ctx: Context) -> tuple[aws.lb.TargetGroup, aws.lb.ListenerRule]:
    """The tenant's host on the shared listener, and its DNS alias when a zone is given."""
    name, n = ctx.name, ctx.names
    platform, alb = ctx.platform, ctx.load_balancer
    target_group = aws.lb.TargetGroup(
        f"{name}-tg",
        name=n.target_group,
        port=ctx.args.port,
        protocol="HTTP",
        target_type="ip",
        vpc_id=platform.vpc_id,
        # In-flight uploads get this long to finish when a task stops (provisioning.timeouts).
        deregistration_delay=TIMEOUTS.deregistration_delay,
        health_check=HEALTH_CHECK,
        tags=ctx.tags,
        opts=ctx.child(),
    )
    rule = aws.lb.ListenerRule(
        f"{name}-rule",
        listener_arn=alb.listener_arn,
        priority=n.rule_priority,
        conditions=[{"host_header": {"values": [n.host]}}],
        actions=[{"type": "forward", "target_group_arn": target_group.arn}],
        tags=ctx.tags,
        opts=ctx.child(),
    )
    tenant = ctx.tenant
    if tenant.certificate_arn and platform.https:
        # A host outside the platform's wildcard certificate: the listener presents the
        # tenant's own certificate for it (SNI picks it).
        aws.lb.ListenerCertificate(
            f"{name}-certificate",
            listener_arn=alb.listener_arn,
            certificate_arn=tenant.certificate_arn,
            opts=ctx.child(),
        )
    # The tenant's own zone for a host outside the platform's domain, else the platform's.
    zone_id = tenant.hosted_zone_id or ctx.args.hosted_zone_id
    if zone_id:
        aws.route53.Record(
            f"{name}-dns",
            zone_id=zone_id,
            name=n.host,
            type="A",
            aliases=[
                {
                    "name": alb.dns_name,
                    "zone_id": alb.zone_id,
                    "evaluate_target_health": True,
                }
            ],
            opts=ctx.child(),
        )
    return target_group, rule
