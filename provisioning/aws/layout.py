"""How an environment is split into Pulumi stacks (one project, `pulumi/`):

- the platform stack is named after the environment (`prod`) and has `silo:role: platform`;
- each tenant has its own stack `<environment>.<slug>` (`prod.pack`) with `silo:role: tenant`,
  `silo:tenant: <slug>` and `silo:environment: <environment>`; it reads the platform's outputs
  (`platform_outputs.OUTPUTS`) through a `StackReference`.

The environment's settings (`SHARED_CONFIG`) are set on the platform stack; `silo deploy`
copies them to a tenant stack right before it previews or updates it, so a tenant stack's
config is what it was last deployed with. Pure names, no Pulumi import.
"""

from __future__ import annotations

PLATFORM = "platform"
TENANT = "tenant"
ROLES = (PLATFORM, TENANT)

# Config the tenant stacks take from the platform stack (the environment's settings).
SHARED_CONFIG = (
    "aws:region",
    "silo:image",
    "silo:tenantsFile",
    "silo:certificateArn",
    "silo:hostedZoneId",
    "silo:development",
)


def platform_stack(environment: str) -> str:
    return environment


def tenant_stack(environment: str, slug: str) -> str:
    # Neither an environment nor a slug may contain a period (tenants.names.label_problem),
    # so the split is never ambiguous; Pulumi allows periods in stack names.
    return f"{environment}.{slug}"


def split_stack(stack: str) -> tuple[str, str | None]:
    """(environment, slug) of a stack name; slug None for a platform stack."""
    environment, _, slug = stack.partition(".")
    return environment, slug or None


def tenant_config(environment: str, slug: str, platform_stack_ref: str | None = None) -> dict:
    """The config that makes a stack tenant `slug`'s stack of `environment`."""
    return {
        "silo:role": TENANT,
        "silo:tenant": slug,
        "silo:environment": environment,
        "silo:platformStack": platform_stack_ref or platform_stack(environment),
    }
