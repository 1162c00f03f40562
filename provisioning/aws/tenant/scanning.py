"""GuardDuty Malware Protection for S3 on the tenant's bucket: its own plan, and the role
GuardDuty scans and tags the bucket with (tenants scanning with `guardduty`)."""

from __future__ import annotations

import json

import pulumi_aws as aws

from provisioning.aws import policies
from provisioning.aws.tenant.inputs import Context


def malware_protection(ctx: Context, bucket: aws.s3.Bucket) -> aws.guardduty.MalwareProtectionPlan:
    """GuardDuty Malware Protection for S3 on the tenant's bucket: every new object under
    the scanned prefixes is scanned and tagged `GuardDutyMalwareScanStatus`, which the
    service reads. Its own plan and role per tenant, the role able to reach this bucket
    only: nothing of it is shared with another tenant.

    GuardDuty turns on the bucket's EventBridge notifications itself (through the role):
    an `aws.s3.BucketNotification` added to this bucket must keep `eventbridge=True`, or it
    silently stops the scans."""
    name, slug, n, args = ctx.name, ctx.tenant.slug, ctx.names, ctx.args
    role = aws.iam.Role(
        f"{name}-scan-role",
        name=n.scan_role,
        assume_role_policy=json.dumps(
            policies.malware_protection_trust_policy(
                partition=args.partition, region=args.region, account_id=args.account_id
            )
        ),
        description=f"GuardDuty scans and tags Silo {slug}'s bucket",
        tags=ctx.tags,
        opts=ctx.child(),
    )
    policy = aws.iam.RolePolicy(
        f"{name}-scan-policy",
        role=role.id,
        policy=json.dumps(
            policies.malware_protection_policy(
                partition=args.partition,
                region=args.region,
                account_id=args.account_id,
                bucket=n.bucket,
            )
        ),
        opts=ctx.child(),
    )
    return aws.guardduty.MalwareProtectionPlan(
        f"{name}-malware-protection",
        role=role.arn,
        protected_resource={
            "s3_bucket": {
                "bucket_name": bucket.bucket,
                "object_prefixes": list(policies.SCANNED_PREFIXES),
            }
        },
        # The verdict as an object tag: the service's scan engine reads it.
        actions=[{"taggings": [{"status": "ENABLED"}]}],
        tags=ctx.tags,
        # GuardDuty checks the role's permissions when the plan is created (it writes the
        # validation object and its EventBridge rule), so the policy must exist first; on
        # delete the policy outlives the plan, which removes its rule with it.
        opts=ctx.child(depends_on=[policy]),
    )
