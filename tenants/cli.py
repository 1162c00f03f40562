"""`silo tenants validate` and `silo tenants list`, of the catalogue given by `--tenants FILE`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from tenants import names, quotas
from tenants.catalogue_option import add_tenants_option
from tenants.errors import CatalogueError
from tenants.loader import load_catalogue
from tenants.model import Catalogue

EXAMPLES = """\
Examples:
  silo tenants validate                     # tenants.yaml, or $SILO_TENANTS_FILE
  silo tenants validate --tenants my.yaml
  silo tenants list --stack prod --account-id 123456789012 --region eu-west-1
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions = {
        "validate": "check the catalogue; exit 1 listing every problem (warn near AWS quotas)",
        "list": "a table of tenants and their derived names",
    }
    validate, listing = (
        sub.add_parser(name, help=text, description=text, epilog=EXAMPLES)
        for name, text in actions.items()
    )
    for p in (validate, listing):
        add_tenants_option(p)
    listing.add_argument(
        "--stack", default="dev", metavar="NAME", help="Pulumi stack the names are for"
    )
    listing.add_argument(
        "--account-id",
        default=names.LOCAL_ACCOUNT_ID,
        metavar="ID",
        help="AWS account id, part of the bucket name's hash",
    )
    listing.add_argument(
        "--region",
        default="eu-west-1",
        metavar="REGION",
        help="AWS region, part of the bucket name's hash",
    )


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    path = args.tenants
    try:
        catalogue = load_catalogue(path)
    except CatalogueError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.action == "validate":
        for warning in quotas.warnings(catalogue.tenants):
            print(f"{path}: warning: {warning}", file=sys.stderr)
        count = len(catalogue.tenants)
        print(f"{path}: ok, {count} tenant{'s' if count != 1 else ''}", file=out)
        return 0
    try:
        scope = names.Scope(catalogue.platform.name, args.stack)
    except ValueError as exc:
        print(f"silo tenants list: {exc}", file=sys.stderr)
        return 2
    print(
        f"names for stack {args.stack!r}, account {args.account_id}, region {args.region}",
        file=out,
    )
    print(format_table(table_rows(catalogue, scope, args.account_id, args.region)), file=out)
    return 0


COLUMNS = (
    "slug",
    "name",
    "priority",
    "host",
    "bucket",
    "database",
    "target group",
    "size",
    "scan",
)


def table_rows(
    catalogue: Catalogue, scope: names.Scope, account_id: str, region: str
) -> list[tuple[str, ...]]:
    rows = []
    for tenant in catalogue.tenants:
        n = names.for_tenant(scope, tenant, account_id=account_id, region=region)
        api = tenant.api
        rows.append(
            (
                tenant.slug,
                tenant.name,
                str(n.rule_priority),
                n.host,
                n.bucket,
                f"{n.rds_identifier}/{n.database_name}",
                n.target_group,
                f"{api.cpu}/{api.memory} x{api.min_tasks}-{api.max_tasks}",
                # The engine on AWS, and what an infected file's bytes become.
                f"{tenant.limits.scan}"
                + (f"/{tenant.limits.scan_infected}" if tenant.limits.scan != "off" else ""),
            )
        )
    return rows


def format_table(rows: Sequence[Sequence[str]], columns: Sequence[str] = COLUMNS) -> str:
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *map(line, rows)])
