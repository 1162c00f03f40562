"""What is wrong with a catalogue: every problem, each naming file, tenant and field."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    file: str
    tenant: str | None  # the tenant's slug, or "tenants[<index>]" when it has no usable slug
    field: str  # dotted path inside the tenant (or from the top of the file when tenant is None)
    message: str

    def __str__(self) -> str:
        if self.tenant is None:
            return f"{self.file}: {self.field}: {self.message}"
        who = self.tenant if self.tenant.startswith("tenants[") else f"tenant {self.tenant!r}"
        return f"{self.file}: {who}: {self.field}: {self.message}"


class CatalogueError(Exception):
    """The catalogue cannot be used; `problems` lists everything wrong with it, not just the
    first thing."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        count = len(self.problems)
        lines = [f"{count} problem{'s' if count != 1 else ''} in the tenant catalogue:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))
