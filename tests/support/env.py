"""The environment a test service runs with: in-process (`service_env`, read by `from_environ`)
or as `python -m service` (`process_env`, the same plus credentials and the rest of os.environ)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.infra import S3Endpoint

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "test-admin-key-0123456789abcdef"
# Small enough that the size-limit tests stay quick, big enough for a multi-part (8 MiB) upload.
TEST_MAX_UPLOAD_BYTES = 24 * 1024 * 1024


def service_env(database_url: str, s3: S3Endpoint, bucket: str, **extra: str) -> dict[str, str]:
    """The service's own variables for one database and bucket; `extra` adds or overrides."""
    return {
        "SILO_TENANT": "test-tenant",
        "DATABASE_URL": database_url,
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": s3.endpoint_url,
        "AWS_REGION": s3.region,
        "SILO_ADMIN_KEY": ADMIN_KEY,
        "SILO_MAX_UPLOAD_BYTES": str(TEST_MAX_UPLOAD_BYTES),
        # Required by the service; the scanning tests pass `clamav` or `guardduty`.
        "SILO_SCAN": "off",
        **extra,
    }


def process_env(database_url: str, s3: S3Endpoint, bucket: str, **extra: str) -> dict[str, str]:
    """`service_env` for a child process: this process's environment without any of the
    service's variables it may carry, the S3 credentials, and a loopback HOST."""
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith(("SILO_", "DATABASE_", "S3_"))
    }
    return {
        **inherited,
        **service_env(database_url, s3, bucket),
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "HOST": "127.0.0.1",
        **extra,
    }
