"""The pure pieces of provisioning: tenant -> ServiceTarget, container definition, IAM, subnets."""

from pathlib import Path

import pytest

from provisioning import policies
from provisioning.containers import container_definitions
from provisioning.network import plan_subnets
from provisioning.service_env import ServiceTarget, service_environment
from provisioning.targets import service_target
from tenants import load_catalogue, names

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = load_catalogue(REPO / "tenants.yaml")
SCOPE = names.Scope("silo", "prod")


def target_for(slug: str, **overrides) -> ServiceTarget:
    tenant = CATALOGUE.tenant(slug)
    tenant_names = names.for_tenant(SCOPE, tenant, account_id="1" * 12, region="eu-west-1")
    return service_target(
        tenant,
        tenant_names,
        region="eu-west-1",
        database_host="db.internal",
        database_port=5432,
        **overrides,
    )


def test_service_target_maps_the_tenant_and_its_names():
    target = target_for("hrcomp")
    tenant = CATALOGUE.tenant("hrcomp")
    assert target.tenant == "hrcomp"
    assert target.bucket == names.bucket(SCOPE, "hrcomp", account_id="1" * 12, region="eu-west-1")
    assert target.database_name == "silo_hrcomp"
    assert (target.database_host, target.database_port) == ("db.internal", 5432)
    assert target.max_upload_bytes == tenant.limits.max_upload_mb * 1024 * 1024
    assert target.allowed_types == tenant.limits.allowed_types
    assert (target.port, target.s3_endpoint_url) == (8000, None)


def test_local_runs_change_only_the_endpoints():
    cloud = service_environment(target_for("pack"))
    local = service_environment(
        target_for("pack", port=18001, s3_endpoint_url="http://127.0.0.1:9000")
    )
    changed = {k for k in cloud.keys() | local.keys() if cloud.get(k) != local.get(k)}
    assert changed == {"PORT", "S3_ENDPOINT_URL"}


def test_container_definition_keeps_secrets_out_of_the_environment():
    (container,) = container_definitions(
        target=target_for("pack"),
        image="registry.example/silo:1",
        secret_arns={"database": "arn:db", "admin_key": "arn:admin"},
        log_group="/ecs/silo-prod/pack",
    )
    env = {e["name"] for e in container["environment"]}
    secrets = {s["name"] for s in container["secrets"]}
    assert not env & secrets
    assert secrets == {"DATABASE_USER", "DATABASE_PASSWORD", "SILO_ADMIN_KEY"}
    assert container["portMappings"] == [{"containerPort": 8000, "protocol": "tcp"}]


@pytest.mark.parametrize(
    ("image", "arn"),
    [
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/silo:1.0",
            "arn:aws:ecr:eu-west-1:123456789012:repository/silo",
        ),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/silo@sha256:abc",
            "arn:aws:ecr:eu-west-1:123456789012:repository/team/silo",
        ),
        ("ghcr.io/example/silo:1.0", None),
    ],
)
def test_ecr_repository_of_an_image(image, arn):
    assert policies.ecr_repository_arn(image, partition="aws") == arn


def test_images_outside_ecr_need_no_ecr_permissions():
    document = policies.execution_policy(
        partition="aws",
        region="eu-west-1",
        account_id="1" * 12,
        log_group="/ecs/silo-prod/pack",
        secret_arns=["arn:b", "arn:a"],
        image="ghcr.io/example/silo:1.0",
    )
    actions = [a for s in document["Statement"] for a in [s["Action"]] if isinstance(a, str)]
    actions += [
        a for s in document["Statement"] if isinstance(s["Action"], list) for a in s["Action"]
    ]
    assert actions and not any(a.startswith("ecr:") for a in actions)
    assert document["Statement"][1]["Resource"] == ["arn:a", "arn:b"]


def test_subnet_plan_gives_each_zone_a_public_and_a_private_block():
    plan = plan_subnets("10.0.0.0/16", ["a", "b"])
    assert [(p.public_cidr, p.private_cidr) for p in plan] == [
        ("10.0.0.0/20", "10.0.32.0/20"),
        ("10.0.16.0/20", "10.0.48.0/20"),
    ]
    with pytest.raises(ValueError, match="too small"):
        plan_subnets("10.0.0.0/26", ["a", "b"])
