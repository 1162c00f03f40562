"""The tenant's CloudWatch alarms (to the platform's topic) and dashboard, from the specs in
`provisioning.aws.alarms`."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from provisioning.aws import alarms, scanner
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
    specs = alarms.alarm_specs(
        ctx.tenant.alarms, min_tasks=ctx.tenant.api.min_tasks, database=ctx.tenant.database
    )
    for spec in specs:
        where = dimensions[spec.subject]
        if spec.per_metric:
            metric: dict = {"metric_queries": alarms.metric_queries(spec, where)}
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


def scanner_alarm(ctx: Context, log_group: aws.cloudwatch.LogGroup) -> None:
    """Scanner down (tenants scanning with clamav): the signature sidecar logs a heartbeat a
    minute (clamd answering PING, the daily version it has); a metric filter on the tenant's
    log group makes `Silo/Scanning` `ScannerUp` and `SignatureVersion` of them, per tenant.
    Five minutes without clamd answering, or without a heartbeat at all, alarm."""
    name, slug, n, topic = ctx.name, ctx.tenant.slug, ctx.names, ctx.platform.alarm_topic_arn
    for metric, field in (("ScannerUp", "clamd_up"), ("SignatureVersion", "signature_version")):
        aws.cloudwatch.LogMetricFilter(
            f"{name}-metric-{field.replace('_', '-')}",
            name=f"{n.alarm_prefix}-{field.replace('_', '-')}",
            log_group_name=log_group.name,
            pattern=f"{{ $.{scanner.HEARTBEAT_MARK} = 1 }}",
            metric_transformation={
                "namespace": scanner.METRICS_NAMESPACE,
                "name": metric,
                "value": f"$.{field}",
                "dimensions": {"Tenant": "$.tenant"},
                "unit": "None",
            },
            opts=ctx.child(),
        )
    aws.cloudwatch.MetricAlarm(
        f"{name}-alarm-scanner-down",
        name=f"{n.alarm_prefix}-scanner-down",
        alarm_description=(
            f"Silo {slug}: its clamd has not answered for 5 minutes (files wait pending; "
            "the task's clamd and signatures logs)"
        ),
        comparison_operator="LessThanThreshold",
        threshold=1,
        evaluation_periods=5,
        namespace=scanner.METRICS_NAMESPACE,
        metric_name="ScannerUp",
        dimensions={"Tenant": slug},
        statistic="Minimum",
        period=60,
        # No heartbeat is no scanner: unlike the traffic alarms, missing data breaches.
        treat_missing_data="breaching",
        alarm_actions=[topic],
        ok_actions=[topic],
        tags=ctx.tags,
        opts=ctx.child(),
    )
