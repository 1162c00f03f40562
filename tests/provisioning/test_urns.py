"""The URN of every resource each stack of an environment creates, against a recorded list.

A URN is a resource's identity in its stack's state: if a refactor changes one (a stack, a
logical name, a component type, a parent), Pulumi would replace the resource, and the protected
bucket and database would block the update or be orphaned. The lists under `urns/` were
recorded from the platform stack `prod` and the tenant stacks `prod.<slug>` for
`urns/tenants.yaml`; a difference is a change to review, not to re-record blindly. The
single-stack layout's lists (`urns/single-stack/`) are what tests/provisioning/test_state_move.py
maps onto these.

To record again after an intended change: `uv run python -m tests.provisioning.test_urns`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.provisioning.pulumi_harness import ACCOUNT, REGION, run_program

HERE = Path(__file__).resolve().parent / "urns"
CATALOGUE = HERE / "tenants.yaml"
CERTIFICATE = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/abc"

# Each stack shape creates a different set of resources (listeners, ALB ingress, DNS records).
SHAPES = {
    "https-dns": {"silo:certificateArn": CERTIFICATE, "silo:hostedZoneId": "ZONE123"},
    "http": {"silo:development": "true"},
}


def program_urns(shape: str) -> list[str]:
    run = run_program(CATALOGUE, stack="prod", config=SHAPES[shape])
    return sorted(resource.urn for resource in run.resources)


def recorded(shape: str) -> Path:
    return HERE / f"{shape}.txt"


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_program_creates_exactly_the_recorded_urns(shape):
    expected = recorded(shape).read_text(encoding="utf-8").split()
    actual = program_urns(shape)
    missing = sorted(set(expected) - set(actual))
    added = sorted(set(actual) - set(expected))
    assert not missing and not added, f"missing: {missing}\nadded: {added}"
    assert actual == expected  # and no URN appears twice


def test_the_protected_data_is_in_the_record_in_its_tenants_stack():
    urns = recorded("http").read_text(encoding="utf-8").split()
    for slug in ("pack", "hrcomp", "acme"):
        for resource in ("aws:s3/bucket:Bucket::{}-bucket", "aws:rds/instance:Instance::{}-db"):
            assert (
                f"urn:pulumi:prod.{slug}::silo::silo:provisioning:TenantDeployment$"
                + resource.format(slug)
            ) in urns


def test_each_stack_holds_the_platform_or_one_tenant():
    stacks: dict[str, set[str]] = {}
    for urn in recorded("https-dns").read_text(encoding="utf-8").split():
        stack = urn.removeprefix("urn:pulumi:").split("::")[0]
        name = urn.rsplit("::", 1)[1]
        stacks.setdefault(stack, set()).add(name)
    assert set(stacks) == {"prod", "prod.pack", "prod.hrcomp", "prod.acme"}
    assert all(name.startswith("silo-prod") for name in stacks["prod"])
    for slug in ("pack", "hrcomp", "acme"):
        assert all(n == slug or n.startswith(f"{slug}-") for n in stacks[f"prod.{slug}"])


if __name__ == "__main__":
    for name in SHAPES:
        recorded(name).write_text("\n".join(program_urns(name)) + "\n", encoding="utf-8")
