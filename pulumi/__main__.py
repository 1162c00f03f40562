"""The Silo stack: one shared Platform and one isolated TenantDeployment per catalogue tenant.

Config (see Pulumi.example.yaml): silo:image (required), silo:tenantsFile (default
../tenants.yaml, relative to this directory), silo:certificateArn, silo:hostedZoneId,
silo:vpcCidr, silo:development, silo:alarmEmail, aws:region (required).
"""

from pathlib import Path

import pulumi
import pulumi_aws as aws

from provisioning.aws.platform import Platform, PlatformArgs
from provisioning.aws.signatures import Signatures, SignaturesArgs
from provisioning.aws.tenant import TenantDeployment, TenantDeploymentArgs
from tenants import CatalogueError, load_catalogue, names

HERE = Path(__file__).resolve().parent

config = pulumi.Config("silo")
region = pulumi.Config("aws").require("region")
image = config.require("image")
tenants_file = HERE / config.get("tenantsFile", "../tenants.yaml")

try:
    catalogue = load_catalogue(tenants_file)
    scope = names.Scope(catalogue.platform.name, pulumi.get_stack())
except (CatalogueError, ValueError) as exc:
    raise pulumi.RunError(str(exc)) from None

# Plain HTTP carries admin keys and files in clear: only a stack marked as a development stack
# may run without a certificate.
if not config.get("certificateArn") and not config.get_bool("development"):
    raise pulumi.RunError(
        "silo:certificateArn is not set: the stack would serve plain HTTP. Set a certificate, "
        "or mark the stack as a development stack with silo:development true"
    )

identity = aws.get_caller_identity()
partition = identity.arn.split(":")[1]
zones = aws.get_availability_zones(state="available").names
tags = {"silo:platform": scope.prefix, "silo:stack": scope.stack}

platform = Platform(
    scope.base,
    PlatformArgs(
        scope=scope,
        availability_zones=zones[:2],
        region=region,
        vpc_cidr=config.get("vpcCidr") or "10.0.0.0/16",
        certificate_arn=config.get("certificateArn"),
        load_balancers=catalogue.load_balancers,
        alarm_email=config.get("alarmEmail"),
        tags=tags,
    ),
)

# ClamAV signatures for every clamav tenant's scanner: one updater, one bucket.
signatures = Signatures(
    f"{scope.base}-signatures",
    SignaturesArgs(
        scope=scope,
        region=region,
        account_id=identity.account_id,
        partition=partition,
        vpc_id=platform.vpc_id,
        subnet_ids=platform.private_subnet_ids,
        cluster_arn=platform.cluster_arn,
        alarm_topic_arn=platform.alarm_topic_arn,
        log_retention_days=catalogue.platform.log_retention_days,
        tags=tags,
    ),
)

exports = {}
for tenant in catalogue.tenants:
    deployment = TenantDeployment(
        tenant.slug,
        TenantDeploymentArgs(
            tenant=tenant,
            names=names.for_tenant(scope, tenant, account_id=identity.account_id, region=region),
            platform=platform,
            image=image,
            region=region,
            account_id=identity.account_id,
            partition=partition,
            log_retention_days=catalogue.platform.log_retention_days,
            hosted_zone_id=config.get("hostedZoneId"),
            signatures_bucket=signatures.bucket_name,
            tags=tags,
        ),
    )
    exports[tenant.slug] = deployment.exports()

pulumi.export("tenants", exports)
pulumi.export("albDnsName", platform.load_balancers[0].dns_name)
# Where each load balancer's tenants' hosts point (index = tenants.yaml `load_balancer`).
pulumi.export("albDnsNames", [lb.dns_name for lb in platform.load_balancers])
pulumi.export("clusterName", platform.cluster_name)
