"""Run the real Pulumi program (pulumi/__main__.py) in-process under Pulumi's mocks.

No CLI, no AWS plugin: `pulumi.runtime.set_mocks` answers every resource registration and
data-source call. A recording monitor keeps each registration with its inputs and options
(parent, protect, retainOnDelete, ignoreChanges), so tests assert on what would be sent to AWS.

`run_stack` runs one stack (the platform, or one tenant whose `StackReference` the mocks answer
with the platform's exports); `run_program` runs an environment's platform stack and then every
tenant's stack, and merges what they registered, as the one stack there used to be.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import resource as runtime_resource
from pulumi.runtime import settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "pulumi" / "__main__.py"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/silo:1.0.0"

RDS = "aws:rds/instance:Instance"


def resource_id(name: str) -> str:
    # Deterministic ids: a reference to another resource shows up as "<its logical name>-id".
    return f"{name}-id"


def resource_arn(typ: str, name: str) -> str:
    service = typ.split(":")[1].split("/")[0]
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{typ.rsplit(':', 1)[1].lower()}/{name}"


STACK_REFERENCE = "pulumi:pulumi:StackReference"


class Mocks(pulumi.runtime.Mocks):
    def __init__(self, stacks: dict[str, dict] | None = None) -> None:
        # The outputs of other stacks, by stack name, for StackReference reads.
        self.stacks = stacks or {}
        self.references: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        if args.typ == STACK_REFERENCE:
            name = args.inputs["name"]
            self.references.append(name)
            if name not in self.stacks:
                raise AssertionError(f"a StackReference to an unknown stack {name!r}")
            outputs = self.stacks[name]
            return name, {"name": name, "outputs": outputs, "secretOutputNames": []}
        state = dict(args.inputs)
        state.setdefault("arn", resource_arn(args.typ, args.name))
        if args.typ == RDS:
            state.update(
                address=f"{args.name}.abc.{REGION}.rds.amazonaws.com",
                port=5432,
                masterUserSecrets=[
                    {
                        "secretArn": (
                            f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!{args.name}"
                        ),
                        "secretStatus": "active",
                    }
                ],
            )
        elif args.typ == "aws:lb/loadBalancer:LoadBalancer":
            state.update(
                arnSuffix=f"app/{args.name}/0123", dnsName=f"{args.name}.elb", zoneId="ZALB"
            )
        elif args.typ == "aws:lb/targetGroup:TargetGroup":
            state["arnSuffix"] = f"targetgroup/{args.name}/4567"
        elif args.typ == "aws:ecs/taskDefinition:TaskDefinition":
            # Like ECS: new container definitions, new revision, new ARN (so the service that
            # names it changes too).
            revision = hashlib.sha256(str(args.inputs).encode()).hexdigest()[:8]
            state["arn"] = f"{resource_arn(args.typ, args.name)}:{revision}"
        elif args.typ == "aws:ec2/eip:Eip":
            state["allocationId"] = f"eipalloc-{args.name}"
        elif args.typ == "aws:secretsmanager/secret:Secret":
            state["arn"] = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{args.name}-AbCdEf"
        elif args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = "generated-by-the-engine"
        return resource_id(args.name), state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/deployer",
                "userId": "AIDEXAMPLE",
                "id": ACCOUNT,
            }
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": ZONES, "zoneIds": ["euw1-az1", "euw1-az2", "euw1-az3"], "id": REGION}
        raise AssertionError(f"the program called an unexpected data source {args.token}")


@dataclass
class Resource:
    type: str
    name: str
    urn: str
    parent: str
    inputs: dict[str, Any]
    protect: bool
    retain_on_delete: bool
    ignore_changes: list[str]
    dependencies: list[str] = field(default_factory=list)  # URNs it waits for (depends_on, inputs)


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: Mocks):
        super().__init__(mocks)
        self.registered: list[Resource] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            from pulumi.runtime import rpc

            self.registered.append(
                Resource(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    inputs=rpc.deserialize_properties(request.object),
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    ignore_changes=list(request.ignoreChanges),
                    dependencies=list(request.dependencies),
                )
            )
        return response


@dataclass
class Run:
    resources: list[Resource]
    exports: dict[str, Any]
    by_urn: dict[str, Resource] = field(default_factory=dict)
    references: list[str] = field(default_factory=list)  # stacks read through StackReference

    def __post_init__(self) -> None:
        self.by_urn = {r.urn: r for r in self.resources}

    def of_type(self, typ: str) -> list[Resource]:
        return [r for r in self.resources if r.type == typ]

    def named(self, name: str, typ: str | None = None) -> Resource:
        found = [r for r in self.resources if r.name == name and (typ is None or r.type == typ)]
        assert len(found) == 1, f"expected one resource {name!r} ({typ}), found {len(found)}"
        return found[0]

    def component(self, slug: str) -> Resource:
        return self.named(slug, "silo:provisioning:TenantDeployment")

    def children(self, parent: Resource) -> list[Resource]:
        """Everything registered under `parent`, at any depth."""
        found = []
        for r in self.resources:
            up = r.parent
            while up:
                if up == parent.urn:
                    found.append(r)
                    break
                up = self.by_urn[up].parent if up in self.by_urn else ""
        return found

    def tenant_resources(self, slug: str) -> list[Resource]:
        return self.children(self.component(slug))


def _ensure_event_loop() -> None:
    """Pulumi's mocks need a current event loop in this thread. `asyncio.run()` (used by tests
    under tests/service that may run first in the same session) leaves none behind."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def _no_stack_trace():
    from pulumi.runtime.proto import source_pb2

    return source_pb2.StackTrace()


PLATFORM_CONFIG = {"silo:role": "platform"}


def base_config(tenants_file: Path) -> dict[str, str | None]:
    return {
        "aws:region": REGION,
        "silo:image": IMAGE,
        "silo:tenantsFile": str(tenants_file),
        # Most tests run without a certificate; the refusal of plain HTTP outside development
        # stacks is tested by passing None here.
        "silo:development": "true",
    }


def run_stack(
    stack: str,
    config: dict[str, str | None],
    *,
    stacks: dict[str, dict] | None = None,
    preview: bool = False,
) -> Run:
    """Run pulumi/__main__.py as stack `stack` with exactly this config; `stacks` answers
    StackReference reads (stack name -> its outputs). Return what it registered."""
    mocks = Mocks(stacks)
    monitor = RecordingMonitor(mocks)
    # The SDK walks the Python stack of every registration for the engine's source positions
    # (a quarter of a run's time); nothing here reads them.
    runtime_resource._get_stack_trace = _no_stack_trace
    _ensure_event_loop()
    settings.ROOT.set(None)  # a fresh root stack per run, so exports do not carry over
    pulumi.runtime.set_mocks(mocks, project="silo", stack=stack, preview=preview, monitor=monitor)
    values = {k: v for k, v in config.items() if v is not None}
    pulumi.runtime.set_all_config(values)

    # Pulumi's runtime makes about a hundred futures and Outputs per resource; with the cyclic
    # GC on, its full collections rescan all of them again and again, which more than doubled
    # the time of a 120-tenant run. Nothing here needs collecting before the run ends.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _sync_await(run_pulumi_func(lambda: runpy.run_path(str(MAIN), run_name="__main__")))
        root = settings.get_root_resource()
        exports = _sync_await(pulumi.Output.from_input(dict(root.outputs)).future())
    finally:
        if collecting:
            gc.enable()
    return Run(resources=list(monitor.registered), exports=exports, references=mocks.references)


def tenant_stack_config(
    tenants_file: Path, environment: str, slug: str, config: dict[str, str | None] | None = None
) -> dict[str, str | None]:
    """A tenant stack's config as `silo deploy` sets it: the environment's, plus its role."""
    from provisioning.aws import layout

    values = {**base_config(tenants_file), **(config or {})}
    shared = {k: v for k, v in values.items() if k in layout.SHARED_CONFIG}
    return {**shared, **layout.tenant_config(environment, slug)}


def run_platform(
    tenants_file: Path, *, stack: str = "test", config: dict | None = None, preview: bool = False
) -> Run:
    values = {**base_config(tenants_file), **(config or {}), **PLATFORM_CONFIG}
    return run_stack(stack, values, preview=preview)


def run_tenant(
    tenants_file: Path,
    slug: str,
    platform: Run,
    *,
    environment: str = "test",
    config: dict | None = None,
    preview: bool = False,
) -> Run:
    from provisioning.aws import layout

    return run_stack(
        layout.tenant_stack(environment, slug),
        tenant_stack_config(tenants_file, environment, slug, config),
        stacks={layout.platform_stack(environment): platform.exports},
        preview=preview,
    )


@dataclass
class Environment:
    """An environment's stacks, each run on its own: the platform and one per tenant."""

    platform: Run
    tenants: dict[str, Run]

    def merged(self) -> Run:
        resources = list(self.platform.resources)
        exports = {**self.platform.exports, "tenants": {}}
        for slug, run in self.tenants.items():
            resources += run.resources
            exports["tenants"][slug] = run.exports
        return Run(resources=resources, exports=exports)


def run_environment(
    tenants_file: Path,
    *,
    stack: str = "test",
    config: dict[str, str | None] | None = None,
    preview: bool = False,
    slugs: list[str] | None = None,
) -> Environment:
    """The platform stack `stack`, then the stack of each tenant (`slugs`, default every
    catalogue tenant), one after another (each run resets Pulumi's global runtime)."""
    from tenants import load_catalogue

    platform = run_platform(tenants_file, stack=stack, config=config, preview=preview)
    if slugs is None:
        slugs = load_catalogue(tenants_file).slugs
    tenants = {
        slug: run_tenant(
            tenants_file, slug, platform, environment=stack, config=config, preview=preview
        )
        for slug in slugs
    }
    return Environment(platform=platform, tenants=tenants)


def run_program(
    tenants_file: Path,
    *,
    stack: str = "test",
    config: dict[str, str | None] | None = None,
    preview: bool = False,
) -> Run:
    """The environment `stack`: its platform stack, then each catalogue tenant's stack; the
    resources of all of them, and the platform's exports with each tenant's under "tenants"."""
    return run_environment(tenants_file, stack=stack, config=config, preview=preview).merged()
