"""Alarms and dashboards under Pulumi's mocks, and their pure derivations."""

from __future__ import annotations

import json

import pytest

from provisioning.aws import alarms
from tenants.model import Alarms
from tests.provisioning.pulumi_harness import Run, resource_arn, run_program
from tests.provisioning.test_pulumi_program import HRCOMP, PACK, catalogue_file

TOPIC = resource_arn("aws:sns/topic:Topic", "silo-test-alarms")
DEFAULTS = Alarms(5, 0, 85, 85, 80, 5, 60)


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
    assert queries["rate"]["expression"] == "100 * FILL(part, 0) / whole"
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
    assert storage["threshold"] == 5 * 1024**3
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
    specs = alarms.alarm_specs(DEFAULTS, min_tasks=1)
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
