"""Supervision of the per-tenant service processes `silo dev` runs.

Each child runs in its own session (process group), so a Ctrl-C at the terminal reaches only
`silo dev`, which then stops the children in order, and so stopping a child also stops anything
it spawned. On Linux a child also gets SIGTERM if `silo dev` itself dies without cleaning up.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SERVICE_COMMAND = (sys.executable, "-m", "service")
STOP_GRACE_SECONDS = 10.0
LOG_TAIL_LINES = 15


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask the kernel to SIGTERM this process when its parent dies (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last `lines` lines of a log file (empty if it cannot be read)."""
    try:
        with open(path, errors="replace") as fh:
            return [line.rstrip("\n") for line in collections.deque(fh, maxlen=lines)]
    except OSError:
        return []


@dataclass
class ServiceProcess:
    """One tenant's `python -m service`, started with exactly `env`, logging to `log_path`."""

    slug: str
    port: int
    env: Mapping[str, str]
    log_path: Path
    command: Sequence[str] = SERVICE_COMMAND
    proc: subprocess.Popen | None = field(default=None, repr=False)
    ready: bool = False
    exit_code: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            # The child gets its own copy of the descriptor; ours can close at once.
            self.proc = subprocess.Popen(
                list(self.command),
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def poll(self) -> int | None:
        """The exit code once the process has exited (recorded), else None."""
        if self.proc is not None and self.exit_code is None:
            self.exit_code = self.proc.poll()
        return self.exit_code

    def is_ready(self, client: httpx.Client) -> bool:
        try:
            return client.get(self.url + "/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> list[str]:
        return tail(self.log_path, lines)


def describe_exit(process: ServiceProcess) -> str:
    """What `silo dev` prints when a child dies: tenant, exit code, last log lines."""
    code = process.exit_code
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    lines = [f"tenant {process.slug}: service process {process.pid} exited ({how})"]
    last = process.log_tail()
    if last:
        lines.append(f"  last {len(last)} log line(s) of {process.log_path}:")
        lines.extend(f"  | {line}" for line in last)
    else:
        lines.append(f"  (log {process.log_path} is empty)")
    return "\n".join(lines)


def wait_ready(
    processes: Sequence[ServiceProcess],
    timeout: float,
    on_exit: Callable[[ServiceProcess], None],
) -> list[ServiceProcess]:
    """Poll every process's /readyz until all are ready or dead, or `timeout` passes.

    Returns the processes that are neither ready nor dead by then. `on_exit` is called once for
    each process that dies while we wait.
    """
    deadline = time.monotonic() + timeout
    pending = list(processes)
    with httpx.Client(timeout=1.0) as client:
        while pending:
            for process in list(pending):
                if process.poll() is not None:
                    pending.remove(process)
                    on_exit(process)
                elif process.is_ready(client):
                    process.ready = True
                    pending.remove(process)
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
    return pending


def stop_all(processes: Sequence[ServiceProcess], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM every process group (graceful shutdown), SIGKILL what is left after `grace`."""
    running = [p for p in processes if p.proc is not None and p.poll() is None]
    for process in running:
        process.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in running:
        try:
            process.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.signal_group(signal.SIGKILL)
            process.proc.wait()
        process.poll()
    # Anything the children spawned in their groups goes too.
    for process in processes:
        process.signal_group(signal.SIGKILL)
