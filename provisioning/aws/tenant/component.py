"""One tenant's isolated deployment: bucket, database, secrets, roles, task, service, routing.

Every name comes from `tenants.names`; every permission and network path names this tenant's
own resources only. The bucket and the database are protected and retained on delete, so
removing a tenant from tenants.yaml cannot destroy its data (see README "Offboarding").
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from provisioning.aws import alarms
from provisioning.aws.tenant import admin_key, database, network, roles, scanning, storage, task
from provisioning.aws.tenant.inputs import Context, TenantDeploymentArgs
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
        db = database.instance(ctx, db_sg)
        database_secret_arn = db.master_user_secrets.apply(lambda s: s[0].secret_arn)
        admin_secret = admin_key.secret(ctx)
        log_group = task.log_group(ctx)
        iam = roles.task_roles(ctx, database_secret_arn, admin_secret)
        task_definition = task.definition(
            ctx, db, database_secret_arn, admin_secret, iam.execution_role, iam.task_role, log_group
        )
        target_group, rule = self._routing()
        service = self._service(
            task_definition, task_sg, target_group, [rule, iam.execution_policy, iam.task_policy]
        )
        self._scaling(service, target_group)
        self._alarms(service, target_group, db)
        self._dashboard(service, target_group, db)

        scheme = "https" if args.platform.https else "http"
        self.url = f"{scheme}://{args.names.host}"
        self.bucket_name = bucket.bucket
        self.database_endpoint = pulumi.Output.concat(db.address, ":", db.port.apply(str))
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
