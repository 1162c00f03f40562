"""The two programs of the Pulumi project: `platform` (what tenants share) and `tenant` (one
tenant, reading the platform through a `StackReference`). `pulumi/__main__.py` reads the config
once into `Settings` and calls the one `silo:role` names (see `provisioning.aws.layout`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from provisioning.aws import layout, platform_outputs
from provisioning.aws.platform import Platform, PlatformArgs
from provisioning.aws.signatures import Signatures, SignaturesArgs
from provisioning.aws.tenant import TenantDeployment, TenantDeploymentArgs
from tenants import CatalogueError, load_catalogue, names
from tenants.model import Catalogue


@dataclass(frozen=True)
class Settings:
    role: str
    stack: str
    region: str
    image: str | None
    tenants_file: Path
    certificate_arn: str | None
    development: bool
    hosted_zone_id: str | None
    # platform only
    vpc_cidr: str = "10.0.0.0/16"
    alarm_email: str | None = None
    availability_zones: tuple[str, ...] = ()
    # tenant only
    environment: str | None = None
    tenant: str | None = None
    platform_stack: str | None = None


def read_settings(here: Path) -> Settings:
    config = pulumi.Config("silo")
    role = config.get("role")
    if role not in layout.ROLES:
        raise pulumi.RunError(
            f"silo:role must be one of {', '.join(layout.ROLES)} (got {role!r}): a stack holds "
            "the platform or one tenant (docs/operations/deploying.md; a stack deployed before "
            "the split is moved first, docs/operations/moving-stacks.md)"
        )
    stack = pulumi.get_stack()
    environment = config.get("environment") or layout.split_stack(stack)[0]
    return Settings(
        role=role,
        stack=stack,
        region=pulumi.Config("aws").require("region"),
        # A tenant stack runs it; the platform keeps the environment's for `silo deploy`.
        image=config.require("image") if role == layout.TENANT else config.get("image"),
        tenants_file=here / config.get("tenantsFile", "../tenants.yaml"),
        certificate_arn=config.get("certificateArn"),
        development=bool(config.get_bool("development")),
        hosted_zone_id=config.get("hostedZoneId"),
        vpc_cidr=config.get("vpcCidr") or "10.0.0.0/16",
        alarm_email=config.get("alarmEmail"),
        availability_zones=tuple(config.get_object("availabilityZones") or ()),
        environment=environment,
        tenant=config.get("tenant"),
        platform_stack=config.get("platformStack") or layout.platform_stack(environment),
    )


def _catalogue(settings: Settings, scope_stack: str) -> tuple[Catalogue, names.Scope]:
    try:
        catalogue = load_catalogue(settings.tenants_file)
        return catalogue, names.Scope(catalogue.platform.name, scope_stack)
    except (CatalogueError, ValueError) as exc:
        raise pulumi.RunError(str(exc)) from None


def _refuse_plain_http(settings: Settings) -> None:
    # Plain HTTP carries admin keys and files in clear: only a stack marked as a development
    # stack may run without a certificate.
    if not settings.certificate_arn and not settings.development:
        raise pulumi.RunError(
            "silo:certificateArn is not set: the stack would serve plain HTTP. Set a "
            "certificate, or mark the stack as a development stack with silo:development true"
        )


def _zones(settings: Settings) -> list[str]:
    """The two zones of the network. Pinned in config (`silo:availabilityZones`): a live
    lookup that one day answers a different list would replace subnets and NAT gateways."""
    if settings.availability_zones:
        return list(settings.availability_zones)
    zones = aws.get_availability_zones(state="available").names[:2]
    pulumi.log.warn(
        f"silo:availabilityZones is not set; using {zones}. Pin them: "
        f"pulumi config set --path 'silo:availabilityZones[0]' {zones[0]} (and [1])"
    )
    return zones


def platform(settings: Settings) -> Platform:
    """The platform stack: network, load balancers and listeners, endpoint, cluster, alarm
    topic; its outputs are what tenant stacks read."""
    catalogue, scope = _catalogue(settings, settings.stack)
    _refuse_plain_http(settings)
    tags = {"silo:platform": scope.prefix, "silo:stack": scope.stack}
    shared = Platform(
        scope.base,
        PlatformArgs(
            scope=scope,
            availability_zones=_zones(settings),
            region=settings.region,
            vpc_cidr=settings.vpc_cidr,
            certificate_arn=settings.certificate_arn,
            load_balancers=catalogue.load_balancers,
            alarm_email=settings.alarm_email,
            tags=tags,
        ),
    )
    identity = aws.get_caller_identity()
    # ClamAV signatures for every clamav tenant's scanner: one updater, one bucket.
    signatures = Signatures(
        f"{scope.base}-signatures",
        SignaturesArgs(
            scope=scope,
            region=settings.region,
            account_id=identity.account_id,
            partition=identity.arn.split(":")[1],
            vpc_id=shared.vpc_id,
            subnet_ids=shared.private_subnet_ids,
            cluster_arn=shared.cluster_arn,
            alarm_topic_arn=shared.alarm_topic_arn,
            log_retention_days=catalogue.platform.log_retention_days,
            tags=tags,
        ),
    )
    for key, value in platform_outputs.exports(shared, signatures.bucket_name).items():
        pulumi.export(key, value)
    pulumi.export("albDnsName", shared.load_balancers[0].dns_name)
    # Where each load balancer's tenants' hosts point (index = tenants.yaml `load_balancer`).
    pulumi.export("albDnsNames", [lb.dns_name for lb in shared.load_balancers])
    return shared


def tenant(settings: Settings) -> TenantDeployment:
    """A tenant stack: that tenant alone, on the platform its `StackReference` names."""
    if not settings.tenant or not settings.image:
        raise pulumi.RunError("a tenant stack needs silo:tenant (silo deploy sets it)")
    environment = settings.environment or settings.stack
    catalogue, scope = _catalogue(settings, environment)
    _refuse_plain_http(settings)
    try:
        entry = catalogue.tenant(settings.tenant)
    except KeyError as exc:
        raise pulumi.RunError(
            f"{exc.args[0]}: an offboarded tenant's stack is destroyed, not updated "
            "(docs/operations/offboarding.md)"
        ) from None
    identity = aws.get_caller_identity()
    reference = pulumi.StackReference("platform", stack_name=settings.platform_stack)
    shared = platform_outputs.PlatformReference(reference, https=bool(settings.certificate_arn))
    tags = {"silo:platform": scope.prefix, "silo:stack": scope.stack}
    deployment = TenantDeployment(
        entry.slug,
        TenantDeploymentArgs(
            tenant=entry,
            names=names.for_tenant(
                scope, entry, account_id=identity.account_id, region=settings.region
            ),
            platform=shared,  # type: ignore[arg-type]  # Platform's attributes, read back
            image=settings.image,
            region=settings.region,
            account_id=identity.account_id,
            partition=identity.arn.split(":")[1],
            log_retention_days=catalogue.platform.log_retention_days,
            hosted_zone_id=settings.hosted_zone_id,
            signatures_bucket=shared.signatures_bucket,
            tags=tags,
        ),
    )
    for key, value in deployment.exports().items():
        pulumi.export(key, value)
    return deployment
