"""The ECS container definition of a tenant's service, as a pure function."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from provisioning.service_env import ServiceTarget, ecs_secrets, service_environment
from provisioning.timeouts import TIMEOUTS
from tenants.names import CONTAINER_NAME

# Seconds ECS waits after SIGTERM before SIGKILL (see provisioning.timeouts).
STOP_TIMEOUT = TIMEOUTS.stop_timeout


def container_definitions(
    *,
    target: ServiceTarget,
    image: str,
    secret_arns: Mapping[str, str],
    log_group: str,
    memory: int | None = None,
    sidecars: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """The service's container, then `sidecars` (the clamav scanner's, when it has one). With
    sidecars, `memory` is the service's own hard limit, what the task leaves it: its admission
    cap reads that limit (service/http/admission.py)."""
    environment = service_environment(target)
    limit = {"memory": memory} if memory is not None else {}
    return [
        {
            "name": CONTAINER_NAME,
            "image": image,
            "essential": True,
            **limit,
            "portMappings": [{"containerPort": target.port, "protocol": "tcp"}],
            "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
            "secrets": ecs_secrets(secret_arns),
            "stopTimeout": STOP_TIMEOUT,
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": log_group,
                    "awslogs-region": target.region,
                    "awslogs-stream-prefix": CONTAINER_NAME,
                },
            },
        },
        *sidecars,
    ]


def container_definitions_json(**kwargs: Any) -> str:
    return json.dumps(container_definitions(**kwargs), sort_keys=True)
