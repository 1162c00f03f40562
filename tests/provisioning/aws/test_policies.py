"""IAM documents: the task role allows every S3 call the service's storage makes, on its own
bucket only; the execution role reaches ECR only for images in ECR."""

import re
from pathlib import Path

import pytest

from provisioning.aws import policies
from provisioning.aws.policies import task_policy

STORAGE = Path(__file__).resolve().parents[3] / "service" / "storage.py"

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
