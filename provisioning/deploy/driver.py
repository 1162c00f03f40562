"""The deploy itself, against any workspace with the few Automation API methods it uses
(`automation.py` wraps the real one; tests pass a fake that records calls).

Order: the preflight, the platform stack, then tenant stacks wave by wave (`waves`). A tenant
stack gets the environment's config from the platform stack (`layout.SHARED_CONFIG`), is
previewed, and only when the preview shows a change: its migrations run (the new task
definition registered alone, then a one-off task of it), then it is updated. After the canary
wave its alarms must stay OK for the watch period; after every later wave they are checked once.
The first failure stops the deploy; the progress file lets the next run resume there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from provisioning.aws import layout
from provisioning.deploy import progress as progress_file
from provisioning.deploy.waves import DEFAULT_SIZES, plan_waves


class Stack(Protocol):
    name: str

    def get_all_config(self) -> dict[str, str]: ...
    def set_all_config(self, config: dict[str, str]) -> None: ...
    def preview(self) -> dict[str, int]: ...  # change summary: operation -> count
    def up(self, target: list[str] | None = None) -> dict[str, int]: ...


class Workspace(Protocol):
    def stack(self, name: str) -> Stack: ...  # create or select
    def stack_names(self) -> set[str]: ...  # the stacks that exist


class DeployError(Exception):
    """A deploy stopped: a stack failed, an alarm fired, or the preflight refused."""


def changes(summary: dict[str, int]) -> dict[str, int]:
    """The operations of a change summary that change something (not `same`)."""
    return {op: n for op, n in summary.items() if n and op not in ("same", "read")}


def task_definition_urn(stack: str, slug: str, project: str = "silo") -> str:
    return (
        f"urn:pulumi:{stack}::{project}::silo:provisioning:TenantDeployment"
        f"$aws:ecs/taskDefinition:TaskDefinition::{slug}-task"
    )


@dataclass
class Options:
    environment: str
    slugs: Sequence[str]  # every catalogue tenant, in catalogue order
    catalogue_bytes: bytes
    root: Path  # where .silo/ lives
    canary: str | None = None
    sizes: Sequence[int] = DEFAULT_SIZES
    only: str | None = None  # --tenant: that tenant's stack alone (after the platform)
    watch_seconds: float = 600.0
    poll_seconds: float = 30.0
    platform_stack_ref: str | None = None  # the StackReference name, when fully qualified


@dataclass
class Planned:
    stack: str
    summary: dict[str, int]

    @property
    def changes(self) -> dict[str, int]:
        return changes(self.summary)


@dataclass
class Deployer:
    workspace: Workspace
    options: Options
    # slug -> {alarm name: state}; states are OK, ALARM, INSUFFICIENT_DATA.
    alarms: Callable[[str], dict[str, str]]
    # Runs the tenant's migrations with its newest task definition; raises on failure.
    migrate: Callable[[str], None] = lambda slug: None
    # Refuses a plan over quota (raises DeployError) given the tenant stacks to be created.
    preflight: Callable[[list[str]], None] = lambda new: None
    sleep: Callable[[float], None] = lambda seconds: None
    say: Callable[[str], None] = print
    log: list[str] = field(default_factory=list)

    # -- stacks -------------------------------------------------------------------------------

    @property
    def platform_name(self) -> str:
        return layout.platform_stack(self.options.environment)

    def _tenant_slugs(self) -> list[str]:
        if self.options.only:
            if self.options.only not in self.options.slugs:
                raise DeployError(f"{self.options.only!r} is not a tenant of the catalogue")
            return [self.options.only]
        return list(self.options.slugs)

    def _shared_config(self) -> dict[str, str]:
        config = self.workspace.stack(self.platform_name).get_all_config()
        return {k: v for k, v in config.items() if k in layout.SHARED_CONFIG}

    def _tenant_stack(self, slug: str, shared: dict[str, str]) -> Stack:
        env = self.options.environment
        stack = self.workspace.stack(layout.tenant_stack(env, slug))
        stack.set_all_config(
            {**shared, **layout.tenant_config(env, slug, self.options.platform_stack_ref)}
        )
        return stack

    # -- plan ---------------------------------------------------------------------------------

    def plan(self) -> list[Planned]:
        """Preview every stack this deploy would touch; change nothing but tenant config."""
        planned = [Planned(self.platform_name, self.workspace.stack(self.platform_name).preview())]
        shared = self._shared_config()
        for slug in self._tenant_slugs():
            stack = self._tenant_stack(slug, shared)
            planned.append(Planned(stack.name, stack.preview()))
        for item in planned:
            what = ", ".join(f"{op} {n}" for op, n in sorted(item.changes.items()))
            self.say(f"{item.stack}: {what or 'no change'}")
        return planned

    # -- deploy -------------------------------------------------------------------------------

    def deploy(self) -> None:
        opts = self.options
        shared = self._shared_config()
        state_path = progress_file.state_path(opts.root, opts.environment)
        fingerprint = progress_file.fingerprint(opts.catalogue_bytes, shared)
        progress = progress_file.load(state_path, fingerprint)
        if progress.failed:
            self.say(f"resuming after {len(progress.done)} stack(s); stopped at {progress.failed}")
        progress.failed = progress.reason = None

        existing = self.workspace.stack_names()
        slugs = self._tenant_slugs()
        new = [s for s in slugs if layout.tenant_stack(opts.environment, s) not in existing]
        self.preflight(new)  # before anything is created

        def stop(stack: str, reason: str) -> DeployError:
            progress.failed, progress.reason = stack, reason
            progress_file.save(state_path, progress)
            return DeployError(f"{stack}: {reason} (run silo deploy again to resume)")

        if not progress.is_done(self.platform_name):
            try:
                self._update(self.workspace.stack(self.platform_name))
            except Exception as exc:
                raise stop(self.platform_name, str(exc)) from exc
            progress.done.append(self.platform_name)
            progress_file.save(state_path, progress)

        waves = plan_waves(slugs, canary=opts.canary if not opts.only else None, sizes=opts.sizes)
        for number, wave in enumerate(waves):
            for slug in wave:
                name = layout.tenant_stack(opts.environment, slug)
                if progress.is_done(name):
                    continue
                try:
                    self._update_tenant(slug, shared, existed=name in existing)
                except Exception as exc:
                    raise stop(name, str(exc)) from exc
                progress.done.append(name)
                progress_file.save(state_path, progress)
            watch = opts.watch_seconds if number == 0 and not opts.only else 0.0
            firing = self._watch(wave, watch)
            if firing:
                raise stop(
                    layout.tenant_stack(opts.environment, firing[0]),
                    f"alarm {firing[1]} is in ALARM after wave {number + 1}",
                )
        progress_file.save(state_path, progress)
        self.say(f"deployed: {len(progress.done)} stack(s) up to date")

    def _update(self, stack: Stack) -> bool:
        summary = changes(stack.preview())
        if not summary:
            self.log.append(f"unchanged {stack.name}")
            return False
        stack.up()
        self.log.append(f"up {stack.name}")
        return True

    def _update_tenant(self, slug: str, shared: dict[str, str], *, existed: bool) -> None:
        stack = self._tenant_stack(slug, shared)
        summary = changes(stack.preview())
        if not summary:
            self.log.append(f"unchanged {stack.name}")
            return
        if existed:
            # The new image's task definition alone (the service keeps its revision), then
            # its migrations as a one-off task; the service rolls only when they succeeded.
            stack.up(target=[task_definition_urn(stack.name, slug)])
            self.log.append(f"task-definition {stack.name}")
            self.migrate(slug)
            self.log.append(f"migrated {stack.name}")
        stack.up()
        self.log.append(f"up {stack.name}")

    def _watch(self, wave: list[str], seconds: float) -> tuple[str, str] | None:
        """The first (slug, alarm) in ALARM among the wave's tenants, polled for `seconds`."""
        waited = 0.0
        while True:
            for slug in wave:
                for alarm, state in sorted(self.alarms(slug).items()):
                    if state == "ALARM":
                        return slug, alarm
            if waited >= seconds:
                return None
            step = min(self.options.poll_seconds, seconds - waited)
            self.sleep(step)
            waited += step
