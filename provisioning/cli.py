"""The `silo` command: one entry point, each sub-command in the module that owns it.

Sub-command modules are imported only when used, so `silo tenants list` does not pay for
importing Pulumi or the service.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). Each module has `add_arguments(parser)` and `run(args) -> int`.
COMMANDS: dict[str, tuple[str, str]] = {
    "tenants": ("tenants.cli", "validate and list the tenant catalogue"),
    "dev": ("provisioning.local.runner", "run every tenant of the catalogue on this machine"),
    "render": ("provisioning.render", "render generated files (docker-compose.yml)"),
    "smoke": ("provisioning.smoke.cli", "end-to-end smoke test of each tenant's endpoint"),
    "import": ("provisioning.importer.cli", "import files into a tenant (a directory, or Pack)"),
    "deploy": ("provisioning.deploy.cli", "preview or update the stacks: platform, then waves"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="silo", description="Silo: per-tenant upload platform")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text)
        # Only the chosen command's module is imported to add its arguments.
        if name == wanted:
            module = importlib.import_module(module_name)
            module.add_arguments(sub_parser)
            sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
