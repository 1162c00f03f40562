"""The URN of every resource the Pulumi program creates, against a recorded list.

A URN is a resource's identity in the stack state: if a refactor changes one (a logical name,
a component type, a parent), Pulumi would replace the resource, and the protected bucket and
database would block the update or be orphaned. The lists under `urns/` were recorded from the
program for `urns/tenants.yaml`; a difference is a change to review, not to re-record blindly.

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


def test_the_protected_data_is_in_the_record():
    urns = recorded("http").read_text(encoding="utf-8").split()
    for slug in ("pack", "hrcomp", "acme"):
        assert (
            f"urn:pulumi:prod::silo::silo:provisioning:TenantDeployment"
            f"$aws:s3/bucket:Bucket::{slug}-bucket"
        ) in urns
        assert (
            f"urn:pulumi:prod::silo::silo:provisioning:TenantDeployment"
            f"$aws:rds/instance:Instance::{slug}-db"
        ) in urns


if __name__ == "__main__":
    for name in SHAPES:
        recorded(name).write_text("\n".join(program_urns(name)) + "\n", encoding="utf-8")
