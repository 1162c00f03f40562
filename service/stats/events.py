"""Usage tracking: the access-event recorder.

- `EventRecorder`: `record` appends to a bounded buffer (no database round trip; waits up to
  `max_wait` when full); one background task writes batches; `aclose` writes what is left
- `AccessEvent`, `ACTIONS` (`content`, `metadata`), `DIMENSIONS`
- `write_batch`, `rollup_counts`: a batch COPYed into `access_events`, its counts added to
  the rollups `/stats` reads

Design: docs/design/events.md
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

log = logging.getLogger("silo.events")

CONTENT = "content"
METADATA = "metadata"
ACTIONS = (CONTENT, METADATA)

# Rollup dimensions; each event adds 1 to (dim, key) for each of these, plus ("total", "").
DIMENSIONS = ("country", "company", "role", "language")


@dataclass(frozen=True)
class AccessEvent:
    file_id: UUID | str
    action: str
    user: str | None = None
    role_id: int | None = None
    country: str | None = None
    company: str | None = None
    language: str | None = None
    key_id: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown access action {self.action!r}")

    def key(self, dim: str) -> str:
        value = self.role_id if dim == "role" else getattr(self, dim)
        return "" if value is None else str(value)


def month_of(day: date) -> date:
    return day.replace(day=1)


def week_of(day: date) -> date:
    """The Monday of the ISO week holding `day`."""
    return day - timedelta(days=day.weekday())


def rollup_counts(events: Iterable[AccessEvent]) -> tuple[Counter, Counter]:
    """Pure: a batch's increments for access_rollup and access_file_daily.

    access_rollup keys: (grain, action, dim, period, key), grains d (day), w (ISO week, from
    its Monday) and m (month, from its 1st); access_file_daily keys: (file, day). UTC.
    """
    # Events with the same action, day and dimension values add to the same rollup keys: count
    # them first (a batch holds many alike), then expand each distinct one into its 15 keys.
    alike: Counter = Counter()
    per_file: Counter = Counter()
    for event in events:
        day = event.at.astimezone(UTC).date()
        alike[event.action, day, *(event.key(dim) for dim in DIMENSIONS)] += 1
        if event.action == CONTENT:
            per_file[str(event.file_id), day] += 1
    rollup: Counter = Counter()
    for (action, day, *keys), n in alike.items():
        week, month = week_of(day), month_of(day)
        for dim, key in (("total", ""), *zip(DIMENSIONS, keys, strict=True)):
            rollup["d", action, dim, day, key] += n
            rollup["w", action, dim, week, key] += n
            rollup["m", action, dim, month, key] += n
    return rollup, per_file


_COPY = (
    "COPY access_events (at, file_id, action, user_id, role_id, country, company, language, "
    "key_id) FROM STDIN"
)
_ROLLUP = """
INSERT INTO access_rollup AS r (grain, action, dim, period, key, n)
SELECT * FROM unnest(%s::"char"[], %s::text[], %s::text[], %s::date[], %s::text[], %s::bigint[])
ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (grain, action, dim, period, key) DO UPDATE SET n = r.n + EXCLUDED.n
"""
_FILE_DAILY = """
INSERT INTO access_file_daily AS f (file_id, day, n)
SELECT * FROM unnest(%s::uuid[], %s::date[], %s::bigint[])
ORDER BY 1, 2
ON CONFLICT (file_id, day) DO UPDATE SET n = f.n + EXCLUDED.n
"""


async def write_batch(conn, events: list[AccessEvent]) -> None:
    """One transaction: the raw events and their rollup increments."""
    rollup, per_file = rollup_counts(events)
    async with conn.transaction():
        async with conn.cursor() as cur, cur.copy(_COPY) as copy:
            for e in events:
                await copy.write_row(
                    (e.at, e.file_id, e.action, e.user, e.role_id, e.country, e.company,
                     e.language, e.key_id)
                )  # fmt: skip
        keys = sorted(rollup)
        await conn.execute(
            _ROLLUP,
            (
                [k[0] for k in keys],
                [k[1] for k in keys],
                [k[2] for k in keys],
                [k[3] for k in keys],
                [k[4] for k in keys],
                [rollup[k] for k in keys],
            ),
        )
        if per_file:
            keys = sorted(per_file)
            await conn.execute(
                _FILE_DAILY,
                ([k[0] for k in keys], [k[1] for k in keys], [per_file[k] for k in keys]),
            )


class EventRecorder:
    """Buffers access events and writes them in batches from one background task."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        batch_size: int = 2000,
        flush_interval: float = 0.5,
        max_buffered: int = 100_000,
        max_wait: float = 5.0,
        retry_backoff: float = 0.2,
    ) -> None:
        if batch_size < 1 or max_buffered < batch_size:
            raise ValueError("need 1 <= batch_size <= max_buffered")
        self._pool = pool
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffered = max_buffered
        self.max_wait = max_wait
        self.retry_backoff = retry_backoff
        self._buffer: list[AccessEvent] = []
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._task: asyncio.Task | None = None
        self._write_lock = asyncio.Lock()  # one writer at a time: a batch is the buffer's head
        self._closing = False
        self.recorded = 0
        self.written = 0
        self.dropped = 0
        self.failed_batches = 0

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    async def start(self) -> EventRecorder:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="silo-event-flusher")
        return self

    async def __aenter__(self) -> EventRecorder:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def record(self, event: AccessEvent) -> None:
        """Buffer one event. Returns at once unless the buffer is full (see back-pressure)."""
        if self._task is None:
            # Not started, or already closed (a straggler after shutdown): write through.
            self._buffer.append(event)
            self.recorded += 1
            await self.flush()
            return
        if len(self._buffer) >= self.max_buffered:
            deadline = time.monotonic() + self.max_wait
            while len(self._buffer) >= self.max_buffered:
                self._room.clear()
                self._wake.set()
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._task.done():
                    self.dropped += 1
                    log.error(
                        "access event dropped: buffer full for %.1fs (%d dropped so far)",
                        self.max_wait,
                        self.dropped,
                    )
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), remaining)
        self._buffer.append(event)
        self.recorded += 1
        if len(self._buffer) >= self.batch_size:
            self._wake.set()

    async def flush(self) -> None:
        """Write everything buffered now (from the caller's task; used by tests and aclose)."""
        while self._buffer:
            await self._write_head()

    async def _write_head(self) -> None:
        async with self._write_lock:
            batch = self._buffer[: self.batch_size]
            if not batch:
                return
            async with self._pool.connection() as conn:
                await write_batch(conn, batch)
            # Only the head is removed: events appended while it was written stay queued.
            del self._buffer[: len(batch)]
            self.written += len(batch)
            if len(self._buffer) < self.max_buffered:
                self._room.set()

    async def _run(self) -> None:
        backoff = self.retry_backoff
        while True:
            if not self._buffer and self._closing:
                return
            if len(self._buffer) < self.batch_size and not self._closing:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            try:
                while self._buffer:
                    await self._write_head()
                    if len(self._buffer) < self.batch_size and not self._closing:
                        break
                backoff = self.retry_backoff
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failed_batches += 1
                log.exception(
                    "writing %d access events failed; retrying in %.1fs",
                    min(len(self._buffer), self.batch_size),
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def aclose(self, timeout: float = 30.0) -> None:
        """Write every buffered event, then stop the flusher. Events still unwritten after
        `timeout` seconds (the database is gone) are logged as lost."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        if self._buffer:
            with contextlib.suppress(Exception):
                await self.flush()
        if self._buffer:
            self.dropped += len(self._buffer)
            log.error("%d access events could not be written before shutdown", len(self._buffer))
            self._buffer.clear()
