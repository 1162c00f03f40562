"""The clamav scanner of a tenant's task, and the platform's signature updater, as pure
functions (container definitions, names, constants). Pulumi resources: `signatures.py` (the
platform's bucket and updater) and `tenant/task.py` (the sidecars in the tenant's task).

- `clamd`: the official ClamAV image, listening on the task's loopback only (awsvpc tasks share
  one network namespace, so the service reaches it at 127.0.0.1 and nothing outside the task
  can: no port mapping, no security group rule). `ConcurrentDatabaseReload no`.
- `signatures`: the AWS CLI, syncing the platform's signature bucket (read-only, task role)
  into a volume shared with clamd, before clamd starts and every 15 minutes after; RELOAD on
  change. Every minute it logs a JSON heartbeat (clamd up, loaded daily version), which a
  metric filter turns into the `Silo/Scanning` metrics the scanner-down alarm watches.
- the updater (`signatures.py`): fetch the bucket, freshclam, publish the bucket and the daily
  version; the only writer of the bucket and the only task that reaches ClamAV's mirrors.

Design: docs/operations/scanning.md.
"""

from __future__ import annotations

from typing import Any

from provisioning.service_env import SIDECAR_CLAMD_ADDRESS
from tenants.scanner import CLAMD_MEMORY_MIB, SIGNATURES_MEMORY_MIB

CLAMD_PORT = 3310
# What the service is told (SILO_CLAMD_ADDRESS): the task's own loopback.
CLAMD_ADDRESS = SIDECAR_CLAMD_ADDRESS
assert CLAMD_ADDRESS.endswith(f":{CLAMD_PORT}")
CLAMD_CONTAINER = "clamd"
SIGNATURES_CONTAINER = "signatures"
SIGNATURES_VOLUME = "signatures"
SIGNATURES_PATH = "/var/lib/clamav-signatures"
# Where the updater keeps the database in the platform's signature bucket.
SIGNATURES_PREFIX = "clamav/"
# Pinned images, pulled through the NAT (mirror them to ECR to pull from inside the VPC).
CLAMAV_IMAGE = "clamav/clamav:1.4"
AWS_CLI_IMAGE = "public.ecr.aws/aws-cli/aws-cli:2.22.35"
SYNC_EVERY_SECONDS = 900
HEARTBEAT_SECONDS = 60
# freshclam runs this often; ClamAV asks mirrors' users to check at most once an hour.
UPDATE_SCHEDULE = "rate(2 hours)"
METRICS_NAMESPACE = "Silo/Scanning"
SIGNATURES_NAMESPACE = "Silo/Signatures"
HEARTBEAT_MARK = "silo-scanner-heartbeat"

CLAMD_CONF = (
    "Foreground yes",
    "LogTime yes",
    f"TCPSocket {CLAMD_PORT}",
    # Loopback only: the task's own containers, nothing else.
    "TCPAddr 127.0.0.1",
    f"DatabaseDirectory {SIGNATURES_PATH}",
    # No second engine during a reload: the memory stays ~1.3 GB instead of ~2.6 GB, and scans
    # wait for the reload (tens of seconds, a few times a day) instead.
    "ConcurrentDatabaseReload no",
    # A fallback if a RELOAD from the sync is missed: clamd checks the directory itself.
    "SelfCheck 3600",
)

# One `;`-joined line each, run by bash (the aws-cli image has it): the first sync, then the
# loop. `/dev/tcp` speaks clamd's protocol without a client binary.
_CLAMD_SAY = (
    "say() { exec 3<>/dev/tcp/127.0.0.1/" + str(CLAMD_PORT) + " || return 1; "
    "printf 'z%s\\0' \"$1\" >&3; IFS= read -r -d '' -t 5 reply <&3; exec 3<&-; "
    'echo "$reply"; }'
)
_STATE = f"state() {{ ls -l --time-style=+%s {SIGNATURES_PATH} 2>/dev/null | md5sum; }}"
_SYNC = (
    'sync() { aws s3 sync "s3://$SIGNATURES_BUCKET/' + SIGNATURES_PREFIX + '" '
    f"{SIGNATURES_PATH}/ --only-show-errors --exact-timestamps; }}"
)
_VERSION = (
    f"version() {{ head -c 512 {SIGNATURES_PATH}/daily.c?d 2>/dev/null | cut -d: -f3 "
    "| tr -dc 0-9; }"
)
SIGNATURES_SCRIPT = "; ".join(
    (
        "set -u",
        _CLAMD_SAY,
        _STATE,
        _SYNC,
        _VERSION,
        f"until sync && ls {SIGNATURES_PATH}/daily.c?d {SIGNATURES_PATH}/main.c?d "
        ">/dev/null 2>&1; do echo 'waiting for the platform signatures'; sleep 30; done",
        "n=0",
        "while true; do "
        f"sleep {HEARTBEAT_SECONDS}; n=$((n + 1)); "
        f"if [ $((n * {HEARTBEAT_SECONDS})) -ge {SYNC_EVERY_SECONDS} ]; then n=0; "
        "before=$(state); sync; "
        '[ "$(state)" != "$before" ] && echo "signatures changed: $(say RELOAD)"; fi; '
        'up=0; [ "$(say PING)" = PONG ] && up=1; v=$(version); '
        f'printf \'{{"{HEARTBEAT_MARK}":1,"tenant":"%s","clamd_up":%d,'
        '"signature_version":%d}\\n\' "$SILO_TENANT" "$up" "${v:-0}"; '
        "done",
    )
)


def _logs(log_group: str, region: str, prefix: str) -> dict[str, Any]:
    return {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": log_group,
            "awslogs-region": region,
            "awslogs-stream-prefix": prefix,
        },
    }


def sidecar_definitions(
    *, tenant: str, signatures_bucket: str, log_group: str, region: str
) -> list[dict[str, Any]]:
    """The scanner's two containers in a tenant's task. Neither is essential: a crashed clamd
    is restarted in place (`restartPolicy`) while the service keeps serving (its files wait
    `pending`, `silo_scanner_up` 0), rather than the whole task being replaced."""
    mount = [{"sourceVolume": SIGNATURES_VOLUME, "containerPath": SIGNATURES_PATH}]
    conf = " ".join(f"'{line}'" for line in CLAMD_CONF)
    return [
        {
            "name": SIGNATURES_CONTAINER,
            "image": AWS_CLI_IMAGE,
            "essential": False,
            "memory": SIGNATURES_MEMORY_MIB,
            "entryPoint": ["bash", "-c"],
            "command": [SIGNATURES_SCRIPT],
            "environment": [
                {"name": "SIGNATURES_BUCKET", "value": signatures_bucket},
                {"name": "SILO_TENANT", "value": tenant},
                {"name": "AWS_REGION", "value": region},
            ],
            "mountPoints": mount,
            "healthCheck": {
                "command": [
                    "CMD-SHELL",
                    f"ls {SIGNATURES_PATH}/daily.c?d {SIGNATURES_PATH}/main.c?d",
                ],
                "interval": 30,
                "retries": 3,
                "startPeriod": 300,
                "timeout": 5,
            },
            "restartPolicy": {"enabled": True, "restartAttemptPeriod": 60},
            "logConfiguration": _logs(log_group, region, SIGNATURES_CONTAINER),
        },
        {
            "name": CLAMD_CONTAINER,
            "image": CLAMAV_IMAGE,
            "essential": False,
            "memory": CLAMD_MEMORY_MIB,
            "entryPoint": ["sh", "-c"],
            "command": [
                f"printf '%s\\n' {conf} > /tmp/clamd.conf && "
                "exec clamd --config-file=/tmp/clamd.conf"
            ],
            # No portMappings: nothing outside the task is meant to reach it.
            "mountPoints": [{**mount[0], "readOnly": True}],
            "dependsOn": [{"containerName": SIGNATURES_CONTAINER, "condition": "HEALTHY"}],
            "restartPolicy": {"enabled": True, "restartAttemptPeriod": 60},
            "logConfiguration": _logs(log_group, region, CLAMD_CONTAINER),
        },
    ]


def updater_definitions(
    *, bucket: str, log_group: str, region: str, metric_namespace: str = SIGNATURES_NAMESPACE
) -> list[dict[str, Any]]:
    """The updater's three steps, one container each, sharing a volume: fetch what the bucket
    holds (so freshclam downloads only the difference: cdiffs, not whole databases), freshclam,
    publish the database and the daily version. The task ends when `publish` does."""
    path = "/db"
    mount = [{"sourceVolume": "db", "containerPath": path}]
    source = f"s3://{bucket}/{SIGNATURES_PREFIX}"
    conf = " ".join(
        f"'{line}'"
        for line in (
            f"DatabaseDirectory {path}",
            "DatabaseOwner root",
            "DatabaseMirror database.clamav.net",
            "Foreground yes",
        )
    )
    publish = "; ".join(
        (
            "set -eu",
            f"aws s3 sync {path}/ {source} --only-show-errors --exact-timestamps",
            f"v=$(head -c 512 {path}/daily.c?d | cut -d: -f3 | tr -dc 0-9)",
            f"aws cloudwatch put-metric-data --namespace {metric_namespace} "
            '--metric-name DailyVersion --value "$v"',
            'echo "published daily $v"',
        )
    )
    return [
        {
            "name": "fetch",
            "image": AWS_CLI_IMAGE,
            "essential": False,
            "entryPoint": ["bash", "-c"],
            "command": [f"aws s3 sync {source} {path}/ --only-show-errors --exact-timestamps"],
            "mountPoints": mount,
            "logConfiguration": _logs(log_group, region, "fetch"),
        },
        {
            "name": "freshclam",
            "image": CLAMAV_IMAGE,
            "essential": False,
            "entryPoint": ["sh", "-c"],
            "command": [
                f"printf '%s\\n' {conf} > /tmp/freshclam.conf && "
                "freshclam --config-file=/tmp/freshclam.conf --stdout"
            ],
            "mountPoints": mount,
            "dependsOn": [{"containerName": "fetch", "condition": "SUCCESS"}],
            "logConfiguration": _logs(log_group, region, "freshclam"),
        },
        {
            "name": "publish",
            "image": AWS_CLI_IMAGE,
            "essential": True,
            "entryPoint": ["bash", "-c"],
            "command": [publish],
            "environment": [{"name": "AWS_REGION", "value": region}],
            "mountPoints": mount,
            "dependsOn": [{"containerName": "freshclam", "condition": "SUCCESS"}],
            "logConfiguration": _logs(log_group, region, "publish"),
        },
    ]
