"""Load tenants.yaml: parse, merge defaults, validate, and report every problem at once.

Values are checked where they are written (`defaults.api.cpu` or a tenant's `api.cpu`), so a
message points at the line to fix; a bad default is reported once and does not cascade into
every tenant. Checks that span fields (cpu with memory, min with max) run on the merged tenant.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tenants import fargate, names, quotas, scanner, schema
from tenants.errors import CatalogueError, Problem
from tenants.model import (
    Alarms,
    Api,
    Bucket,
    Catalogue,
    Database,
    Limits,
    Platform,
    Taxonomy,
    Tenant,
)

TOP_LEVEL = ("platform", "defaults", "tenants")
MAJOR_UPGRADE_IN_DEFAULTS = (
    "a major-version upgrade is opted into per tenant, never for every tenant at once: set it "
    "on each tenant's entry"
)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that remembers duplicate keys instead of silently keeping the last one."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self.duplicates: list[tuple[int, Any]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key; the constructor below reports it
                continue
            if duplicate:
                self.duplicates.append((key_node.start_mark.line + 1, key))
        return super().construct_mapping(node, deep=deep)


def _parse(path: Path) -> tuple[Any, list[Problem]]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [Problem(file, None, "-", f"cannot read the file: {exc.strerror or exc}")]
    loader = _StrictLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        return None, [Problem(file, None, "-", f"not valid YAML: {exc}")]
    finally:
        loader.dispose()
    problems = [
        Problem(file, None, f"line {line}", f"duplicate key {key!r}")
        for line, key in loader.duplicates
    ]
    return data, problems


class _Collector:
    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []

    def add(self, tenant: str | None, field: str, message: str) -> None:
        self.problems.append(Problem(self.file, tenant, field, message))

    def check_keys(
        self, tenant: str | None, where: str, data: dict, allowed: Any, what: str
    ) -> None:
        for key in data:
            if key not in allowed:
                field = f"{where}.{key}" if where else str(key)
                known = ", ".join(allowed)
                kind = f"{what} key" if what else "key"
                self.add(tenant, field, f"unknown {kind} {key!r} (known: {known})")

    def fields(
        self, tenant: str | None, where: str, data: dict, checks: dict[str, schema.Check]
    ) -> dict[str, Any]:
        """The valid values of `data` (unknown keys and bad values reported and dropped)."""
        self.check_keys(tenant, where, data, checks, "")
        valid = {}
        for key, check in checks.items():
            if key not in data:
                continue
            value, problem = check(data[key])
            if problem:
                self.add(tenant, f"{where}.{key}" if where else key, problem)
            else:
                valid[key] = value
        return valid

    def sections(self, tenant: str | None, where: str, data: Any) -> dict[str, dict[str, Any]]:
        """The valid section values (api, database, ...) written in one mapping."""
        result: dict[str, dict[str, Any]] = {}
        for section, checks in schema.SECTIONS.items():
            if section not in data:
                continue
            field = f"{where}.{section}" if where else section
            raw = data[section]
            if not isinstance(raw, dict):
                self.add(tenant, field, f"must be a mapping, got {raw!r}")
                continue
            result[section] = self.fields(tenant, field, raw, checks)
        return result


def load_catalogue(path: str | Path) -> Catalogue:
    """Load and validate tenants.yaml; raise CatalogueError listing every problem."""
    path = Path(path)
    data, parse_problems = _parse(path)
    out = _Collector(str(path))
    out.problems += parse_problems
    if data is None and not out.problems:
        out.add(None, "-", "the file is empty")
    if out.problems and not isinstance(data, dict):
        raise CatalogueError(out.problems)
    if not isinstance(data, dict):
        out.add(None, "-", "the top level must be a mapping with platform, defaults, tenants")
        raise CatalogueError(out.problems)

    out.check_keys(None, "", data, TOP_LEVEL, "top-level")
    platform = _platform(out, data.get("platform"))
    defaults = _defaults(out, data.get("defaults", {}))
    raw_tenants = data.get("tenants")
    if raw_tenants is None:
        out.add(None, "tenants", "is missing (a list of tenants)")
        raw_tenants = []
    elif not isinstance(raw_tenants, list):
        out.add(None, "tenants", f"must be a list, got {raw_tenants!r}")
        raw_tenants = []

    identities: list[_Identity] = []
    tenants = [
        tenant
        for index, raw in enumerate(raw_tenants)
        if (tenant := _tenant(out, index, raw, defaults, platform, identities)) is not None
    ]
    _check_unique(out, identities)
    _check_placement(out, tenants)
    _check_protected_buckets(out, tenants)
    if out.problems:
        raise CatalogueError(out.problems)
    assert platform is not None
    return Catalogue(path=path, platform=platform, tenants=tenants)


def _platform(out: _Collector, raw: Any) -> Platform | None:
    if raw is None:
        out.add(None, "platform", "is missing (platform.domain is required)")
        return None
    if not isinstance(raw, dict):
        out.add(None, "platform", f"must be a mapping, got {raw!r}")
        return None
    if "clamd_address" in raw:
        out.add(None, "platform.clamd_address", RETIRED_CLAMD_ADDRESS)
        raw = {k: v for k, v in raw.items() if k != "clamd_address"}
    valid = out.fields(None, "platform", raw, schema.PLATFORM_FIELDS)
    for key in schema.PLATFORM_REQUIRED:
        if key not in raw:
            out.add(None, f"platform.{key}", "is required")
    name_ok = True
    if "name" in valid:
        try:
            names.Scope(valid["name"], "check")
        except ValueError as exc:
            out.add(None, "platform.name", str(exc).removeprefix("platform name: "))
            name_ok = False
    if "domain" not in valid or not name_ok:
        return None
    return Platform(**{**schema.PLATFORM_DEFAULTS, **valid})


def _defaults(out: _Collector, raw: Any) -> dict[str, dict[str, Any]]:
    merged = copy.deepcopy(schema.BUILTIN_DEFAULTS)
    if raw is None:
        return merged
    if not isinstance(raw, dict):
        out.add(None, "defaults", f"must be a mapping, got {raw!r}")
        return merged
    out.check_keys(None, "defaults", raw, schema.SECTIONS, "section")
    for section, values in out.sections(None, "defaults", raw).items():
        merged[section].update(values)
    _check_merged(out, None, "defaults.", raw, merged)
    if isinstance(raw.get("database"), dict) and raw["database"].get("allow_major_version_upgrade"):
        out.add(None, "defaults.database.allow_major_version_upgrade", MAJOR_UPGRADE_IN_DEFAULTS)
    return merged


def _tenant(
    out: _Collector,
    index: int,
    raw: Any,
    defaults: dict[str, dict[str, Any]],
    platform: Platform | None,
    identities: list[_Identity],
) -> Tenant | None:
    label = f"tenants[{index}]"
    if not isinstance(raw, dict):
        out.add(label, "-", f"must be a mapping with slug, name, priority; got {raw!r}")
        return None
    slug = raw.get("slug")
    if isinstance(slug, str) and slug:
        label = slug
    start = len(out.problems)

    allowed = (*schema.TENANT_FIELDS, *schema.SECTIONS)
    out.check_keys(label, "", raw, allowed, "tenant")
    top = {k: v for k, v in raw.items() if k in schema.TENANT_FIELDS}
    valid = out.fields(label, "", top, schema.TENANT_FIELDS)
    for key in schema.TENANT_REQUIRED:
        if key not in raw:
            out.add(label, key, "is required")
    if "slug" in valid:
        problem = names.label_problem(valid["slug"], names.MAX_SLUG_LENGTH)
        if problem:
            out.add(label, "slug", problem)

    slug_ok = "slug" in valid and not names.label_problem(valid["slug"], names.MAX_SLUG_LENGTH)
    if slug_ok:
        derived = platform.domain if platform else None
        host = valid.get("host") or (names.host(valid["slug"], derived) if derived else None)
        identities.append(_Identity(index, valid["slug"], host, valid.get("priority")))

    sections = copy.deepcopy(defaults)
    for section, values in out.sections(label, "", raw).items():
        sections[section].update(values)
    _check_merged(out, label, "", raw, sections)

    if len(out.problems) > start or platform is None:
        return None
    host = valid.get("host") or names.host(valid["slug"], platform.domain)
    problem = names.host_problem(host)
    if problem:
        out.add(label, "host", f"derived host {problem}")
        return None
    problem = _host_coverage_problem(host, platform.domain, valid)
    if problem:
        out.add(label, problem[0], problem[1])
        return None
    return Tenant(
        slug=valid["slug"],
        name=valid["name"],
        priority=valid["priority"],
        host=host,
        api=Api(**sections["api"]),
        database=Database(**sections["database"]),
        bucket=Bucket(**sections["bucket"]),
        limits=Limits(**sections["limits"]),
        taxonomy=Taxonomy(**sections["taxonomy"]),
        alarms=Alarms(**sections["alarms"]),
        load_balancer=valid.get("load_balancer", 0),
        certificate_arn=valid.get("certificate_arn"),
        hosted_zone_id=valid.get("hosted_zone_id"),
        index=index,
    )


def _check_merged(
    out: _Collector, label: str | None, where: str, raw: dict, sections: dict
) -> None:
    """Checks across fields, on the merged values, reported against the field written here.

    A tenant that writes none of the fields involved inherits them from `defaults`, where any
    problem has been reported once already.
    """
    api, database = sections["api"], sections["database"]

    def written(section: str, *keys: str) -> str | None:
        mapping = raw.get(section) if isinstance(raw.get(section), dict) else {}
        key = next((k for k in keys if k in mapping), None)
        return f"{where}{section}.{key}" if key else None

    problem = fargate.memory_problem(api["cpu"], api["memory"])
    field = written("api", "memory", "cpu")
    if problem and field:
        out.add(label, field, problem)
    # The service and its scanner share the task (tenants.scanner): reported where memory or
    # the engine is written, once.
    problem = None if problem else scanner.memory_problem(api["memory"], sections["limits"]["scan"])
    field = written("api", "memory", "cpu") or written("limits", "scan")
    if problem and field:
        out.add(label, field, problem)
    field = written("api", "min_tasks", "max_tasks")
    if api["min_tasks"] > api["max_tasks"] and field:
        out.add(
            label,
            field,
            f"min_tasks {api['min_tasks']} is greater than max_tasks {api['max_tasks']}",
        )
    field = written("database", "max_storage_gb", "storage_gb")
    problem = storage_ceiling_problem(database["storage_gb"], database["max_storage_gb"])
    if problem and field:
        out.add(label, field, problem)


RETIRED_CLAMD_ADDRESS = (
    "is no longer used: every clamav tenant scans with a clamd in its own task (no shared "
    "daemon, no network path between tenants); remove it (docs/operations/scanning.md)"
)


@dataclass(frozen=True)
class _Identity:
    """What must be unique across tenants, as far as it could be read."""

    index: int
    slug: str
    host: str | None
    priority: int | None


def _check_unique(out: _Collector, tenants: list[_Identity]) -> None:
    for attribute, what in (("slug", "slug"), ("host", "host"), ("priority", "priority")):
        first: dict[Any, _Identity] = {}
        for tenant in tenants:
            value = getattr(tenant, attribute)
            if value is None:
                continue
            if value in first:
                other = first[value]
                if attribute == "host" and other.slug == tenant.slug:
                    continue  # the duplicate slug is reported already
                out.add(
                    tenant.slug,
                    attribute,
                    f"{what} {value!r} is already used by tenant {other.slug!r} "
                    f"(tenants[{other.index}])",
                )
            else:
                first[value] = tenant


def _check_placement(out: _Collector, tenants: list[Tenant]) -> None:
    """Refuse a load balancer with more tenants than it can hold (one target group each; AWS
    allows 100 per ALB and does not raise it). Softer limits are warnings (`tenants.quotas`)."""
    for index, count in sorted(quotas.tenants_per_load_balancer(tenants).items()):
        if count > quotas.TARGET_GROUPS_PER_ALB:
            last = [t for t in tenants if t.load_balancer == index][-1]
            out.add(
                last.slug,
                "load_balancer",
                f"load balancer {index} would serve {count} tenants; an ALB holds at most "
                f"{quotas.TARGET_GROUPS_PER_ALB} target groups: place new tenants on "
                f"load_balancer: {index + 1}",
            )


def _check_protected_buckets(out: _Collector, tenants: list[Tenant]) -> None:
    """Refuse more GuardDuty tenants than GuardDuty protects buckets in one region: the plans
    beyond it would fail `pulumi up` halfway, and AWS does not raise the quota."""
    guarded = quotas.guardduty_tenants(tenants)
    if len(guarded) > quotas.PROTECTED_BUCKETS_PER_REGION:
        out.add(
            guarded[-1].slug,
            "limits.scan",
            f"{len(guarded)} tenants scan with guardduty; GuardDuty Malware Protection for S3 "
            f"protects at most {quotas.PROTECTED_BUCKETS_PER_REGION} buckets per account and "
            "region (not adjustable): scan the others with clamav (a scanner in each tenant's "
            "own task, the default)",
        )


def storage_ceiling_problem(storage_gb: int, max_storage_gb: int) -> str | None:
    """RDS storage autoscaling wants the ceiling at least 10 % above the allocated storage."""
    if max_storage_gb * 10 < storage_gb * 11:
        return (
            f"max_storage_gb {max_storage_gb} must be at least 1.1 x storage_gb {storage_gb} "
            f"({-(-storage_gb * 11 // 10)} or more)"
        )
    return None


def covered_by_platform(host: str, domain: str) -> bool:
    """Whether the platform's certificate (*.<domain>) and hosted zone serve `host`: a wildcard
    covers exactly one label, not the domain itself nor deeper names."""
    label, _, rest = host.partition(".")
    return rest == domain and bool(label)


def _host_coverage_problem(host: str, domain: str, valid: dict) -> tuple[str, str] | None:
    """A host the platform cannot serve (TLS, DNS) must bring its own certificate and zone;
    otherwise `pulumi up` fails in Route 53, or clients meet a certificate for another name."""
    own = [key for key in ("certificate_arn", "hosted_zone_id") if key in valid]
    if len(own) == 1:
        missing = "hosted_zone_id" if own == ["certificate_arn"] else "certificate_arn"
        return missing, f"is required with {own[0]} (a host brings both or neither)"
    if not own and not covered_by_platform(host, domain):
        return "host", (
            f"{host!r} is not covered by the platform's certificate and zone (*.{domain}): "
            "give the tenant its own certificate_arn (ACM, in the stack's region) and "
            "hosted_zone_id, or use a host under the platform domain"
        )
    return None
