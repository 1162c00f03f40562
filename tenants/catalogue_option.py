"""`--tenants FILE`: where every `silo` command that reads the catalogue finds it.

One definition, so `silo tenants`, `dev`, `smoke` and `render` agree: an explicit `--tenants`
wins, then `$SILO_TENANTS_FILE`, then `tenants.yaml` in the current directory.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

ENV_VAR = "SILO_TENANTS_FILE"
DEFAULT_FILE = Path("tenants.yaml")


def default_catalogue_file(environ: Mapping[str, str] | None = None) -> Path:
    """The catalogue when `--tenants` is not given."""
    environ = os.environ if environ is None else environ
    return Path(environ.get(ENV_VAR) or DEFAULT_FILE)


def add_tenants_option(
    parser: argparse.ArgumentParser, environ: Mapping[str, str] | None = None
) -> None:
    """Add `--tenants FILE` (a Path in `args.tenants`); the default is read when the parser is
    built, which the `silo` command does on every run."""
    parser.add_argument(
        "--tenants",
        type=Path,
        default=default_catalogue_file(environ),
        metavar="FILE",
        help=f"the tenant catalogue (default: ${ENV_VAR}, else {DEFAULT_FILE})",
    )
