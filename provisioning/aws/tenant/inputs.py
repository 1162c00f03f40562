"""What a tenant's deployment is built from: `TenantDeploymentArgs` (what the stack passes in)
and `Context` (what every concern's function shares: names, tags, the parent, its options)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from provisioning.aws.platform import LoadBalancer, Platform
from provisioning.service_env import SERVICE_PORT
from tenants.model import Tenant
from tenants.names import TenantNames


@dataclass
class TenantDeploymentArgs:
    tenant: Tenant
    names: TenantNames
    platform: Platform
    image: str  # the stack's default (`silo:image`); a tenant's `api.image` overrides it
    region: str
    account_id: str
    partition: str = "aws"
    log_retention_days: int = 30
    port: int = SERVICE_PORT
    hosted_zone_id: str | None = None  # when set, an alias record for the tenant's host
    # The platform's ClamAV signature bucket, which clamav tenants' scanners load from
    # (provisioning/aws/signatures.py).
    signatures_bucket: pulumi.Input[str] | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    # Logical names (and so URNs) are `<name>-<resource>` under `parent`: the stack state of
    # every deployed tenant depends on them.
    name: str
    parent: pulumi.Resource
    args: TenantDeploymentArgs
    tags: dict[str, str]
    image: str
    load_balancer: LoadBalancer

    @classmethod
    def of(cls, name: str, parent: pulumi.Resource, args: TenantDeploymentArgs) -> Context:
        return cls(
            name=name,
            parent=parent,
            args=args,
            tags={**args.tags, "silo:tenant": args.tenant.slug},
            image=args.tenant.api.image or args.image,
            # Where the tenant was placed (tenants.yaml `load_balancer`); it never moves.
            load_balancer=args.platform.load_balancers[args.tenant.load_balancer],
        )

    @property
    def tenant(self) -> Tenant:
        return self.args.tenant

    @property
    def names(self) -> TenantNames:
        return self.args.names

    @property
    def platform(self) -> Platform:
        return self.args.platform

    def child(self, **options) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.parent, **options)

    # Data lives in the bucket and the database: `pulumi destroy` or dropping the tenant from
    # the file must not delete them; what they still use (the database's security group and
    # log group) and the bucket's protective settings are retained with them.
    def keep(self, **options) -> pulumi.ResourceOptions:
        return self.child(protect=True, retain_on_delete=True, **options)

    def keep_settings(self) -> pulumi.ResourceOptions:
        return self.child(retain_on_delete=True)
