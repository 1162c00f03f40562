"""Admission of upload streams: each instance takes only as many concurrent upload bodies as
its memory holds.

- `Admission`: the cap; `slot()` held for an upload's body, `Busy` (503 `busy`) beyond it;
  `IDLE_TRIM_SECONDS` after the last upload ends, `release_free_memory` (glibc malloc_trim)
- `default_capacity`, `capacity_for`: the cap from SILO_MAX_CONCURRENT_UPLOADS or the memory
- `memory_limit_bytes`, `total_memory_bytes`, `available_memory`: the memory, from cgroups
- `BASE_RSS_BYTES`, `PER_STREAM_BYTES`, `TARGET_FRACTION`: the measured figures and headroom

Design: docs/design/admission.md
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from service import errors

log = logging.getLogger("silo.admission")

MIB = 1024**2
# Measured (see docs/api.md, "Memory and concurrent uploads"): the service's resident memory with no
# upload running, and what each concurrent upload stream adds at its peak (two 8 MiB parts on
# the wire, one being filled, plus socket, parser and boto3 buffers and allocator slack).
BASE_RSS_BYTES = 100 * MIB
PER_STREAM_BYTES = 28 * MIB
# Peak RSS is kept under this share of the limit: the rest is headroom for what is not an
# upload (listing pages, presigning, the event buffer) and for the allocator's fragmentation.
TARGET_FRACTION = 0.8
# Seconds without an upload after which the memory glibc's allocator keeps free is given back
# (`release_free_memory`): after a storm it held ~60 MiB of freed upload buffers (bench/soak.py,
# bench/README.md). None: never.
IDLE_TRIM_SECONDS: float | None = 5.0
# Seconds a client should wait before retrying a `busy` upload.
RETRY_AFTER_SECONDS = 1
# A v1 "no limit" is PAGE_COUNTER_MAX pages (about 2**63); anything this large is no limit.
UNLIMITED_THRESHOLD = 2**60

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
PROC_MEMINFO = Path("/proc/meminfo")


class Busy(errors.DomainError):
    """Every upload slot of this instance is taken; retry after a moment."""

    api_error = errors.Busy

    def __init__(self, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(
            "this instance is carrying as many uploads as its memory allows; "
            f"retry in {retry_after} s"
        )
        # The body is left unread: the connection cannot carry another request after it.
        self.headers = {"Retry-After": str(retry_after), "Connection": "close"}


# --- the memory this process has ---------------------------------------------------------------


def _read_limit(path: Path) -> int | None:
    """The limit in one cgroup file (`max` or a huge number: no limit), None if unreadable."""
    try:
        raw = path.read_text().strip()
    except OSError:
        return None
    if raw in ("", "max"):
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 0 < value < UNLIMITED_THRESHOLD else None


def _ancestors(mount: Path, cgroup_path: str) -> list[Path]:
    """The cgroup's directory under `mount` and each parent up to the mount itself. In a
    container with its own cgroup namespace the path is `/` and the mount is the container's."""
    parts = [p for p in cgroup_path.strip().split("/") if p and p != ".."]
    return [mount.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]


def memory_limit_bytes(proc_cgroup: str, cgroup_root: Path = CGROUP_ROOT) -> int | None:
    """The memory limit of the process whose `/proc/<pid>/cgroup` text is `proc_cgroup`: the
    smallest limit on its cgroup and its ancestors, in v2 (`memory.max`, unified mount at
    `cgroup_root` or `cgroup_root/unified`) and v1 (`memory.limit_in_bytes` under
    `cgroup_root/memory`). None when nothing limits it."""
    limits: list[int] = []
    for line in proc_cgroup.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if not hierarchy:
            continue
        if hierarchy == "0" and controllers == "":
            candidates = [(cgroup_root, "memory.max"), (cgroup_root / "unified", "memory.max")]
        elif "memory" in controllers.split(","):
            candidates = [(cgroup_root / "memory", "memory.limit_in_bytes")]
        else:
            continue
        for mount, filename in candidates:
            for directory in _ancestors(mount, path):
                value = _read_limit(directory / filename)
                if value is not None:
                    limits.append(value)
    return min(limits) if limits else None


def total_memory_bytes(meminfo: str) -> int | None:
    """MemTotal from the text of /proc/meminfo."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            fields = line.split()
            with contextlib.suppress(IndexError, ValueError):
                return int(fields[1]) * 1024
    return None


def available_memory() -> tuple[int | None, str]:
    """The memory this process may use and where that figure comes from."""
    with contextlib.suppress(OSError):
        limit = memory_limit_bytes(PROC_SELF_CGROUP.read_text())
        if limit is not None:
            return limit, "cgroup memory limit"
    with contextlib.suppress(OSError):
        total = total_memory_bytes(PROC_MEMINFO.read_text())
        if total is not None:
            return total, "machine memory (no cgroup limit)"
    return None, "unknown"


def capacity_for(
    limit_bytes: int,
    *,
    base_bytes: int = BASE_RSS_BYTES,
    per_stream_bytes: int = PER_STREAM_BYTES,
    fraction: float = TARGET_FRACTION,
) -> int:
    """How many concurrent upload streams keep `base + n * per_stream` under `fraction` of
    `limit_bytes`; at least 1 (an instance that can take no upload is of no use)."""
    room = limit_bytes * fraction - base_bytes
    return max(1, math.floor(room / per_stream_bytes))


def release_free_memory() -> bool:
    """Give the memory glibc's malloc holds free (in every arena) back to the system:
    malloc_trim(0). False where there is no glibc (musl, macOS): nothing to do."""
    trim = _malloc_trim()
    if trim is None:
        return False
    started = time.perf_counter()
    trim(0)
    log.debug("malloc_trim(0) took %.1f ms", (time.perf_counter() - started) * 1000)
    return True


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


# --- the cap -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Capacity:
    slots: int
    reason: str  # how the figure was chosen, for the start-up log


def default_capacity(override: int | None) -> Capacity:
    """SILO_MAX_CONCURRENT_UPLOADS when set, else derived from the memory this process has."""
    if override is not None:
        return Capacity(override, "SILO_MAX_CONCURRENT_UPLOADS")
    limit, source = available_memory()
    if limit is None:
        return Capacity(capacity_for(512 * MIB), "an assumed 512 MiB (memory unknown)")
    return Capacity(capacity_for(limit), f"{source} of {limit // MIB} MiB")


class Admission:
    """A counter of upload streams with a hard cap. Not a queue: a stream beyond the cap is
    refused at once, so a flood costs this instance nothing but a 503 per refused request.

    `on_change(in_flight)` and `on_reject()` (optional) are told of every change (metrics).
    `idle_trim_seconds` after the last slot is released with none taken since, `trim` runs
    (`release_free_memory`; the default delay is IDLE_TRIM_SECONDS, None: never)."""

    def __init__(
        self,
        capacity: int,
        *,
        retry_after: int = RETRY_AFTER_SECONDS,
        on_change: Callable[[int], None] | None = None,
        on_reject: Callable[[], None] | None = None,
        idle_trim_seconds: float | type[Ellipsis] | None = ...,
        trim: Callable[[], object] = release_free_memory,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.retry_after = retry_after
        self.in_flight = 0
        self.rejected = 0
        self._on_change = on_change
        self._on_reject = on_reject
        # Read at construction, not import, so that a debug harness may turn it off.
        self._trim_after = IDLE_TRIM_SECONDS if idle_trim_seconds is ... else idle_trim_seconds
        self._trim = trim
        self._trim_timer: asyncio.TimerHandle | None = None

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.in_flight)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one upload slot for the body of one request; `Busy` when none is free."""
        if self.in_flight >= self.capacity:
            self.rejected += 1
            if self._on_reject is not None:
                self._on_reject()
            raise Busy(self.retry_after)
        self.in_flight += 1
        self._changed()
        if self._trim_timer is not None:
            self._trim_timer.cancel()
            self._trim_timer = None
        try:
            yield
        finally:
            self.in_flight -= 1
            self._changed()
            if self.in_flight == 0 and self._trim_after is not None:
                self._trim_timer = asyncio.get_running_loop().call_later(
                    self._trim_after, self._idle
                )

    def _idle(self) -> None:
        self._trim_timer = None
        if self.in_flight == 0:
            self._trim()
