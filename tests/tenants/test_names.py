import pytest

from tenants import names

LONGEST_SLUG = "a" * names.MAX_SLUG_LENGTH
LONGEST = names.Scope("p" * names.MAX_PREFIX_LENGTH, "s" * names.MAX_STACK_LENGTH)
SCOPE = names.Scope("silo", "prod")


def all_names(scope: names.Scope, slug: str) -> dict[str, str]:
    n = names.tenant_names(
        scope, slug, host=f"{slug}.example.com", priority=2, account_id="1" * 12, region="eu-west-1"
    )
    return {
        "bucket": n.bucket,
        "rds_identifier": n.rds_identifier,
        "final_snapshot": n.final_snapshot,
        "iam_role": max(n.execution_role, n.task_role, n.scan_role, key=len),
        "target_group": n.target_group,
        "load_balancer": names.load_balancer(scope),
        "security_group": max(
            n.task_security_group,
            n.database_security_group,
            names.alb_security_group(scope),
            key=len,
        ),
        "log_group": n.log_group,
        "ecs_cluster": names.cluster(scope),
        "ecs_service": n.ecs_service,
        "task_family": n.task_family,
        "database_name": n.database_name,
        "secret": n.admin_key_secret,
        "scaling_policy": max(n.cpu_scaling_policy, n.requests_scaling_policy, key=len),
    }


def test_longest_valid_slug_prefix_and_stack_fit_every_limit():
    derived = all_names(LONGEST, LONGEST_SLUG)
    assert set(derived) == set(names.LIMITS)
    for kind, value in derived.items():
        assert len(value) <= names.LIMITS[kind], (kind, value, len(value))


def test_the_bucket_name_uses_its_whole_budget_and_no_more():
    assert len(all_names(LONGEST, LONGEST_SLUG)["bucket"]) == 63


@pytest.mark.parametrize(
    ("kind", "pattern"),
    [
        # S3: lowercase letters, digits, hyphens; starts and ends with a letter or digit.
        ("bucket", r"^[a-z0-9][a-z0-9-]*[a-z0-9]$"),
        # RDS: starts with a letter, no "--", no trailing hyphen.
        ("rds_identifier", r"^[a-z](?!.*--)[a-z0-9-]*[a-z0-9]$"),
        ("target_group", r"^[a-zA-Z0-9](?!.*--)[a-zA-Z0-9-]*[a-zA-Z0-9]$"),
        ("iam_role", r"^[\w+=,.@-]+$"),
        ("database_name", r"^[a-z][a-z0-9_]*$"),
    ],
)
def test_names_use_only_the_characters_aws_allows(kind, pattern):
    import re

    for slug in ("a1", "my-tenant-2", LONGEST_SLUG):
        assert re.match(pattern, all_names(SCOPE, slug)[kind]), (kind, slug)


def test_bucket_names_differ_across_stacks_accounts_and_regions():
    base = names.bucket(SCOPE, "pack", account_id="111111111111", region="eu-west-1")
    assert base.startswith("silo-prod-pack-")
    others = {
        names.bucket(
            names.Scope("silo", "dev"), "pack", account_id="111111111111", region="eu-west-1"
        ),
        names.bucket(SCOPE, "pack", account_id="222222222222", region="eu-west-1"),
        names.bucket(SCOPE, "pack", account_id="111111111111", region="us-east-1"),
    }
    assert base not in others and len(others) == 3


def test_names_are_stable_for_the_same_inputs():
    # A name that changed between deployments would replace the resource (and its data).
    assert names.bucket(SCOPE, "pack", account_id="1", region="r") == names.bucket(
        SCOPE, "pack", account_id="1", region="r"
    )
    assert names.target_group(SCOPE, "pack") == names.target_group(SCOPE, "pack")


def test_target_groups_of_two_stacks_do_not_collide():
    assert names.target_group(SCOPE, "pack") != names.target_group(
        names.Scope("silo", "dev"), "pack"
    )


def test_host_and_database_name():
    assert names.host("pack", "uploads.example.com") == "pack.uploads.example.com"
    assert names.database_name("hr-comp") == "silo_hr_comp"


@pytest.mark.parametrize(
    ("prefix", "stack", "message"),
    [
        ("Silo", "prod", "platform name"),
        ("silo", "prod_eu", "stack name"),
        ("silo", "s" * (names.MAX_STACK_LENGTH + 1), "stack name"),
        ("p" * (names.MAX_PREFIX_LENGTH + 1), "prod", "platform name"),
        ("sthree-x", "prod", "platform name"),
    ],
)
def test_scope_rejects_tokens_that_would_break_a_name(prefix, stack, message):
    with pytest.raises(ValueError, match=message):
        names.Scope(prefix, stack)


@pytest.mark.parametrize(
    ("slug", "ok"),
    [
        ("pack", True),
        ("a", True),
        ("hr-comp2", True),
        ("2pack", False),
        ("pack-", False),
        ("pa--ck", False),
        ("Pack", False),
        ("pa_ck", False),
        ("a" * (names.MAX_SLUG_LENGTH + 1), False),
        ("", False),
    ],
)
def test_label_rules(slug, ok):
    assert (names.label_problem(slug, names.MAX_SLUG_LENGTH) is None) is ok


def test_the_metrics_rule_comes_before_every_tenant_priority_the_catalogue_allows():
    from tenants.schema import TENANT_FIELDS

    check = TENANT_FIELDS["priority"]
    # ALB rules run lowest number first: no tenant may take or undercut the platform's rule.
    assert check(names.metrics_rule_priority())[1] is not None
    assert check(names.metrics_rule_priority() + 1) == (names.metrics_rule_priority() + 1, None)
    assert names.METRICS_PATHS == ("/metrics", "/metrics/*")
