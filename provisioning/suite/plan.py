"""What the test suite needs that no wheel brings, and the commands that install it.

Pure functions: `plan(missing, machine)` turns what is missing and what the machine allows into
the commands to run, or the commands to show when we may not run them. `cli.py` probes the
machine and runs them.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# The paths tests/console/conftest.py drives (Debian's packages).
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Node's locked packages: tus-js-client, Uppy's bundle (driven in Chromium), and the TypeScript
# client typed from the OpenAPI document (tests/service).
NODE_FOLDERS = ("tests/tus_js", "tests/uppy", "tests/ts_client")


@dataclass(frozen=True)
class Need:
    """One piece the suite needs: what it is for, and its packages per package manager."""

    name: str
    what: str
    apt: tuple[str, ...]
    brew: tuple[str, ...] = ()
    brew_cask: tuple[str, ...] = ()


CLAMD = Need(
    "clamd", "ClamAV's daemon, for the malware scanning tests", ("clamav-daemon",), ("clamav",)
)
NODE = Need("node", "Node.js and npm, for tus-js-client", ("nodejs", "npm"), ("node",))
BROWSER = Need(
    "chromium",
    "Chromium and chromedriver, for the console's browser tests",
    ("chromium", "chromium-driver"),
    brew_cask=("chromium", "chromedriver"),
)
SYSTEM_NEEDS = (CLAMD, NODE, BROWSER)
# Not a system package: `npm ci` with the machine's npm, no privilege needed.
NODE_PACKAGES = "node packages"
NPM_CI = tuple(
    ("npm", "ci", "--prefix", folder, "--no-audit", "--no-fund") for folder in NODE_FOLDERS
)


@dataclass(frozen=True)
class Machine:
    """What the machine allows: a package manager, and the right to use it."""

    apt: bool = False  # apt-get on PATH: Debian, Ubuntu
    brew: bool = False  # Homebrew on PATH: macOS
    root: bool = False
    sudo: bool = False  # `sudo -n true` succeeds: sudo without a password prompt


@dataclass(frozen=True)
class Plan:
    """`run`: the commands to run, in order. When we may not install, `manual` holds what the
    user has to run (the commands, or a sentence), and `reason` says why."""

    run: tuple[tuple[str, ...], ...] = ()
    manual: tuple[str, ...] = ()
    reason: str = ""

    @property
    def blocked(self) -> bool:
        return bool(self.manual)


def apt_commands(packages: Iterable[str], sudo: bool) -> tuple[tuple[str, ...], ...]:
    prefix = ("sudo", "-n") if sudo else ()
    return (
        (*prefix, "apt-get", "update"),
        (
            *prefix,
            *("env", "DEBIAN_FRONTEND=noninteractive"),
            *("apt-get", "install", "-y", "--no-install-recommends", *packages),
        ),
    )


def brew_commands(needs: Iterable[Need]) -> tuple[tuple[str, ...], ...]:
    needs = list(needs)
    formulae = [p for need in needs for p in need.brew]
    casks = [p for need in needs for p in need.brew_cask]
    commands = []
    if formulae:
        commands.append(("brew", "install", *formulae))
    if casks:
        commands.append(("brew", "install", "--cask", *casks))
    return tuple(commands)


def plan(missing: Iterable[str], machine: Machine) -> Plan:
    """The commands that provide `missing` (names of SYSTEM_NEEDS, and NODE_PACKAGES) here."""
    missing = set(missing)
    unknown = missing - {n.name for n in SYSTEM_NEEDS} - {NODE_PACKAGES}
    if unknown:
        raise ValueError(f"unknown needs: {sorted(unknown)}")
    needs = [n for n in SYSTEM_NEEDS if n.name in missing]
    # New Node means no packages yet; `npm ci` runs after the system packages.
    npm = NPM_CI if NODE_PACKAGES in missing or NODE in needs else ()
    if not needs:
        return Plan(run=npm)
    packages = [p for n in needs for p in n.apt]
    if machine.apt and (machine.root or machine.sudo):
        return Plan(run=apt_commands(packages, sudo=not machine.root) + npm)
    if machine.brew and not machine.root:
        return Plan(run=brew_commands(needs) + npm)
    if machine.apt:
        return Plan(
            manual=(
                "sudo apt-get update",
                "sudo apt-get install -y --no-install-recommends " + shlex.join(packages),
                *(shlex.join(c) for c in npm),
            ),
            reason="installing needs root, and `sudo -n` asks for a password",
        )
    if machine.brew:
        return Plan(
            manual=tuple(shlex.join(c) for c in brew_commands(needs) + npm),
            reason="Homebrew does not run as root",
        )
    return Plan(
        manual=tuple(f"install {n.what}" for n in needs) + tuple(shlex.join(c) for c in npm),
        reason="no apt-get (Debian, Ubuntu) or Homebrew (macOS) here",
    )


def node_packages_current(lock: Mapping, installed: Mapping | None) -> bool:
    """True when node_modules holds exactly the locked versions: `lock` is package-lock.json,
    `installed` npm's record of node_modules (node_modules/.package-lock.json, None if absent)."""
    if installed is None:
        return False

    def versions(document: Mapping) -> dict[str, str | None]:
        packages = document.get("packages", {})
        return {path: entry.get("version") for path, entry in packages.items() if path}

    return versions(lock) == versions(installed)
