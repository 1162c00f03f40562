"""The real things behind the driver: Pulumi's Automation API (the `pulumi/` project through the
CLI), CloudWatch alarm states, and the migration task on ECS. Not run by the tests (no Pulumi
CLI, no AWS here); the driver is tested against fakes with these methods."""

from __future__ import annotations

from pathlib import Path

from pulumi import automation as auto

PROJECT_DIR = Path(__file__).resolve().parents[2] / "pulumi"


class AutomationStack:
    def __init__(self, stack: auto.Stack, say) -> None:
        self._stack, self._say = stack, say
        self.name = stack.name

    def get_all_config(self) -> dict[str, str]:
        return {k: v.value for k, v in self._stack.get_all_config().items()}

    def set_all_config(self, config: dict[str, str]) -> None:
        self._stack.set_all_config({k: auto.ConfigValue(value=v) for k, v in config.items()})

    def preview(self) -> dict[str, int]:
        result = self._stack.preview(diff=True)
        return {
            str(op.value if hasattr(op, "value") else op): n
            for op, n in result.change_summary.items()
        }

    def up(self, target: list[str] | None = None) -> dict[str, int]:
        result = self._stack.up(target=target, on_output=self._say)
        return dict(result.summary.resource_changes or {})


class AutomationWorkspace:
    def __init__(self, say=print, work_dir: Path = PROJECT_DIR) -> None:
        self._say, self._work_dir = say, str(work_dir)
        self._stacks: dict[str, AutomationStack] = {}

    def stack(self, name: str) -> AutomationStack:
        if name not in self._stacks:
            stack = auto.create_or_select_stack(stack_name=name, work_dir=self._work_dir)
            self._stacks[name] = AutomationStack(stack, self._say)
        return self._stacks[name]

    def stack_names(self) -> set[str]:
        workspace = auto.LocalWorkspace(work_dir=self._work_dir)
        return {summary.name for summary in workspace.list_stacks()}


def alarm_reader(cloudwatch, prefix_of):
    """slug -> {alarm name: state} of the tenant's alarms (names start with its prefix)."""

    def states(slug: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for page in cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNamePrefix=prefix_of(slug)
        ):
            for alarm in page["MetricAlarms"]:
                found[alarm["AlarmName"]] = alarm["StateValue"]
        return found

    return states


def ecs_migrator(ecs, *, cluster_of, service_of, family_of, container: str = "api"):
    """Run `python -m service migrate` as a one-off task of the tenant's newest task definition
    (registered just before by the targeted update), in the service's own subnets and security
    group; raise unless it exits 0."""

    def migrate(slug: str) -> None:
        cluster = cluster_of(slug)
        service = ecs.describe_services(cluster=cluster, services=[service_of(slug)])
        network = service["services"][0]["networkConfiguration"]
        task_definition = ecs.describe_task_definition(taskDefinition=family_of(slug))
        started = ecs.run_task(
            cluster=cluster,
            taskDefinition=task_definition["taskDefinition"]["taskDefinitionArn"],
            launchType="FARGATE",
            networkConfiguration=network,
            overrides={
                "containerOverrides": [
                    {"name": container, "command": ["python", "-m", "service", "migrate"]}
                ]
            },
            startedBy="silo-deploy",
        )
        if started.get("failures"):
            raise RuntimeError(f"the migration task did not start: {started['failures']}")
        arn = started["tasks"][0]["taskArn"]
        # Up to an hour: a migration is bounded by this, not by a health-check grace.
        ecs.get_waiter("tasks_stopped").wait(
            cluster=cluster, tasks=[arn], WaiterConfig={"Delay": 15, "MaxAttempts": 240}
        )
        task = ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]
        code = next((c.get("exitCode") for c in task["containers"] if c["name"] == container), None)
        if code != 0:
            raise RuntimeError(
                f"the migration task {arn} exited {code} ({task.get('stoppedReason', '')}); "
                "its log is in the tenant's log group"
            )

    return migrate
