"""The tenant's PostgreSQL: the RDS instance (protected, retained, its password managed by RDS
in Secrets Manager) and the log group it exports the PostgreSQL log to."""

from __future__ import annotations

import pulumi_aws as aws

from provisioning.aws.tenant.inputs import Context
from provisioning.aws.tenant.windows import maintenance_window


def _log_group(ctx: Context) -> aws.cloudwatch.LogGroup:
    """The group RDS exports the PostgreSQL log to. Created here first, with retention:
    left to RDS, it would be created on first export and keep logs forever. Retained with
    the database, which keeps exporting to it after offboarding."""
    return aws.cloudwatch.LogGroup(
        f"{ctx.name}-db-logs",
        name=f"/aws/rds/instance/{ctx.names.rds_identifier}/postgresql",
        retention_in_days=ctx.args.log_retention_days,
        tags=ctx.tags,
        opts=ctx.keep_settings(),
    )


def instance(ctx: Context, db_sg: aws.ec2.SecurityGroup) -> aws.rds.Instance:
    db_logs = _log_group(ctx)
    n, db = ctx.names, ctx.tenant.database
    return aws.rds.Instance(
        f"{ctx.name}-db",
        identifier=n.rds_identifier,
        engine="postgres",
        engine_version=db.engine_version,
        instance_class=db.instance_class,
        allocated_storage=db.storage_gb,
        max_allocated_storage=db.max_storage_gb,
        storage_type="gp3",
        storage_encrypted=True,
        db_name=n.database_name,
        username=n.database_user,
        # RDS generates and rotates the password in Secrets Manager; it never passes
        # through this program or the stack state.
        manage_master_user_password=True,
        db_subnet_group_name=ctx.platform.db_subnet_group_name,
        vpc_security_group_ids=[db_sg.id],
        publicly_accessible=False,
        deletion_protection=True,
        skip_final_snapshot=False,
        final_snapshot_identifier=n.final_snapshot,
        backup_retention_period=db.backup_days,
        multi_az=db.multi_az,
        copy_tags_to_snapshot=True,
        auto_minor_version_upgrade=True,
        # Off by default: changes wait for the tenant's window, staggered across tenants
        # (`database.maintenance_window`, else derived from the slug).
        apply_immediately=db.apply_immediately,
        maintenance_window=db.maintenance_window or maintenance_window(ctx.tenant.slug),
        # The catalogue names only the major version, so any change of it is a major
        # upgrade; RDS refuses it unless this tenant opted in.
        allow_major_version_upgrade=db.allow_major_version_upgrade,
        enabled_cloudwatch_logs_exports=["postgresql"],
        tags=ctx.tags,
        # The export's log group must exist (with its retention) before RDS writes to it.
        opts=ctx.keep(depends_on=[db_logs]),
    )
