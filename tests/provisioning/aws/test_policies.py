"""IAM documents: the task role allows every S3 call the service makes (its storage, tus
uploads, direct uploads), on its own bucket only, and every Secrets Manager call its database
credentials make, on its own secret only; the execution role reaches ECR only for images in
ECR."""

import json
import re
from pathlib import Path

import pytest

from provisioning.aws import policies
from provisioning.aws.policies import task_policy

SERVICE = Path(__file__).resolve().parents[3] / "service"
# The modules that call S3 (through the storage's boto3 client).
# Only service/storage/ talks to S3 (tests/service/test_layout.py holds that).
S3_CALLERS = sorted((SERVICE / "storage").glob("*.py"))
CREDENTIALS = SERVICE / "db" / "credentials.py"
DATABASE_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234-AbCdEf"

# Secrets Manager operation -> the IAM actions it needs.
IAM_FOR_SECRETS_OPERATION = {"get_secret_value": {"secretsmanager:GetSecretValue"}}

# boto3 operation -> the IAM actions it needs (PutObject with a Tagging header needs both).
IAM_FOR_OPERATION = {
    "put_object": {"s3:PutObject", "s3:PutObjectTagging"},
    "create_multipart_upload": {"s3:PutObject"},
    "upload_part": {"s3:PutObject"},
    "complete_multipart_upload": {"s3:PutObject"},
    "abort_multipart_upload": {"s3:AbortMultipartUpload"},
    "put_object_tagging": {"s3:PutObjectTagging"},
    "get_object_tagging": {"s3:GetObjectTagging"},
    "delete_object": {"s3:DeleteObject"},
    "get_object": {"s3:GetObject"},  # presigned downloads are signed with the task's role
    # Direct uploads: the presigned PUT to staging/ is signed with the task's role (put_object,
    # above); the staged object is checked with HeadObject (a missing key is 404 rather than 403
    # only with s3:ListBucket) and a ranged GetObject, then moved by boto3's managed copy:
    # HeadObject, CopyObject or UploadPartCopy parts, the tags REPLACEd, an abort on failure.
    # The scan worker moves infected bytes to quarantine/ the same way, with the tags copied
    # (the S3 default, which reads the source's tags).
    "head_object": {"s3:GetObject", "s3:ListBucket"},
    "copy": {
        "s3:GetObject",
        "s3:PutObject",
        "s3:GetObjectTagging",
        "s3:PutObjectTagging",
        "s3:AbortMultipartUpload",
    },
    "list_parts": {"s3:ListMultipartUploadParts"},
    "head_bucket": {"s3:ListBucket"},
    "list_multipart_uploads": {"s3:ListBucketMultipartUploads"},
}


# client methods that are not S3 API operations themselves
NOT_OPERATIONS = {"close", "generate_presigned_url", "get_paginator"}


def storage_operations() -> set[str]:
    """Every S3 operation the service performs: direct calls, paginators, presigned."""
    source = "\n".join(path.read_text() for path in S3_CALLERS)
    called = set(re.findall(r"client\.([a-z_]+)\b", source)) - NOT_OPERATIONS
    indirect = re.findall(r"(?:generate_presigned_url|get_paginator)\(\s*\"([a-z_]+)\"", source)
    return called | set(indirect)


def secrets_operations() -> set[str]:
    """Every Secrets Manager operation service/db/credentials.py performs."""
    return set(re.findall(r"client\.([a-z_]+)\(", CREDENTIALS.read_text()))


def task_document() -> dict:
    return task_policy(
        partition="aws", bucket="silo-prod-pack-0123abcd", database_secret_arn=DATABASE_SECRET
    )


def allow_statements() -> list[dict]:
    return [s for s in task_document()["Statement"] if s["Effect"] == "Allow"]


def allowed(resource_prefix: str) -> set[str]:
    """The actions the task policy allows on resources starting with `resource_prefix`."""
    found = set()
    for statement in allow_statements():
        actions = statement["Action"]
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        if any(r.startswith(resource_prefix) for r in resources):
            found |= {actions} if isinstance(actions, str) else set(actions)
    return found


def allowed_actions() -> set[str]:
    return allowed("arn:aws:s3:::")


def test_storage_calls_are_all_known():
    ops = storage_operations()
    assert {"put_object", "upload_part", "get_object", "list_multipart_uploads"} <= ops
    assert {"head_object", "copy", "list_parts"} <= ops
    assert ops <= set(IAM_FOR_OPERATION), f"map the IAM actions of {ops - set(IAM_FOR_OPERATION)}"


def test_task_policy_allows_every_storage_call():
    needed = set().union(*(IAM_FOR_OPERATION[op] for op in storage_operations()))
    assert needed <= allowed_actions(), f"task policy lacks {needed - allowed_actions()}"


def test_task_policy_allows_exactly_the_database_secret_reads():
    """Least privilege: what service/db/credentials.py calls, on the tenant's own database
    secret only (no kms:Decrypt: the RDS-managed secret uses the AWS managed key)."""
    ops = secrets_operations()
    assert ops == {"get_secret_value"}, f"map the IAM actions of {ops}"
    needed = set().union(*(IAM_FOR_SECRETS_OPERATION[op] for op in ops))
    assert allowed(DATABASE_SECRET) == needed
    secret_statements = [
        st for st in task_document()["Statement"] if "secretsmanager" in json.dumps(st)
    ]
    assert [st["Resource"] for st in secret_statements] == [DATABASE_SECRET]
    assert "kms:" not in json.dumps(task_document())


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


def test_direct_uploads_need_no_more_than_the_bucket_objects():
    """Direct uploads add no action the task role did not have, and nothing outside the
    tenant's bucket: the staging prefix is among its objects. No permission reaches another
    bucket (only the service signs, and it signs PUTs to staging/<id> only)."""
    bucket = "arn:aws:s3:::silo-prod-pack-0123abcd"
    # (The quarantine Deny only takes away: see the quarantine tests below.)
    for statement in allow_statements():
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        if any(r.startswith("arn:aws:s3") for r in resources):
            assert set(resources) <= {bucket, f"{bucket}/*"}
    needed = set().union(*(IAM_FOR_OPERATION[op] for op in storage_operations()))
    # Allowed but not called: s3:GetBucketLocation (clients that discover the bucket's
    # region). s3:GetObjectTagging is called now: GuardDuty's verdict tag, tags copied on a move.
    assert allowed_actions() - needed == {"s3:GetBucketLocation"}


BUCKET = "arn:aws:s3:::silo-prod-pack-0123abcd"


def decision(action: str, resource: str) -> bool:
    """IAM's evaluation of the task policy alone: an explicit Deny wins, then any Allow."""
    import fnmatch

    def matches(statement: dict) -> bool:
        actions = statement["Action"]
        targets = statement["Resource"]
        actions = [actions] if isinstance(actions, str) else actions
        targets = [targets] if isinstance(targets, str) else targets
        return action in actions and any(fnmatch.fnmatchcase(resource, t) for t in targets)

    statements = [s for s in task_document()["Statement"] if matches(s)]
    if any(s["Effect"] == "Deny" for s in statements):
        return False
    return any(s["Effect"] == "Allow" for s in statements)


def test_the_service_can_quarantine_infected_bytes_but_never_read_them_back():
    """The move (copy with tags, delete the original) is allowed; reading the quarantined
    copy is not, so no presigned URL the service signs can serve it; erasing it is not.

    The copy carries the source's tags (sha256, size, GuardDuty's verdict), which S3 allows
    only with s3:PutObjectTagging on the destination: so tagging under quarantine/ is allowed,
    and it cannot erase anything because no lifecycle rule selects by tag."""
    from provisioning import bucket_rules

    quarantined = f"{BUCKET}/{policies.QUARANTINE_PREFIX}files/0b9e"
    for action in IAM_FOR_OPERATION["copy"]:
        assert decision(action, f"{BUCKET}/files/0b9e"), action
    assert decision("s3:PutObject", quarantined)
    assert decision("s3:PutObjectTagging", quarantined)
    assert decision("s3:DeleteObject", f"{BUCKET}/files/0b9e")
    assert not decision("s3:GetObject", quarantined)
    assert not decision("s3:GetObjectVersion", quarantined)
    for action in ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteObjectTagging"):
        assert not decision(action, quarantined), action
    for versioning in (True, False):
        for rule in bucket_rules.lifecycle_rules(versioning):
            assert set(rule["filter"]) == {"prefix"}, rule["id"]
    # With versioning, the delete leaves the infected bytes as a noncurrent version of the
    # original key (until the lifecycle expires it): the service reads no version by id.
    assert not decision("s3:GetObjectVersion", f"{BUCKET}/files/0b9e")
    # Everything else in the bucket stays readable.
    assert decision("s3:GetObject", f"{BUCKET}/files/0b9e")
    assert decision("s3:GetObject", f"{BUCKET}/staging/0b9e")


def test_scan_verdicts_are_read_from_the_tenants_own_objects_only():
    """The GuardDuty engine reads the GuardDutyMalwareScanStatus tag: its own bucket only."""
    assert decision("s3:GetObjectTagging", f"{BUCKET}/files/0b9e")
    assert not decision("s3:GetObjectTagging", "arn:aws:s3:::silo-prod-other-0123abcd/files/0b9e")
    tagging = [
        s
        for s in task_document()["Statement"]
        if "s3:GetObjectTagging" in s["Action"] and s["Effect"] == "Allow"
    ]
    assert [s["Resource"] for s in tagging] == [f"{BUCKET}/*"]


def test_the_service_stores_files_where_guardduty_scans_and_quarantines_where_denied():
    """The plan scans `SCANNED_PREFIXES`: a file stored elsewhere would never get a verdict.
    The Deny covers the prefix the scan worker moves infected bytes to."""
    import uuid

    from service.scanning.worker import quarantine_key
    from service.uploads.direct import staging_key
    from service.uploads.rules import object_key_for

    key = object_key_for(uuid.uuid4())
    assert key.startswith(policies.SCANNED_PREFIXES)
    assert not key.startswith(policies.QUARANTINE_PREFIX)
    # A direct upload's staged object is copied to such a key when it completes: scanned there.
    assert not staging_key(uuid.uuid4()).startswith(policies.SCANNED_PREFIXES)
    assert quarantine_key(key).startswith(policies.QUARANTINE_PREFIX)
    assert not decision("s3:GetObject", f"{BUCKET}/{quarantine_key(key)}")
