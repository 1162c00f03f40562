"""The tenant's IAM roles: the execution role (ECS starts the task: image, logs, the admin key)
and the task role (the service: its bucket, its database secret), each with its policy."""

from __future__ import annotations

import json
from typing import NamedTuple

import pulumi
import pulumi_aws as aws

from provisioning.aws import policies
from provisioning.aws.tenant.inputs import Context


class Roles(NamedTuple):
    execution_role: aws.iam.Role
    execution_policy: aws.iam.RolePolicy
    task_role: aws.iam.Role
    task_policy: aws.iam.RolePolicy


def task_roles(
    ctx: Context, database_secret_arn: pulumi.Output[str], admin_secret: aws.secretsmanager.Secret
) -> Roles:
    name, slug, n, args = ctx.name, ctx.tenant.slug, ctx.names, ctx.args
    trust = json.dumps(
        policies.assume_role_policy(
            partition=args.partition, region=args.region, account_id=args.account_id
        )
    )
    execution_role = aws.iam.Role(
        f"{name}-execution-role",
        name=n.execution_role,
        assume_role_policy=trust,
        description=f"ECS starts Silo {slug} tasks: image, logs, its secrets",
        tags=ctx.tags,
        opts=ctx.child(),
    )
    execution_policy = aws.iam.RolePolicy(
        f"{name}-execution-policy",
        role=execution_role.id,
        # Only the secrets ECS injects: the admin key. The database secret is read by the
        # service (the task role), at connect time.
        policy=admin_secret.arn.apply(
            lambda arn: json.dumps(
                policies.execution_policy(
                    partition=args.partition,
                    region=args.region,
                    account_id=args.account_id,
                    log_group=n.log_group,
                    secret_arns=[arn],
                    image=ctx.image,
                )
            )
        ),
        opts=ctx.child(),
    )
    task_role = aws.iam.Role(
        f"{name}-task-role",
        name=n.task_role,
        assume_role_policy=trust,
        # (Its policy also reads the database secret; the description is left as it was.)
        description=f"Silo {slug} service: its own bucket's objects",
        tags=ctx.tags,
        opts=ctx.child(),
    )
    # With clamav, its signature sync reads the platform's signatures (and nothing else).
    signatures = args.signatures_bucket if ctx.tenant.limits.scan == "clamav" else None
    task_policy = aws.iam.RolePolicy(
        f"{name}-task-policy",
        role=task_role.id,
        policy=pulumi.Output.all(database_secret_arn, signatures).apply(
            lambda values: json.dumps(
                policies.task_policy(
                    partition=args.partition,
                    bucket=n.bucket,
                    database_secret_arn=values[0],
                    signatures_bucket=values[1],
                )
            )
        ),
        opts=ctx.child(),
    )
    return Roles(execution_role, execution_policy, task_role, task_policy)
