"""`silo deploy ENVIRONMENT`: preview or update the platform stack, then tenant stacks in waves
(docs/operations/deploying.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from provisioning.deploy.driver import Deployer, DeployError, Options
from provisioning.deploy.waves import DEFAULT_SIZES
from tenants import CatalogueError, load_catalogue, names
from tenants.catalogue_option import add_tenants_option

EXAMPLES = """\
Examples:
  silo deploy prod --plan              # which stacks would change, and why
  silo deploy prod                     # the platform, then the tenants in waves
  silo deploy prod --tenant pack       # the platform, then this tenant only
  silo deploy prod --canary hrcomp --waves 1,10 --watch 900
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument("environment", help="the platform stack's name (e.g. prod)")
    parser.add_argument("--plan", action="store_true", help="preview every stack, change none")
    parser.add_argument("--tenant", metavar="SLUG", help="the platform and this tenant only")
    parser.add_argument("--canary", metavar="SLUG", help="the first wave (default: first tenant)")
    parser.add_argument(
        "--waves",
        metavar="SIZES",
        default=",".join(map(str, DEFAULT_SIZES)),
        help="wave sizes, comma-separated (N,N,...), after which the rest go together",
    )
    parser.add_argument(
        "--watch", metavar="SECONDS", type=float, default=600, help="how long the canary is watched"
    )
    parser.add_argument(
        "--platform-stack", metavar="NAME", help="the platform's StackReference name (org/silo/ENV)"
    )
    add_tenants_option(parser)


def run(args: argparse.Namespace) -> int:
    import boto3

    from provisioning.deploy import aws, preflight

    try:
        path = args.tenants
        catalogue = load_catalogue(path)
    except CatalogueError as exc:
        print(exc)
        return 1
    scope = names.Scope(catalogue.platform.name, args.environment)
    workspace = aws.AutomationWorkspace()
    clients = preflight.Clients(
        *(boto3.client(s) for s in ("service-quotas", "rds", "elbv2", "ec2", "guardduty"))
    )

    def check_quotas(new: list[str]) -> None:
        try:
            preflight.check(clients, [catalogue.tenant(s) for s in new])
        except preflight.QuotaError as exc:
            raise DeployError(str(exc)) from None

    deployer = Deployer(
        workspace=workspace,
        options=Options(
            environment=args.environment,
            slugs=catalogue.slugs,
            catalogue_bytes=Path(path).read_bytes(),
            root=Path.cwd(),
            canary=args.canary,
            sizes=[int(n) for n in args.waves.split(",") if n],
            only=args.tenant,
            watch_seconds=args.watch,
            platform_stack_ref=args.platform_stack,
        ),
        alarms=aws.alarm_reader(
            boto3.client("cloudwatch"), lambda slug: names.alarm_prefix(scope, slug)
        ),
        migrate=aws.ecs_migrator(
            boto3.client("ecs"),
            cluster_of=lambda slug: names.cluster(scope),
            service_of=lambda slug: _names(scope, catalogue, slug).ecs_service,
            family_of=lambda slug: _names(scope, catalogue, slug).task_family,
        ),
        preflight=check_quotas,
        sleep=__import__("time").sleep,
    )
    try:
        if args.plan:
            deployer.plan()
        else:
            deployer.deploy()
    except DeployError as exc:
        print(f"silo deploy: {exc}")
        return 1
    return 0


def _names(scope: names.Scope, catalogue, slug: str) -> names.TenantNames:
    import boto3

    account = boto3.client("sts").get_caller_identity()["Account"]
    region = boto3.session.Session().region_name or ""
    return names.for_tenant(scope, catalogue.tenant(slug), account_id=account, region=region)
