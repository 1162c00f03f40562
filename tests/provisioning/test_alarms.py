"""Alarms and dashboards under Pulumi's mocks, and their pure derivations."""

from __future__ import annotations

import json

import pytest

from provisioning.aws import alarms
from tenants.model import Alarms, Database
from tests.provisioning.pulumi_harness import Run, resource_arn, run_program
from tests.provisioning.test_pulumi_program import HRCOMP, PACK, catalogue_file

TOPIC = resource_arn("aws:sns/topic:Topic", "silo-test-alarms")
DEFAULTS = Alarms(5, 0, 85, 85, 80, 5, 60)


def database(storage_gb: int = 20, max_storage_gb: int = 100) -> Database:
    return Database("db.t4g.micro", storage_gb, max_storage_gb, 7, False, "16")


def spec(kind: str, thresholds: Alarms = DEFAULTS, **db) -> alarms.AlarmSpec:
    specs = alarms.alarm_specs(thresholds, min_tasks=1, database=database(**db))
    return next(s for s in specs if s.kind == kind)


def rate_alarms(errors: int, requests: int) -> bool:
    """Whether `5xx-rate` fires on a period of `requests` with `errors` 5xx: its own
    expression, evaluated as CloudWatch would on one data point."""
    rate = spec("5xx-rate")
    (expression,) = [q["expression"] for q in alarms.metric_queries(rate, {}) if "expression" in q]
    value = eval(  # the expression's grammar is Python's for IF, FILL and arithmetic
        expression,
        {
            "IF": lambda condition, then, otherwise: then if condition else otherwise,
            "FILL": lambda series, default: default if series is None else series,
        },
        {"part": errors or None, "whole": requests},  # no 5xx: no data point
    )
    assert rate.comparison == "GreaterThanThreshold"
    return value > rate.threshold


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    noisy = dict(HRCOMP, alarms={"cpu_percent": 70, "db_connections": 150})
    path = catalogue_file(tmp_path_factory.mktemp("alarms"), PACK, noisy)
    return run_program(path, config={"silo:alarmEmail": "ops@example.com"})


def alarm(run: Run, slug: str, kind: str) -> dict:
    return run.named(f"{slug}-alarm-{kind}").inputs


def test_one_topic_per_platform_with_the_email_subscribed(run):
    (topic,) = run.of_type("aws:sns/topic:Topic")
    assert topic.inputs["name"] == "silo-test-alarms"
    (subscription,) = run.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert subscription.inputs["protocol"] == "email"
    assert subscription.inputs["endpoint"] == "ops@example.com"
    assert subscription.inputs["topic"] == TOPIC


def test_without_an_address_nobody_is_subscribed(tmp_path):
    quiet = run_program(catalogue_file(tmp_path, PACK))
    assert quiet.of_type("aws:sns/topicSubscription:TopicSubscription") == []
    assert len(quiet.of_type("aws:sns/topic:Topic")) == 1


def test_every_alarm_notifies_the_topic_on_alarm_and_recovery(run):
    found = run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert len(found) == 2 * 8 + 1  # and the platform's signatures-stale alarm
    for each in found:
        assert each.inputs["alarmActions"] == [TOPIC]
        assert each.inputs["okActions"] == [TOPIC]


def test_the_5xx_rate_divides_by_the_requests_of_the_tenants_target_group(run):
    queries = {q["id"]: q for q in alarm(run, "pack", "5xx-rate")["metricQueries"]}
    assert queries["rate"]["expression"] == "IF(whole >= 50, 100 * FILL(part, 0) / whole, 0)"
    assert [q["returnData"] for q in queries.values()] == [False, False, True]
    assert queries["part"]["metric"]["metricName"] == "HTTPCode_Target_5XX_Count"
    assert queries["whole"]["metric"]["metricName"] == "RequestCount"
    assert queries["part"]["metric"]["dimensions"] == {
        "LoadBalancer": "app/silo-test-alb/0123",
        "TargetGroup": "targetgroup/pack-tg/4567",
    }
    assert alarm(run, "pack", "5xx-rate")["threshold"] == 5


def test_service_and_database_alarms_watch_the_tenants_own(run):
    cpu = alarm(run, "pack", "cpu-high")
    assert cpu["dimensions"] == {"ClusterName": "silo-test", "ServiceName": "pack"}
    assert (cpu["namespace"], cpu["metricName"], cpu["threshold"]) == (
        "AWS/ECS",
        "CPUUtilization",
        85,
    )
    storage = alarm(run, "pack", "db-storage-low")
    assert storage["dimensions"] == {"DBInstanceIdentifier": "silo-test-pack"}
    assert storage["comparisonOperator"] == "LessThanThreshold"
    # 10 % of the 20 GiB the database starts with: below the catalogue's 5 GiB.
    assert storage["threshold"] == 2 * 1024**3
    running = alarm(run, "hrcomp", "tasks-below-minimum")
    assert (running["metricName"], running["threshold"]) == ("RunningTaskCount", 2)


def test_thresholds_are_overridable_per_tenant(run):
    assert alarm(run, "hrcomp", "cpu-high")["threshold"] == 70
    assert alarm(run, "hrcomp", "db-connections-high")["threshold"] == 150
    assert alarm(run, "hrcomp", "memory-high")["threshold"] == 85  # the default


def test_a_dashboard_per_tenant(run):
    dashboards = {r.name: r.inputs for r in run.of_type("aws:cloudwatch/dashboard:Dashboard")}
    assert set(dashboards) == {"pack-dashboard", "hrcomp-dashboard"}
    pack = dashboards["pack-dashboard"]
    assert pack["dashboardName"] == "silo-test-pack"
    body = json.loads(pack["dashboardBody"])
    text = json.dumps(body)
    assert "targetgroup/pack-tg/4567" in text and "silo-test-pack" in text
    assert "hrcomp" not in text


def test_alarm_specs_cover_the_three_subjects():
    specs = alarms.alarm_specs(DEFAULTS, min_tasks=1, database=database())
    assert {s.subject for s in specs} == {alarms.TARGET_GROUP, alarms.SERVICE, alarms.DATABASE}
    assert len({s.kind for s in specs}) == len(specs)


def test_dashboard_widgets_do_not_overlap():
    body = json.loads(
        alarms.dashboard_body(
            title="T",
            region="eu-west-1",
            load_balancer="app/x/1",
            target_group="targetgroup/y/2",
            cluster="c",
            service="s",
            database="d",
        )
    )
    cells = set()
    for widget in body["widgets"]:
        for x in range(widget["x"], widget["x"] + widget["width"]):
            for y in range(widget["y"], widget["y"] + widget["height"]):
                assert (x, y) not in cells
                cells.add((x, y))


def test_one_error_in_two_requests_pages_nobody():
    assert not rate_alarms(1, 2)
    assert not rate_alarms(10, 49)  # 20 %, but too few requests to mean anything
    assert rate_alarms(10, 50)  # 20 % of enough requests
    assert not rate_alarms(2, 50)  # 4 %: under the 5 % threshold
    assert not rate_alarms(0, 10_000)  # no 5xx at all (no data point for them)
    assert rate_alarms(600, 10_000)


def test_the_request_floor_is_in_the_alarms_own_query():
    queries = alarms.metric_queries(spec("5xx-rate"), {"TargetGroup": "tg"})
    (rate,) = [q for q in queries if q.get("return_data")]
    assert rate["expression"].startswith(f"IF(whole >= {alarms.MIN_REQUESTS},")
    assert {q["metric"]["metric_name"] for q in queries if "metric" in q} == {
        "HTTPCode_Target_5XX_Count",
        "RequestCount",
    }
    assert "50 requests" in spec("5xx-rate").description


@pytest.mark.parametrize(
    ("storage_gb", "max_storage_gb", "free_gb", "expected_gib"),
    [
        (20, 100, 5, 2),  # the defaults: 5 GiB would fire at 75 % of 20, before autoscaling
        (20, 22, 5, 2),
        (200, 1000, 5, 5),  # the catalogue's value, already past autoscaling's 20 GiB
        (200, 1000, 50, 20),
        (25, 100, 5, 2.5),
    ],
)
def test_storage_low_fires_only_past_where_autoscaling_acts(
    storage_gb, max_storage_gb, free_gb, expected_gib
):
    thresholds = Alarms(5, 0, 85, 85, 80, free_gb, 60)
    low = spec("db-storage-low", thresholds, storage_gb=storage_gb, max_storage_gb=max_storage_gb)
    assert low.threshold == expected_gib * alarms.GIB
    assert low.comparison == "LessThanThreshold"
    # The database only grows, from storage_gb up to max_storage_gb: at every size it can
    # have, free space under the threshold is under autoscaling's 10 % trigger.
    for allocated in range(storage_gb, max_storage_gb + 1):
        assert low.threshold <= 0.10 * allocated * alarms.GIB
    # The description says what firing means, and which ceiling to raise.
    assert f"max_storage_gb {max_storage_gb}" in low.description
    assert f"below {expected_gib:g} GiB" in low.description
