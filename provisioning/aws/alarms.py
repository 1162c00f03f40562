"""A tenant's CloudWatch alarms and dashboard, as pure functions of plain values.

Thresholds come from the catalogue (`alarms:` in defaults, overridable per tenant); every alarm
notifies the platform's one SNS topic, on alarm and on recovery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tenants.model import Alarms, Database

GIB = 1024**3

# A rate alarm's floor: a period with fewer requests than this reads 0 %, so one error in two
# requests pages nobody (a service too broken to serve even this many is `unhealthy-hosts`'s).
MIN_REQUESTS = 50

# RDS storage autoscaling grows a database once its free space has been at or below this
# fraction of the allocated storage for five minutes (and six hours after its last change),
# up to `max_storage_gb`.
AUTOSCALING_FREE_FRACTION = 0.10

# What an alarm watches: the tenant's target group (on its ALB), its ECS service, its database.
TARGET_GROUP, SERVICE, DATABASE = "target_group", "service", "database"


@dataclass(frozen=True)
class AlarmSpec:
    kind: str  # the alarm's name suffix and logical name suffix
    description: str
    namespace: str
    metric: str
    statistic: str
    comparison: str
    threshold: float
    subject: str  # TARGET_GROUP, SERVICE or DATABASE: which dimensions
    period: int = 300
    evaluation_periods: int = 2
    # A rate: 100 * metric / per_metric (same namespace and dimensions), by metric math; a
    # period with fewer than min_per_metric of per_metric reads 0 (see `metric_queries`).
    per_metric: str | None = None
    min_per_metric: int = 0


def storage_alarm_gib(thresholds: Alarms, database: Database) -> float:
    """`db-storage-low`'s threshold: the catalogue's `db_free_storage_gb`, but never above
    what autoscaling leaves free at the database's smallest size (10 % of `storage_gb`).

    CloudWatch has free space only, not the allocated size, so no threshold can tell "at the
    ceiling" apart from "not grown yet". Below 10 % of `storage_gb`, free space is below 10 %
    of any size the database can have (it only grows), so autoscaling has already been due:
    the alarm means it could not act (at `max_storage_gb`, or within its six-hour wait) or the
    database is filling faster than it grows. Any higher threshold fires on a small database
    before autoscaling acts; 10 % of `max_storage_gb` would fire on a fresh 20 GiB database
    (ceiling 100) at half full."""
    return min(
        float(thresholds.db_free_storage_gb), database.storage_gb * AUTOSCALING_FREE_FRACTION
    )


def alarm_specs(thresholds: Alarms, *, min_tasks: int, database: Database) -> list[AlarmSpec]:
    t = thresholds
    storage_gib = storage_alarm_gib(t, database)
    return [
        AlarmSpec(
            "5xx-rate",
            f"more than {t.http_5xx_percent} % of requests answered 5xx by the service "
            f"(in 5 minutes with at least {MIN_REQUESTS} requests)",
            "AWS/ApplicationELB",
            "HTTPCode_Target_5XX_Count",
            "Sum",
            "GreaterThanThreshold",
            t.http_5xx_percent,
            TARGET_GROUP,
            evaluation_periods=1,
            per_metric="RequestCount",
            min_per_metric=MIN_REQUESTS,
        ),
        AlarmSpec(
            "unhealthy-hosts",
            f"more than {t.unhealthy_hosts} task(s) failing the health check",
            "AWS/ApplicationELB",
            "UnHealthyHostCount",
            "Maximum",
            "GreaterThanThreshold",
            t.unhealthy_hosts,
            TARGET_GROUP,
            period=60,
            evaluation_periods=5,
        ),
        AlarmSpec(
            "cpu-high",
            f"service CPU above {t.cpu_percent} % (autoscaling at its maximum?)",
            "AWS/ECS",
            "CPUUtilization",
            "Average",
            "GreaterThanThreshold",
            t.cpu_percent,
            SERVICE,
        ),
        AlarmSpec(
            "memory-high",
            f"service memory above {t.memory_percent} %",
            "AWS/ECS",
            "MemoryUtilization",
            "Average",
            "GreaterThanThreshold",
            t.memory_percent,
            SERVICE,
        ),
        # ECS publishes no restart count for a Fargate service's tasks; tasks that keep crashing
        # and being replaced show as fewer running tasks than the minimum (Container Insights).
        AlarmSpec(
            "tasks-below-minimum",
            f"fewer than {min_tasks} task(s) running: tasks are crashing or failing to start",
            "ECS/ContainerInsights",
            "RunningTaskCount",
            "Minimum",
            "LessThanThreshold",
            min_tasks,
            SERVICE,
            period=60,
            evaluation_periods=5,
        ),
        AlarmSpec(
            "db-cpu-high",
            f"database CPU above {t.db_cpu_percent} %",
            "AWS/RDS",
            "CPUUtilization",
            "Average",
            "GreaterThanThreshold",
            t.db_cpu_percent,
            DATABASE,
        ),
        AlarmSpec(
            "db-storage-low",
            f"database free storage below {storage_gib:g} GiB, past where storage autoscaling "
            f"grows it: at its ceiling (max_storage_gb {database.max_storage_gb}), waiting 6 h "
            "since its last change, or outpaced",
            "AWS/RDS",
            "FreeStorageSpace",
            "Minimum",
            "LessThanThreshold",
            storage_gib * GIB,
            DATABASE,
        ),
        AlarmSpec(
            "db-connections-high",
            f"more than {t.db_connections} database connections",
            "AWS/RDS",
            "DatabaseConnections",
            "Maximum",
            "GreaterThanThreshold",
            t.db_connections,
            DATABASE,
        ),
    ]


def rate_expression(spec: AlarmSpec) -> str:
    """The rate in percent of `part` (spec.metric) over `whole` (spec.per_metric); 0 for a
    period with fewer than spec.min_per_metric of `whole` (and no division by zero). No data
    for `whole` (no traffic) gives no data, which no alarm treats as breaching."""
    rate = "100 * FILL(part, 0) / whole"
    if not spec.min_per_metric:
        return rate
    return f"IF(whole >= {spec.min_per_metric}, {rate}, 0)"


def metric_queries(spec: AlarmSpec, dimensions: dict) -> list[dict]:
    """A rate alarm's `metric_queries` (pulumi-aws MetricAlarm): the two sums, unreturned,
    and the expression the alarm compares with its threshold."""
    assert spec.per_metric, f"{spec.kind} is not a rate"
    sums = [
        {
            "id": query_id,
            "return_data": False,
            "metric": {
                "namespace": spec.namespace,
                "metric_name": metric_name,
                "dimensions": dimensions,
                "period": spec.period,
                "stat": "Sum",
            },
        }
        for query_id, metric_name in (("part", spec.metric), ("whole", spec.per_metric))
    ]
    rate = {
        "id": "rate",
        "expression": rate_expression(spec),
        "label": f"{spec.metric} per 100 {spec.per_metric}",
        "return_data": True,
    }
    return [*sums, rate]


def dashboard_body(
    *,
    title: str,
    region: str,
    load_balancer: str,
    target_group: str,
    cluster: str,
    service: str,
    database: str,
) -> str:
    """One tenant's dashboard: traffic and errors, the service, the database."""
    alb = ["LoadBalancer", load_balancer, "TargetGroup", target_group]
    ecs = ["ClusterName", cluster, "ServiceName", service]
    rds = ["DBInstanceIdentifier", database]

    def widget(index: int, name: str, metrics: list[list], stat: str) -> dict:
        return {
            "type": "metric",
            "x": (index % 3) * 8,
            "y": (index // 3) * 6,
            "width": 8,
            "height": 6,
            "properties": {
                "title": name,
                "region": region,
                "stat": stat,
                "period": 60,
                "view": "timeSeries",
                "metrics": metrics,
            },
        }

    widgets = [
        widget(0, "Requests", [["AWS/ApplicationELB", "RequestCount", *alb]], "Sum"),
        widget(
            1,
            "5xx (service, load balancer)",
            [
                ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", *alb],
                ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", load_balancer],
            ],
            "Sum",
        ),
        widget(2, "Response time p95", [["AWS/ApplicationELB", "TargetResponseTime", *alb]], "p95"),
        widget(
            3,
            "Healthy / unhealthy tasks",
            [
                ["AWS/ApplicationELB", "HealthyHostCount", *alb],
                ["AWS/ApplicationELB", "UnHealthyHostCount", *alb],
            ],
            "Maximum",
        ),
        widget(
            4,
            "Service CPU / memory %",
            [["AWS/ECS", "CPUUtilization", *ecs], ["AWS/ECS", "MemoryUtilization", *ecs]],
            "Average",
        ),
        widget(
            5, "Running tasks", [["ECS/ContainerInsights", "RunningTaskCount", *ecs]], "Minimum"
        ),
        widget(6, "Database CPU %", [["AWS/RDS", "CPUUtilization", *rds]], "Average"),
        widget(7, "Database free storage", [["AWS/RDS", "FreeStorageSpace", *rds]], "Minimum"),
        widget(8, "Database connections", [["AWS/RDS", "DatabaseConnections", *rds]], "Maximum"),
    ]
    header = {
        "type": "text",
        "x": 0,
        "y": 18,
        "width": 24,
        "height": 1,
        "properties": {"markdown": f"Silo tenant **{title}**"},
    }
    return json.dumps({"widgets": [*widgets, header]}, sort_keys=True)
