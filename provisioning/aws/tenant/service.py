"""The tenant's ECS service on the platform's cluster, and its autoscaling (target tracking
on CPU and on requests per task)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from provisioning.aws.tenant.inputs import Context
from tenants.names import CONTAINER_NAME


def fargate_service(
    ctx: Context,
    task_definition: aws.ecs.TaskDefinition,
    task_sg: aws.ec2.SecurityGroup,
    target_group: aws.lb.TargetGroup,
    ready_before: list[pulumi.Resource],
) -> aws.ecs.Service:
    """The ECS service; `ready_before` must exist before its first task starts."""
    tenant, platform = ctx.tenant, ctx.platform
    return aws.ecs.Service(
        f"{ctx.name}-service",
        name=ctx.names.ecs_service,
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
                "container_port": ctx.args.port,
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
        tags=ctx.tags,
        opts=ctx.child(
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


def scaling(ctx: Context, service: aws.ecs.Service, target_group: aws.lb.TargetGroup) -> None:
    """Target tracking on CPU and on requests per task, between min_tasks and max_tasks."""
    name, api, n = ctx.name, ctx.tenant.api, ctx.names
    platform = ctx.platform
    target = aws.appautoscaling.Target(
        f"{name}-scaling",
        service_namespace="ecs",
        scalable_dimension="ecs:service:DesiredCount",
        resource_id=pulumi.Output.concat("service/", platform.cluster_name, "/", service.name),
        min_capacity=api.min_tasks,
        max_capacity=api.max_tasks,
        tags=ctx.tags,
        opts=ctx.child(),
    )
    for policy_name, metric, target_value, label in (
        (n.cpu_scaling_policy, "ECSServiceAverageCPUUtilization", api.target_cpu_percent, None),
        (
            n.requests_scaling_policy,
            "ALBRequestCountPerTarget",
            api.target_requests_per_task,
            pulumi.Output.concat(ctx.load_balancer.arn_suffix, "/", target_group.arn_suffix),
        ),
    ):
        metric_spec: dict = {"predefined_metric_type": metric}
        if label is not None:
            metric_spec["resource_label"] = label
        aws.appautoscaling.Policy(
            f"{name}-scale-{metric_kind(metric)}",
            name=policy_name,
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration={
                "target_value": float(target_value),
                "predefined_metric_specification": metric_spec,
                "scale_in_cooldown": 300,
                "scale_out_cooldown": 60,
            },
            opts=ctx.child(),
        )


def metric_kind(metric: str) -> str:
    return "cpu" if "CPU" in metric else "requests"
