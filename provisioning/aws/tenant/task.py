"""The tenant's ECS task: the service's log group, and the Fargate task definition with the
container definition (the env contract from `service_env`)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from provisioning.aws import scanner
from provisioning.aws.containers import container_definitions_json
from provisioning.aws.tenant.inputs import Context
from provisioning.service_env import RDS_CA_BUNDLE, cloud_scan, service_target
from provisioning.timeouts import TIMEOUTS
from tenants import scanner as scanner_sizes


def log_group(ctx: Context) -> aws.cloudwatch.LogGroup:
    return aws.cloudwatch.LogGroup(
        f"{ctx.name}-logs",
        name=ctx.names.log_group,
        retention_in_days=ctx.args.log_retention_days,
        tags=ctx.tags,
        opts=ctx.child(),
    )


def definition(
    ctx: Context,
    database: aws.rds.Instance,
    database_secret_arn: pulumi.Output[str],
    admin_secret: aws.secretsmanager.Secret,
    execution_role: aws.iam.Role,
    task_role: aws.iam.Role,
    log_group: aws.cloudwatch.LogGroup,
) -> aws.ecs.TaskDefinition:
    """The env contract in the container definition, the admin key through `secrets`, the
    database secret's ARN in the environment (read at connect time: rotation). The log
    group is passed as the resource, so it exists before a task tries to write to it.

    With `clamav`, the scanner's sidecars share the task (provisioning/aws/scanner.py): the
    service's container gets what they leave of the task's memory as its own limit."""
    tenant, n, args = ctx.tenant, ctx.names, ctx.args
    clamav = tenant.limits.scan == "clamav"
    if clamav and args.signatures_bucket is None:
        raise ValueError(f"tenant {tenant.slug!r} scans with clamav: no signature bucket given")

    def render(values: list) -> str:
        host, port, db_secret, admin_arn, log_group_name, signatures_bucket = values
        sidecars = (
            scanner.sidecar_definitions(
                tenant=tenant.slug,
                signatures_bucket=signatures_bucket,
                log_group=log_group_name,
                region=args.region,
            )
            if clamav
            else []
        )
        target = service_target(
            tenant,
            n,
            region=args.region,
            database_host=host,
            database_port=port,
            scan=cloud_scan(tenant),
            port=args.port,
            # The service reads the rotating credentials itself (not ECS, once at start).
            database_secret_arn=db_secret,
            # RDS's certificate is verified against the CA bundle in the image.
            database_ca_bundle=RDS_CA_BUNDLE,
            shutdown_timeout_seconds=TIMEOUTS.shutdown,
            keep_alive_seconds=TIMEOUTS.service_keep_alive,
        )
        return container_definitions_json(
            target=target,
            image=ctx.image,
            secret_arns={"admin_key": admin_arn},
            log_group=log_group_name,
            memory=scanner_sizes.service_memory(tenant.api.memory, "clamav") if clamav else None,
            sidecars=sidecars,
        )

    return aws.ecs.TaskDefinition(
        f"{ctx.name}-task",
        family=n.task_family,
        cpu=str(tenant.api.cpu),
        memory=str(tenant.api.memory),
        network_mode="awsvpc",
        requires_compatibilities=["FARGATE"],
        runtime_platform={"operating_system_family": "LINUX", "cpu_architecture": "X86_64"},
        execution_role_arn=execution_role.arn,
        task_role_arn=task_role.arn,
        container_definitions=pulumi.Output.all(
            database.address,
            database.port,
            database_secret_arn,
            admin_secret.arn,
            log_group.name,
            args.signatures_bucket if clamav else None,
        ).apply(render),
        # The scanner's signatures, written by its sync, read by clamd (task storage).
        volumes=[{"name": scanner.SIGNATURES_VOLUME}] if clamav else None,
        tags=ctx.tags,
        # An update registers a new revision and keeps the old one ACTIVE, so a rollback
        # (ECS's circuit breaker, or pinning the previous image) has a revision to return to.
        skip_destroy=True,
        opts=ctx.child(),
    )
