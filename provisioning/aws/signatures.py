"""`Signatures`: the platform's ClamAV signature bucket and the scheduled task that fills it.

One updater for the whole stack runs freshclam against ClamAV's mirrors every two hours
(EventBridge Scheduler -> ECS RunTask) and publishes the database to a platform-owned bucket;
every clamav tenant's task loads from that bucket (read-only, through the VPC's S3 gateway
endpoint), so 120 tenants' tasks never reach the mirrors themselves. Its own component, so
adding it changes no URN of the `Platform`. Containers: provisioning/aws/scanner.py.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from provisioning.aws import policies, scanner
from tenants import names


@dataclass
class SignaturesArgs:
    scope: names.Scope
    region: str
    account_id: str
    partition: str
    vpc_id: pulumi.Input[str]
    subnet_ids: list[pulumi.Input[str]]
    cluster_arn: pulumi.Input[str]
    alarm_topic_arn: pulumi.Input[str]
    log_retention_days: int = 30
    tags: dict[str, str] = field(default_factory=dict)


def bucket_name(scope: names.Scope, *, account_id: str, region: str) -> str:
    """Globally unique, like a tenant's bucket: the hash tells other accounts/regions apart."""
    digest = hashlib.sha256(f"{account_id}/{region}/{scope.base}".encode()).hexdigest()[:8]
    return f"{scope.base}-signatures-{digest}"


class Signatures(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: SignaturesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("silo:provisioning:Signatures", name, None, opts)
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=self)
        bucket = self._bucket()
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/silo/{args.scope.base}/signatures",
            retention_in_days=args.log_retention_days,
            tags=args.tags,
            opts=self._child,
        )
        task_definition, roles = self._updater(bucket, log_group)
        self._schedule(task_definition, roles)
        self._alarm()
        self.bucket_name = bucket.bucket
        self.register_outputs({"bucket": self.bucket_name})

    def _bucket(self) -> aws.s3.Bucket:
        """Private, TLS only, SSE-S3; its contents are public ClamAV data, rebuilt by the next
        run if lost, so it is neither protected nor versioned."""
        name, args = self._name, self._args
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=bucket_name(args.scope, account_id=args.account_id, region=args.region),
            force_destroy=True,
            tags=args.tags,
            opts=self._child,
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-bucket-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=self._child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-bucket-encryption",
            bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
            opts=self._child,
        )
        aws.s3.BucketPolicy(
            f"{name}-bucket-policy",
            bucket=bucket.id,
            policy=bucket.bucket.apply(
                lambda b: json.dumps(policies.bucket_policy(partition=args.partition, bucket=b))
            ),
            opts=self._child,
        )
        return bucket

    def _role(self, suffix: str, trust: dict, description: str) -> aws.iam.Role:
        return aws.iam.Role(
            f"{self._name}-{suffix}",
            name=f"{self._args.scope.base}-signatures-{suffix}",
            assume_role_policy=json.dumps(trust),
            description=description,
            tags=self._args.tags,
            opts=self._child,
        )

    def _updater(
        self, bucket: aws.s3.Bucket, log_group: aws.cloudwatch.LogGroup
    ) -> tuple[aws.ecs.TaskDefinition, list[aws.iam.Role]]:
        name, args = self._name, self._args
        trust = policies.assume_role_policy(
            partition=args.partition, region=args.region, account_id=args.account_id
        )
        execution = self._role("execution", trust, "ECS starts the signature updater: logs")
        aws.iam.RolePolicy(
            f"{name}-execution",
            role=execution.id,
            policy=log_group.name.apply(
                lambda group: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                "Resource": policies.log_group_arn(
                                    partition=args.partition,
                                    region=args.region,
                                    account_id=args.account_id,
                                    log_group=group,
                                )
                                + ":log-stream:*",
                            }
                        ],
                    }
                )
            ),
            opts=self._child,
        )
        task_role = self._role("task", trust, "The signature updater: the only bucket writer")
        aws.iam.RolePolicy(
            f"{name}-task",
            role=task_role.id,
            policy=bucket.bucket.apply(
                lambda b: json.dumps(
                    policies.updater_task_policy(
                        partition=args.partition,
                        bucket=b,
                        namespace=scanner.SIGNATURES_NAMESPACE,
                    )
                )
            ),
            opts=self._child,
        )
        definition = aws.ecs.TaskDefinition(
            f"{name}-updater",
            family=f"{args.scope.base}-signatures",
            cpu="512",
            memory="2048",
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            runtime_platform={"operating_system_family": "LINUX", "cpu_architecture": "X86_64"},
            execution_role_arn=execution.arn,
            task_role_arn=task_role.arn,
            volumes=[{"name": "db"}],
            container_definitions=pulumi.Output.all(bucket.bucket, log_group.name).apply(
                lambda v: json.dumps(
                    scanner.updater_definitions(bucket=v[0], log_group=v[1], region=args.region),
                    sort_keys=True,
                )
            ),
            tags=args.tags,
            opts=self._child,
        )
        return definition, [execution, task_role]

    def _schedule(self, definition: aws.ecs.TaskDefinition, roles: list[aws.iam.Role]) -> None:
        """Every two hours, and at once on creation, the updater runs in a private subnet,
        out through the NAT to the mirrors (HTTPS only) and to S3 through the gateway."""
        name, args = self._name, self._args
        group = aws.ec2.SecurityGroup(
            f"{name}-updater",
            name=f"{args.scope.base}-signatures-updater",
            description="Silo signature updater: out to HTTPS only, nothing in",
            vpc_id=args.vpc_id,
            tags=args.tags,
            opts=self._child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-updater-to-https",
            security_group_id=group.id,
            cidr_ipv4="0.0.0.0/0",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="ClamAV's mirrors, S3, CloudWatch",
            opts=self._child,
        )
        family_arn = (
            f"arn:{args.partition}:ecs:{args.region}:{args.account_id}:task-definition/"
            f"{args.scope.base}-signatures"
        )
        scheduler_role = self._role(
            "scheduler",
            policies.scheduler_trust_policy(account_id=args.account_id),
            "EventBridge Scheduler runs the signature updater",
        )
        policy = aws.iam.RolePolicy(
            f"{name}-scheduler",
            role=scheduler_role.id,
            policy=pulumi.Output.all(args.cluster_arn, *(r.arn for r in roles)).apply(
                lambda v: json.dumps(
                    policies.scheduler_policy(
                        task_family_arn=family_arn, cluster_arn=v[0], role_arns=list(v[1:])
                    )
                )
            ),
            opts=self._child,
        )
        aws.scheduler.Schedule(
            f"{name}-schedule",
            name=f"{args.scope.base}-signatures",
            description="freshclam into the platform's signature bucket",
            schedule_expression=scanner.UPDATE_SCHEDULE,
            flexible_time_window={"mode": "FLEXIBLE", "maximum_window_in_minutes": 15},
            target={
                "arn": args.cluster_arn,
                "role_arn": scheduler_role.arn,
                "ecs_parameters": {
                    "task_definition_arn": definition.arn,
                    "launch_type": "FARGATE",
                    "network_configuration": {
                        "subnets": args.subnet_ids,
                        "security_groups": [group.id],
                        "assign_public_ip": False,
                    },
                },
                "retry_policy": {"maximum_retry_attempts": 3},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )

    def _alarm(self) -> None:
        """Signatures stale: the daily database did not advance in 24 hours (ClamAV publishes
        several a day), or the updater published nothing at all (missing data breaches)."""
        name, args = self._name, self._args

        def daily(query_id: str, stat: str) -> dict:
            return {
                "id": query_id,
                "return_data": False,
                "metric": {
                    "namespace": scanner.SIGNATURES_NAMESPACE,
                    "metric_name": "DailyVersion",
                    "period": 86400,
                    "stat": stat,
                },
            }

        aws.cloudwatch.MetricAlarm(
            f"{name}-stale",
            name=f"{args.scope.base}-signatures-stale",
            alarm_description=(
                "Silo: ClamAV signatures did not advance in 24 h (the updater's task logs: "
                f"/silo/{args.scope.base}/signatures)"
            ),
            comparison_operator="LessThanThreshold",
            threshold=1,
            evaluation_periods=1,
            treat_missing_data="breaching",
            metric_queries=[
                daily("newest", "Maximum"),
                daily("oldest", "Minimum"),
                {
                    "id": "advanced",
                    "expression": "newest - oldest",
                    "label": "daily versions published in 24 h",
                    "return_data": True,
                },
            ],
            alarm_actions=[args.alarm_topic_arn],
            ok_actions=[args.alarm_topic_arn],
            tags=args.tags,
            opts=self._child,
        )
