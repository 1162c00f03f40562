"""`silo dev` as a subprocess, as a user runs it, for the end-to-end smoke tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

CATALOGUE = """\
platform:
  domain: uploads.test.example
defaults:
  limits: {{max_upload_mb: 10, allowed_types: [png, jpeg, pdf, txt]}}
tenants:
{entries}
"""


def write_catalogue(path: Path, slugs: list[str]) -> Path:
    entries = "\n".join(
        f"  - {{slug: {slug}, name: {slug.title()}, priority: {10 * (i + 1)}}}"
        for i, slug in enumerate(slugs)
    )
    path.write_text(CATALOGUE.format(entries=entries))
    return path


def process_exists(pid: int) -> bool:
    """True while `pid` is a live (non-zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children, their children, ...), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {p for p in found if process_exists(p)}


def postmaster_of(port: int) -> tuple[int, str] | None:
    """(pid, data directory) of the PostgreSQL server listening on `port`, from /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv if a]
        is_postmaster = args and args[0].endswith("postgres") and "-p" in args and "-D" in args
        if is_postmaster and args[args.index("-p") + 1] == str(port):
            return int(entry.name), args[args.index("-D") + 1]
    return None


@dataclass
class DevRun:
    proc: subprocess.Popen
    state_path: Path
    output_path: Path
    ready_seconds: float

    def state(self) -> dict:
        return json.loads(self.state_path.read_text())

    def output(self) -> str:
        return self.output_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def silo(*args: str) -> list[str]:
    return [sys.executable, "-m", "provisioning.cli", *args]


def start_dev(
    tmp_path: Path,
    slugs: list[str],
    extra_args: tuple[str, ...] = (),
    timeout: float = 90,
    preexec_fn=None,
    env: dict[str, str] | None = None,
) -> DevRun:
    catalogue = write_catalogue(tmp_path / "tenants.yaml", slugs)
    state = tmp_path / "state" / "dev.json"
    output = tmp_path / "dev.out"
    started = time.monotonic()
    with open(output, "wb") as out:
        proc = subprocess.Popen(
            silo("dev", "--tenants", str(catalogue), "--state", str(state), *extra_args),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            preexec_fn=preexec_fn,
            env=env,
        )
    run = DevRun(proc, state, output, 0.0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"silo dev exited with {proc.returncode}:\n{run.output()}")
        if state.exists() and "Ctrl-C to stop" in run.output():
            run.ready_seconds = time.monotonic() - started
            return run
        time.sleep(0.1)
    run.stop(signal.SIGKILL)
    raise AssertionError(f"silo dev not ready after {timeout} s:\n{run.output()}")


@pytest.fixture
def dev_factory(tmp_path):
    """start(slugs) -> DevRun (`env`: the whole environment of `silo dev`, default ours);
    anything still running at the end is stopped (then killed)."""
    runs: list[DevRun] = []

    def start(slugs: list[str], *extra_args: str, preexec_fn=None, env=None) -> DevRun:
        run = start_dev(tmp_path, slugs, extra_args, preexec_fn=preexec_fn, env=env)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.proc.poll() is None:
            leftovers = descendants(run.proc.pid)
            try:
                run.stop(signal.SIGTERM, timeout=30)
            except subprocess.TimeoutExpired:
                run.proc.kill()
            for pid in leftovers:
                if process_exists(pid):
                    os.kill(pid, signal.SIGKILL)
