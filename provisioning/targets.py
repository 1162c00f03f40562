"""From a catalogue tenant to the service's environment contract (`ServiceTarget`).

The one mapping both the Pulumi task definition and `silo dev` use, so a tenant runs with the
same settings in the cloud and on a laptop; only the endpoints differ.
"""

from __future__ import annotations

from dataclasses import asdict

from provisioning.service_env import ServiceTarget
from tenants.model import Tenant
from tenants.names import TenantNames

DEFAULT_PORT = 8000


def service_target(
    tenant: Tenant,
    names: TenantNames,
    *,
    region: str,
    database_host: str,
    database_port: int,
    port: int = DEFAULT_PORT,
    s3_endpoint_url: str | None = None,
) -> ServiceTarget:
    """What `tenant`'s service instance is started with (see `service_environment`)."""
    return ServiceTarget(
        tenant=tenant.slug,
        bucket=names.bucket,
        region=region,
        database_host=database_host,
        database_port=int(database_port),
        database_name=names.database_name,
        max_upload_bytes=tenant.limits.max_upload_bytes,
        allowed_types=tuple(tenant.limits.allowed_types),
        port=port,
        s3_endpoint_url=s3_endpoint_url,
        taxonomy=asdict(tenant.taxonomy),
    )
