"""Creation order under Pulumi's mocks: what each resource waits for."""

from __future__ import annotations

import pytest

from tests.provisioning.pulumi_harness import RDS, Run, run_program
from tests.provisioning.test_pulumi_program import PACK, catalogue_file


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    return run_program(catalogue_file(tmp_path_factory.mktemp("order"), PACK))


def urn(run: Run, name: str, typ: str | None = None) -> str:
    return run.named(name, typ).urn


def test_the_service_waits_for_both_role_policies_and_its_rule(run):
    waits = set(run.named("pack-service").dependencies)
    assert urn(run, "pack-execution-policy") in waits
    assert urn(run, "pack-task-policy") in waits
    assert urn(run, "pack-rule") in waits


def test_the_task_definition_waits_for_its_log_group(run):
    assert urn(run, "pack-logs") in run.named("pack-task").dependencies


def test_database_logs_go_to_a_managed_group_with_retention(run):
    logs = run.named("pack-db-logs")
    assert logs.inputs["name"] == "/aws/rds/instance/silo-test-pack/postgresql"
    assert logs.inputs["retentionInDays"] == 30
    assert logs.retain_on_delete  # the retained database keeps exporting to it
    database = run.named("pack-db", RDS)
    assert database.inputs["enabledCloudwatchLogsExports"] == ["postgresql"]
    assert logs.urn in database.dependencies
