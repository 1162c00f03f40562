"""One tenant's isolated deployment: bucket, database, secrets, roles, task, service, routing.

Every name comes from `tenants.names`; every permission and network path names this tenant's
own resources only. The bucket and the database are protected and retained on delete, so
removing a tenant from tenants.yaml cannot destroy its data (see README "Offboarding").
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from provisioning.aws import alarms, policies
from provisioning.aws.containers import container_definitions_json
from provisioning.aws.tenant import network, scanning, storage
from provisioning.aws.tenant.inputs import Context, TenantDeploymentArgs
from provisioning.service_env import cloud_scan, service_target
from provisioning.timeouts import TIMEOUTS
from tenants.names import CONTAINER_NAME

HEALTH_CHECK = {
    "path": "/healthz",
    "matcher": "200",
    "interval": 15,
    "timeout": 5,
    "healthy_threshold": 2,
    "unhealthy_threshold": 3,
}


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
        # Logical names (and so URNs) are `<name>-<resource>` under this component: the stack
        # state of every deployed tenant depends on them.
        self._name = name
        self._args = args
        self._tags = {**args.tags, "silo:tenant": args.tenant.slug}
        self._child = pulumi.ResourceOptions(parent=self)
        self._image = args.tenant.api.image or args.image
        # Where the tenant was placed (tenants.yaml `load_balancer`); it never moves.
        self._load_balancer = args.platform.load_balancers[args.tenant.load_balancer]

        ctx = Context.of(name, self, args)

        bucket = storage.bucket(ctx)
        if args.tenant.limits.scan == "guardduty":
            scanning.malware_protection(ctx, bucket)
        task_sg, db_sg = network.security_groups(ctx)
        database = self._database(db_sg, self._database_logs())
        database_secret_arn = database.master_user_secrets.apply(lambda s: s[0].secret_arn)
        admin_secret = self._admin_key()
        log_group = self._logs()
        execution_role, execution_policy, task_role, task_policy = self._roles(
            database_secret_arn, admin_secret
        )
        task_definition = self._task_definition(
            database, database_secret_arn, admin_secret, execution_role, task_role, log_group
        )
        target_group, rule = self._routing()
        service = self._service(
            task_definition, task_sg, target_group, [rule, execution_policy, task_policy]
        )
        self._scaling(service, target_group)
        self._alarms(service, target_group, database)
        self._dashboard(service, target_group, database)

        scheme = "https" if args.platform.https else "http"
        self.url = f"{scheme}://{args.names.host}"
        self.bucket_name = bucket.bucket
        self.database_endpoint = pulumi.Output.concat(
            database.address, ":", database.port.apply(str)
        )
        self.service_name = service.name
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

    # Data lives in the bucket and the database: `pulumi destroy` or dropping the tenant from
    # the file must not delete them; what they still use (the database's security group and
    # log group) and the bucket's protective settings are retained with them.
    def _keep(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True)

    def _keep_settings(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, retain_on_delete=True)

    def _database_logs(self) -> aws.cloudwatch.LogGroup:
        """The group RDS exports the PostgreSQL log to. Created here first, with retention:
        left to RDS, it would be created on first export and keep logs forever. Retained with
        the database, which keeps exporting to it after offboarding."""
        return aws.cloudwatch.LogGroup(
            f"{self._name}-db-logs",
            name=f"/aws/rds/instance/{self._args.names.rds_identifier}/postgresql",
            retention_in_days=self._args.log_retention_days,
            tags=self._tags,
            opts=self._keep_settings(),
        )

    def _database(
        self, db_sg: aws.ec2.SecurityGroup, db_logs: aws.cloudwatch.LogGroup
    ) -> aws.rds.Instance:
        n, db = self._args.names, self._args.tenant.database
        return aws.rds.Instance(
            f"{self._name}-db",
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
            db_subnet_group_name=self._args.platform.db_subnet_group_name,
            vpc_security_group_ids=[db_sg.id],
            publicly_accessible=False,
            deletion_protection=True,
            skip_final_snapshot=False,
            final_snapshot_identifier=n.final_snapshot,
            backup_retention_period=db.backup_days,
            multi_az=db.multi_az,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            # What `pulumi up` shows is what the instance becomes, not a change pending until
            # the maintenance window (per tenant: `database.apply_immediately`).
            apply_immediately=db.apply_immediately,
            # The catalogue names only the major version, so any change of it is a major
            # upgrade; RDS refuses one unless allowed. Allowing it starts nothing by itself.
            allow_major_version_upgrade=True,
            enabled_cloudwatch_logs_exports=["postgresql"],
            tags=self._tags,
            # The export's log group must exist (with its retention) before RDS writes to it.
            opts=pulumi.ResourceOptions.merge(
                self._keep(), pulumi.ResourceOptions(depends_on=[db_logs])
            ),
        )

    def _admin_key(self) -> aws.secretsmanager.Secret:
        """The bootstrap admin key: generated by the engine, kept only as a secret."""
        name = self._name
        admin_key = random.RandomPassword(
            f"{name}-admin-key", length=48, special=False, opts=self._child
        )
        admin_secret = aws.secretsmanager.Secret(
            f"{name}-admin-key",
            name=self._args.names.admin_key_secret,
            description=f"Silo {self._args.tenant.slug}: bootstrap admin API key (SILO_ADMIN_KEY)",
            recovery_window_in_days=7,
            tags=self._tags,
            opts=self._child,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-admin-key",
            secret_id=admin_secret.id,
            secret_string=admin_key.result,
            opts=self._child,
        )
        return admin_secret

    def _logs(self) -> aws.cloudwatch.LogGroup:
        return aws.cloudwatch.LogGroup(
            f"{self._name}-logs",
            name=self._args.names.log_group,
            retention_in_days=self._args.log_retention_days,
            tags=self._tags,
            opts=self._child,
        )

    def _roles(
        self, database_secret_arn: pulumi.Output[str], admin_secret: aws.secretsmanager.Secret
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicy, aws.iam.Role, aws.iam.RolePolicy]:
        """The execution role (ECS starts the task) and the task role (the service runs),
        each with its policy."""
        name, slug, n, args = self._name, self._args.tenant.slug, self._args.names, self._args
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
            tags=self._tags,
            opts=self._child,
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
                        image=self._image,
                    )
                )
            ),
            opts=self._child,
        )
        task_role = aws.iam.Role(
            f"{name}-task-role",
            name=n.task_role,
            assume_role_policy=trust,
            # (Its policy also reads the database secret; the description is left as it was.)
            description=f"Silo {slug} service: its own bucket's objects",
            tags=self._tags,
            opts=self._child,
        )
        task_policy = aws.iam.RolePolicy(
            f"{name}-task-policy",
            role=task_role.id,
            policy=database_secret_arn.apply(
                lambda arn: json.dumps(
                    policies.task_policy(
                        partition=args.partition, bucket=n.bucket, database_secret_arn=arn
                    )
                )
            ),
            opts=self._child,
        )
        return execution_role, execution_policy, task_role, task_policy

    def _task_definition(
        self,
        database: aws.rds.Instance,
        database_secret_arn: pulumi.Output[str],
        admin_secret: aws.secretsmanager.Secret,
        execution_role: aws.iam.Role,
        task_role: aws.iam.Role,
        log_group: aws.cloudwatch.LogGroup,
    ) -> aws.ecs.TaskDefinition:
        """The env contract in the container definition, the admin key through `secrets`, the
        database secret's ARN in the environment (read at connect time: rotation). The log
        group is passed as the resource, so it exists before a task tries to write to it."""
        tenant, n, args = self._args.tenant, self._args.names, self._args

        def render(values: list) -> str:
            host, port, db_secret, admin_arn, log_group_name = values
            target = service_target(
                tenant,
                n,
                region=args.region,
                database_host=host,
                database_port=port,
                scan=cloud_scan(tenant, args.clamd_address),
                port=args.port,
                # The service reads the rotating credentials itself (not ECS, once at start).
                database_secret_arn=db_secret,
                shutdown_timeout_seconds=TIMEOUTS.shutdown,
                keep_alive_seconds=TIMEOUTS.service_keep_alive,
            )
            return container_definitions_json(
                target=target,
                image=self._image,
                secret_arns={"admin_key": admin_arn},
                log_group=log_group_name,
            )

        return aws.ecs.TaskDefinition(
            f"{self._name}-task",
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
            ).apply(render),
            tags=self._tags,
            # An update registers a new revision and keeps the old one ACTIVE, so a rollback
            # (ECS's circuit breaker, or pinning the previous image) has a revision to return to.
            skip_destroy=True,
            opts=self._child,
        )

    def _routing(self) -> tuple[aws.lb.TargetGroup, aws.lb.ListenerRule]:
        """The tenant's host on the shared listener, and its DNS alias when a zone is given."""
        name, n = self._name, self._args.names
        platform, alb = self._args.platform, self._load_balancer
        target_group = aws.lb.TargetGroup(
            f"{name}-tg",
            name=n.target_group,
            port=self._args.port,
            protocol="HTTP",
            target_type="ip",
            vpc_id=platform.vpc_id,
            # In-flight uploads get this long to finish when a task stops (provisioning.timeouts).
            deregistration_delay=TIMEOUTS.deregistration_delay,
            health_check=HEALTH_CHECK,
            tags=self._tags,
            opts=self._child,
        )
        rule = aws.lb.ListenerRule(
            f"{name}-rule",
            listener_arn=alb.listener_arn,
            priority=n.rule_priority,
            conditions=[{"host_header": {"values": [n.host]}}],
            actions=[{"type": "forward", "target_group_arn": target_group.arn}],
            tags=self._tags,
            opts=self._child,
        )
        tenant = self._args.tenant
        if tenant.certificate_arn and platform.https:
            # A host outside the platform's wildcard certificate: the listener presents the
            # tenant's own certificate for it (SNI picks it).
            aws.lb.ListenerCertificate(
                f"{name}-certificate",
                listener_arn=alb.listener_arn,
                certificate_arn=tenant.certificate_arn,
                opts=self._child,
            )
        # The tenant's own zone for a host outside the platform's domain, else the platform's.
        zone_id = tenant.hosted_zone_id or self._args.hosted_zone_id
        if zone_id:
            aws.route53.Record(
                f"{name}-dns",
                zone_id=zone_id,
                name=n.host,
                type="A",
                aliases=[
                    {
                        "name": alb.dns_name,
                        "zone_id": alb.zone_id,
                        "evaluate_target_health": True,
                    }
                ],
                opts=self._child,
            )
        return target_group, rule

    def _service(
        self,
        task_definition: aws.ecs.TaskDefinition,
        task_sg: aws.ec2.SecurityGroup,
        target_group: aws.lb.TargetGroup,
        ready_before: list[pulumi.Resource],
    ) -> aws.ecs.Service:
        """The ECS service; `ready_before` must exist before its first task starts."""
        tenant, platform = self._args.tenant, self._args.platform
        return aws.ecs.Service(
            f"{self._name}-service",
            name=self._args.names.ecs_service,
            cluster=platform.cluster_arn,
            task_definition=task_definition.arn,
            desired_count=tenant.api.min_tasks,
            launch_type="FARGATE",
            network_configuration={
                "subnets": platform.private_subnet_ids,
                "security_groups": [task_sg.id],
                "assign_public_ip": False,
            },
            load_balancers=[
                {
                    "target_group_arn": target_group.arn,
                    "container_name": CONTAINER_NAME,
                    "container_port": self._args.port,
                }
            ],
            deployment_circuit_breaker={"enable": True, "rollback": True},
            # `pulumi up` waits until the new tasks are healthy and the old ones drained, so a
            # deployment the circuit breaker rolls back makes `pulumi up` fail instead of
            # reporting success while ECS quietly returns to the previous revision.
            wait_for_steady_state=True,
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            health_check_grace_period_seconds=60,
            propagate_tags="SERVICE",
            enable_ecs_managed_tags=True,
            tags=self._tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                # The target group must be attached to the ALB before the service uses it
                # (the listener rule); ECS must be able to pull the image, read the secrets and
                # write logs (the execution policy), and the task reach its bucket (the task
                # policy) when the first task starts. On delete, the policies outlive the
                # service, so it does not hang in DRAINING.
                depends_on=ready_before,
                # Autoscaling owns the running count after creation.
                ignore_changes=["desiredCount"],
            ),
        )

    def _scaling(self, service: aws.ecs.Service, target_group: aws.lb.TargetGroup) -> None:
        """Target tracking on CPU and on requests per task, between min_tasks and max_tasks."""
        name, api, n = self._name, self._args.tenant.api, self._args.names
        platform = self._args.platform
        scaling = aws.appautoscaling.Target(
            f"{name}-scaling",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", platform.cluster_name, "/", service.name),
            min_capacity=api.min_tasks,
            max_capacity=api.max_tasks,
            tags=self._tags,
            opts=self._child,
        )
        for policy_name, metric, target_value, label in (
            (n.cpu_scaling_policy, "ECSServiceAverageCPUUtilization", api.target_cpu_percent, None),
            (
                n.requests_scaling_policy,
                "ALBRequestCountPerTarget",
                api.target_requests_per_task,
                pulumi.Output.concat(self._load_balancer.arn_suffix, "/", target_group.arn_suffix),
            ),
        ):
            metric_spec: dict = {"predefined_metric_type": metric}
            if label is not None:
                metric_spec["resource_label"] = label
            aws.appautoscaling.Policy(
                f"{name}-scale-{metric_kind(metric)}",
                name=policy_name,
                policy_type="TargetTrackingScaling",
                service_namespace=scaling.service_namespace,
                scalable_dimension=scaling.scalable_dimension,
                resource_id=scaling.resource_id,
                target_tracking_scaling_policy_configuration={
                    "target_value": float(target_value),
                    "predefined_metric_specification": metric_spec,
                    "scale_in_cooldown": 300,
                    "scale_out_cooldown": 60,
                },
                opts=self._child,
            )

    def _alarms(
        self,
        service: aws.ecs.Service,
        target_group: aws.lb.TargetGroup,
        database: aws.rds.Instance,
    ) -> None:
        """The tenant's alarms (thresholds from the catalogue) to the platform's topic."""
        n, topic = self._args.names, self._args.platform.alarm_topic_arn
        dimensions = {
            alarms.TARGET_GROUP: {
                "LoadBalancer": self._load_balancer.arn_suffix,
                "TargetGroup": target_group.arn_suffix,
            },
            alarms.SERVICE: {
                "ClusterName": self._args.platform.cluster_name,
                "ServiceName": service.name,
            },
            alarms.DATABASE: {"DBInstanceIdentifier": database.identifier},
        }
        specs = alarms.alarm_specs(
            self._args.tenant.alarms, min_tasks=self._args.tenant.api.min_tasks
        )
        for spec in specs:
            where = dimensions[spec.subject]
            if spec.per_metric:
                metric: dict = {
                    "metric_queries": [
                        {
                            "id": query_id,
                            "return_data": False,
                            "metric": {
                                "namespace": spec.namespace,
                                "metric_name": metric_name,
                                "dimensions": where,
                                "period": spec.period,
                                "stat": "Sum",
                            },
                        }
                        for query_id, metric_name in (
                            ("part", spec.metric),
                            ("whole", spec.per_metric),
                        )
                    ]
                    + [
                        {
                            "id": "rate",
                            "expression": "100 * FILL(part, 0) / whole",
                            "label": f"{spec.metric} per 100 {spec.per_metric}",
                            "return_data": True,
                        }
                    ]
                }
            else:
                metric = {
                    "namespace": spec.namespace,
                    "metric_name": spec.metric,
                    "dimensions": where,
                    "statistic": spec.statistic,
                    "period": spec.period,
                }
            aws.cloudwatch.MetricAlarm(
                f"{self._name}-alarm-{spec.kind}",
                name=f"{n.alarm_prefix}-{spec.kind}",
                alarm_description=f"Silo {self._args.tenant.slug}: {spec.description}",
                comparison_operator=spec.comparison,
                threshold=spec.threshold,
                evaluation_periods=spec.evaluation_periods,
                # No data (no traffic, a stopped service) is not an incident.
                treat_missing_data="notBreaching",
                alarm_actions=[topic],
                ok_actions=[topic],
                tags=self._tags,
                opts=self._child,
                **metric,
            )

    def _dashboard(
        self,
        service: aws.ecs.Service,
        target_group: aws.lb.TargetGroup,
        database: aws.rds.Instance,
    ) -> None:
        args = self._args
        body = pulumi.Output.all(
            self._load_balancer.arn_suffix,
            target_group.arn_suffix,
            args.platform.cluster_name,
            service.name,
            database.identifier,
        ).apply(
            lambda v: alarms.dashboard_body(
                title=args.tenant.name,
                region=args.region,
                load_balancer=v[0],
                target_group=v[1],
                cluster=v[2],
                service=v[3],
                database=v[4],
            )
        )
        aws.cloudwatch.Dashboard(
            f"{self._name}-dashboard",
            dashboard_name=args.names.alarm_prefix,
            dashboard_body=body,
            opts=self._child,
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


def metric_kind(metric: str) -> str:
    return "cpu" if "CPU" in metric else "requests"
