"""The ECS container definition of a tenant's service, as a pure function."""

from __future__ import annotations

import json
from collections.abc import Mapping
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
) -> list[dict[str, Any]]:
    environment = service_environment(target)
    return [
        {
            "name": CONTAINER_NAME,
            "image": image,
            "essential": True,
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
        }
    ]


def container_definitions_json(**kwargs: Any) -> str:
    return json.dumps(container_definitions(**kwargs), sort_keys=True)
