"""One tenant's isolated deployment, one module per concern:

- `component`: `TenantDeployment`, which calls the others in this order;
- `inputs`: `TenantDeploymentArgs`, and the `Context` every concern shares;
- `storage`: the bucket and its settings; `scanning`: GuardDuty malware protection;
- `network`: security groups; `database`: RDS and its log group;
- `admin_key`: the bootstrap admin key; `roles`: execution and task roles;
- `task`: log group and task definition; `routing`: target group, host rule, DNS;
- `service`: the ECS service and its autoscaling; `monitoring`: alarms and dashboard.
"""

from provisioning.aws.tenant.component import TenantDeployment
from provisioning.aws.tenant.inputs import TenantDeploymentArgs

__all__ = ["TenantDeployment", "TenantDeploymentArgs"]
