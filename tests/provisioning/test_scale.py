"""More than 100 tenants under Pulumi's mocks: the platform stack and 120 tenant stacks,
several load balancers, each within its per-ALB limits, and onboarding tenant 121 is exactly one
new stack: no other stack's program output (resources, inputs, options, exports) changes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tenants import quotas
from tests.provisioning.pulumi_harness import (
    ACCOUNT,
    REGION,
    Environment,
    Run,
    resource_arn,
    run_environment,
)
from tests.provisioning.test_pulumi_program import catalogue_file

CERTIFICATE = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/abc"
PER_ALB = 100  # the first load balancer is filled up to the target-group limit
GUARDED = 20  # tenants scanning with GuardDuty: a plan and a role each


def tenant(number: int) -> dict:
    """Tenant `number` (1-based), placed like an operator would: 100 on ALB 0, then ALB 1."""
    # Priority 1 is the platform's `/metrics` rule.
    entry = {"slug": f"t{number:03d}", "name": f"Tenant {number}", "priority": number + 1}
    if number > PER_ALB:
        entry["load_balancer"] = 1
    if number > GUARDED:
        # GuardDuty protects at most 25 buckets per region: the rest do not scan here (a
        # clamav tenant adds one egress rule, nothing to the load balancers measured).
        entry["limits"] = {"scan": "off"}
    return entry


@pytest.fixture(scope="module")
def environments(tmp_path_factory) -> tuple[Environment, Environment]:
    base = tmp_path_factory.mktemp("scale")
    config = {"silo:certificateArn": CERTIFICATE}
    # 2 x (1 + 120/121) stack runs, ~4,700 resources each time (about 0.7 s a tenant stack).
    before = run_environment(
        catalogue_file(base / "120", *map(tenant, range(1, 121))), stack="prod", config=config
    )
    after = run_environment(
        catalogue_file(base / "121", *map(tenant, range(1, 122))), stack="prod", config=config
    )
    return before, after


@pytest.fixture(scope="module")
def runs(environments) -> tuple[Run, Run]:
    before, after = environments
    return before.merged(), after.merged()


def described(run: Run) -> dict:
    return {r.urn: (r.type, r.inputs, r.protect, r.retain_on_delete) for r in run.resources}


def test_tenant_121_is_exactly_one_new_stack_and_no_other_stack_changes(environments):
    before, after = environments
    assert set(after.tenants) - set(before.tenants) == {"t121"}
    assert described(after.platform) == described(before.platform)
    assert after.platform.exports == before.platform.exports
    for slug, run in before.tenants.items():
        assert described(after.tenants[slug]) == described(run), slug
        assert after.tenants[slug].exports == run.exports, slug
    new = after.tenants["t121"]
    assert {r.urn.split("::")[0] for r in new.resources} == {"urn:pulumi:prod.t121"}


def test_each_tenant_stack_holds_only_its_tenant_and_reads_only_the_platform(environments):
    before, _ = environments
    for slug, run in before.tenants.items():
        assert run.references == ["prod"]
        assert all(r.name == slug or r.name.startswith(f"{slug}-") for r in run.resources)
        assert {r.urn.split("::")[0] for r in run.resources} == {f"urn:pulumi:prod.{slug}"}
    assert all(r.name.startswith("silo-prod") for r in before.platform.resources)


def test_tenants_spread_over_load_balancers_within_their_limits(runs):
    before, _ = runs
    albs = before.of_type("aws:lb/loadBalancer:LoadBalancer")
    assert sorted(a.inputs["name"] for a in albs) == ["silo-prod", "silo-prod-1"]
    # Every rule sits on an HTTPS listener; count rules and target groups per listener (= ALB).
    all_rules = before.of_type("aws:lb/listenerRule:ListenerRule")
    rules = Counter(r.inputs["listenerArn"] for r in all_rules)
    https = resource_arn("aws:lb/listener:Listener", "silo-prod-https")
    https_1 = resource_arn("aws:lb/listener:Listener", "silo-prod-https-1")
    # Each tenant's host rule, and on each listener the platform's `/metrics` 404.
    assert rules == {https: 101, https_1: 21}
    forwarded = Counter(
        (r.inputs["listenerArn"], r.inputs["actions"][0]["targetGroupArn"])
        for r in all_rules
        if r.inputs["actions"][0]["type"] == "forward"
    )
    target_groups = Counter(listener for listener, _ in forwarded)
    assert max(target_groups.values()) <= quotas.TARGET_GROUPS_PER_ALB
    # A full ALB (100 tenants) is one rule over the default 100 (quotas.usage warns): the
    # rules quota, adjustable, is raised before the 100th tenant.
    assert max(rules.values()) == quotas.TARGET_GROUPS_PER_ALB + 1
    # The HTTP listeners only redirect: no rule of theirs counts against the ALB's 100.
    http = {
        resource_arn("aws:lb/listener:Listener", n) for n in ("silo-prod-http", "silo-prod-http-1")
    }
    assert not http & set(rules)
    # Tenant 101's alias and scaling label name the second ALB.
    label = before.named("t101-scale-requests").inputs
    metric = label["targetTrackingScalingPolicyConfiguration"]["predefinedMetricSpecification"]
    assert metric["resourceLabel"].startswith("app/silo-prod-alb-1/")


def test_the_alb_security_group_keeps_its_rule_count_at_120_tenants(runs):
    before, _ = runs
    alb_sg = "silo-prod-alb-id"
    rules = [
        r
        for r in before.resources
        if r.type.startswith("aws:vpc/securityGroup") and r.inputs["securityGroupId"] == alb_sg
    ]
    assert len(rules) == quotas.LARGEST_SECURITY_GROUP_RULES


def test_onboarding_tenant_121_changes_no_other_resource(runs):
    before, after = runs
    old, new = described(before), described(after)
    assert set(old) <= set(new)
    assert [urn for urn, state in old.items() if new[urn] != state] == []
    added = set(new) - set(old)
    assert added and all(urn.endswith("::t121") or "::t121-" in urn for urn in added)


def test_load_balancer_0_keeps_the_single_alb_names(runs):
    before, _ = runs
    names = {r.name for r in before.of_type("aws:lb/loadBalancer:LoadBalancer")}
    assert names == {"silo-prod-alb", "silo-prod-alb-1"}
    listeners = {r.name for r in before.of_type("aws:lb/listener:Listener")}
    assert listeners == {
        "silo-prod-https",
        "silo-prod-http",
        "silo-prod-https-1",
        "silo-prod-http-1",
    }


def test_a_load_balancer_over_100_tenants_is_refused(tmp_path: Path):
    from tenants import CatalogueError, load_catalogue

    path = catalogue_file(tmp_path, *({**tenant(n), "load_balancer": 0} for n in range(1, 102)))
    with pytest.raises(CatalogueError, match="load balancer 0 would serve 101 tenants"):
        load_catalogue(path)
