"""The ECS container definition of a tenant's service."""

from dataclasses import replace

from provisioning.aws.containers import container_definitions
from tests.provisioning.test_service_env import TARGET as SERVICE_TARGET

# Not the default port, so the port mapping is seen to follow the target.
TARGET = replace(SERVICE_TARGET, port=8123)


def test_container_definition_keeps_secrets_out_of_the_environment():
    (container,) = container_definitions(
        target=replace(TARGET, database_secret_arn="arn:db"),
        image="registry.example/silo:1",
        secret_arns={"admin_key": "arn:admin"},
        log_group="/ecs/silo-prod/pack",
    )
    env = {e["name"]: e["value"] for e in container["environment"]}
    secrets = {s["name"] for s in container["secrets"]}
    assert not set(env) & secrets
    assert secrets == {"SILO_ADMIN_KEY"}
    # The database credentials rotate: the service reads the secret named here (its ARN, not
    # its value) whenever it connects; nothing injects a user or password once at start.
    assert env["DATABASE_SECRET_ARN"] == "arn:db"
    assert not {"DATABASE_USER", "DATABASE_PASSWORD"} & set(env)
    assert container["logConfiguration"]["options"]["awslogs-region"] == "eu-west-1"
    assert container["portMappings"] == [{"containerPort": 8123, "protocol": "tcp"}]
