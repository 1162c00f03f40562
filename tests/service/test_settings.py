"""Settings from the environment: defaults, both database forms, and one-line errors that name
the variable."""

from __future__ import annotations

import psycopg
import pytest

from service.settings import GIB, SettingsError, from_environ
from service.uploads.filetypes import KNOWN_TYPE_IDS

BASE = {
    "SILO_TENANT": "acme",
    "DATABASE_URL": "postgresql://u:p@db:5432/acme",
    "S3_BUCKET": "silo-acme",
    "AWS_REGION": "eu-west-1",
    "SILO_ADMIN_KEY": "x" * 32,
    "SILO_SCAN": "off",
}


def test_defaults():
    settings = from_environ(BASE)
    assert settings.max_upload_bytes == 5 * GIB
    assert settings.allowed_types == KNOWN_TYPE_IDS
    assert settings.port == 8000
    assert settings.migrate is True
    assert settings.s3_endpoint_url is None
    assert settings.presign_ttl_seconds == 900
    assert settings.shutdown_timeout_seconds == 25
    # Every wait on a client or a dependency is bounded by default.
    assert settings.header_timeout_seconds == 10 and settings.keep_alive_seconds == 65
    assert settings.max_header_bytes == 65536 and settings.max_headers == 100
    assert settings.body_idle_timeout_seconds == 60 and settings.max_connections == 1000
    assert settings.db_statement_timeout_ms == 5000 and settings.db_acquire_timeout_seconds == 5
    assert settings.s3_read_timeout_seconds == 10 and settings.s3_max_attempts == 2
    assert settings.multipart_max_age_seconds == 86400


def test_database_from_parts_as_ecs_gives_them():
    env = {k: v for k, v in BASE.items() if k != "DATABASE_URL"}
    env |= {
        "DATABASE_HOST": "db.internal",
        "DATABASE_PORT": "6543",
        "DATABASE_USER": "silo",
        "DATABASE_PASSWORD": "p@ss word'\"",
        "DATABASE_NAME": "acme",
    }
    info = psycopg.conninfo.conninfo_to_dict(from_environ(env).database_url)
    assert info == {
        "host": "db.internal",
        "port": "6543",
        "user": "silo",
        "password": "p@ss word'\"",
        "dbname": "acme",
    }


def test_database_credentials_from_a_secret_need_no_user_or_password():
    """DATABASE_SECRET_ARN: the user and password are read from the secret at connect time
    (service/db/credentials.py), so neither is in the URL nor required."""
    env = {k: v for k, v in BASE.items() if k != "DATABASE_URL"}
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234-AbCdEf"
    env |= {
        "DATABASE_HOST": "db.internal",
        "DATABASE_NAME": "acme",
        "DATABASE_SECRET_ARN": arn,
        "SECRETS_ENDPOINT_URL": "http://127.0.0.1:5000",
    }
    settings = from_environ(env)
    assert settings.database_secret_arn == arn
    assert settings.secrets_endpoint_url == "http://127.0.0.1:5000"
    info = psycopg.conninfo.conninfo_to_dict(settings.database_url)
    assert info == {"host": "db.internal", "port": "5432", "dbname": "acme"}
    assert from_environ(BASE).database_secret_arn is None


def test_overrides_are_parsed():
    settings = from_environ(
        BASE
        | {
            "SILO_MAX_UPLOAD_BYTES": "1048576",
            "SILO_ALLOWED_TYPES": " pdf, PNG ,,pdf",
            "SILO_DB_POOL_MAX": "7",
            "SILO_PRESIGN_TTL_SECONDS": "60",
            "S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "PORT": "8123",
            "SILO_MIGRATE": "0",
            "SILO_KEY_CACHE_SECONDS": "0",
            "SILO_KEY_CACHE_BYTES": "0",
            "SILO_RENDERINGS_CACHE_BYTES": "4194304",
        }
    )
    assert settings.key_cache_seconds == 0
    assert from_environ(BASE).key_cache_seconds == 5
    assert (settings.key_cache_bytes, settings.renderings_cache_bytes) == (0, 4 * 1024**2)
    defaults = from_environ(BASE)
    assert (defaults.key_cache_bytes, defaults.renderings_cache_bytes) == (1024**2, 16 * 1024**2)
    assert settings.max_upload_bytes == 1048576
    assert settings.allowed_types == ("pdf", "png")
    assert (settings.db_pool_max, settings.presign_ttl_seconds, settings.port) == (7, 60, 8123)
    assert settings.s3_endpoint_url == "http://127.0.0.1:9000"
    assert settings.migrate is False


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"SILO_TENANT": None}, "SILO_TENANT"),
        ({"SILO_TENANT": "Not A Slug"}, "SILO_TENANT"),
        ({"S3_BUCKET": None}, "S3_BUCKET"),
        ({"S3_BUCKET": "UPPER_case"}, "S3_BUCKET"),
        ({"AWS_REGION": None}, "AWS_REGION"),
        ({"SILO_ADMIN_KEY": None}, "SILO_ADMIN_KEY"),
        ({"SILO_ADMIN_KEY": "short"}, "SILO_ADMIN_KEY"),
        ({"DATABASE_URL": None}, "DATABASE_HOST"),
        ({"DATABASE_URL": "not a url = = ="}, "DATABASE_URL"),
        ({"SILO_MAX_UPLOAD_BYTES": "lots"}, "SILO_MAX_UPLOAD_BYTES"),
        ({"SILO_MAX_UPLOAD_BYTES": "0"}, "SILO_MAX_UPLOAD_BYTES"),
        ({"SILO_ALLOWED_TYPES": "pdf,exe"}, "SILO_ALLOWED_TYPES"),
        ({"SILO_DB_POOL_MAX": "-1"}, "SILO_DB_POOL_MAX"),
        ({"SILO_PRESIGN_TTL_SECONDS": "9999999"}, "SILO_PRESIGN_TTL_SECONDS"),
        ({"S3_ENDPOINT_URL": "ftp://x"}, "S3_ENDPOINT_URL"),
        ({"SECRETS_ENDPOINT_URL": "ftp://x"}, "SECRETS_ENDPOINT_URL"),
        ({"DATABASE_SECRET_ARN": "my-secret"}, "DATABASE_SECRET_ARN"),
        ({"PORT": "70000"}, "PORT"),
        ({"SILO_MIGRATE": "maybe"}, "SILO_MIGRATE"),
        ({"SILO_SHUTDOWN_TIMEOUT_SECONDS": "0"}, "SILO_SHUTDOWN_TIMEOUT_SECONDS"),
        ({"SILO_MAX_CONNECTIONS": "0"}, "SILO_MAX_CONNECTIONS"),
        ({"SILO_MAX_HEADER_BYTES": "100"}, "SILO_MAX_HEADER_BYTES"),
        ({"SILO_MAX_HEADERS": "many"}, "SILO_MAX_HEADERS"),
        ({"SILO_HEADER_TIMEOUT_SECONDS": "0"}, "SILO_HEADER_TIMEOUT_SECONDS"),
        ({"SILO_DB_CONNECT_TIMEOUT_SECONDS": "1"}, "SILO_DB_CONNECT_TIMEOUT_SECONDS"),
        ({"SILO_DB_STATEMENT_TIMEOUT_MS": "5"}, "SILO_DB_STATEMENT_TIMEOUT_MS"),
        ({"SILO_S3_MAX_ATTEMPTS": "0"}, "SILO_S3_MAX_ATTEMPTS"),
        ({"SILO_MULTIPART_MAX_AGE_SECONDS": "0"}, "SILO_MULTIPART_MAX_AGE_SECONDS"),
        ({"SILO_KEY_CACHE_SECONDS": "-1"}, "SILO_KEY_CACHE_SECONDS"),
        ({"SILO_KEY_CACHE_SECONDS": "301"}, "SILO_KEY_CACHE_SECONDS"),
        ({"SILO_KEY_CACHE_BYTES": "-1"}, "SILO_KEY_CACHE_BYTES"),
        ({"SILO_RENDERINGS_CACHE_BYTES": "16MiB"}, "SILO_RENDERINGS_CACHE_BYTES"),
        ({"SILO_RENDERINGS_CACHE_BYTES": str(2 * 1024**3)}, "SILO_RENDERINGS_CACHE_BYTES"),
        ({"SILO_SCAN": None}, "SILO_SCAN"),
        ({"SILO_SCAN": ""}, "SILO_SCAN"),
        ({"SILO_SCAN": "maybe"}, "SILO_SCAN"),
        ({"SILO_SCAN": "clamav"}, "SILO_CLAMD_ADDRESS"),
        ({"SILO_SCAN": "clamav", "SILO_CLAMD_ADDRESS": "clamd:3310"}, "SILO_CLAMD_ADDRESS"),
        ({"SILO_SCAN": "clamav", "SILO_CLAMD_ADDRESS": "unix://rel.sock"}, "SILO_CLAMD_ADDRESS"),
        ({"SILO_SCAN_INFECTED": "keep"}, "SILO_SCAN_INFECTED"),
    ],
)
def test_a_bad_variable_is_named_in_one_line(change, variable):
    env = dict(BASE)
    for name, value in change.items():
        if value is None:
            env.pop(name)
        else:
            env[name] = value
    with pytest.raises(SettingsError) as caught:
        from_environ(env)
    message = str(caught.value)
    assert variable in message
    assert "\n" not in message


def test_database_url_errors_do_not_echo_the_password():
    with pytest.raises(SettingsError) as caught:
        from_environ(BASE | {"DATABASE_URL": "host=x password=hunter2 bogus"})
    assert "hunter2" not in str(caught.value)


def test_repr_hides_secrets():
    settings = from_environ(BASE)
    assert "xxxxxxxx" not in repr(settings)
    assert "p@db" not in repr(settings)


def test_resumable_upload_and_cors_settings():
    settings = from_environ(BASE)
    assert settings.upload_expiry_hours == 24
    assert settings.cors_origins == ()
    settings = from_environ(
        BASE
        | {
            "SILO_UPLOAD_EXPIRY_HOURS": "6",
            "SILO_CORS_ORIGINS": "https://app.example.com, http://localhost:3000/",
        }
    )
    assert settings.upload_expiry_hours == 6
    assert settings.cors_origins == ("https://app.example.com", "http://localhost:3000")
    for name, value in (
        ("SILO_UPLOAD_EXPIRY_HOURS", "0"),
        ("SILO_CORS_ORIGINS", "app.example.com"),
    ):
        with pytest.raises(SettingsError, match=name):
            from_environ(BASE | {name: value})


def test_scan_settings():
    off = from_environ(BASE)
    assert (off.scan, off.clamd_address, off.scan_infected) == ("off", None, "quarantine")
    clamav = from_environ(
        BASE
        | {
            "SILO_SCAN": "clamav",
            "SILO_CLAMD_ADDRESS": "unix:///run/clamd.sock",
            "SILO_SCAN_INFECTED": "delete",
        }
    )
    assert (clamav.scan, clamav.clamd_address) == ("clamav", "unix:///run/clamd.sock")
    assert clamav.scan_infected == "delete"
    assert from_environ(BASE | {"SILO_SCAN": "guardduty"}).scan == "guardduty"


def test_storage_checksums_are_trusted_on_aws_only_unless_told():
    """AWS S3 (no S3_ENDPOINT_URL) verifies a PUT's x-amz-checksum-sha256; a custom endpoint
    (moto, MinIO) is not assumed to: direct uploads are then read back."""
    assert from_environ(BASE).s3_verifies_checksums is True
    local = {**BASE, "S3_ENDPOINT_URL": "http://127.0.0.1:9000"}
    assert from_environ(local).s3_verifies_checksums is False
    told = {**local, "SILO_S3_VERIFIES_CHECKSUMS": "1"}
    assert from_environ(told).s3_verifies_checksums is True
    with pytest.raises(SettingsError, match="SILO_S3_VERIFIES_CHECKSUMS"):
        from_environ({**BASE, "SILO_S3_VERIFIES_CHECKSUMS": "maybe"})
