"""`silo deploy`'s driver against a fake workspace: order, waves, watch, stop and resume."""

from __future__ import annotations

import json

import pytest

from provisioning.deploy.driver import Deployer, DeployError, Options, task_definition_urn
from tests.provisioning.deploy.fakes import deployed_environment

OLD = "acct.dkr.ecr.eu-west-1.amazonaws.com/silo:1"
NEW = "acct.dkr.ecr.eu-west-1.amazonaws.com/silo:2"
SLUGS = [f"t{n:02d}" for n in range(1, 41)]


def deployer(workspace, tmp_path, *, alarms=None, migrated=None, **options) -> Deployer:
    slept: list[float] = []
    return Deployer(
        workspace=workspace,
        options=Options(
            environment="prod",
            slugs=options.pop("slugs", SLUGS),
            catalogue_bytes=options.pop("catalogue", b"tenants: []"),
            root=tmp_path,
            watch_seconds=options.pop("watch_seconds", 600),
            poll_seconds=60,
            **options,
        ),
        alarms=alarms or (lambda slug: {f"silo-prod-{slug}-5xx-rate": "OK"}),
        migrate=(migrated.append if migrated is not None else lambda slug: None),
        sleep=slept.append,
        say=lambda line: None,
    )


def release(workspace) -> None:
    workspace.stack("prod").config["silo:image"] = NEW


def test_an_image_change_reaches_the_canary_first_then_growing_waves(tmp_path):
    workspace = deployed_environment("prod", SLUGS, OLD)
    release(workspace)
    watched: list[str] = []

    def alarms(slug):
        watched.append(slug)
        return {}

    migrated: list[str] = []
    d = deployer(workspace, tmp_path, alarms=alarms, migrated=migrated, canary="t07")
    d.deploy()
    ups = workspace.ups()
    # The platform's config changed (its image), then the canary, then 5, 25, the rest.
    assert ups[0] == "prod"
    assert ups[1] == "prod.t07"
    assert len(ups) == 1 + len(SLUGS)
    # The canary was watched (11 polls over 600 s at 60 s) before any other tenant moved.
    first_other = workspace.events.index(("preview", "prod.t01"))
    assert watched[:11] == ["t07"] * 11
    assert workspace.stacks["prod.t07"].deployed["silo:image"] == NEW
    assert all(workspace.stacks[f"prod.{s}"].deployed["silo:image"] == NEW for s in SLUGS)
    # Migrations ran for each tenant, between its task definition and its service.
    canary = [e for e in workspace.events if e[1] == "prod.t07"]
    assert canary == [("preview", "prod.t07"), ("up-target", "prod.t07"), ("up", "prod.t07")]
    assert migrated[0] == "t07" and len(migrated) == len(SLUGS)
    assert workspace.events.index(("up", "prod.t07")) < first_other


def test_a_catalogue_default_change_reaches_the_canary_wave_first(tmp_path):
    workspace = deployed_environment("prod", SLUGS, OLD)
    for slug in SLUGS:  # every tenant stack's program output changes (see test_default_change)
        workspace.stacks[f"prod.{slug}"].pending = True
    deployer(workspace, tmp_path, catalogue=b"defaults changed").deploy()
    assert workspace.ups()[0] == "prod.t01"  # the platform had nothing to do
    assert ("up", "prod") not in workspace.events


def test_the_first_failure_stops_and_the_next_run_resumes_there(tmp_path):
    workspace = deployed_environment("prod", SLUGS, OLD)
    release(workspace)
    workspace.failing = {"prod.t04"}
    with pytest.raises(DeployError, match=r"prod\.t04"):
        deployer(workspace, tmp_path).deploy()
    assert workspace.ups() == ["prod", "prod.t01", "prod.t02", "prod.t03"]
    state = json.loads((tmp_path / ".silo" / "deploy-prod.json").read_text())
    assert state["failed"] == "prod.t04"
    assert state["done"] == ["prod", "prod.t01", "prod.t02", "prod.t03"]

    workspace.failing = set()
    workspace.events.clear()
    deployer(workspace, tmp_path).deploy()
    ups = workspace.ups()
    assert ups[0] == "prod.t04" and "prod.t01" not in ups and "prod" not in ups
    assert len(ups) == len(SLUGS) - 3


def test_a_different_change_does_not_resume_an_old_run(tmp_path):
    workspace = deployed_environment("prod", SLUGS, OLD)
    release(workspace)
    workspace.failing = {"prod.t02"}
    with pytest.raises(DeployError):
        deployer(workspace, tmp_path).deploy()
    workspace.failing = set()
    workspace.events.clear()
    deployer(workspace, tmp_path, catalogue=b"another catalogue").deploy()
    # Everything is previewed again from the start (t01 is unchanged, so not updated).
    assert workspace.events[:2] == [("preview", "prod"), ("preview", "prod.t01")]


def test_a_canary_alarm_stops_before_the_next_wave(tmp_path):
    workspace = deployed_environment("prod", SLUGS, OLD)
    release(workspace)
    polls = {"n": 0}

    def alarms(slug):
        polls["n"] += 1
        return {f"silo-prod-{slug}-5xx-rate": "ALARM" if polls["n"] > 3 else "OK"}

    with pytest.raises(DeployError, match="5xx-rate"):
        deployer(workspace, tmp_path, alarms=alarms).deploy()
    assert workspace.ups() == ["prod", "prod.t01"]
    state = json.loads((tmp_path / ".silo" / "deploy-prod.json").read_text())
    assert state["failed"] == "prod.t01" and "ALARM" in state["reason"]


def test_one_tenant_only(tmp_path):
    workspace = deployed_environment("prod", SLUGS, OLD)
    release(workspace)
    deployer(workspace, tmp_path, only="t30").deploy()
    assert workspace.ups() == ["prod", "prod.t30"]


def test_a_new_tenant_is_created_without_a_migration_task(tmp_path):
    workspace = deployed_environment("prod", SLUGS, OLD)
    migrated: list[str] = []
    d = deployer(workspace, tmp_path, migrated=migrated, slugs=[*SLUGS, "t99"])
    d.deploy()
    assert workspace.ups() == ["prod.t99"]
    assert ("up-target", "prod.t99") not in workspace.events and migrated == []
    assert workspace.stacks["prod.t99"].deployed["silo:tenant"] == "t99"


def test_a_failed_migration_leaves_the_service_alone(tmp_path):
    workspace = deployed_environment("prod", SLUGS, OLD)
    release(workspace)

    def migrate(slug):
        raise RuntimeError("migration task exited 1")

    d = deployer(workspace, tmp_path)
    d.migrate = migrate
    with pytest.raises(DeployError, match="exited 1"):
        d.deploy()
    assert [e for e in workspace.events if e[1] == "prod.t01"] == [
        ("preview", "prod.t01"),
        ("up-target", "prod.t01"),
    ]


def test_the_preflight_runs_before_anything_is_created(tmp_path):
    workspace = deployed_environment("prod", SLUGS, OLD)

    def refuse(new):
        assert new == ["t99"]
        raise DeployError("RDS DB instances: 41 needed, 40 applied")

    d = deployer(workspace, tmp_path, slugs=[*SLUGS, "t99"])
    d.preflight = refuse
    with pytest.raises(DeployError, match="RDS"):
        d.deploy()
    assert workspace.ups() == [] and all(op == "preview" for op, _ in workspace.events) is True


def test_plan_lists_each_stack_and_its_changes(tmp_path):
    workspace = deployed_environment("prod", SLUGS[:3], OLD)
    release(workspace)
    lines: list[str] = []
    d = deployer(workspace, tmp_path, slugs=SLUGS[:3])
    d.say = lines.append
    planned = d.plan()
    assert [p.stack for p in planned] == ["prod", "prod.t01", "prod.t02", "prod.t03"]
    assert lines[1] == "prod.t01: update 2"
    assert workspace.ups() == []


def test_the_task_definition_target_is_the_tenant_stacks_urn():
    assert task_definition_urn("prod.pack", "pack") == (
        "urn:pulumi:prod.pack::silo::silo:provisioning:TenantDeployment"
        "$aws:ecs/taskDefinition:TaskDefinition::pack-task"
    )
