"""Moving today's single stack to a platform stack and a stack per tenant replaces nothing.

Before: the URNs and inputs the single-stack program registered for `urns/tenants.yaml`
(`urns/single-stack/`, recorded from main before the split). After: what the platform stack
`prod` and the tenant stacks `prod.<slug>` register now. `provisioning.deploy.move` maps each
before URN to one after URN (what `pulumi state move` of each tenant's component does); the
mapping must be a bijection, and every resource must arrive with the same inputs and the same
protect / retainOnDelete, so the first `pulumi preview` of every stack after the move is empty.
"""

from __future__ import annotations

import json

import pytest

from provisioning.deploy import move
from tests.provisioning.pulumi_harness import run_program
from tests.provisioning.test_urns import CATALOGUE, HERE, SHAPES

SLUGS = ("pack", "hrcomp", "acme")


def before(shape: str) -> dict[str, dict]:
    return json.loads((HERE / "single-stack" / f"{shape}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=sorted(SHAPES))
def shape_runs(request):
    shape = request.param
    return shape, before(shape), run_program(CATALOGUE, stack="prod", config=SHAPES[shape])


def test_the_recorded_urns_are_the_recorded_inputs():
    for shape in SHAPES:
        urns = (HERE / "single-stack" / f"{shape}.txt").read_text(encoding="utf-8").split()
        assert sorted(before(shape)) == urns


# Added on purpose since the recording (issue 23): the platform's `/metrics` 404 rule, created
# by the first `pulumi up` of the platform stack after the move (move with the release before
# it for an empty preview).
ADDED = {
    "urn:pulumi:prod::silo::silo:provisioning:Platform$aws:lb/listenerRule:ListenerRule::silo-prod-metrics-404"
}


def test_every_urn_before_maps_to_exactly_one_urn_after(shape_runs):
    _, old, run = shape_runs
    mapping = {urn: move.moved_urn(urn, SLUGS) for urn in old}
    assert len(set(mapping.values())) == len(mapping)  # no two resources collide
    # Nothing lost; nothing new but the intended additions.
    assert set(mapping.values()) == {r.urn for r in run.resources} - ADDED


# Changed on purpose in the same release (issue 23): RDS modifies these in place, no
# replacement. Move the stacks first with the release before it for an empty preview.
DATABASE_SETTINGS = ("applyImmediately", "allowMajorVersionUpgrade", "maintenanceWindow")


# Resources whose inputs later changes of the same release update in place (a role's policy
# document, an alarm's threshold or query) or by a new revision that every deploy makes anyway
# (a task definition, e.g. a new environment variable): compared by URN and protection, not by
# inputs. Everything else,
# the protected bucket and database first, must arrive with the inputs it had.
UPDATED_IN_PLACE = (
    "aws:iam/rolePolicy:RolePolicy",
    "aws:ecs/taskDefinition:TaskDefinition",
    "aws:cloudwatch/metricAlarm:MetricAlarm",
)


def _without_revision(inputs: dict) -> dict:
    """The mocks make a task definition's revision from its inputs' repr, which depends on the
    order they were registered in; the task definition's inputs are compared themselves. So
    every task definition ARN (the service's, a schedule's target) is compared without it."""
    inputs = {k: v for k, v in inputs.items() if k not in DATABASE_SETTINGS}
    return _strip_revisions(inputs)


def _strip_revisions(value):
    if isinstance(value, dict):
        return {k: _strip_revisions(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_revisions(v) for v in value]
    if isinstance(value, str) and ":taskdefinition/" in value:
        return value.rsplit(":", 1)[0]
    return value


def test_no_resource_changes_in_the_move(shape_runs):
    _, old, run = shape_runs
    for urn, state in old.items():
        after = run.by_urn[move.moved_urn(urn, SLUGS)]
        # JSON turned the recorded values into JSON types; compare alike.
        inputs = json.loads(json.dumps(after.inputs, default=str))
        if not any(f"${kind}::" in urn for kind in UPDATED_IN_PLACE):
            assert _without_revision(inputs) == _without_revision(state["inputs"]), urn
        assert (after.protect, after.retain_on_delete) == (
            state["protect"],
            state["retainOnDelete"],
        ), urn


def test_protected_buckets_and_databases_move_to_their_tenants_stack_still_protected(shape_runs):
    _, old, run = shape_runs
    protected = [urn for urn, state in old.items() if state["protect"]]
    assert len(protected) == 2 * len(SLUGS)
    for urn in protected:
        slug = move.tenant_of(urn, SLUGS)
        after = run.by_urn[move.moved_urn(urn, SLUGS)]
        assert after.urn.startswith(f"urn:pulumi:prod.{slug}::silo::")
        assert after.protect and after.retain_on_delete
        assert after.name in (f"{slug}-bucket", f"{slug}-db")


def test_platform_resources_stay_in_the_environment_stack(shape_runs):
    _, old, _ = shape_runs
    platform = [urn for urn in old if move.tenant_of(urn, SLUGS) is None]
    assert platform and all(move.moved_urn(u, SLUGS) == u for u in platform)
    shared = ("silo:provisioning:Platform", "silo:provisioning:Signatures")
    assert all(any(component in u for component in shared) for u in platform)


def test_the_longest_slug_wins():
    urn = "urn:pulumi:prod::silo::silo:provisioning:TenantDeployment$aws:s3/bucket:Bucket::"
    assert move.tenant_of(urn + "pack-b-bucket", ["pack", "pack-b"]) == "pack-b"
    assert move.tenant_of(urn + "pack-bucket", ["pack", "pack-b"]) == "pack"


def test_one_move_command_per_tenant_names_its_component():
    lines = move.commands("prod", "silo", ["pack"])
    assert lines == [
        "pulumi state move --source prod --dest prod.pack --yes "
        "'urn:pulumi:prod::silo::silo:provisioning:TenantDeployment::pack'"
    ]
