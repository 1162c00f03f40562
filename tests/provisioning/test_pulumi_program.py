"""The Pulumi program (pulumi/__main__.py) under Pulumi's mocks, with a 3-tenant catalogue.

What is asserted is what the program would send to AWS: resource types, names, inputs and
options, as recorded by the mock monitor.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pulumi
import pytest
import yaml

from provisioning import bucket_rules
from provisioning.service_env import (
    RDS_CA_BUNDLE,
    SECRET_VARIABLES,
    cloud_scan,
    service_environment,
    service_target,
)
from provisioning.timeouts import TIMEOUTS
from tenants import load_catalogue, names
from tests.provisioning.pulumi_harness import (
    ACCOUNT,
    IMAGE,
    RDS,
    REGION,
    Run,
    resource_arn,
    resource_id,
    run_program,
)

CERTIFICATE = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/abc"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how the engine marks a secret value

PACK = {"slug": "pack", "name": "Pack", "priority": 10}
HRCOMP = {
    "slug": "hrcomp",
    "name": "HR Comp",
    "priority": 20,
    "api": {"cpu": 1024, "memory": 5120, "min_tasks": 2, "max_tasks": 10},
    "bucket": {"cors_origins": ["https://app.hrcomp.example"]},
}
ACME = {
    "slug": "acme",
    "name": "Acme Learning",
    "priority": 30,
    "host": "files.acme.example",
    "certificate_arn": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/acme",
    "hosted_zone_id": "ZACME",
    "bucket": {"versioning": False},
    "database": {"multi_az": True, "instance_class": "db.t4g.small"},
}
SLUGS = ("pack", "hrcomp", "acme")


def catalogue_file(directory: Path, *tenants: dict) -> Path:
    data = {
        "platform": {"domain": "uploads.example.com"},
        "defaults": {
            # Room for the default clamav scanner beside the service (tenants.scanner).
            "api": {"cpu": 512, "memory": 3072, "min_tasks": 1, "max_tasks": 4},
            # GuardDuty, as these tests were written for (the built-in default is now clamav,
            # whose sidecars, signatures and alarms tests/provisioning/test_scanning_infra.py
            # covers).
            "limits": {
                "max_upload_mb": 5120,
                "allowed_types": ["pdf", "png", "jpeg", "mp4"],
                "scan": "guardduty",
            },
        },
        "tenants": list(tenants),
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tenants.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def catalogue_path(tmp_path_factory) -> Path:
    return catalogue_file(tmp_path_factory.mktemp("three"), PACK, HRCOMP, ACME)


@pytest.fixture(scope="module")
def run(catalogue_path) -> Run:
    """The stack with a certificate: HTTPS listener, HTTP redirecting."""
    return run_program(catalogue_path, config={"silo:certificateArn": CERTIFICATE})


@pytest.fixture(scope="module")
def plain(catalogue_path) -> Run:
    """The stack without a certificate: HTTP only."""
    return run_program(catalogue_path)


def tenant_names(slug: str, catalogue_path: Path) -> names.TenantNames:
    catalogue = load_catalogue(catalogue_path)
    return names.for_tenant(
        names.Scope("silo", "test"), catalogue.tenant(slug), account_id=ACCOUNT, region=REGION
    )


def policy(run: Run, name: str) -> dict:
    return json.loads(run.named(name, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])


def statement_resources(document: dict) -> list[tuple[str, str]]:
    """(action, resource) pairs of every Allow statement. (A Deny only takes away: the task
    policy's quarantine Deny is checked in tests/provisioning/aws/test_policies.py.)"""
    pairs = []
    for statement in document["Statement"]:
        assert statement["Effect"] in ("Allow", "Deny")
        if statement["Effect"] == "Deny":
            continue
        actions = statement["Action"]
        resources = statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            for resource in [resources] if isinstance(resources, str) else resources:
                pairs.append((action, resource))
    return pairs


# -- each tenant gets exactly its resources ---------------------------------------------------

COMMON = {
    ("aws:s3/bucket:Bucket", "bucket"),
    ("aws:s3/bucketPolicy:BucketPolicy", "bucket-policy"),
    ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "bucket-public-access"),
    (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "bucket-encryption",
    ),
    ("aws:s3/bucketVersioning:BucketVersioning", "bucket-versioning"),
    ("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "bucket-lifecycle"),
    ("aws:ec2/securityGroup:SecurityGroup", "task-sg"),
    ("aws:ec2/securityGroup:SecurityGroup", "db-sg"),
    ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "task-from-alb"),
    ("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "task-to-db"),
    ("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "task-to-https"),
    ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "db-from-task"),
    (RDS, "db"),
    ("random:index/randomPassword:RandomPassword", "admin-key"),
    ("aws:secretsmanager/secret:Secret", "admin-key"),
    ("aws:secretsmanager/secretVersion:SecretVersion", "admin-key"),
    ("aws:cloudwatch/logGroup:LogGroup", "logs"),
    ("aws:cloudwatch/logGroup:LogGroup", "db-logs"),
    ("aws:iam/role:Role", "execution-role"),
    ("aws:iam/rolePolicy:RolePolicy", "execution-policy"),
    ("aws:iam/role:Role", "task-role"),
    ("aws:iam/rolePolicy:RolePolicy", "task-policy"),
    ("aws:ecs/taskDefinition:TaskDefinition", "task"),
    ("aws:lb/targetGroup:TargetGroup", "tg"),
    ("aws:lb/listenerRule:ListenerRule", "rule"),
    ("aws:ecs/service:Service", "service"),
    ("aws:appautoscaling/target:Target", "scaling"),
    ("aws:appautoscaling/policy:Policy", "scale-cpu"),
    ("aws:appautoscaling/policy:Policy", "scale-requests"),
    ("aws:cloudwatch/dashboard:Dashboard", "dashboard"),
} | {
    ("aws:cloudwatch/metricAlarm:MetricAlarm", f"alarm-{kind}")
    for kind in (
        "5xx-rate",
        "unhealthy-hosts",
        "cpu-high",
        "memory-high",
        "tasks-below-minimum",
        "db-cpu-high",
        "db-storage-low",
        "db-connections-high",
    )
}
# Every tenant here scans with GuardDuty (the test catalogue's default); other engines in
# tests/provisioning/test_malware_protection.py.
COMMON |= {
    ("aws:iam/role:Role", "scan-role"),
    ("aws:iam/rolePolicy:RolePolicy", "scan-policy"),
    ("aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan", "malware-protection"),
}
CORS = ("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration", "bucket-cors")
# acme's own host: its certificate on the HTTPS listener, its record in its own zone.
OWN_HOST = {
    ("aws:lb/listenerCertificate:ListenerCertificate", "certificate"),
    ("aws:route53/record:Record", "dns"),
}


@pytest.mark.parametrize("slug", SLUGS)
def test_each_tenant_gets_exactly_its_resources(run, slug):
    expected = COMMON | ({CORS} if slug == "hrcomp" else set())
    expected |= OWN_HOST if slug == "acme" else set()
    found = Counter((r.type, r.name) for r in run.tenant_resources(slug))
    assert found == Counter((typ, f"{slug}-{suffix}") for typ, suffix in expected)


def test_every_resource_belongs_to_the_platform_or_one_tenant(run):
    platform = run.named("silo-test", "silo:provisioning:Platform")
    # The platform's ClamAV signatures (bucket, updater, schedule, alarm): a component of its own.
    signatures = run.named("silo-test-signatures", "silo:provisioning:Signatures")
    owned = {r.urn for r in run.children(platform)} | {r.urn for r in run.children(signatures)}
    for slug in SLUGS:
        owned |= {r.urn for r in run.tenant_resources(slug)}
    components = {
        "silo:provisioning:Platform",
        "silo:provisioning:Signatures",
        "silo:provisioning:TenantDeployment",
    }
    loose = [r.name for r in run.resources if r.urn not in owned and r.type not in components]
    assert loose == []
    assert len(run.of_type("silo:provisioning:TenantDeployment")) == 3


# -- isolation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
def test_iam_policies_name_only_the_tenants_own_bucket_and_secrets(run, catalogue_path, slug):
    own = tenant_names(slug, catalogue_path)
    bucket_arn = f"arn:aws:s3:::{own.bucket}"
    db_secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!{slug}-db"
    admin_secret = resource_arn_of_secret(slug)

    task = statement_resources(policy(run, f"{slug}-task-policy"))
    assert {resource for _, resource in task} == {bucket_arn, f"{bucket_arn}/*", db_secret}
    # The service reads its database secret at connect time (rotation): exactly that secret,
    # read only. The admin key is ECS's to inject; the task role cannot read it.
    assert {(a, r) for a, r in task if r == db_secret} == {
        ("secretsmanager:GetSecretValue", db_secret)
    }
    assert not any(a.startswith("kms:") for a, _ in task)

    execution = statement_resources(policy(run, f"{slug}-execution-policy"))
    secrets = {r for a, r in execution if a.startswith("secretsmanager:")}
    assert secrets == {admin_secret}
    logs = {r for a, r in execution if a.startswith("logs:")}
    assert logs == {f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/silo-test/{slug}:log-stream:*"}
    # The only wildcard is the ECR login, which reaches no tenant's data.
    wildcard = [(a, r) for a, r in execution + task if r == "*"]
    assert wildcard == [("ecr:GetAuthorizationToken", "*")]

    others = [s for s in SLUGS if s != slug]
    text = json.dumps([task, execution])
    for other in others:
        other_names = tenant_names(other, catalogue_path)
        assert other_names.bucket not in text
        assert f"{other}-db" not in text and f"/{other}:" not in text
        assert resource_arn_of_secret(other) not in text


def resource_arn_of_secret(slug: str) -> str:
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{slug}-admin-key-AbCdEf"


def test_execution_role_may_pull_only_the_configured_repository(run):
    execution = statement_resources(policy(run, "pack-execution-policy"))
    pulls = {r for a, r in execution if a == "ecr:BatchGetImage"}
    assert pulls == {f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/silo"}


def test_roles_are_assumable_by_this_accounts_ecs_tasks_only(run):
    # The scan roles trust GuardDuty instead: tests/provisioning/test_malware_protection.py;
    # the signature updater's schedule role trusts EventBridge Scheduler (same account).
    roles = run.of_type("aws:iam/role:Role")
    scheduler = [r for r in roles if r.name == "silo-test-signatures-scheduler"]
    ecs_roles = [r for r in roles if not r.name.endswith("-scan-role") and r not in scheduler]
    # Each tenant's execution and task roles, and the signature updater's two.
    assert len(ecs_roles) == 2 * len(SLUGS) + 2
    ((schedule_trust,),) = [
        json.loads(r.inputs["assumeRolePolicy"])["Statement"] for r in scheduler
    ]
    assert schedule_trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert schedule_trust["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    for role in ecs_roles:
        trust = json.loads(role.inputs["assumeRolePolicy"])
        (statement,) = trust["Statement"]
        assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}


@pytest.mark.parametrize("slug", SLUGS)
def test_database_security_group_admits_only_the_tenants_task_security_group(run, slug):
    db_sg = resource_id(f"{slug}-db-sg")
    task_sg = resource_id(f"{slug}-task-sg")
    rules = [
        r
        for r in run.resources
        if r.type.startswith("aws:vpc/securityGroup") and r.inputs["securityGroupId"] == db_sg
    ]
    assert [
        (r.type.rsplit(":", 1)[1], r.inputs.get("referencedSecurityGroupId")) for r in rules
    ] == [("SecurityGroupIngressRule", task_sg)]
    (rule,) = rules
    assert (rule.inputs["fromPort"], rule.inputs["toPort"]) == (5432, 5432)
    assert "cidrIpv4" not in rule.inputs
    assert run.named(f"{slug}-db", RDS).inputs["vpcSecurityGroupIds"] == [db_sg]
    # No inline rules anywhere (they would fight the rule resources).
    for group in run.of_type("aws:ec2/securityGroup:SecurityGroup"):
        assert "ingress" not in group.inputs and "egress" not in group.inputs


@pytest.mark.parametrize("slug", SLUGS)
def test_task_security_group_admits_only_the_load_balancer(run, slug):
    task_sg = resource_id(f"{slug}-task-sg")
    alb_sg = resource_id("silo-test-alb")
    ingress = [
        r
        for r in run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == task_sg
    ]
    assert [r.inputs["referencedSecurityGroupId"] for r in ingress] == [alb_sg]
    egress = {
        (r.inputs.get("referencedSecurityGroupId") or r.inputs.get("cidrIpv4"), r.inputs["toPort"])
        for r in run.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if r.inputs["securityGroupId"] == task_sg
    }
    assert egress == {(resource_id(f"{slug}-db-sg"), 5432), ("0.0.0.0/0", 443)}


def test_load_balancer_reaches_the_service_port_with_one_rule(run):
    # One rule whatever the number of tenants (60 rules per group by default); each task's
    # group admits only the ALB's, so per-tenant rules would isolate nothing more.
    alb_sg = resource_id("silo-test-alb")
    (egress,) = [
        r.inputs
        for r in run.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if r.inputs["securityGroupId"] == alb_sg
    ]
    assert (egress["cidrIpv4"], egress["fromPort"], egress["toPort"]) == ("10.0.0.0/16", 8000, 8000)
    ingress = sorted(
        r.inputs["toPort"]
        for r in run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == alb_sg
    )
    assert ingress == [80, 443]


@pytest.mark.parametrize("slug", SLUGS)
def test_the_tenants_rule_sends_its_host_to_its_target_group(run, catalogue_path, slug):
    rule = run.named(f"{slug}-rule").inputs
    own = tenant_names(slug, catalogue_path)
    assert rule["conditions"] == [{"hostHeader": {"values": [own.host]}}]
    tg_arn = resource_arn("aws:lb/targetGroup:TargetGroup", f"{slug}-tg")
    assert rule["actions"] == [{"type": "forward", "targetGroupArn": tg_arn}]
    assert rule["listenerArn"] == resource_arn("aws:lb/listener:Listener", "silo-test-https")
    tg = run.named(f"{slug}-tg").inputs
    assert tg["name"] == own.target_group
    assert tg["healthCheck"]["path"] == "/healthz"
    assert tg["targetType"] == "ip"


def test_explicit_host_is_routed(run):
    assert run.named("acme-rule").inputs["conditions"] == [
        {"hostHeader": {"values": ["files.acme.example"]}}
    ]


def test_rule_priorities_are_the_catalogues_and_unique(run):
    priorities = {
        r.name: r.inputs["priority"] for r in run.of_type("aws:lb/listenerRule:ListenerRule")
    }
    assert priorities == {
        "pack-rule": 10,
        "hrcomp-rule": 20,
        "acme-rule": 30,
        "silo-test-metrics-404": names.METRICS_RULE_PRIORITY,
    }


def test_metrics_answer_404_at_the_load_balancer_before_any_host_rule(run):
    rule = run.named("silo-test-metrics-404").inputs
    https = resource_arn("aws:lb/listener:Listener", "silo-test-https")
    assert rule["listenerArn"] == https
    assert rule["conditions"] == [{"pathPattern": {"values": ["/metrics", "/metrics/*"]}}]
    (action,) = rule["actions"]
    assert action["type"] == "fixed-response"
    assert action["fixedResponse"]["statusCode"] == "404"
    hosts = [r for r in run.of_type("aws:lb/listenerRule:ListenerRule") if r.name.endswith("-rule")]
    # Lower numbers are evaluated first: every tenant's host rule comes after it.
    assert all(r.inputs["priority"] > rule["priority"] for r in hosts)


# -- data: private, encrypted, protected ------------------------------------------------------


def test_no_bucket_is_public(run):
    buckets = run.of_type("aws:s3/bucket:Bucket")
    assert len(buckets) == 3 + 1  # the tenants' and the platform's signature bucket
    blocks = {
        r.inputs["bucket"]: r.inputs
        for r in run.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    }
    for bucket in buckets:
        assert "acl" not in bucket.inputs and "policy" not in bucket.inputs
        # The only bucket policy denies requests without TLS; it grants nothing.
        document = json.loads(run.named(f"{bucket.name}-policy").inputs["policy"])
        assert {s["Effect"] for s in document["Statement"]} == {"Deny"}
        block = blocks[resource_id(bucket.name)]
        for setting in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        ):
            assert block[setting] is True, (bucket.name, setting)
    allowed_types = {r.type for r in run.resources if r.type.startswith("aws:s3/")}
    assert not {t for t in allowed_types if "Acl" in t}


def test_buckets_are_encrypted_and_clean_up_stale_multipart_uploads(run):
    for slug in SLUGS:
        encryption = run.named(f"{slug}-bucket-encryption").inputs["rules"][0]
        assert encryption["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
        rules = run.named(f"{slug}-bucket-lifecycle").inputs["rules"]
        abort = [r for r in rules if "abortIncompleteMultipartUpload" in r]
        assert abort and abort[0]["status"] == "Enabled"
        assert abort[0]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 1


def test_versioning_follows_the_catalogue(run):
    status = {
        slug: run.named(f"{slug}-bucket-versioning").inputs["versioningConfiguration"]["status"]
        for slug in SLUGS
    }
    assert status == {"pack": "Enabled", "hrcomp": "Enabled", "acme": "Suspended"}


def test_cors_only_for_listed_origins(run):
    (cors,) = run.of_type("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration")
    assert cors.inputs["bucket"] == resource_id("hrcomp-bucket")
    reads, puts = cors.inputs["corsRules"]
    assert reads["allowedOrigins"] == puts["allowedOrigins"] == ["https://app.hrcomp.example"]
    assert set(reads["allowedMethods"]) == {"GET", "HEAD"}
    # Direct uploads: the PUT to the presigned URL, with every header the service hands out.
    assert puts["allowedMethods"] == ["PUT"]
    assert puts["allowedHeaders"] == list(bucket_rules.DIRECT_PUT_HEADERS)


def test_every_database_is_private_encrypted_and_deletion_protected(run, catalogue_path):
    databases = run.of_type(RDS)
    assert len(databases) == 3
    for db in databases:
        slug = db.name.removesuffix("-db")
        own = tenant_names(slug, catalogue_path)
        inputs = db.inputs
        assert inputs["publiclyAccessible"] is False
        assert inputs["storageEncrypted"] is True
        assert inputs["deletionProtection"] is True
        assert inputs["skipFinalSnapshot"] is False
        assert inputs["finalSnapshotIdentifier"] == own.final_snapshot
        assert inputs["backupRetentionPeriod"] >= 1
        assert inputs["manageMasterUserPassword"] is True
        assert "password" not in inputs
        assert inputs["identifier"] == own.rds_identifier
        assert inputs["dbSubnetGroupName"] == "silo-test"
        # Changes wait for the tenant's window; no major upgrade without opting in.
        assert inputs["applyImmediately"] is False
        assert inputs["allowMajorVersionUpgrade"] is False
    acme = run.named("acme-db", RDS).inputs
    assert acme["multiAz"] is True and acme["instanceClass"] == "db.t4g.small"


def test_buckets_and_databases_are_protected_and_retained(run):
    # Every tenant bucket and database. Not the signature bucket: it holds only what the
    # updater downloads again from ClamAV's mirrors (provisioning/aws/signatures.py), so it is
    # deliberately unprotected and force-destroyed.
    buckets = [
        r for r in run.of_type("aws:s3/bucket:Bucket") if r.name != "silo-test-signatures-bucket"
    ]
    assert len(buckets) == len(SLUGS)
    for r in buckets + run.of_type(RDS):
        assert r.protect and r.retain_on_delete, r.name
    # A retained bucket keeps its public access block and encryption.
    for r in run.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"):
        assert r.retain_on_delete or r.name.startswith("silo-test-signatures-"), r.name


# -- the task: environment contract and secrets ----------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
def test_task_definition_carries_the_environment_contract(run, catalogue_path, slug):
    tenant = load_catalogue(catalogue_path).tenant(slug)
    own = tenant_names(slug, catalogue_path)
    task = run.named(f"{slug}-task").inputs
    (container,) = json.loads(task["containerDefinitions"])
    expected = service_environment(
        service_target(
            tenant,
            own,
            region=REGION,
            database_host=f"{slug}-db.abc.{REGION}.rds.amazonaws.com",
            database_port=5432,
            scan=cloud_scan(tenant),
            database_secret_arn=f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!{slug}-db",
            database_ca_bundle=RDS_CA_BUNDLE,
            shutdown_timeout_seconds=TIMEOUTS.shutdown,
            keep_alive_seconds=TIMEOUTS.service_keep_alive,
        )
    )
    assert {e["name"]: e["value"] for e in container["environment"]} == expected
    assert expected["SILO_MAX_UPLOAD_BYTES"] == str(5120 * 1024 * 1024)
    assert expected["SILO_ALLOWED_TYPES"] == "pdf,png,jpeg,mp4"
    # libpq verifies RDS's certificate and host name against the bundle in the image.
    assert expected["PGSSLMODE"] == "verify-full"
    assert expected["PGSSLROOTCERT"] == RDS_CA_BUNDLE
    secrets = {s["name"]: s["valueFrom"] for s in container["secrets"]}
    # The database credentials rotate: the service reads them itself from the secret whose
    # ARN it gets (not its value), so ECS injects only the admin key.
    db_secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!{slug}-db"
    assert expected["DATABASE_SECRET_ARN"] == db_secret
    assert secrets == {"SILO_ADMIN_KEY": resource_arn_of_secret(slug)}
    assert set(secrets) == set(SECRET_VARIABLES)
    assert not {"DATABASE_USER", "DATABASE_PASSWORD"} & set(expected)
    assert container["image"] == IMAGE
    assert container["logConfiguration"]["options"]["awslogs-group"] == own.log_group
    assert (task["cpu"], task["memory"]) == (
        str(tenant.api.cpu),
        str(tenant.api.memory),
    )
    assert task["family"] == own.task_family
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert task["executionRoleArn"] == resource_arn("aws:iam/role:Role", f"{slug}-execution-role")
    assert task["taskRoleArn"] == resource_arn("aws:iam/role:Role", f"{slug}-task-role")


def test_admin_key_is_generated_and_only_travels_as_a_secret(run):
    for slug in SLUGS:
        version = run.named(f"{slug}-admin-key", "aws:secretsmanager/secretVersion:SecretVersion")
        assert version.inputs["secretId"] == resource_id(f"{slug}-admin-key")
        assert SECRET_SIG in version.inputs["secretString"]  # marked secret, encrypted in state
        password = run.named(f"{slug}-admin-key", "random:index/randomPassword:RandomPassword")
        assert password.inputs["length"] >= 32
    generated = "generated-by-the-engine"
    for task in run.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        assert generated not in task.inputs["containerDefinitions"]


@pytest.mark.parametrize("slug", SLUGS)
def test_service_runs_privately_with_circuit_breaker_and_rollback(run, slug):
    service = run.named(f"{slug}-service")
    inputs = service.inputs
    assert inputs["launchType"] == "FARGATE"
    assert inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    network = inputs["networkConfiguration"]
    assert network["assignPublicIp"] is False
    assert network["subnets"] == [
        resource_id("silo-test-0-private"),
        resource_id("silo-test-1-private"),
    ]
    assert network["securityGroups"] == [resource_id(f"{slug}-task-sg")]
    (lb,) = inputs["loadBalancers"]
    assert lb["targetGroupArn"] == resource_arn("aws:lb/targetGroup:TargetGroup", f"{slug}-tg")
    assert (lb["containerName"], lb["containerPort"]) == ("api", 8000)
    assert service.ignore_changes == ["desiredCount"]


def test_autoscaling_between_min_and_max_on_cpu_and_requests(run):
    target = run.named("hrcomp-scaling").inputs
    assert (target["minCapacity"], target["maxCapacity"]) == (2, 10)
    assert target["resourceId"] == "service/silo-test/hrcomp"
    assert run.named("hrcomp-service").inputs["desiredCount"] == 2
    metrics = {}
    for name in ("hrcomp-scale-cpu", "hrcomp-scale-requests"):
        config = run.named(name).inputs["targetTrackingScalingPolicyConfiguration"]
        spec = config["predefinedMetricSpecification"]
        metrics[spec["predefinedMetricType"]] = (config["targetValue"], spec.get("resourceLabel"))
    assert metrics == {
        "ECSServiceAverageCPUUtilization": (60, None),
        "ALBRequestCountPerTarget": (1000, "app/silo-test-alb/0123/targetgroup/hrcomp-tg/4567"),
    }


def test_log_group_has_retention(run):
    for slug in SLUGS:
        logs = run.named(f"{slug}-logs").inputs
        assert logs["name"] == f"/ecs/silo-test/{slug}"
        assert logs["retentionInDays"] == 30


# -- the platform -----------------------------------------------------------------------------


def test_network_spans_two_zones_with_private_egress(run):
    subnets = run.of_type("aws:ec2/subnet:Subnet")
    zones = Counter(s.inputs["availabilityZone"] for s in subnets)
    assert zones == {"eu-west-1a": 2, "eu-west-1b": 2}
    assert len(run.of_type("aws:ec2/natGateway:NatGateway")) == 2
    private_routes = [
        r
        for r in run.of_type("aws:ec2/route:Route")
        if "natGatewayId" in r.inputs and r.inputs["destinationCidrBlock"] == "0.0.0.0/0"
    ]
    assert len(private_routes) == 2
    nat_subnets = {r.inputs["subnetId"] for r in run.of_type("aws:ec2/natGateway:NatGateway")}
    assert nat_subnets == {resource_id("silo-test-0-public"), resource_id("silo-test-1-public")}
    group = run.named("silo-test-db", "aws:rds/subnetGroup:SubnetGroup").inputs
    assert group["subnetIds"] == [
        resource_id("silo-test-0-private"),
        resource_id("silo-test-1-private"),
    ]


def test_with_a_certificate_https_answers_404_by_default_and_http_redirects(run):
    listeners = {r.name: r.inputs for r in run.of_type("aws:lb/listener:Listener")}
    assert set(listeners) == {"silo-test-https", "silo-test-http"}
    https = listeners["silo-test-https"]
    assert (https["protocol"], https["port"], https["certificateArn"]) == (
        "HTTPS",
        443,
        CERTIFICATE,
    )
    (default,) = https["defaultActions"]
    assert default["type"] == "fixed-response"
    assert default["fixedResponse"]["statusCode"] == "404"
    (redirect,) = listeners["silo-test-http"]["defaultActions"]
    assert redirect["redirect"] == {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}


def test_without_a_certificate_http_answers_404_and_carries_the_rules(plain):
    (listener,) = plain.of_type("aws:lb/listener:Listener")
    assert (listener.inputs["protocol"], listener.inputs["port"]) == ("HTTP", 80)
    assert listener.inputs["defaultActions"][0]["fixedResponse"]["statusCode"] == "404"
    arn = resource_arn("aws:lb/listener:Listener", "silo-test-http")
    assert {r.inputs["listenerArn"] for r in plain.of_type("aws:lb/listenerRule:ListenerRule")} == {
        arn
    }
    assert plain.exports["tenants"]["pack"]["url"] == "http://pack.uploads.example.com"


def test_cluster_and_load_balancer_names(run):
    assert run.named("silo-test-cluster").inputs["name"] == "silo-test"
    alb = run.named("silo-test-alb", "aws:lb/loadBalancer:LoadBalancer").inputs
    assert alb["name"] == "silo-test" and alb["internal"] is False
    assert alb["subnets"] == [resource_id("silo-test-0-public"), resource_id("silo-test-1-public")]


# -- exports ----------------------------------------------------------------------------------


def test_exports_per_tenant(run, catalogue_path):
    tenants = run.exports["tenants"]
    assert set(tenants) == set(SLUGS)
    for slug in SLUGS:
        own = tenant_names(slug, catalogue_path)
        assert tenants[slug] == {
            "url": f"https://{own.host}",
            "bucket": own.bucket,
            "databaseEndpoint": f"{slug}-db.abc.{REGION}.rds.amazonaws.com:5432",
            "ecsService": own.ecs_service,
            "adminKeySecretArn": resource_arn_of_secret(slug),
        }
    assert run.exports["albDnsName"] == "silo-test-alb.elb"
    assert run.exports["clusterName"] == "silo-test"


# -- onboarding: adding a tenant touches nobody else ----------------------------------------


def test_adding_a_tenant_leaves_every_other_resource_unchanged(tmp_path):
    two = run_program(catalogue_file(tmp_path / "ab", PACK, HRCOMP), stack="prod")
    three = run_program(catalogue_file(tmp_path / "abc", PACK, HRCOMP, ACME), stack="prod")

    def described(run: Run) -> dict:
        return {r.urn: (r.type, r.inputs, r.protect, r.retain_on_delete) for r in run.resources}

    before, after = described(two), described(three)
    assert set(before) <= set(after)
    for urn, state in before.items():
        assert after[urn] == state, urn
    added = {after[urn][0] for urn in set(after) - set(before)}
    new = {urn for urn in set(after) - set(before)}
    assert all(urn.endswith("::acme") or "::acme-" in urn for urn in new), new
    assert "aws:rds/instance:Instance" in added


# -- the program refuses bad input before creating anything ----------------------------------


def test_an_invalid_catalogue_stops_the_program_listing_its_problems(tmp_path):
    bad = dict(PACK, api={"cpu": 1024, "memory": 512})
    with pytest.raises(pulumi.RunError) as caught:
        run_program(catalogue_file(tmp_path, bad, dict(HRCOMP, priority=10)))
    message = str(caught.value)
    assert "tenant 'pack': api.memory" in message
    assert "tenant 'hrcomp': priority" in message


def test_a_stack_name_that_cannot_be_in_names_stops_the_program(tmp_path):
    with pytest.raises(pulumi.RunError, match="stack name"):
        run_program(catalogue_file(tmp_path, PACK), stack="Prod_EU")


def test_image_is_required(catalogue_path):
    with pytest.raises(pulumi.ConfigMissingError, match="silo:image"):
        run_program(catalogue_path, config={"silo:image": None})


def test_hosted_zone_gets_an_alias_record_per_tenant(catalogue_path):
    zoned = run_program(catalogue_path, config={"silo:hostedZoneId": "ZONE123"})
    records = {r.name: r.inputs for r in zoned.of_type("aws:route53/record:Record")}
    assert set(records) == {f"{slug}-dns" for slug in SLUGS}
    acme = records["acme-dns"]
    # acme's host is outside the platform's domain: its record goes to its own zone.
    assert (acme["zoneId"], acme["name"], acme["type"]) == ("ZACME", "files.acme.example", "A")
    assert records["pack-dns"]["zoneId"] == "ZONE123"
    assert acme["aliases"][0]["name"] == "silo-test-alb.elb"


def test_the_program_also_runs_as_a_preview(catalogue_path):
    preview = run_program(catalogue_path, preview=True)
    assert len(preview.of_type("aws:ecs/service:Service")) == 3
