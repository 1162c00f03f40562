"""`--key KEY` and the like: an API key read from an environment variable, the flag a fallback.

A key on the command line is seen by shell history and by `ps`, so `silo import` and
`silo smoke` read theirs from a variable (`$SILO_IMPORT_KEY`, `$SILO_SMOKE_KEY`...). The flag
still works, and warns on stderr each time it is used.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import TextIO


def add_key_option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    flag: str,
    env_var: str,
    what: str,
) -> None:
    """Add `flag KEY`, whose help names the variable first."""
    parser.add_argument(
        flag,
        metavar="KEY",
        help=f"{what}: set ${env_var} (the flag works too, but shell history and `ps` see it)",
    )


def warn_if_given(
    value: str | None, *, flag: str, env_var: str, command: str, err: TextIO | None = None
) -> None:
    """Warn on stderr when the key came with the flag."""
    if value is not None:
        print(
            f"{command}: warning: {flag} puts the key in shell history and `ps`; "
            f"set ${env_var} instead",
            file=err or sys.stderr,
        )


def key_from(
    value: str | None,
    *,
    flag: str,
    env_var: str,
    command: str,
    environ: Mapping[str, str] | None = None,
    err: TextIO | None = None,
) -> str | None:
    """The key of the flag (with the warning), else of the variable, else None."""
    warn_if_given(value, flag=flag, env_var=env_var, command=command, err=err)
    if value is not None:
        return value
    environ = os.environ if environ is None else environ
    return environ.get(env_var) or None
