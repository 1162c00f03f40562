"""The catalogue's schema: the keys each section accepts, how each value is checked, and the
platform defaults. Each checker takes the raw YAML value and returns (value, None) or
(None, "what is wrong")."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from service.uploads.filetypes import KNOWN_TYPE_IDS
from tenants.fargate import VALID_MEMORY
from tenants.names import host_problem

Check = Callable[[Any], tuple[Any, str | None]]

# The service streams an upload to S3 in parts of this size (service/storage/s3.py, S3Storage's
# part_size), and S3 numbers at most 10,000 parts, so no larger file can be stored.
# tests/tenants/test_upload_limit.py checks both against the service.
UPLOAD_PART_BYTES = 8 * 1024 * 1024
S3_MAX_PARTS = 10_000
MAX_UPLOAD_MB = UPLOAD_PART_BYTES * S3_MAX_PARTS // (1024 * 1024)  # 80,000 MiB


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def integer(low: int, high: int) -> Check:
    def check(value: Any) -> tuple[Any, str | None]:
        if not _is_int(value):
            return None, f"must be an integer, got {value!r}"
        if not low <= value <= high:
            return None, f"{value} is out of range ({low}-{high})"
        return value, None

    return check


def one_of(allowed: tuple[int, ...]) -> Check:
    def check(value: Any) -> tuple[Any, str | None]:
        if not _is_int(value) or value not in allowed:
            return None, f"{value!r} is not one of {', '.join(map(str, allowed))}"
        return value, None

    return check


def choice(allowed: tuple[str, ...]) -> Check:
    def check(value: Any) -> tuple[Any, str | None]:
        if not isinstance(value, str) or value not in allowed:
            # YAML 1.1 reads an unquoted `off` as the boolean false.
            hint = " (write it quoted, 'off', or YAML reads a boolean)" if value is False else ""
            return None, f"{value!r} is not one of {', '.join(allowed)}{hint}"
        return value, None

    return check


def boolean(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, bool):
        return None, f"must be true or false, got {value!r}"
    return value, None


def text(max_length: int) -> Check:
    def check(value: Any) -> tuple[Any, str | None]:
        if not isinstance(value, str) or not value.strip():
            return None, f"must be a non-empty string, got {value!r}"
        if len(value) > max_length:
            return None, f"is longer than {max_length} characters"
        return value.strip(), None

    return check


def matching(pattern: str, description: str) -> Check:
    regex = re.compile(pattern)

    def check(value: Any) -> tuple[Any, str | None]:
        if not isinstance(value, str) or not regex.match(value):
            return None, f"{value!r} is not {description}"
        return value, None

    return check


def hostname(value: Any) -> tuple[Any, str | None]:
    problem = host_problem(value)
    return (None, problem) if problem else (value, None)


def _origin_problem(origin: Any) -> str | None:
    if not isinstance(origin, str):
        return f"{origin!r} is not a string"
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{origin!r} is not an origin like https://app.example.com"
    if parts.path or parts.query or parts.fragment or parts.username:
        return f"{origin!r} must be scheme://host[:port] only (no path)"
    return None


def origins(value: Any) -> tuple[Any, str | None]:
    # "*" is refused on purpose: a bucket's CORS must name the tenant's own front-ends.
    if not isinstance(value, list):
        return None, f"must be a list of origins, got {value!r}"
    for origin in value:
        problem = _origin_problem(origin)
        if problem:
            return None, problem
    if len(set(value)) != len(value):
        return None, "lists an origin twice"
    return tuple(value), None


def file_types(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, list) or not value:
        return None, f"must be a non-empty list of type ids, got {value!r}"
    unknown = [t for t in value if t not in KNOWN_TYPE_IDS]
    if unknown:
        shown = ", ".join(repr(t) for t in unknown)
        return None, f"unknown file type {shown} (known: {', '.join(KNOWN_TYPE_IDS)})"
    if len(set(value)) != len(value):
        return None, "lists a type twice"
    return tuple(value), None


def _unique_texts(value: Any, what: str) -> tuple[Any, str | None]:
    if not isinstance(value, list) or not value:
        return None, f"must be a non-empty list of {what}, got {value!r}"
    seen: set[str] = set()
    cleaned = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            return None, f"{item!r} is not a non-empty string"
        if len(item.strip()) > 100:
            return None, f"{item!r} is longer than 100 characters"
        key = item.strip().casefold()
        if key in seen:
            return None, f"{item!r} is listed twice"
        seen.add(key)
        cleaned.append(item.strip())
    return cleaned, None


def categories(value: Any) -> tuple[Any, str | None]:
    return _unique_texts(value, "categories")


def roles(value: Any) -> tuple[Any, str | None]:
    return _unique_texts(value, "roles")


# The shape of a BCP 47 tag (RFC 5646): a 2-3 letter language, optional script, region and
# variants, e.g. "en", "pt-BR", "zh-Hant-TW", "sl-rozaj". Shape only, not the registry; the
# rarely used 5-8 letter language subtags are refused so "english" cannot pass for a code.
_BCP47 = re.compile(
    r"^[a-z]{2,3}(?:-[a-z]{4})?(?:-(?:[a-z]{2}|[0-9]{3}))?"
    r"(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*$",
    re.IGNORECASE,
)


def languages(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, dict) or not value:
        return None, f"must be a non-empty mapping of BCP 47 code to display name, got {value!r}"
    seen: set[str] = set()
    for code, name in value.items():
        if isinstance(code, bool):
            # YAML 1.1 reads unquoted no/yes/on/off as booleans (Norwegian "no" is the classic).
            return None, (
                f"a code was read as the boolean {code} (YAML reads unquoted no, off, yes, on "
                "that way): quote it, e.g. 'no'"
            )
        if not isinstance(code, str) or not _BCP47.match(code):
            return None, f"{code!r} is not a BCP 47 language tag (like 'en' or 'pt-BR')"
        if code.lower() in seen:
            return None, f"{code!r} is listed twice"
        seen.add(code.lower())
        if not isinstance(name, str) or not name.strip():
            return None, f"{code!r} needs a non-empty display name, got {name!r}"
    return {code: name.strip() for code, name in value.items()}, None


SCAN_ENGINES = ("guardduty", "clamav", "off")
SCAN_INFECTED = ("quarantine", "delete")
SCAN_OVERSIZE = ("hold", "serve_unscanned")

# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096)
LOG_RETENTION_DAYS += (1827, 2192, 2557, 2922, 3288, 3653)

PLATFORM_FIELDS: dict[str, Check] = {
    "domain": hostname,
    "name": matching(r"^.+$", "a string"),  # shape checked by tenants.names.Scope rules
    "log_retention_days": one_of(LOG_RETENTION_DAYS),
}
PLATFORM_REQUIRED = ("domain",)

# section -> key -> check. Sections are what `defaults:` and each tenant can set.
SECTIONS: dict[str, dict[str, Check]] = {
    "api": {
        "cpu": one_of(tuple(VALID_MEMORY)),
        "memory": integer(512, 122880),
        "min_tasks": integer(1, 1000),
        "max_tasks": integer(1, 1000),
        "target_cpu_percent": integer(10, 95),
        "target_requests_per_task": integer(1, 1_000_000),
        # Overrides the stack's `silo:image` for this tenant alone (a canary, or a pin).
        "image": matching(
            r"^[a-z0-9][^\s@]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$",
            "an image reference with a tag or an @sha256: digest",
        ),
    },
    "database": {
        "instance_class": matching(
            r"^db\.[a-z0-9]+\.[a-z0-9]+$", "an RDS instance class like db.t4g.micro"
        ),
        "storage_gb": integer(20, 65536),
        "max_storage_gb": integer(20, 65536),
        "backup_days": integer(1, 35),
        "multi_az": boolean,
        "engine_version": matching(r"^[0-9]+(\.[0-9]+)?$", "a PostgreSQL version like 16"),
        # Class, storage and version changes go out at the next `pulumi up`, not at the next
        # maintenance window (when the diff would silently not be what the instance runs).
        "apply_immediately": boolean,
        "maintenance_window": matching(
            r"^(mon|tue|wed|thu|fri|sat|sun):[0-2][0-9]:[0-5][0-9]-"
            r"(mon|tue|wed|thu|fri|sat|sun):[0-2][0-9]:[0-5][0-9]$",
            "an RDS window like sun:03:00-sun:03:30 (UTC)",
        ),
        "allow_major_version_upgrade": boolean,
        # Whole months of raw access events kept before the current one (0: forever); the
        # /stats rollups are kept forever either way. Older months are dropped by the service.
        "events_retention_months": integer(0, 1200),
    },
    "bucket": {
        "versioning": boolean,
        "cors_origins": origins,
    },
    "limits": {
        # What the service's multipart upload can carry (S3 allows 10,000 parts).
        "max_upload_mb": integer(1, MAX_UPLOAD_MB),
        "allowed_types": file_types,
        # Malware scanning of every upload: a clamd sidecar in the tenant's own task (the
        # default: no quota), GuardDuty Malware Protection for S3 on the tenant's bucket (at
        # most 25 per account and region), or none. Locally any engine but `off` is the local
        # clamd (GuardDuty exists only on AWS).
        "scan": choice(SCAN_ENGINES),
        # What happens to infected bytes: moved under quarantine/ (kept for investigation,
        # unreadable by the service) or deleted.
        "scan_infected": choice(SCAN_INFECTED),
        # Days quarantined bytes are kept (evidence) before the bucket's lifecycle expires them.
        "quarantine_days": integer(1, 3650),
        # What becomes of a file too large for the engine (status `oversize`): held, never
        # served (the default), or served unscanned, marked `oversize`.
        "scan_oversize": choice(SCAN_OVERSIZE),
    },
    "taxonomy": {
        "categories": categories,
        "languages": languages,
        "roles": roles,
    },
    # CloudWatch alarm thresholds (see provisioning/aws/alarms.py).
    "alarms": {
        "http_5xx_percent": integer(1, 100),  # target 5xx responses, % of requests (5 min)
        "unhealthy_hosts": integer(0, 1000),  # alarm above this many unhealthy tasks
        "cpu_percent": integer(1, 100),  # ECS service average CPU
        "memory_percent": integer(1, 100),  # ECS service average memory
        "db_cpu_percent": integer(1, 100),
        "db_free_storage_gb": integer(1, 65536),  # alarm below (capped: alarms.storage_alarm_gib)
        "db_connections": integer(1, 100_000),  # alarm above
    },
}

TENANT_FIELDS: dict[str, Check] = {
    "slug": matching(r"^.*$", "a string"),  # checked by tenants.names.label_problem
    "name": text(100),
    # ALB rule priorities; 1 is the platform's `/metrics` rule (names.METRICS_RULE_PRIORITY)
    "priority": integer(2, 50000),
    "host": hostname,
    # Which ALB serves the tenant (see tenants.quotas): explicit, so a tenant never moves once
    # placed. At most 50 ALBs per region by default.
    "load_balancer": integer(0, 49),
    # A `host` outside the platform's wildcard certificate and zone (*.<domain>) brings both.
    "certificate_arn": matching(
        r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$",
        "an ACM certificate ARN",
    ),
    "hosted_zone_id": matching(r"^Z[A-Z0-9]{1,31}$", "a Route 53 hosted zone id like Z0123ABC"),
}
TENANT_REQUIRED = ("slug", "name", "priority")

# Platform defaults: what a catalogue's `defaults:` and each tenant override.
BUILTIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "api": {
        # Room for the service and, with the default `clamav`, its scanner (tenants.scanner).
        "cpu": 512,
        "memory": 3072,
        "min_tasks": 1,
        "max_tasks": 4,
        "target_cpu_percent": 60,
        "target_requests_per_task": 1000,
        "image": None,  # None: the stack's silo:image
    },
    "database": {
        "instance_class": "db.t4g.micro",
        "storage_gb": 20,
        "max_storage_gb": 100,
        "backup_days": 7,
        "multi_az": False,
        "engine_version": "16",
        "apply_immediately": False,
        "maintenance_window": None,
        "allow_major_version_upgrade": False,
        "events_retention_months": 13,
    },
    "bucket": {"versioning": True, "cors_origins": ()},
    # Scanning is on unless a catalogue turns it off: a tenant someone forgot to configure
    # gets its uploads scanned, not silently trusted.
    "limits": {
        "max_upload_mb": 5120,
        "allowed_types": KNOWN_TYPE_IDS,
        "scan": "clamav",
        "scan_infected": "quarantine",
        "quarantine_days": 90,
        "scan_oversize": "hold",
    },
    "taxonomy": {
        "categories": ["Conflict resolution", "Skills", "Soft skills"],
        "languages": {"it": "Italiano", "en": "English", "fr": "Français"},
        "roles": ["Mentor/Coach", "Mentee/Coachee"],
    },
    "alarms": {
        "http_5xx_percent": 5,
        "unhealthy_hosts": 0,
        "cpu_percent": 85,
        "memory_percent": 85,
        "db_cpu_percent": 80,
        "db_free_storage_gb": 5,
        # db.t4g.micro allows about 80; each task holds up to SILO_DB_MAX_CONNECTIONS (20:
        # a pool of 10 and 10 lock connections), so 4 tasks at their ceiling reach 80.
        "db_connections": 60,
    },
}
PLATFORM_DEFAULTS: dict[str, Any] = {
    "name": "silo",
    "log_retention_days": 30,
}
