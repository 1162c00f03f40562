"""The tenant's bucket: private, encrypted, TLS only, versioning and lifecycle from the
catalogue (`bucket_rules`), and CORS for its own front-ends when it names any."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi_aws as aws

from provisioning import bucket_rules
from provisioning.aws import policies
from provisioning.aws.tenant.inputs import Context


def bucket(ctx: Context) -> aws.s3.Bucket:
    name, tenant = ctx.name, ctx.tenant
    bucket = aws.s3.Bucket(
        f"{name}-bucket", bucket=ctx.names.bucket, tags=ctx.tags, opts=ctx.keep()
    )
    aws.s3.BucketPublicAccessBlock(
        f"{name}-bucket-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=ctx.keep_settings(),
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-bucket-encryption",
        bucket=bucket.id,
        rules=[
            # No bucket key: it saves KMS requests for SSE-KMS and does nothing for AES256.
            {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}
        ],
        opts=ctx.keep_settings(),
    )
    args = ctx.args
    # With GuardDuty, only its plan's role may write the verdict tag (tenant/scanning.py).
    scan_role_arn = (
        f"arn:{args.partition}:iam::{args.account_id}:role/{ctx.names.scan_role}"
        if tenant.limits.scan == "guardduty"
        else None
    )
    document = policies.bucket_policy(
        partition=args.partition, bucket=ctx.names.bucket, scan_role_arn=scan_role_arn
    )
    aws.s3.BucketPolicy(
        f"{name}-bucket-policy",
        bucket=bucket.id,
        policy=json.dumps(document),
        opts=ctx.keep_settings(),
    )
    aws.s3.BucketVersioning(
        f"{name}-bucket-versioning",
        bucket=bucket.id,
        versioning_configuration={
            "status": bucket_rules.versioning_status(tenant.bucket.versioning)
        },
        opts=ctx.keep_settings(),
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-bucket-lifecycle",
        bucket=bucket.id,
        # The same rules as local buckets get (silo dev, compose).
        rules=bucket_rules.lifecycle_rules(
            tenant.bucket.versioning, quarantine_days=tenant.limits.quarantine_days
        ),
        opts=ctx.keep_settings(),
    )
    if tenant.bucket.cors_origins:
        # Not retained: emptying `cors_origins` must remove the bucket's CORS, and an
        # offboarded tenant's front-ends need none.
        aws.s3.BucketCorsConfiguration(
            f"{name}-bucket-cors",
            bucket=bucket.id,
            cors_rules=cors_rules(tenant.bucket.cors_origins),
            opts=ctx.child(),
        )
    return bucket


def cors_rules(origins: Sequence[str]) -> list[dict]:
    """Browsers of the tenant's own front-ends fetch presigned downloads (video seeking sends
    Range), and PUT direct uploads to their presigned URLs with the headers the service tells
    them to send (service/storage.py). No POST: other uploads go through the API."""
    return [
        {
            "allowed_methods": ["GET", "HEAD"],
            "allowed_origins": list(origins),
            "allowed_headers": ["Range"],
            "expose_headers": ["Accept-Ranges", "Content-Length", "Content-Range", "ETag"],
            "max_age_seconds": 3600,
        },
        {
            "allowed_methods": ["PUT"],
            "allowed_origins": list(origins),
            "allowed_headers": list(bucket_rules.DIRECT_PUT_HEADERS),
            "expose_headers": ["ETag"],
            "max_age_seconds": 3600,
        },
    ]
