"""The scanning infrastructure under Pulumi's mocks: the default catalogue at 120 tenants
scans with a clamd in each tenant's own task, no security group opens the scanner's port to a
CIDR, the signatures come from the platform's bucket, GuardDuty's verdict tag is protected and
the quarantine is retained (docs/operations/scanning.md)."""

from __future__ import annotations

import json

import pytest
import yaml

from provisioning import bucket_rules
from provisioning.aws import policies, scanner
from tests.provisioning.pulumi_harness import Run, run_program
from tests.provisioning.test_pulumi_program import catalogue_file

TASK_DEF = "aws:ecs/taskDefinition:TaskDefinition"
TENANTS = 120


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> Run:
    # No per-tenant scan settings at all: the built-in defaults.
    base = tmp_path_factory.mktemp("scan120")
    entries = [
        {"slug": f"t{n:03d}", "name": f"Tenant {n}", "priority": n + 1, "load_balancer": n // 100}
        for n in range(1, TENANTS + 1)
    ]
    path = base / "tenants.yaml"
    data = {"platform": {"domain": "uploads.example.com"}, "tenants": entries}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return run_program(path, stack="prod")


def containers(run: Run, slug: str) -> list[dict]:
    return json.loads(run.named(f"{slug}-task", TASK_DEF).inputs["containerDefinitions"])


def test_every_default_tenant_has_its_own_clamd_on_loopback(default_run):
    for n in range(1, TENANTS + 1):
        slug = f"t{n:03d}"
        api, sync, clamd = containers(default_run, slug)
        env = {e["name"]: e["value"] for e in api["environment"]}
        assert env["SILO_SCAN"] == "clamav"
        assert env["SILO_CLAMD_ADDRESS"] == "tcp://127.0.0.1:3310"
        assert clamd["name"] == "clamd" and "portMappings" not in clamd
        assert "TCPAddr 127.0.0.1" in clamd["command"][0]
        assert "ConcurrentDatabaseReload no" in clamd["command"][0]
        assert sync["environment"][0]["value"].startswith("silo-prod-signatures-")
        # The task holds the service and the scanner.
        task = default_run.named(f"{slug}-task", TASK_DEF).inputs
        assert api["memory"] + sync["memory"] + clamd["memory"] <= int(task["memory"])
        assert api["memory"] >= 512
    assert not default_run.of_type("aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan")


def test_no_security_group_rule_opens_the_scanner_port_to_a_cidr(default_run):
    rules = [r for r in default_run.resources if r.type.startswith("aws:vpc/securityGroup")]
    assert rules
    for rule in rules:
        inputs = rule.inputs
        low, high = inputs.get("fromPort"), inputs.get("toPort")
        covers = inputs.get("ipProtocol") == "-1" or (
            low is not None and low <= scanner.CLAMD_PORT <= high
        )
        cidr = inputs.get("cidrIpv4") or inputs.get("cidrIpv6")
        assert not (covers and cidr), f"{rule.name} opens {scanner.CLAMD_PORT} to {cidr}"
    for group in default_run.of_type("aws:ec2/securityGroup:SecurityGroup"):
        assert not group.inputs.get("ingress") and not group.inputs.get("egress")


def test_a_scanner_is_reachable_only_inside_its_own_task(default_run):
    """clamd is a container of the tenant's own task definition, bound to 127.0.0.1 and
    without a port mapping; no other resource (no service discovery, no load balancer, no other
    task) names it."""
    for slug in ("t001", "t120"):
        names_ = [c["name"] for c in containers(default_run, slug)]
        assert names_ == ["api", "signatures", "clamd"]
    mentions = [
        r.name
        for r in default_run.resources
        if "127.0.0.1:3310" in json.dumps(r.inputs, default=str) or '"clamd"' in str(r.inputs)
    ]
    assert sorted(mentions) == sorted(f"t{n:03d}-task" for n in range(1, TENANTS + 1))
    assert not default_run.of_type("aws:servicediscovery/service:Service")


def test_tasks_read_the_signatures_and_only_the_updater_writes(default_run):
    bucket = default_run.named("silo-prod-signatures-bucket").inputs["bucket"]
    arn = f"arn:aws:s3:::{bucket}"
    task = json.loads(default_run.named("t007-task-policy").inputs["policy"])
    on_signatures = [s for s in task["Statement"] if arn in json.dumps(s.get("Resource"))]
    actions = {
        a
        for s in on_signatures
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert actions == {"s3:ListBucket", "s3:GetObject"}

    def writes(policy: str) -> bool:
        return any(
            "s3:PutObject" in json.dumps(s["Action"]) and arn in json.dumps(s["Resource"])
            for s in json.loads(policy)["Statement"]
            if s["Effect"] == "Allow"
        )

    writers = [
        r.name
        for r in default_run.of_type("aws:iam/rolePolicy:RolePolicy")
        if writes(r.inputs["policy"])
    ]
    assert writers == ["silo-prod-signatures-task"]


def test_the_updater_runs_on_a_schedule_and_alarms_on_stale_signatures(default_run):
    schedule = default_run.named("silo-prod-signatures-schedule").inputs
    assert schedule["scheduleExpression"] == scanner.UPDATE_SCHEDULE
    ecs = schedule["target"]["ecsParameters"]
    assert ecs["launchType"] == "FARGATE"
    assert ecs["networkConfiguration"]["assignPublicIp"] is False
    steps = json.loads(
        default_run.named("silo-prod-signatures-updater", TASK_DEF).inputs["containerDefinitions"]
    )
    assert [c["name"] for c in steps] == ["fetch", "freshclam", "publish"]
    stale = default_run.named("silo-prod-signatures-stale").inputs
    assert stale["treatMissingData"] == "breaching"
    down = default_run.named("t042-alarm-scanner-down").inputs
    assert (down["namespace"], down["metricName"]) == (scanner.METRICS_NAMESPACE, "ScannerUp")
    assert down["dimensions"] == {"Tenant": "t042"}
    assert len(default_run.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")) == 2 * TENANTS


def test_quarantine_is_retained_and_delete_markers_cleaned(default_run):
    rules = default_run.named("t001-bucket-lifecycle").inputs["rules"]
    by_id = {r["id"]: r for r in rules}
    quarantine = by_id[bucket_rules.QUARANTINE_RULE_ID]
    assert quarantine["filter"] == {"prefix": policies.QUARANTINE_PREFIX}
    assert quarantine["expiration"] == {"days": 90}
    assert by_id[bucket_rules.DELETE_MARKER_RULE_ID]["expiration"] == {
        "expiredObjectDeleteMarker": True
    }
    task = json.loads(default_run.named("t001-task-policy").inputs["policy"])
    (deny,) = [s for s in task["Statement"] if s.get("Sid") == "DenyErasingQuarantine"]
    assert deny["Effect"] == "Deny" and deny["Resource"].endswith("/quarantine/*")
    assert {"s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(deny["Action"])


def test_the_catalogue_sets_the_quarantine_days(tmp_path):
    path = catalogue_file(
        tmp_path, {"slug": "lab", "name": "Lab", "priority": 2, "limits": {"quarantine_days": 7}}
    )
    run = run_program(path)
    rules = {r["id"]: r for r in run.named("lab-bucket-lifecycle").inputs["rules"]}
    assert rules[bucket_rules.QUARANTINE_RULE_ID]["expiration"] == {"days": 7}


def test_only_guardduty_may_write_its_verdict_tag(tmp_path):
    path = catalogue_file(
        tmp_path,
        {"slug": "gd", "name": "GD", "priority": 3, "limits": {"scan": "guardduty"}},
        {"slug": "cl", "name": "CL", "priority": 2, "limits": {"scan": "clamav"}},
    )
    run = run_program(path)
    policy = json.loads(run.named("gd-bucket-policy").inputs["policy"])
    role = run.named("gd-scan-role").inputs["name"]
    denies = {s["Sid"]: s for s in policy["Statement"] if s["Effect"] == "Deny"}
    for sid in ("OnlyGuardDutyTagsScanStatus", "NoUploadWithScanStatus"):
        condition = denies[sid]["Condition"]
        assert condition["ForAnyValue:StringEquals"] == {
            "s3:RequestObjectTagKeys": "GuardDutyMalwareScanStatus"
        }
        assert condition["ArnNotEquals"]["aws:PrincipalArn"].endswith(f":role/{role}")
    assert "s3:PutObjectTagging" in denies["OnlyGuardDutyTagsScanStatus"]["Action"]
    # A clamav tenant's bucket has no GuardDuty to protect.
    other = json.loads(run.named("cl-bucket-policy").inputs["policy"])
    assert [s["Sid"] for s in other["Statement"]] == ["DenyInsecureTransport"]
    assert bucket_rules.QUARANTINE_PREFIX == policies.QUARANTINE_PREFIX
