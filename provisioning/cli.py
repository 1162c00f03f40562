"""The `silo` command: one entry point, each sub-command in the module that owns it.

Sub-command modules are imported only when used, so `silo tenants list` does not pay for
importing Pulumi or the service. The conventions of `gh` and `pulumi` are applied here, once,
to every command: a bare `silo` (or `silo tenants`) prints its help; `--version`;
`silo help COMMAND`; defaults shown in `--help` (`HelpFormatter`); an unknown command names the
commands there are.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import importlib.metadata
import sys
from collections.abc import Iterator

# name -> (module, one-line help). Each module has `add_arguments(parser)` and `run(args) -> int`.
COMMANDS: dict[str, tuple[str, str]] = {
    "tenants": ("tenants.cli", "validate and list the tenant catalogue"),
    "dev": ("provisioning.local.runner", "run every tenant of the catalogue on this machine"),
    "render": ("provisioning.render", "render generated files (docker-compose.yml)"),
    "smoke": ("provisioning.smoke.cli", "end-to-end smoke test of each tenant's endpoint"),
    "import": ("provisioning.importer.cli", "import files into a tenant (a directory, or Pack)"),
    "test": ("provisioning.suite.cli", "install what the tests need, then run pytest"),
    "deploy": ("provisioning.deploy.cli", "preview or update the stacks: platform, then waves"),
}

EXAMPLES = """\
Examples:
  silo dev                         # every tenant of tenants.yaml on this machine
  silo tenants validate
  silo render compose --check
  silo help import                 # a command's options and examples
"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Epilogs keep their layout (the "Examples:" sections), and every option with a default
    says it, unless its help already does: " (default: ...)" is added as
    ArgumentDefaultsHelpFormatter would, but never "(default: None)" or "(default: False)"."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            "default" not in text
            and action.default not in (None, False, argparse.SUPPRESS)
            and (action.option_strings or action.nargs in ("?", "*"))
        ):
            text += " (default: %(default)s)"
        return text


def version() -> str:
    try:
        return importlib.metadata.version("silo")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout never installed
        return "unknown"


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="silo",
        description="Silo: per-tenant upload platform",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"silo {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        # Only the chosen command's module is imported to add its arguments.
        if name == wanted:
            module = importlib.import_module(module_name)
            module.add_arguments(sub_parser)
            sub_parser.set_defaults(_run=module.run)
    sub.add_parser("help", help="show a command's help: silo help COMMAND [ACTION]")
    _apply_conventions(parser)
    return parser


def _subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse._SubParsersAction]:
    return (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _apply_conventions(parser: argparse.ArgumentParser) -> None:
    """Through the whole tree of parsers, the modules' included: one help formatter, and a
    group (`silo`, `silo tenants`, `silo render`) given no action prints its help, exit 0."""
    parser.formatter_class = HelpFormatter
    groups = list(_subparsers(parser))
    # A sub-parser's defaults overwrite its parent's: a leaf clears what its group set.
    parser.set_defaults(_help_of=parser if groups else None)
    for group in groups:
        group.required = False
        for child in group.choices.values():
            _apply_conventions(child)


def _unknown_command(name: str) -> int:
    names = [*COMMANDS, "help"]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    print(
        f"silo: unknown command {name!r}.{hint}\n"
        f"Commands: {', '.join(names)}\n"
        "Run `silo --help` for usage.",
        file=sys.stderr,
    )
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["help"]:  # `silo help import` is `silo import --help`
        argv = [*argv[1:], "--help"]
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        return _unknown_command(argv[0])
    args = build_parser(argv).parse_args(argv)
    if args._help_of is not None:
        args._help_of.print_help()
        return 0
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
