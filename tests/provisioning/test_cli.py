"""The `silo` command's conventions, those of `gh` and `pulumi`: help for a bare command,
`--version`, `silo help`, examples and defaults in every `--help`, one placeholder per kind,
keys from the environment, and an unknown command that names the commands there are."""

from __future__ import annotations

import argparse
import importlib.metadata
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioning.cli import COMMANDS, build_parser, main

REPO = Path(__file__).resolve().parents[2]
# What a value-taking option's placeholder may be: the kind of value, in upper case.
KINDS = {"FILE", "DIR", "URL", "SLUG", "N", "SECONDS", "KEY", "SIZE", "NAME", "ID", "REGION"}
KINDS |= {"TEMPLATE", "SIZES"}  # SIZES: a comma-separated list of N


def command_parsers() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command and action (`silo tenants list`, `silo render compose`...) with its parser."""
    for name in COMMANDS:
        top = build_parser([name])
        yield from _walk(_choices(top)[name], f"silo {name}")


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return {
        name: child
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for name, child in action.choices.items()
    }


def _walk(parser, path: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for name, child in _choices(parser).items():
        yield from _walk(child, f"{path} {name}")


PARSERS = dict(command_parsers())


def test_a_bare_silo_prints_help_and_exits_0(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: silo")
    assert all(name in out for name in COMMANDS)
    assert "Examples:" in out


def test_a_group_without_its_action_prints_its_help(capsys):
    assert main(["tenants"]) == 0
    assert "validate" in capsys.readouterr().out
    assert main(["render"]) == 0
    assert "compose" in capsys.readouterr().out


def test_version_is_the_package_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"silo {importlib.metadata.version('silo')}\n"


def test_silo_help_command_is_the_commands_help(capsys):
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    direct = capsys.readouterr().out
    with pytest.raises(SystemExit) as exited:
        main(["help", "import"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == direct
    with pytest.raises(SystemExit):
        main(["help", "render", "compose"])
    assert capsys.readouterr().out.startswith("usage: silo render compose")


def test_an_unknown_command_names_the_commands(capsys):
    assert main(["tenatns", "list"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'tenatns'" in err
    assert "Did you mean 'tenants'?" in err
    assert all(name in err for name in COMMANDS)
    assert main(["help", "nope"]) == 2


def test_every_command_is_covered():
    assert {"silo tenants validate", "silo tenants list", "silo render compose"} <= set(PARSERS)
    assert {f"silo {name}" for name in COMMANDS} <= set(PARSERS)


@pytest.mark.parametrize("path", PARSERS)
def test_every_help_has_examples(path):
    _, examples = PARSERS[path].format_help().split("\nExamples:\n")
    assert examples.startswith("  ") and f"  {path}" in examples


@pytest.mark.parametrize("path", PARSERS)
def test_every_default_is_shown(path):
    parser = PARSERS[path]
    for action in parser._actions:
        if action.default in (None, False, argparse.SUPPRESS):
            continue
        shown = parser._get_formatter()._format_action(action)
        assert "default" in shown, f"{path} {action.option_strings}: no default in {shown!r}"


@pytest.mark.parametrize("path", PARSERS)
def test_every_placeholder_names_a_kind(path):
    for action in PARSERS[path]._actions:
        if action.option_strings and action.nargs != 0:
            assert action.metavar in KINDS, f"{path} {action.option_strings}: {action.metavar}"


def test_render_compose_check_works_as_the_docs_write_it(capsys):
    argv = ["render", "compose", "--check", "--tenants", str(REPO / "tenants.yaml")]
    assert main([*argv, "--output", str(REPO / "docker-compose.yml")]) == 0
    assert "up to date" in capsys.readouterr().out


def test_render_compose_writes_then_checks(tmp_path, capsys):
    output = tmp_path / "compose.yml"
    argv = ["render", "compose", "--tenants", str(REPO / "tenants.yaml"), "--output", str(output)]
    assert main(argv) == 0
    assert main([*argv, "--check"]) == 0
    output.write_text("stale\n")
    assert main([*argv, "--check"]) == 1


WARNING = re.compile(r"warning: --key puts the key in shell history and `ps`; set \$SILO_\w+")


def test_an_import_key_given_by_flag_warns(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SILO_IMPORT_KEY", raising=False)
    argv = ["import", "--url", "http://127.0.0.1:9", str(tmp_path / "missing")]
    assert main([*argv, "--key", "k"]) == 2  # the directory does not exist
    assert WARNING.search(capsys.readouterr().err)
    monkeypatch.setenv("SILO_IMPORT_KEY", "k")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "warning" not in err and "missing" in err


def test_an_import_without_a_key_names_the_variable(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SILO_IMPORT_KEY", raising=False)
    assert main(["import", "--url", "http://127.0.0.1:9", str(tmp_path)]) == 2
    assert "set SILO_IMPORT_KEY" in capsys.readouterr().err


def test_a_smoke_key_given_by_flag_warns(tmp_path, monkeypatch, capsys):
    state = str(tmp_path / "none.json")
    assert main(["smoke", "--state", state, "--key", "k"]) == 2
    assert WARNING.search(capsys.readouterr().err)
    monkeypatch.setenv("SILO_SMOKE_KEY", "k")
    assert main(["smoke", "--state", state]) == 2
    assert "warning" not in capsys.readouterr().err
