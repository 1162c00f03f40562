"""The tenant's network paths: its task and database security groups and their rules
(ALB -> task -> database, the task out to HTTPS). The clamav scanner needs none: it listens on
the task's own loopback (provisioning/aws/scanner.py)."""

from __future__ import annotations

import pulumi_aws as aws

from provisioning.aws.tenant.inputs import Context

POSTGRES_PORT = 5432


def security_groups(ctx: Context) -> tuple[aws.ec2.SecurityGroup, aws.ec2.SecurityGroup]:
    """ALB -> task -> database, and the task out to AWS APIs; nothing else."""
    name, slug, n, port = ctx.name, ctx.tenant.slug, ctx.names, ctx.args.port
    alb_sg = ctx.platform.alb_security_group_id
    task_sg = aws.ec2.SecurityGroup(
        f"{name}-task-sg",
        name=n.task_security_group,
        description=f"Silo {slug} tasks: from the ALB, to its database and HTTPS",
        vpc_id=ctx.platform.vpc_id,
        tags=ctx.tags,
        opts=ctx.child(),
    )
    # Retained with the database, which keeps using it after offboarding (AWS refuses to
    # delete a group an instance uses). Its only rule names the task group and is deleted,
    # so the retained group admits nothing and the task group can go.
    db_sg = aws.ec2.SecurityGroup(
        f"{name}-db-sg",
        name=n.database_security_group,
        description=f"Silo {slug} database: from its own tasks only",
        vpc_id=ctx.platform.vpc_id,
        tags=ctx.tags,
        opts=ctx.keep_settings(),
    )
    aws.vpc.SecurityGroupIngressRule(
        f"{name}-task-from-alb",
        security_group_id=task_sg.id,
        referenced_security_group_id=alb_sg,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        description="from the load balancer",
        opts=ctx.child(),
    )
    aws.vpc.SecurityGroupEgressRule(
        f"{name}-task-to-db",
        security_group_id=task_sg.id,
        referenced_security_group_id=db_sg.id,
        ip_protocol="tcp",
        from_port=POSTGRES_PORT,
        to_port=POSTGRES_PORT,
        description="to its own database",
        opts=ctx.child(),
    )
    aws.vpc.SecurityGroupEgressRule(
        f"{name}-task-to-https",
        security_group_id=task_sg.id,
        cidr_ipv4="0.0.0.0/0",
        ip_protocol="tcp",
        from_port=443,
        to_port=443,
        description="AWS APIs (S3, ECR, Secrets Manager, Logs) through the NAT",
        opts=ctx.child(),
    )
    aws.vpc.SecurityGroupIngressRule(
        f"{name}-db-from-task",
        security_group_id=db_sg.id,
        referenced_security_group_id=task_sg.id,
        ip_protocol="tcp",
        from_port=POSTGRES_PORT,
        to_port=POSTGRES_PORT,
        description=f"from {slug} tasks",
        opts=ctx.child(),
    )
    return task_sg, db_sg
