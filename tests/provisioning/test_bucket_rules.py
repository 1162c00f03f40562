"""Local buckets (`silo dev`, Compose) get the versioning and lifecycle rules the catalogue gives
cloud buckets, all derived from provisioning/bucket_rules.py."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
import yaml

import tenants
from provisioning import bucket_rules, render
from provisioning.local.backends import Backends, empty_and_delete_bucket

ROOT = Path(__file__).resolve().parents[2]


def test_the_s3_form_says_what_the_pulumi_form_says():
    assert bucket_rules.s3_lifecycle_rules(True) == [
        {
            "ID": "abort-incomplete-multipart-uploads",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        },
        {
            "ID": "expire-abandoned-direct-uploads",
            "Status": "Enabled",
            "Filter": {"Prefix": "staging/"},
            "Expiration": {"Days": 2},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        },
        {
            "ID": "expire-quarantine",
            "Status": "Enabled",
            "Filter": {"Prefix": "quarantine/"},
            "Expiration": {"Days": 90},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        },
        {
            "ID": "expire-noncurrent-versions",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
        },
        {
            "ID": "remove-expired-delete-markers",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "Expiration": {"ExpiredObjectDeleteMarker": True},
        },
    ]
    # Quarantined bytes expire with or without versioning.
    assert [r["ID"] for r in bucket_rules.s3_lifecycle_rules(False)] == [
        "abort-incomplete-multipart-uploads",
        "expire-abandoned-direct-uploads",
        "expire-quarantine",
    ]
    assert bucket_rules.versioning_status(True) == "Enabled"
    assert bucket_rules.versioning_status(False) == "Suspended"


def test_minio_gets_the_rules_it_supports():
    rules = json.loads(bucket_rules.minio_lifecycle_json(True))["Rules"]
    assert [r["ID"] for r in rules] == [
        "expire-abandoned-direct-uploads",
        "expire-quarantine",
        "expire-noncurrent-versions",
        "remove-expired-delete-markers",
    ]
    rules = json.loads(bucket_rules.minio_lifecycle_json(False))["Rules"]
    assert [r["ID"] for r in rules] == ["expire-abandoned-direct-uploads", "expire-quarantine"]


def test_cors_allows_every_header_a_direct_put_is_given():
    import asyncio

    import boto3

    from service.storage import S3Storage

    client = boto3.client(
        "s3", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    storage = S3Storage(bucket="b", region="eu-west-1", endpoint_url=None, client=client)
    _, headers = asyncio.run(
        storage.presigned_put("staging/x", size=1, sha256="0" * 64, ttl_seconds=60)
    )
    # Browsers set Content-Length themselves (a forbidden header for scripts).
    assert {h.lower() for h in headers} - {"content-length"} <= set(bucket_rules.DIRECT_PUT_HEADERS)


def test_the_staging_rule_covers_the_services_staging_prefix():
    from datetime import timedelta

    from service.uploads import direct

    assert bucket_rules.STAGING_PREFIX == direct.STAGING_PREFIX
    # Longer than a direct upload may wait for its `complete` (the sweeper's job until then).
    assert timedelta(days=bucket_rules.STAGING_EXPIRE_DAYS) > direct.MAX_EXPIRY


@pytest.mark.parametrize("versioning", [True, False])
def test_silo_dev_buckets_get_the_catalogues_settings(pg, s3, versioning):
    backends = Backends(
        database_host="127.0.0.1",
        database_port=5432,
        database_user="postgres",
        database_password="",
        admin_conninfo=psycopg.conninfo.conninfo_to_dict(pg.admin_url),
        s3_endpoint_url=s3.endpoint_url,
        aws_credentials={
            "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        },
        region=s3.region,
    )
    database = f"rules_{'v' if versioning else 'u'}_{id(backends) % 100000}"
    bucket = f"silo-rules-{'v' if versioning else 'u'}-{id(backends) % 100000}"
    backends.create_tenant_storage(database, bucket, versioning=versioning)
    client = s3.client()
    try:
        status = client.get_bucket_versioning(Bucket=bucket).get("Status")
        assert status == bucket_rules.versioning_status(versioning)
        rules = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        expected = bucket_rules.s3_lifecycle_rules(versioning)
        assert sorted(r["ID"] for r in rules) == sorted(r["ID"] for r in expected)
        by_id = {r["ID"]: r for r in rules}
        abort = by_id["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"]
        assert abort == {"DaysAfterInitiation": 1}
        if versioning:
            kept = by_id["expire-noncurrent-versions"]["NoncurrentVersionExpiration"]
            assert kept["NoncurrentDays"] == 30
    finally:
        empty_and_delete_bucket(client, bucket)
        pg.drop_database(pg.url_for(database))


def test_the_compose_buckets_job_applies_the_catalogues_settings():
    catalogue = tenants.load_catalogue(ROOT / "tenants.yaml")
    compose = yaml.safe_load(render.render_compose(catalogue, "tenants.yaml"))
    job = " ".join(compose["services"]["buckets"]["command"])
    contexts = render.compose_context(catalogue, "tenants.yaml")["tenants"]
    for tenant, context in zip(catalogue.tenants, contexts, strict=True):
        bucket = context["bucket"]
        assert f"mc mb --ignore-existing silo/{bucket};" in job
        enable = f"mc version enable silo/{bucket};"
        assert (enable in job) == tenant.bucket.versioning
        rules = bucket_rules.minio_lifecycle_json(tenant.bucket.versioning)
        if rules:
            assert f"echo '{rules}' | mc ilm rule import silo/{bucket};" in job
