"""The ECS container definition of a tenant's service."""

from provisioning.aws.containers import container_definitions
from provisioning.service_env import ServiceTarget

TARGET = ServiceTarget(
    tenant="pack",
    bucket="silo-prod-pack-abc123",
    region="eu-west-1",
    database_host="db.internal",
    database_port=5432,
    database_name="silo_pack",
    max_upload_bytes=5 * 1024**3,
    allowed_types=("pdf", "png"),
    port=8123,
)


def test_container_definition_keeps_secrets_out_of_the_environment():
    (container,) = container_definitions(
        target=TARGET,
        image="registry.example/silo:1",
        secret_arns={"database": "arn:db", "admin_key": "arn:admin"},
        log_group="/ecs/silo-prod/pack",
    )
    env = {e["name"] for e in container["environment"]}
    secrets = {s["name"] for s in container["secrets"]}
    assert not env & secrets
    assert secrets == {"DATABASE_USER", "DATABASE_PASSWORD", "SILO_ADMIN_KEY"}
    assert container["logConfiguration"]["options"]["awslogs-region"] == "eu-west-1"
    assert container["portMappings"] == [{"containerPort": 8123, "protocol": "tcp"}]
