"""One tenant's isolated deployment: `TenantDeployment` (component.py) and its inputs
(inputs.py); one module per concern: storage."""

from provisioning.aws.tenant.component import TenantDeployment
from provisioning.aws.tenant.inputs import TenantDeploymentArgs

__all__ = ["TenantDeployment", "TenantDeploymentArgs"]
