"""One tenant's isolated deployment: `TenantDeployment` (component.py)."""

from provisioning.aws.tenant.component import TenantDeployment, TenantDeploymentArgs

__all__ = ["TenantDeployment", "TenantDeploymentArgs"]
