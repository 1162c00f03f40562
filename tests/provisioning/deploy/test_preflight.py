"""The preflight against fake boto3 clients: applied quotas, what the account uses, refusal."""

from __future__ import annotations

import pytest

from provisioning.deploy import preflight
from tenants import load_catalogue
from tests.provisioning.test_pulumi_program import catalogue_file


class Paginated:
    def __init__(self, **pages):
        self.pages = pages  # operation -> (key, items)

    def get_paginator(self, operation):
        key, items = self.pages[operation]

        class Paginator:
            def paginate(self, **kwargs):
                yield {key: items[:50]}
                yield {key: items[50:]}

        return Paginator()


class FakeQuotas:
    def __init__(self, applied: dict[str, float]):
        self.applied = applied
        self.asked: list[str] = []

    def get_service_quota(self, ServiceCode, QuotaCode):
        self.asked.append(QuotaCode)
        if QuotaCode not in self.applied:
            raise RuntimeError("NoSuchResourceException")
        return {"Quota": {"Value": self.applied[QuotaCode]}}

    def get_aws_default_service_quota(self, ServiceCode, QuotaCode):
        raise RuntimeError("NoSuchResourceException")


def clients(*, databases: int, applied: dict[str, float] | None = None, plans: int = 0):
    return preflight.Clients(
        service_quotas=FakeQuotas(applied or {}),
        rds=Paginated(describe_db_instances=("DBInstances", [{}] * databases)),
        elbv2=Paginated(
            describe_load_balancers=("LoadBalancers", [{"Type": "application"}]),
            describe_target_groups=("TargetGroups", [{}] * databases),
        ),
        ec2=Paginated(describe_security_groups=("SecurityGroups", [{}] * (2 * databases + 2))),
        guardduty=Paginated(list_malware_protection_plans=("MalwareProtectionPlans", [{}] * plans)),
    )


@pytest.fixture
def two_new(tmp_path):
    path = catalogue_file(
        tmp_path,
        # GuardDuty only where chosen (the default engine is the clamd sidecar).
        {"slug": "a", "name": "A", "priority": 2, "limits": {"scan": "guardduty"}},
        {"slug": "b", "name": "B", "priority": 3, "limits": {"scan": "off"}},
    )
    return load_catalogue(path).tenants


def test_the_41st_database_is_refused_before_anything_is_created(two_new):
    # 39 databases exist (other stacks count too); 2 more would make 41 of the default 40.
    with pytest.raises(preflight.QuotaError, match=r"RDS DB instances: 39 in use \+ 2.*> 40"):
        preflight.check(clients(databases=39), two_new)


def test_an_applied_increase_is_read_from_service_quotas(two_new):
    fake = clients(databases=39, applied={"L-7B6409FD": 100})
    preflight.check(fake, two_new)
    assert "L-7B6409FD" in fake.service_quotas.asked


def test_guardduty_buckets_count_only_guardduty_tenants_and_cannot_be_raised(two_new):
    with pytest.raises(preflight.QuotaError, match="not adjustable"):
        preflight.check(clients(databases=0, plans=25), two_new)
    preflight.check(clients(databases=0, plans=24), two_new)  # only "a" scans with GuardDuty


def test_nothing_to_create_needs_no_quota():
    preflight.check(clients(databases=500), [])
