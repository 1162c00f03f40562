"""`python -m service` as a subprocess: one command run to its end (`run_service`), or a server
started with its output in a log file, waited for until ready, and stopped (`spawned_service`)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.env import ROOT
from tests.support.net import free_port
from tests.support.waiting import eventually

COMMAND = [sys.executable, "-m", "service"]


def run_service(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess:
    """Run `python -m service ARGS` to its end; its output captured as text."""
    return subprocess.run(
        [*COMMAND, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@dataclass
class ServiceProcess:
    url: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text()


@contextlib.contextmanager
def spawned_service(
    env: dict[str, str],
    log: Path,
    *,
    port: int | None = None,
    timeout: float = 30,
    preexec_fn: Callable[[], None] | None = None,
) -> Iterator[ServiceProcess]:
    """`python -m service` on `port` (a free one by default), its output appended to `log`; yields
    once /readyz answers 200. On leaving, a process still running is sent SIGTERM and, if it has
    not stopped within 30 s, killed."""
    port = port or free_port()
    env = {**env, "PORT": str(port), "HOST": "127.0.0.1"}
    with log.open("ab") as out:
        process = subprocess.Popen(
            COMMAND, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, preexec_fn=preexec_fn
        )
    url = f"http://127.0.0.1:{port}"
    try:
        eventually(
            lambda: process.poll() is not None or _ready(url),
            timeout=timeout,
            interval=0.1,
            message=lambda: f"the service did not start:\n{log.read_text()[-4000:]}",
        )
        if process.poll() is not None:
            raise RuntimeError(f"the service exited at start:\n{log.read_text()[-4000:]}")
        yield ServiceProcess(url, process, log)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait(10)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
