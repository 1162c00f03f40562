from provisioning.service_env import (
    SECRET_VARIABLES,
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
    assert not set(service_environment(TARGET)) & set(SECRET_VARIABLES)


def test_ecs_secrets_select_json_keys_of_the_rds_secret():
    entries = {
        e["name"]: e["valueFrom"]
        for e in ecs_secrets({"database": "arn:db", "admin_key": "arn:adm"})
    }
    assert entries == {
        "DATABASE_USER": "arn:db:username::",
        "DATABASE_PASSWORD": "arn:db:password::",
        "SILO_ADMIN_KEY": "arn:adm",
    }


def test_local_secrets_match_the_ecs_names():
    assert set(local_secret_environment("u", "p", "k")) == {
        e["name"] for e in ecs_secrets({"database": "a", "admin_key": "b"})
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
