"""`--tenants FILE` on every command that reads the catalogue: the flag, then
$SILO_TENANTS_FILE, then ./tenants.yaml."""

from pathlib import Path

import pytest

from provisioning.cli import build_parser
from tenants.catalogue_option import default_catalogue_file

# Each command that reads the catalogue, with the arguments it needs besides --tenants.
COMMANDS = [
    ["tenants", "validate"],
    ["tenants", "list"],
    ["dev"],
    ["smoke"],
    ["render", "compose"],
]


def parsed_tenants(argv: list[str]) -> Path:
    return build_parser(argv).parse_args(argv).tenants


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_without_flag_or_environment_the_catalogue_is_tenants_yaml(command, monkeypatch):
    monkeypatch.delenv("SILO_TENANTS_FILE", raising=False)
    assert parsed_tenants(command) == Path("tenants.yaml")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_the_environment_variable_replaces_the_default(command, monkeypatch):
    monkeypatch.setenv("SILO_TENANTS_FILE", "/etc/silo/from-env.yaml")
    assert parsed_tenants(command) == Path("/etc/silo/from-env.yaml")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_the_flag_wins_over_the_environment_variable(command, monkeypatch):
    monkeypatch.setenv("SILO_TENANTS_FILE", "/etc/silo/from-env.yaml")
    assert parsed_tenants([*command, "--tenants", "given.yaml"]) == Path("given.yaml")


def test_an_empty_environment_variable_means_the_default():
    assert default_catalogue_file({"SILO_TENANTS_FILE": ""}) == Path("tenants.yaml")
    assert default_catalogue_file({}) == Path("tenants.yaml")


def test_validate_no_longer_takes_the_file_as_a_positional(capsys):
    with pytest.raises(SystemExit) as caught:
        parsed_tenants(["tenants", "validate", "tenants.yaml"])
    assert caught.value.code == 2
    assert "unrecognized arguments: tenants.yaml" in capsys.readouterr().err
