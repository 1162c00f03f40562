"""`silo render compose`: docker-compose.yml from tenants.yaml, through a jinja2 template.

The template (`provisioning/templates/docker-compose.yml.j2`) holds the layout; this module
computes the values, all from the same places the cloud uses: names from `tenants.names`, each
API's environment from `provisioning.service_env` (the mapping the Pulumi task definition uses).
The rendered file is checked in; `--check` (and a test) fail when it is out of date.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path

import jinja2

from provisioning import bucket_rules
from provisioning.local.limits import Reservation
from provisioning.service_env import (
    local_scan,
    local_secret_environment,
    service_environment,
    service_target,
)
from tenants.catalogue_option import add_tenants_option

TEMPLATES = Path(__file__).parent / "templates"
COMPOSE_TEMPLATE = "docker-compose.yml.j2"

# The stack name compose stands for in derived names (bucket names carry a hash of it).
COMPOSE_STACK = "compose"
COMPOSE_REGION = "us-east-1"
ROUTER_DOMAIN = "localhost"
S3_HOST = "s3.localhost"
S3_ENDPOINT = f"http://{S3_HOST}:9000"


def clamav_service(slug: str) -> str:
    """A scanning tenant's own clamd, as each AWS task has its clamd sidecar."""
    return f"clamav-{slug}"


def clamd_address(slug: str) -> str:
    """Its address: clamd's default TCP port, on a network only the tenant's API shares."""
    return f"tcp://{clamav_service(slug)}:3310"


IMAGES = {
    "postgres": "postgres:16-alpine",
    "minio": "minio/minio:latest",
    "mc": "minio/mc:latest",
    "nginx": "nginx:1.27-alpine",
    # The official image: clamd plus freshclam, which downloads the signatures at start-up.
    "clamav": "clamav/clamav:1.4",
}


def env_name(slug: str) -> str:
    return slug.upper().replace("-", "_")


def interpolated(variable: str, default: str) -> str:
    """A compose `${VAR:-default}`: local-only default, overridable from the shell or .env."""
    return "${" + variable + ":-" + default + "}"


def compose_context(catalogue, catalogue_file: str) -> dict:
    """Everything the template needs, as plain values (pure: testable without rendering)."""
    from tenants import names

    scope = names.Scope(catalogue.platform.name, COMPOSE_STACK)
    s3 = {
        "access_key": interpolated("SILO_MINIO_USER", "silo-local"),
        "secret_key": interpolated("SILO_MINIO_PASSWORD", "silo-local-secret"),
        "host": S3_HOST,
    }
    tenants = []
    for tenant in catalogue.tenants:
        derived = names.for_tenant(
            scope, tenant, account_id=names.LOCAL_ACCOUNT_ID, region=COMPOSE_REGION
        )
        db_service = f"db-{tenant.slug}"
        target = service_target(
            tenant,
            derived,
            region=COMPOSE_REGION,
            database_host=db_service,
            database_port=5432,
            # GuardDuty exists only on AWS: a scanning tenant uses its own clamd here.
            scan=local_scan(tenant, clamd_address(tenant.slug)),
            s3_endpoint_url=S3_ENDPOINT,
        )
        password = interpolated(
            f"SILO_DB_PASSWORD_{env_name(tenant.slug)}", f"silo-local-{tenant.slug}"
        )
        admin_key = interpolated(
            f"SILO_ADMIN_KEY_{env_name(tenant.slug)}", f"silo-local-admin-{tenant.slug}"
        )
        environment = {
            **service_environment(target),
            **local_secret_environment(derived.database_user, password, admin_key),
            "AWS_ACCESS_KEY_ID": s3["access_key"],
            "AWS_SECRET_ACCESS_KEY": s3["secret_key"],
        }
        tenants.append(
            {
                "slug": tenant.slug,
                "db_service": db_service,
                "api_service": f"api-{tenant.slug}",
                "router_host": f"{tenant.slug}.{ROUTER_DOMAIN}",
                "bucket": derived.bucket,
                # The catalogue's bucket settings, as the cloud bucket gets them.
                "versioning": tenant.bucket.versioning,
                "lifecycle_json": bucket_rules.minio_lifecycle_json(tenant.bucket.versioning),
                "database_name": derived.database_name,
                "database_user": derived.database_user,
                "database_password": password,
                "port": target.port,
                "environment": environment,
                # What the task reserves on Fargate, as `silo dev` applies it too.
                "cpus": f"{Reservation.of(tenant).cpus:g}",
                "mem_limit": f"{tenant.api.memory}m",
                "scans": target.scan.engine != "off",
                "clamav_service": clamav_service(tenant.slug),
                # Only the tenant's API and its clamd are on it: no other tenant reaches it.
                "scan_network": f"scan-{tenant.slug}",
            }
        )
    return {
        "catalogue_file": catalogue_file,
        "images": IMAGES,
        "s3": s3,
        "tenants": tenants,
    }


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    # A JSON string is a valid YAML scalar: quoting that cannot go wrong, whatever the value.
    env.filters["yaml"] = lambda value: json.dumps(str(value), ensure_ascii=False)
    return env


def render_compose(catalogue, catalogue_file: str = "tenants.yaml") -> str:
    template = _environment().get_template(COMPOSE_TEMPLATE)
    return template.render(**compose_context(catalogue, catalogue_file))


EXAMPLES = """\
Examples:
  silo render compose                       # writes docker-compose.yml from tenants.yaml
  silo render compose --check               # exit 1, with a diff, when it is out of date
  silo render compose --tenants my.yaml --output my-compose.yml
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    sub = parser.add_subparsers(dest="what", required=True, metavar="TARGET")
    compose = sub.add_parser(
        "compose",
        help="docker-compose.yml from the catalogue",
        description="docker-compose.yml from the catalogue, through "
        "provisioning/templates/docker-compose.yml.j2",
        epilog=EXAMPLES,
    )
    add_tenants_option(compose)
    compose.add_argument(
        "--output", default="docker-compose.yml", metavar="FILE", help="where to write it"
    )
    compose.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 (with a diff) when FILE differs from a fresh rendering",
    )


def run(args: argparse.Namespace) -> int:
    import tenants

    try:
        catalogue = tenants.load_catalogue(args.tenants)
    except (tenants.CatalogueError, OSError) as exc:
        print(f"silo render: {exc}", file=sys.stderr)
        return 2
    rendered = render_compose(catalogue, args.tenants.name)
    output = Path(args.output)
    if args.check:
        current = output.read_text() if output.exists() else ""
        if current == rendered:
            print(f"{output} is up to date with {args.tenants}")
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            rendered.splitlines(keepends=True),
            str(output),
            f"{output} (rendered from {args.tenants})",
        )
        sys.stdout.writelines(diff)
        print(f"{output} is out of date: run `silo render compose`", file=sys.stderr)
        return 1
    output.write_text(rendered)
    print(f"wrote {output} ({len(catalogue.tenants)} tenant(s) from {args.tenants})")
    return 0
