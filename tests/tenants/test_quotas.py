"""Default AWS quotas a catalogue implies (`tenants.quotas`) and `silo tenants validate`'s
warnings about them."""

from __future__ import annotations

from dataclasses import replace

import yaml

from provisioning.cli import main
from tenants import quotas
from tenants.model import Alarms, Api, Bucket, Database, Limits, Taxonomy, Tenant


def tenant(number: int, *, load_balancer: int = 0, certificate: bool = False) -> Tenant:
    return Tenant(
        slug=f"t{number}",
        name=f"T {number}",
        priority=number,
        host=f"t{number}.example.com",
        api=Api(256, 512, 1, 2, 60, 1000),
        database=Database("db.t4g.micro", 20, 100, 7, False, "16"),
        bucket=Bucket(True, ()),
        # Not GuardDuty: its 25 protected buckets would warn before the quotas tested here.
        limits=Limits(10, ("pdf",), scan="off"),
        taxonomy=Taxonomy([], {}, []),
        alarms=Alarms(5, 0, 85, 85, 80, 5, 60),
        load_balancer=load_balancer,
        certificate_arn="arn:aws:acm:eu-west-1:1:certificate/x" if certificate else None,
    )


def test_a_small_catalogue_is_far_from_every_quota():
    assert quotas.warnings([tenant(n) for n in range(1, 11)]) == []


def test_rds_instances_warn_above_80_percent_of_40():
    assert quotas.warnings([tenant(n) for n in range(1, 33)]) == []
    (warning,) = quotas.warnings([tenant(n) for n in range(1, 34)])
    assert warning.startswith("RDS instances per region: 33 of the default 40")


def test_rules_and_target_groups_are_counted_per_load_balancer():
    tenants = [tenant(n) for n in range(1, 82)] + [
        tenant(n, load_balancer=1) for n in range(82, 90)
    ]
    found = {u.quota: u.used for u in quotas.usage(tenants)}
    assert found["listener rules on load balancer 0"] == 82  # and the platform's /metrics rule
    assert found["target groups on load balancer 1"] == 8
    assert found["load balancers per region"] == 2
    warned = " ".join(quotas.warnings(tenants))
    assert "listener rules on load balancer 0: 82 of the default 100" in warned
    assert "target groups on load balancer 0: 81" in warned
    assert "load balancer 1" not in warned


def test_certificates_per_load_balancer():
    tenants = [tenant(n, certificate=n <= 21) for n in range(1, 30)]
    assert "certificates on load balancer 0: 21 of the default 25" in " ".join(
        quotas.warnings(tenants)
    )
    assert not any("certificates" in w for w in quotas.warnings(tenants[:20] + tenants[21:]))


def test_load_balancers_per_region():
    tenants = [tenant(n, load_balancer=n) for n in range(41)]
    assert any(w.startswith("load balancers per region: 41") for w in quotas.warnings(tenants))
    assert replace(tenants[0], load_balancer=0).load_balancer == 0


def test_validate_prints_the_warnings_and_still_succeeds(tmp_path, capsys):
    data = {
        "platform": {"domain": "uploads.example.com"},
        # More than GuardDuty protects (25): these tenants do not scan.
        "defaults": {"limits": {"scan": "off"}},
        "tenants": [{"slug": f"t{n}", "name": f"T {n}", "priority": n + 1} for n in range(1, 35)],
    }
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["tenants", "validate", "--tenants", str(path)]) == 0
    captured = capsys.readouterr()
    assert "ok, 34 tenants" in captured.out
    assert "warning: RDS instances per region: 34 of the default 40" in captured.err
