"""The task role must allow every S3 call the service's storage makes, on its own bucket only."""

import re
from pathlib import Path

from provisioning.policies import task_policy

STORAGE = Path(__file__).resolve().parents[2] / "service" / "storage.py"

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
    "head_bucket": {"s3:ListBucket"},
    "list_multipart_uploads": {"s3:ListBucketMultipartUploads"},
}


# client methods that are not S3 API operations themselves
NOT_OPERATIONS = {"close", "generate_presigned_url", "get_paginator"}


def storage_operations() -> set[str]:
    """Every S3 operation service/storage.py performs: direct calls, paginators, presigned."""
    source = STORAGE.read_text()
    called = set(re.findall(r"client\.([a-z_]+)\b", source)) - NOT_OPERATIONS
    indirect = re.findall(r"(?:generate_presigned_url|get_paginator)\(\s*\"([a-z_]+)\"", source)
    return called | set(indirect)


def allowed_actions() -> set[str]:
    policy = task_policy(partition="aws", bucket="silo-prod-pack-0123abcd")
    return {action for st in policy["Statement"] for action in st["Action"]}


def test_storage_calls_are_all_known():
    ops = storage_operations()
    assert {"put_object", "upload_part", "get_object", "list_multipart_uploads"} <= ops
    assert ops <= set(IAM_FOR_OPERATION), f"map the IAM actions of {ops - set(IAM_FOR_OPERATION)}"


def test_task_policy_allows_every_storage_call():
    needed = set().union(*(IAM_FOR_OPERATION[op] for op in storage_operations()))
    assert needed <= allowed_actions(), f"task policy lacks {needed - allowed_actions()}"
