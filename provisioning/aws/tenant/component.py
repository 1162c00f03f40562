"""`TenantDeployment`: one tenant's isolated deployment, a component whose children the
concern modules create, in order, each given the shared `Context` and what earlier ones made.

Every name comes from `tenants.names`; every permission and network path names this tenant's
own resources only. The bucket and the database are protected and retained on delete, so
removing a tenant from tenants.yaml cannot destroy its data (see docs/operations/offboarding.md).
"""

from __future__ import annotations

import pulumi

from provisioning.aws.tenant import (
    admin_key,
    database,
    monitoring,
    network,
    roles,
    routing,
    scanning,
    service,
    storage,
    task,
)
from provisioning.aws.tenant.inputs import Context, TenantDeploymentArgs


class TenantDeployment(pulumi.ComponentResource):
    url: str
    bucket_name: pulumi.Output[str]
    database_endpoint: pulumi.Output[str]
    service_name: pulumi.Output[str]
    admin_key_secret_arn: pulumi.Output[str]
    database_secret_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: TenantDeploymentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("silo:provisioning:TenantDeployment", name, None, opts)
        ctx = Context.of(name, self, args)

        bucket = storage.bucket(ctx)
        if args.tenant.limits.scan == "guardduty":
            scanning.malware_protection(ctx, bucket)
        task_sg, db_sg = network.security_groups(ctx)
        db = database.instance(ctx, db_sg)
        database_secret_arn = db.master_user_secrets.apply(lambda s: s[0].secret_arn)
        admin_secret = admin_key.secret(ctx)
        log_group = task.log_group(ctx)
        iam = roles.task_roles(ctx, database_secret_arn, admin_secret)
        task_definition = task.definition(
            ctx, db, database_secret_arn, admin_secret, iam.execution_role, iam.task_role, log_group
        )
        target_group, rule = routing.host_route(ctx)
        ecs_service = service.fargate_service(
            ctx,
            task_definition,
            task_sg,
            target_group,
            [rule, iam.execution_policy, iam.task_policy],
        )
        service.scaling(ctx, ecs_service, target_group)
        monitoring.metric_alarms(ctx, ecs_service, target_group, db)
        monitoring.dashboard(ctx, ecs_service, target_group, db)
        if args.tenant.limits.scan == "clamav":
            monitoring.scanner_alarm(ctx, log_group)

        scheme = "https" if args.platform.https else "http"
        self.url = f"{scheme}://{args.names.host}"
        self.bucket_name = bucket.bucket
        self.database_endpoint = pulumi.Output.concat(db.address, ":", db.port.apply(str))
        self.service_name = ecs_service.name
        self.admin_key_secret_arn = admin_secret.arn
        self.database_secret_arn = database_secret_arn
        self.register_outputs(
            {
                "url": self.url,
                "bucket": self.bucket_name,
                "databaseEndpoint": self.database_endpoint,
                "service": self.service_name,
            }
        )

    def exports(self) -> dict[str, object]:
        """What `pulumi stack output` shows for this tenant."""
        return {
            "url": self.url,
            "bucket": self.bucket_name,
            "databaseEndpoint": self.database_endpoint,
            "ecsService": self.service_name,
            "adminKeySecretArn": self.admin_key_secret_arn,
        }
