"""Releases under Pulumi's mocks: one tenant's image moves alone, old revisions are kept, a
failed deploy fails `pulumi up`."""

from __future__ import annotations

from tests.provisioning.pulumi_harness import IMAGE, Run, run_program
from tests.provisioning.test_pulumi_program import ACME, HRCOMP, PACK, catalogue_file

CANARY = IMAGE.replace(":1.0.0", ":1.1.0")


def described(run: Run) -> dict:
    return {r.urn: (r.type, r.inputs, r.protect, r.retain_on_delete) for r in run.resources}


def test_a_tenants_image_moves_only_its_task_definition_and_service(tmp_path):
    before = run_program(catalogue_file(tmp_path / "a", PACK, HRCOMP, ACME), stack="prod")
    canary = dict(HRCOMP, api={**HRCOMP["api"], "image": CANARY})
    after = run_program(catalogue_file(tmp_path / "b", PACK, canary, ACME), stack="prod")

    moved = {
        urn.rsplit("::", 1)[1]
        for urn, state in described(after).items()
        if described(before)[urn] != state
    }
    assert moved == {"hrcomp-task", "hrcomp-service"}
    task = after.named("hrcomp-task").inputs
    assert f'"image": "{CANARY}"' in task["containerDefinitions"]
    assert (
        after.named("hrcomp-service").inputs["taskDefinition"]
        != (before.named("hrcomp-service").inputs["taskDefinition"])
    )
    for slug in ("pack", "acme"):
        assert f'"image": "{IMAGE}"' in after.named(f"{slug}-task").inputs["containerDefinitions"]


def test_old_task_definition_revisions_are_kept_for_rollback(tmp_path):
    run = run_program(catalogue_file(tmp_path, PACK))
    assert run.named("pack-task").inputs["skipDestroy"] is True


def test_pulumi_up_waits_for_the_service_to_be_steady(tmp_path):
    # Without it, a deployment the circuit breaker rolls back is reported as a success.
    run = run_program(catalogue_file(tmp_path, PACK))
    service = run.named("pack-service").inputs
    assert service["waitForSteadyState"] is True
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
