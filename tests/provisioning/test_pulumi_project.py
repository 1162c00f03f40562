"""The Pulumi project files: what the CLI reads before running the program."""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "pulumi"


def test_no_package_named_pulumi_shadows_the_sdk():
    assert not (PROJECT / "__init__.py").exists()
    import pulumi

    assert "site-packages" in str(Path(pulumi.__file__))


def test_project_runs_python_in_the_repository_virtualenv():
    project = yaml.safe_load((PROJECT / "Pulumi.yaml").read_text())
    assert project["name"] == "silo"
    assert project["runtime"]["name"] == "python"
    options = project["runtime"]["options"]
    assert (PROJECT / options["virtualenv"]).resolve() == REPO / ".venv"
    assert options["toolchain"] == "uv"
    assert (REPO / "pyproject.toml").exists() and (REPO / "uv.lock").exists()


def test_example_stack_config_names_every_key_the_program_reads():
    config = yaml.safe_load((PROJECT / "Pulumi.example.yaml").read_text())["config"]
    assert {"aws:region", "silo:image", "silo:tenantsFile", "silo:certificateArn"} <= set(config)
    # __main__.py reads the config through provisioning/aws/programs.py.
    program = (REPO / "provisioning" / "aws" / "programs.py").read_text()
    for key in ("image", "tenantsFile", "certificateArn", "hostedZoneId", "vpcCidr"):
        assert f'"{key}"' in program
    # Optional keys are documented (commented out) in the example.
    example = (PROJECT / "Pulumi.example.yaml").read_text()
    for key in ("development", "alarmEmail", "role", "availabilityZones"):
        assert f'"{key}"' in program and f"silo:{key}:" in example
    assert (PROJECT / config["silo:tenantsFile"]).resolve() == REPO / "tenants.yaml"
