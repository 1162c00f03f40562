"""A tenant bucket's versioning and lifecycle settings, derived once from the catalogue.

Pure functions (no cloud SDK, no I/O but `configure_bucket`), so that the cloud bucket
(Pulumi, `provisioning/aws/tenant/storage.py`), `silo dev`'s local buckets and the Compose
`buckets` job cannot drift apart.
"""

from __future__ import annotations

import json
from typing import Any

# Stale multipart uploads (a client that vanished mid-upload) cost storage until aborted.
ABORT_MULTIPART_AFTER_DAYS = 1
# With versioning, a deleted or overwritten file stays recoverable this long.
NONCURRENT_VERSION_DAYS = 30

# Direct uploads PUT to `staging/<id>` (service/uploads/direct.py's STAGING_PREFIX; a test holds the
# two equal, the service imports nothing from here). The service's sweeper deletes what an
# expired upload left there (SILO_UPLOAD_EXPIRY_HOURS, 24 h); this rule removes anything older
# that no row points to any more (a PUT after the expiry, an instance killed mid-complete).
STAGING_PREFIX = "staging/"
STAGING_EXPIRE_DAYS = 2
# With versioning, a deleted staging object's bytes are a noncurrent version: not kept 30 days.
STAGING_NONCURRENT_DAYS = 1

# The headers a browser sends with a direct upload's PUT (the ones the service's presigned_put
# hands out, `Content-Length` aside, which browsers set themselves; and `Content-Type`, which
# they add to a Blob body): what the bucket's CORS lets the tenant's origins send.
DIRECT_PUT_HEADERS = ("content-type", "x-amz-checksum-sha256", "x-amz-sdk-checksum-algorithm")

# Infected bytes the scan moved to quarantine/ (service/scanning/worker.py; the prefix is
# provisioning.aws.policies.QUARANTINE_PREFIX) are evidence: kept this long by default (the
# catalogue's `limits.quarantine_days`), then expired, their noncurrent versions a day later.
QUARANTINE_PREFIX = "quarantine/"
QUARANTINE_DAYS = 90
QUARANTINE_NONCURRENT_DAYS = 1

ABORT_RULE_ID = "abort-incomplete-multipart-uploads"
QUARANTINE_RULE_ID = "expire-quarantine"
DELETE_MARKER_RULE_ID = "remove-expired-delete-markers"
NONCURRENT_RULE_ID = "expire-noncurrent-versions"
STAGING_RULE_ID = "expire-abandoned-direct-uploads"


def versioning_status(versioning: bool) -> str:
    return "Enabled" if versioning else "Suspended"


def lifecycle_rules(
    versioning: bool, quarantine_days: int = QUARANTINE_DAYS
) -> list[dict[str, Any]]:
    """The lifecycle rules, in the Pulumi (aws.s3.BucketLifecycleConfiguration) form."""
    rules: list[dict[str, Any]] = [
        {
            "id": ABORT_RULE_ID,
            "status": "Enabled",
            "filter": {"prefix": ""},
            "abort_incomplete_multipart_upload": {
                "days_after_initiation": ABORT_MULTIPART_AFTER_DAYS
            },
        }
    ]
    rules.append(
        {
            "id": STAGING_RULE_ID,
            "status": "Enabled",
            "filter": {"prefix": STAGING_PREFIX},
            "expiration": {"days": STAGING_EXPIRE_DAYS},
            "noncurrent_version_expiration": {"noncurrent_days": STAGING_NONCURRENT_DAYS},
        }
    )
    rules.append(
        {
            "id": QUARANTINE_RULE_ID,
            "status": "Enabled",
            "filter": {"prefix": QUARANTINE_PREFIX},
            "expiration": {"days": quarantine_days},
            "noncurrent_version_expiration": {"noncurrent_days": QUARANTINE_NONCURRENT_DAYS},
        }
    )
    if versioning:
        rules.append(
            {
                "id": NONCURRENT_RULE_ID,
                "status": "Enabled",
                "filter": {"prefix": ""},
                "noncurrent_version_expiration": {"noncurrent_days": NONCURRENT_VERSION_DAYS},
            }
        )
        # Once a deleted file's noncurrent versions expire, its delete marker is all that is
        # left: an expired object delete marker, which still costs a LIST. S3 refuses this
        # in a rule that also expires by days, hence a rule of its own.
        rules.append(
            {
                "id": DELETE_MARKER_RULE_ID,
                "status": "Enabled",
                "filter": {"prefix": ""},
                "expiration": {"expired_object_delete_marker": True},
            }
        )
    return rules


def _s3_key(name: str) -> str:
    return "ID" if name == "id" else "".join(part.title() for part in name.split("_"))


def _to_s3(value: Any) -> Any:
    if isinstance(value, dict):
        return {_s3_key(key): _to_s3(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_s3(item) for item in value]
    return value


def s3_lifecycle_rules(versioning: bool) -> list[dict[str, Any]]:
    """The same rules in the S3 API form (PutBucketLifecycleConfiguration, `mc ilm`)."""
    return _to_s3(lifecycle_rules(versioning))


def minio_lifecycle_json(versioning: bool) -> str | None:
    """The rules MinIO accepts, as `mc ilm rule import` reads them; None when there are none.

    MinIO refuses (older releases) or drops (newer ones) AbortIncompleteMultipartUpload: it
    aborts stale multipart uploads itself (after 24 h by default, like the rule's one day), and
    the service's own sweeper does too.
    """
    rules = [rule for rule in s3_lifecycle_rules(versioning) if rule["ID"] != ABORT_RULE_ID]
    return json.dumps({"Rules": rules}, separators=(",", ":")) if rules else None


def configure_bucket(client: Any, bucket: str, *, versioning: bool) -> None:
    """Give `bucket` (a boto3 S3 client's) the catalogue's versioning and lifecycle rules."""
    client.put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": versioning_status(versioning)}
    )
    client.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": s3_lifecycle_rules(versioning)}
    )
