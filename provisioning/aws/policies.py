"""IAM policy documents for one tenant, as pure functions of plain ARNs and names.

Every statement names the tenant's own resources: its bucket, its secrets, its log group. The
only "*" is ecr:GetAuthorizationToken, which AWS grants on no narrower resource and which
reaches no tenant's data. (The malware scan role's EventBridge statements name the rules
GuardDuty manages, by the prefix AWS gives them.)
"""

from __future__ import annotations

import re
from typing import Any

from provisioning.aws.scanner import SIGNATURES_PREFIX

Document = dict[str, Any]

# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>[:tag|@digest]
_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9._/-]+?)(?:[:@].*)?$"
)


def assume_role_policy(*, partition: str, region: str, account_id: str) -> Document:
    """Trust ECS tasks of this account and region only (confused-deputy guard)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:ecs:{region}:{account_id}:*"},
                },
            }
        ],
    }


def ecr_repository_arn(image: str, *, partition: str) -> str | None:
    """The ECR repository an image URI points to, or None for images elsewhere."""
    match = _ECR_IMAGE.match(image)
    if not match:
        return None
    return (
        f"arn:{partition}:ecr:{match['region']}:{match['account']}:repository/{match['repository']}"
    )


def log_group_arn(*, partition: str, region: str, account_id: str, log_group: str) -> str:
    return f"arn:{partition}:logs:{region}:{account_id}:log-group:{log_group}"


def execution_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    log_group: str,
    secret_arns: list[str],
    image: str,
) -> Document:
    """What ECS needs to start the tenant's task: pull the image, write its log group, read
    the secrets it injects (the admin key; the database secret is read by the service itself,
    with the task role: `task_policy`)."""
    group = log_group_arn(
        partition=partition, region=region, account_id=account_id, log_group=log_group
    )
    statements: list[dict[str, Any]] = [
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{group}:log-stream:*",
        },
        {
            "Sid": "ReadOwnSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": sorted(secret_arns),
        },
    ]
    repository = ecr_repository_arn(image, partition=partition)
    if repository:
        statements += [
            {
                "Sid": "EcrLogin",
                "Effect": "Allow",
                "Action": "ecr:GetAuthorizationToken",
                "Resource": "*",
            },
            {
                "Sid": "PullImage",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                "Resource": repository,
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}


def bucket_arn(bucket: str, *, partition: str) -> str:
    return f"arn:{partition}:s3:::{bucket}"


# Where the service moves infected bytes (quarantine/<key>): written by the task, never read
# back by it (task_policy denies it), kept for whoever investigates with other credentials.
QUARANTINE_PREFIX = "quarantine/"
# What GuardDuty scans in a tenant's bucket: stored files (service/uploads/form.py's object keys),
# the objects whose verdict tag the service reads. Not staging/: a direct upload is copied from
# there to files/ when it completes (service/uploads/direct.py) and scanned there, so scanning it
# twice would bill it twice. Not quarantine/ (infected bytes, already judged), nor GuardDuty's own
# validation object at the top of the bucket.
SCANNED_PREFIXES = ("files/",)
# The service principal of GuardDuty Malware Protection for S3 (not the EC2/EBS one,
# malware-protection.guardduty.amazonaws.com).
MALWARE_PROTECTION_PRINCIPAL = "malware-protection-plan.guardduty.amazonaws.com"
# GuardDuty creates one EventBridge managed rule per protected bucket, named with this prefix.
GUARDDUTY_RULE_PREFIX = "DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3"


def task_policy(
    *,
    partition: str,
    bucket: str,
    database_secret_arn: str,
    signatures_bucket: str | None = None,
) -> Document:
    """What the tenant's service may do: its own bucket's objects (streamed multipart uploads,
    presigned downloads, deletes; direct uploads: presigned PUTs to `staging/`, which carry this
    role's PutObject, then HeadObject, a ranged GetObject and a server-side copy to the file's
    key), and read its database's RDS-managed secret (the current
    user and password at connect time, so a rotated password needs no restart), nothing more.

    No kms:Decrypt: the RDS-managed secret is encrypted with the AWS managed key
    `aws/secretsmanager` (no `master_user_secret_kms_key_id` is set), whose key policy lets
    principals of the account use it through Secrets Manager. A customer managed key would
    need kms:Decrypt on that key here, conditioned on kms:ViaService.

    With `signatures_bucket` (the tenant scans with clamav): its task's signature sync may read
    the platform's signatures there, and nothing else of that bucket."""
    arn = bucket_arn(bucket, partition=partition)
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadDatabaseSecret",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": database_secret_arn,
            },
            {
                "Sid": "OwnBucket",
                "Effect": "Allow",
                # ListBucket also makes HeadObject of a missing key a 404 (else 403): how a
                # direct upload's `complete` tells "not uploaded yet".
                "Action": [
                    "s3:ListBucket",
                    "s3:ListBucketMultipartUploads",
                    "s3:GetBucketLocation",
                ],
                "Resource": arn,
            },
            {
                "Sid": "OwnObjects",
                "Effect": "Allow",
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    # sha256/size tags go with the request that creates an object (PutObject's
                    # Tagging header, CopyObject's), which S3 authorizes as PutObjectTagging; an
                    # existing object is never tagged: see service/storage/s3.py.
                    "s3:PutObjectTagging",
                    "s3:GetObjectTagging",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": f"{arn}/*",
            },
            {
                # An explicit Deny wins over the Allow above: the service can move infected
                # bytes into quarantine (PutObject there) but never read them back, so no
                # presigned URL it signs can hand them out.
                "Sid": "DenyReadingQuarantine",
                "Effect": "Deny",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"{arn}/{QUARANTINE_PREFIX}*",
            },
            {
                # Quarantined bytes are evidence: the service puts them there and never
                # removes them; the bucket's lifecycle expires them (`quarantine_days`).
                # s3:PutObjectTagging stays allowed: the move's CopyObject carries the
                # source's tags, and S3 authorizes that as PutObjectTagging on the copy (AWS
                # knowledge center, "troubleshoot copy between buckets"). No lifecycle rule
                # reads tags (provisioning/bucket_rules.py: prefixes only), so a tag write
                # cannot shorten the keeping; GuardDuty's verdict key is the plan's alone
                # (bucket_policy).
                "Sid": "DenyErasingQuarantine",
                "Effect": "Deny",
                "Action": [
                    "s3:DeleteObject",
                    "s3:DeleteObjectVersion",
                    "s3:DeleteObjectTagging",
                ],
                "Resource": f"{arn}/{QUARANTINE_PREFIX}*",
            },
        ],
    }
    if signatures_bucket:
        document["Statement"] += signatures_read_statements(
            partition=partition, bucket=signatures_bucket
        )
    return document


def signatures_read_statements(*, partition: str, bucket: str) -> list[dict[str, Any]]:
    """Read the platform's ClamAV signatures (`aws s3 sync` lists, then gets), nothing else."""
    arn = bucket_arn(bucket, partition=partition)
    return [
        {
            "Sid": "ListSignatures",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{SIGNATURES_PREFIX}*"]}},
        },
        {
            "Sid": "ReadSignatures",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"{arn}/{SIGNATURES_PREFIX}*",
        },
    ]


def updater_task_policy(*, partition: str, bucket: str, namespace: str) -> Document:
    """The signature updater: the only writer of the signature bucket; its one metric."""
    arn = bucket_arn(bucket, partition=partition)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListSignatures",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": arn,
            },
            {
                "Sid": "WriteSignatures",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": f"{arn}/{SIGNATURES_PREFIX}*",
            },
            {
                # PutMetricData names no resource; the namespace condition is its scope.
                "Sid": "PublishVersion",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": namespace}},
            },
        ],
    }


def scheduler_trust_policy(*, account_id: str) -> Document:
    """EventBridge Scheduler of this account may assume the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "scheduler.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }


def scheduler_policy(*, task_family_arn: str, cluster_arn: str, role_arns: list[str]) -> Document:
    """Run the updater's task (any revision of its family) on the platform's cluster, passing
    it its two roles."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "RunUpdater",
                "Effect": "Allow",
                "Action": "ecs:RunTask",
                "Resource": f"{task_family_arn}:*",
                "Condition": {"ArnEquals": {"ecs:cluster": cluster_arn}},
            },
            {
                "Sid": "PassUpdaterRoles",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": sorted(role_arns),
                "Condition": {"StringLike": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            },
        ],
    }


def malware_protection_trust_policy(*, partition: str, region: str, account_id: str) -> Document:
    """GuardDuty Malware Protection for S3 may assume the role, for plans of this account and
    region only (confused-deputy guard)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": MALWARE_PROTECTION_PRINCIPAL},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {
                        "aws:SourceArn": (
                            f"arn:{partition}:guardduty:{region}:{account_id}"
                            ":malware-protection-plan/*"
                        )
                    },
                },
            }
        ],
    }


def malware_protection_policy(
    *, partition: str, region: str, account_id: str, bucket: str
) -> Document:
    """What AWS documents for a Malware Protection plan's role ("Create or update IAM role
    policy", GuardDuty user guide), on this one bucket: manage its EventBridge managed rule,
    turn on the bucket's EventBridge notifications, write the validation object, read and tag
    the objects it scans. No KMS statement: tenant buckets use SSE-S3 (AES256), which needs
    none; an SSE-KMS bucket would need kms:GenerateDataKey and kms:Decrypt on its key."""
    arn = bucket_arn(bucket, partition=partition)
    rules = f"arn:{partition}:events:{region}:{account_id}:rule/{GUARDDUTY_RULE_PREFIX}*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowManagedRuleToSendS3EventsToGuardDuty",
                "Effect": "Allow",
                "Action": [
                    "events:PutRule",
                    "events:DeleteRule",
                    "events:PutTargets",
                    "events:RemoveTargets",
                ],
                "Resource": rules,
                "Condition": {"StringLike": {"events:ManagedBy": MALWARE_PROTECTION_PRINCIPAL}},
            },
            {
                "Sid": "AllowGuardDutyToMonitorEventBridgeManagedRule",
                "Effect": "Allow",
                "Action": ["events:DescribeRule", "events:ListTargetsByRule"],
                "Resource": rules,
            },
            {
                "Sid": "AllowPostScanTag",
                "Effect": "Allow",
                "Action": [
                    "s3:PutObjectTagging",
                    "s3:GetObjectTagging",
                    "s3:PutObjectVersionTagging",
                    "s3:GetObjectVersionTagging",
                ],
                "Resource": f"{arn}/*",
            },
            {
                "Sid": "AllowEnableS3EventBridgeEvents",
                "Effect": "Allow",
                "Action": ["s3:PutBucketNotification", "s3:GetBucketNotification"],
                "Resource": arn,
            },
            {
                "Sid": "AllowPutValidationObject",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"{arn}/malware-protection-resource-validation-object",
            },
            {
                "Sid": "AllowCheckBucketOwnership",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": arn,
            },
            {
                "Sid": "AllowMalwareScan",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"{arn}/*",
            },
        ],
    }


# The object tag GuardDuty Malware Protection for S3 writes its verdict in.
SCAN_STATUS_TAG = "GuardDutyMalwareScanStatus"


def bucket_policy(*, partition: str, bucket: str, scan_role_arn: str | None = None) -> Document:
    """Refuse every request to the bucket that does not come over TLS (a Deny, so it binds
    every principal, the tenant's own task role included).

    With `scan_role_arn` (the tenant scans with GuardDuty), the tag-based access control AWS
    documents for Malware Protection for S3: no principal but the plan's role may write the
    `GuardDutyMalwareScanStatus` tag, by PutObjectTagging or with the object (PutObject's
    tagging header, which would let a client or a compromised task upload bytes already
    "clean"). Quarantine moves are left out of the PutObject statement: boto3's managed copy
    carries the source's tags, GuardDuty's verdict among them, and quarantine/ is not read."""
    arn = bucket_arn(bucket, partition=partition)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    if scan_role_arn:
        not_guardduty = {"ArnNotEquals": {"aws:PrincipalArn": scan_role_arn}}
        writes_status = {"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": SCAN_STATUS_TAG}}
        statements += [
            {
                "Sid": "OnlyGuardDutyTagsScanStatus",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:PutObjectTagging", "s3:PutObjectVersionTagging"],
                "Resource": f"{arn}/*",
                "Condition": {**writes_status, **not_guardduty},
            },
            {
                "Sid": "NoUploadWithScanStatus",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": [f"{arn}/{prefix}*" for prefix in (*SCANNED_PREFIXES, "staging/")],
                "Condition": {**writes_status, **not_guardduty},
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}
