"""RDS changes under Pulumi's mocks: what `pulumi up` shows is what the instance becomes."""

from __future__ import annotations

from tests.provisioning.pulumi_harness import RDS, run_program
from tests.provisioning.test_pulumi_program import HRCOMP, PACK, catalogue_file


def test_a_major_version_change_is_allowed_and_applied_now(tmp_path):
    before = run_program(catalogue_file(tmp_path / "a", PACK, HRCOMP))
    upgraded = dict(HRCOMP, database={"engine_version": "17"})
    after = run_program(catalogue_file(tmp_path / "b", PACK, upgraded))
    old, new = before.named("hrcomp-db", RDS).inputs, after.named("hrcomp-db", RDS).inputs
    assert {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)} == {"engineVersion"}
    assert new["engineVersion"] == "17"
    assert new["allowMajorVersionUpgrade"] is True and new["applyImmediately"] is True


def test_a_tenant_may_wait_for_its_maintenance_window(tmp_path):
    patient = dict(HRCOMP, database={"apply_immediately": False})
    run = run_program(catalogue_file(tmp_path, PACK, patient))
    assert run.named("hrcomp-db", RDS).inputs["applyImmediately"] is False
    assert run.named("pack-db", RDS).inputs["applyImmediately"] is True
