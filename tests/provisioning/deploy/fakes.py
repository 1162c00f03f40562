"""A fake Automation API workspace: stacks with config, a preview that reports a change when
the config (or a pending change) differs from what was last deployed, and an up that can fail.
Every call is recorded in `events`, in order."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FakeStack:
    name: str
    workspace: FakeWorkspace
    config: dict[str, str] = field(default_factory=dict)
    deployed: dict[str, str] | None = None  # the config of the last up; None: never deployed
    pending: bool = False  # a change of the program's inputs outside config (the catalogue)

    def get_all_config(self) -> dict[str, str]:
        return dict(self.config)

    def set_all_config(self, config: dict[str, str]) -> None:
        self.config.update(config)

    def preview(self) -> dict[str, int]:
        self.workspace.events.append(("preview", self.name))
        if self.deployed is None:
            return {"create": 40}
        if self.deployed != self.config or self.pending:
            return {"update": 2, "same": 38}
        return {"same": 40}

    def up(self, target: list[str] | None = None) -> dict[str, int]:
        self.workspace.events.append(("up-target" if target else "up", self.name))
        if self.name in self.workspace.failing:
            raise RuntimeError(f"{self.name}: the service did not reach a steady state")
        if not target:
            self.deployed = dict(self.config)
            self.pending = False
        return {"update": 2}


@dataclass
class FakeWorkspace:
    events: list[tuple[str, str]] = field(default_factory=list)
    stacks: dict[str, FakeStack] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)

    def stack(self, name: str) -> FakeStack:
        if name not in self.stacks:
            self.stacks[name] = FakeStack(name, self)
        return self.stacks[name]

    def stack_names(self) -> set[str]:
        return {n for n, s in self.stacks.items() if s.deployed is not None}

    def ups(self) -> list[str]:
        return [name for op, name in self.events if op == "up"]


def deployed_environment(environment: str, slugs: list[str], image: str) -> FakeWorkspace:
    """An environment where the platform and every tenant stack run `image`."""
    workspace = FakeWorkspace()
    platform = workspace.stack(environment)
    platform.config = {"silo:role": "platform", "aws:region": "eu-west-1", "silo:image": image}
    platform.deployed = dict(platform.config)
    for slug in slugs:
        stack = workspace.stack(f"{environment}.{slug}")
        stack.config = {
            "aws:region": "eu-west-1",
            "silo:image": image,
            "silo:role": "tenant",
            "silo:tenant": slug,
            "silo:environment": environment,
            "silo:platformStack": environment,
        }
        stack.deployed = dict(stack.config)
    return workspace
