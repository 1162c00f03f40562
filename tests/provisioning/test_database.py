"""RDS changes under Pulumi's mocks: they wait for each tenant's (staggered) maintenance
window, and a major-version upgrade needs that tenant's explicit opt-in."""

from __future__ import annotations

from collections import Counter

from provisioning.aws.tenant.windows import maintenance_window
from tests.provisioning.pulumi_harness import RDS, run_program
from tests.provisioning.test_pulumi_program import HRCOMP, PACK, catalogue_file


def test_a_default_version_bump_waits_and_is_refused_without_opt_in(tmp_path):
    before = run_program(catalogue_file(tmp_path / "a", PACK, HRCOMP))
    upgraded = dict(HRCOMP, database={"engine_version": "17"})
    after = run_program(catalogue_file(tmp_path / "b", PACK, upgraded))
    old, new = before.named("hrcomp-db", RDS).inputs, after.named("hrcomp-db", RDS).inputs
    assert {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)} == {"engineVersion"}
    # RDS refuses a major change while allowMajorVersionUpgrade is false, and applies none
    # before the window.
    assert new["allowMajorVersionUpgrade"] is False and new["applyImmediately"] is False


def test_a_tenant_opts_in_to_its_major_upgrade(tmp_path):
    opted = dict(HRCOMP, database={"engine_version": "17", "allow_major_version_upgrade": True})
    run = run_program(catalogue_file(tmp_path, PACK, opted))
    assert run.named("hrcomp-db", RDS).inputs["allowMajorVersionUpgrade"] is True
    assert run.named("pack-db", RDS).inputs["allowMajorVersionUpgrade"] is False


def test_windows_are_staggered_unless_the_catalogue_sets_one(tmp_path):
    own = dict(HRCOMP, database={"maintenance_window": "sun:03:00-sun:03:30"})
    run = run_program(catalogue_file(tmp_path, PACK, own))
    assert run.named("hrcomp-db", RDS).inputs["maintenanceWindow"] == "sun:03:00-sun:03:30"
    assert run.named("pack-db", RDS).inputs["maintenanceWindow"] == maintenance_window("pack")


def test_the_derived_window_is_stable_valid_and_spread():
    assert maintenance_window("pack") == maintenance_window("pack")
    windows = [maintenance_window(f"t{n:03d}") for n in range(1, 121)]
    for window in windows:
        start, end = window.split("-")
        assert start[:3] == end[:3] and start[4:] < end[4:] <= "05:00"
    # 120 tenants over 70 half-hour slots: no slot holds more than a handful.
    assert max(Counter(windows).values()) <= 6 and len(set(windows)) > 50
