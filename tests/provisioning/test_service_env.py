from provisioning.service_env import (
    LOCAL_SECRET_VARIABLES,
    ServiceTarget,
    ecs_secrets,
    local_secret_environment,
    service_environment,
)

TARGET = ServiceTarget(
    tenant="pack",
    bucket="silo-prod-pack-abc123",
    region="eu-west-1",
    database_host="db.internal",
    database_port=5432,
    database_name="silo",
    max_upload_bytes=5 * 1024**3,
    allowed_types=("pdf", "png"),
)


def test_environment_carries_the_tenant_values():
    env = service_environment(TARGET)
    assert env["SILO_TENANT"] == "pack"
    assert env["S3_BUCKET"] == "silo-prod-pack-abc123"
    assert env["SILO_ALLOWED_TYPES"] == "pdf,png"
    assert env["SILO_MAX_UPLOAD_BYTES"] == str(5 * 1024**3)
    assert env["DATABASE_PORT"] == "5432"
    assert "S3_ENDPOINT_URL" not in env
    assert all(isinstance(v, str) for v in env.values())


def test_no_secret_in_plain_environment():
    from dataclasses import replace

    target = replace(TARGET, database_secret_arn="arn:db")
    assert not set(service_environment(target)) & set(LOCAL_SECRET_VARIABLES)


def test_ecs_injects_only_the_admin_key():
    """The database credentials rotate: ECS would inject them once, at start. The service gets
    the secret's ARN instead and reads the secret when it connects."""
    entries = {e["name"]: e["valueFrom"] for e in ecs_secrets({"admin_key": "arn:adm"})}
    assert entries == {"SILO_ADMIN_KEY": "arn:adm"}


def test_the_database_secret_arn_reaches_the_service_only_when_given():
    from dataclasses import replace

    assert "DATABASE_SECRET_ARN" not in service_environment(TARGET)
    env = service_environment(replace(TARGET, database_secret_arn="arn:db"))
    assert env["DATABASE_SECRET_ARN"] == "arn:db"


def test_local_secrets_are_the_ecs_ones_plus_fixed_database_credentials():
    local = set(local_secret_environment("u", "p", "k"))
    assert local == set(LOCAL_SECRET_VARIABLES)
    assert local - {e["name"] for e in ecs_secrets({"admin_key": "b"})} == {
        "DATABASE_USER",
        "DATABASE_PASSWORD",
    }


def test_local_endpoint_is_passed_only_when_given():
    from dataclasses import replace

    env = service_environment(replace(TARGET, s3_endpoint_url="http://127.0.0.1:9000"))
    assert env["S3_ENDPOINT_URL"] == "http://127.0.0.1:9000"


def test_cors_origins_reach_the_service_only_when_set():
    assert "SILO_CORS_ORIGINS" not in service_environment(TARGET)
    from dataclasses import replace

    target = replace(TARGET, cors_origins=("https://a.example", "https://b.example"))
    assert service_environment(target)["SILO_CORS_ORIGINS"] == "https://a.example,https://b.example"
