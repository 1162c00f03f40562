"""Offboarding under Pulumi's mocks: removing a tenant deletes what it ran on and retains its
data with everything the data still uses, so the deletions can succeed on AWS."""

from __future__ import annotations

import json

import pytest

from tests.provisioning.pulumi_harness import Resource, Run, resource_arn, resource_id, run_program
from tests.provisioning.test_pulumi_program import ACME, HRCOMP, PACK, catalogue_file


@pytest.fixture(scope="module")
def removal(tmp_path_factory) -> tuple[list[Resource], list[Resource]]:
    """(retained, deleted): hrcomp's resources once it leaves the catalogue."""
    base = tmp_path_factory.mktemp("offboard")
    with_it = run_program(catalogue_file(base / "a", PACK, HRCOMP, ACME), stack="prod")
    without = run_program(catalogue_file(base / "b", PACK, ACME), stack="prod")
    kept = {r.urn for r in without.resources}
    gone = [r for r in with_it.resources if r.urn not in kept and not r.type.startswith("silo:")]
    return [r for r in gone if r.retain_on_delete], [r for r in gone if not r.retain_on_delete]


def references(resource: Resource) -> str:
    # Tags only label (silo:tenant is the slug, also the ECS service's name).
    inputs = {k: v for k, v in resource.inputs.items() if k != "tags"}
    return json.dumps(inputs, sort_keys=True, default=str)


def identities(resource: Resource) -> set[str]:
    """How another resource's inputs would name this one: id, ARN, or AWS name."""
    found = {resource_id(resource.name), resource_arn(resource.type, resource.name)}
    if isinstance(resource.inputs.get("name"), str):
        found.add(resource.inputs["name"])
    return found


def test_only_the_tenants_resources_go(removal):
    retained, deleted = removal
    assert all(r.name.startswith("hrcomp-") for r in retained + deleted)


def test_nothing_deleted_is_still_used_by_what_is_retained(removal):
    retained, deleted = removal
    for kept in retained:
        text = references(kept)
        for gone in deleted:
            used = [i for i in identities(gone) if f'"{i}"' in text]
            assert not used, f"{kept.name} (retained) still uses {gone.name} (deleted): {used}"


def test_the_database_keeps_its_security_group(removal):
    retained, _ = removal
    kept = {(r.type, r.name) for r in retained}
    assert ("aws:rds/instance:Instance", "hrcomp-db") in kept
    assert ("aws:ec2/securityGroup:SecurityGroup", "hrcomp-db-sg") in kept
    assert ("aws:s3/bucket:Bucket", "hrcomp-bucket") in kept


def test_the_rule_naming_the_task_group_goes_so_the_task_group_can(removal):
    _, deleted = removal
    gone = {r.name for r in deleted}
    assert {"hrcomp-db-from-task", "hrcomp-task-sg", "hrcomp-service"} <= gone
    assert "hrcomp-bucket-cors" in gone  # not kept on a bucket nobody serves


def test_emptying_cors_origins_removes_the_bucket_cors(tmp_path):
    without_cors = dict(HRCOMP, bucket={"cors_origins": []})
    run: Run = run_program(catalogue_file(tmp_path, PACK, without_cors))
    assert run.of_type("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration") == []
    with_cors = run_program(catalogue_file(tmp_path / "b", PACK, HRCOMP))
    (cors,) = with_cors.of_type("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration")
    # Deleting the resource (origins emptied) must delete the configuration in AWS.
    assert not cors.retain_on_delete
