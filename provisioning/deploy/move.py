"""Moving a single-stack environment (every tenant in the stack `<environment>`) to the
platform stack (the same stack, left with the platform) and one stack per tenant, without
replacing a resource: `pulumi state move` rewrites the state, and each tenant's resources keep
their names, parents and inputs, so the next preview of every stack is empty.

`moved_urn` is the mapping, `commands` the CLI lines (docs/operations/moving-stacks.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from provisioning.aws import layout

COMPONENT = "silo:provisioning:TenantDeployment"


def _parts(urn: str) -> tuple[str, str, str, str]:
    # urn:pulumi:<stack>::<project>::<qualified type>::<name>
    head, project, qualified_type, name = urn.split("::", 3)
    return head.removeprefix("urn:pulumi:"), project, qualified_type, name


def tenant_of(urn: str, slugs: Iterable[str]) -> str | None:
    """The tenant whose component holds `urn` (the component itself included), or None for
    a platform resource. A tenant resource's type chain starts at the tenant's component and
    its name is `<slug>` or `<slug>-...`; the longest slug wins (`pack` vs `pack-b`)."""
    _, _, qualified_type, name = _parts(urn)
    chain = qualified_type.split("$")
    if COMPONENT not in chain:
        return None
    matches = [s for s in slugs if name == s or name.startswith(f"{s}-")]
    if not matches:
        raise ValueError(f"{urn}: a tenant resource of no catalogue tenant")
    return max(matches, key=len)


def moved_urn(urn: str, slugs: Iterable[str]) -> str:
    """Where `urn` (of the single stack) lives after the move: the same URN in the tenant's
    stack for a tenant's resource, unchanged for the platform's."""
    stack, project, qualified_type, name = _parts(urn)
    slug = tenant_of(urn, slugs)
    if slug is None:
        return urn
    return f"urn:pulumi:{layout.tenant_stack(stack, slug)}::{project}::{qualified_type}::{name}"


def commands(environment: str, project: str, slugs: Iterable[str]) -> list[str]:
    """One `pulumi state move` per tenant: its component's URN (the children follow)."""
    lines = []
    for slug in slugs:
        urn = f"urn:pulumi:{environment}::{project}::{COMPONENT}::{slug}"
        lines.append(
            f"pulumi state move --source {environment} "
            f"--dest {layout.tenant_stack(environment, slug)} --yes '{urn}'"
        )
    return lines
