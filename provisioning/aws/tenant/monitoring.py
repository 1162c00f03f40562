"""The tenant's CloudWatch alarms (to the platform's topic) and dashboard, from the specs in
`provisioning.aws.alarms`."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from provisioning.aws import alarms
from provisioning.aws.tenant.inputs import Context


def metric_alarms(
    ctx: Context,
    service: aws.ecs.Service,
    target_group: aws.lb.TargetGroup,
    database: aws.rds.Instance,
) -> None:
    """The tenant's alarms (thresholds from the catalogue) to the platform's topic."""
    n, topic = ctx.names, ctx.platform.alarm_topic_arn
    dimensions = {
        alarms.TARGET_GROUP: {
            "LoadBalancer": ctx.load_balancer.arn_suffix,
            "TargetGroup": target_group.arn_suffix,
        },
        alarms.SERVICE: {
            "ClusterName": ctx.platform.cluster_name,
            "ServiceName": service.name,
        },
        alarms.DATABASE: {"DBInstanceIdentifier": database.identifier},
    }
    specs = alarms.alarm_specs(ctx.tenant.alarms, min_tasks=ctx.tenant.api.min_tasks)
    for spec in specs:
        where = dimensions[spec.subject]
        if spec.per_metric:
            metric: dict = {
                "metric_queries": [
                    {
                        "id": query_id,
                        "return_data": False,
                        "metric": {
                            "namespace": spec.namespace,
                            "metric_name": metric_name,
                            "dimensions": where,
                            "period": spec.period,
                            "stat": "Sum",
                        },
                    }
                    for query_id, metric_name in (
                        ("part", spec.metric),
                        ("whole", spec.per_metric),
                    )
                ]
                + [
                    {
                        "id": "rate",
                        "expression": "100 * FILL(part, 0) / whole",
                        "label": f"{spec.metric} per 100 {spec.per_metric}",
                        "return_data": True,
                    }
                ]
            }
        else:
            metric = {
                "namespace": spec.namespace,
                "metric_name": spec.metric,
                "dimensions": where,
                "statistic": spec.statistic,
                "period": spec.period,
            }
        aws.cloudwatch.MetricAlarm(
            f"{ctx.name}-alarm-{spec.kind}",
            name=f"{n.alarm_prefix}-{spec.kind}",
            alarm_description=f"Silo {ctx.tenant.slug}: {spec.description}",
            comparison_operator=spec.comparison,
            threshold=spec.threshold,
            evaluation_periods=spec.evaluation_periods,
            # No data (no traffic, a stopped service) is not an incident.
            treat_missing_data="notBreaching",
            alarm_actions=[topic],
            ok_actions=[topic],
            tags=ctx.tags,
            opts=ctx.child(),
            **metric,
        )


def dashboard(
    ctx: Context,
    service: aws.ecs.Service,
    target_group: aws.lb.TargetGroup,
    database: aws.rds.Instance,
) -> None:
    args = ctx.args
    body = pulumi.Output.all(
        ctx.load_balancer.arn_suffix,
        target_group.arn_suffix,
        args.platform.cluster_name,
        service.name,
        database.identifier,
    ).apply(
        lambda v: alarms.dashboard_body(
            title=args.tenant.name,
            region=args.region,
            load_balancer=v[0],
            target_group=v[1],
            cluster=v[2],
            service=v[3],
            database=v[4],
        )
    )
    aws.cloudwatch.Dashboard(
        f"{ctx.name}-dashboard",
        dashboard_name=args.names.alarm_prefix,
        dashboard_body=body,
        opts=ctx.child(),
    )
