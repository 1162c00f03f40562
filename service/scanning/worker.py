"""The scan worker: every stored file gets a verdict, off the upload path.

- `ScanWorker`: a background task of every instance (`start`, `aclose`); claims due pending
  rows (`scan_next`), asks the engine on its own threads, quarantines or deletes infected
  bytes, records verdicts, backs off while the scanner is unreachable; `verdict_now` for a
  download that finds its file pending
- `build_scanner`: the engine SILO_SCAN names; `quarantine_key`: where infected bytes go
- `MAX_ATTEMPTS`, `UNREACHABLE_BACKOFF`, `RETRY_SECONDS`: the retry figures
- woken when a file is stored (wakeup.py: LISTEN/NOTIFY, every instance), else it polls

Design: docs/design/scanning.md
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg
import psycopg_pool

from service.scanning import sql as scans_repo
from service.scanning import wakeup
from service.scanning.engines import (
    FAILED,
    INFECTED,
    OVERSIZE,
    ClamdScanner,
    GuardDutyScanner,
    NoScanner,
    ScanError,
    Scanner,
    ScannerUnavailable,
    Verdict,
)
from service.storage import ObjectMissing, ObjectStorage, StorageError

log = logging.getLogger("silo.scan")

QUARANTINE_PREFIX = "quarantine/"
MAX_ATTEMPTS = 5
# A claim lasts this long plus the file's size at this rate: longer than any real scan, short
# enough that a file an instance was scanning when it died waits minutes, not hours.
CLAIM_SECONDS = 300.0
CLAIM_BYTES_PER_SECOND = 2 * 1024 * 1024
RETRY_SECONDS = (30.0, 60.0, 300.0, 900.0)
UNREACHABLE_BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
GUARDDUTY_RECHECK_MIN, GUARDDUTY_RECHECK_MAX = 5.0, 300.0
# How often an idle worker checks that the scanner answers.
WATCH_SECONDS = 15.0


def build_scanner(
    engine: str,
    storage: ObjectStorage,
    clamd_address: str | None = None,
    *,
    reply_seconds: float = 30.0,
) -> Scanner:
    """The engine SILO_SCAN names (`clamav`, `guardduty`, `off`), reading objects through
    `storage`; clamd at `clamd_address`, its reply awaited `reply_seconds` plus the size's share."""
    if engine == "clamav":
        assert clamd_address is not None
        return ClamdScanner(clamd_address, storage.read_chunks, reply_seconds=reply_seconds)
    if engine == "guardduty":
        return GuardDutyScanner(storage.read_tags)
    return NoScanner()


def quarantine_key(key: str) -> str:
    return QUARANTINE_PREFIX + key


class ScanWorker:
    def __init__(
        self,
        *,
        pool: psycopg_pool.AsyncConnectionPool,
        storage: ObjectStorage,
        scanner: Scanner,
        infected: str = "quarantine",
        concurrency: int = 2,
        poll_seconds: float = 1.0,
        guardduty_timeout_seconds: float = 6 * 3600,
        watch_seconds: float = WATCH_SECONDS,
        on_result: Callable[[str], None] = lambda result: None,
        on_reachable: Callable[[bool], None] = lambda up: None,
        listen: wakeup.Connect | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self.pool = pool
        self.storage = storage
        self.scanner = scanner
        self.infected = infected
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.guardduty_timeout_seconds = guardduty_timeout_seconds
        self.watch_seconds = watch_seconds
        # Larger files are `oversize` without asking the engine (SILO_SCAN_MAX_BYTES).
        self.max_bytes = max_bytes
        self._on_result = on_result
        self._on_reachable = on_reachable
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="scan")
        # Health checks on a thread of their own: scans stuck in a hung engine hold the others.
        self._probe_executor = ThreadPoolExecutor(1, thread_name_prefix="scan-probe")
        self._unreachable_since: datetime | None = None
        self._recovered = asyncio.Event()
        self._recovered.set()
        self._probe_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task] = []
        # One per slot, set when a file is stored (`wake`): an idle slot looks for work at once
        # instead of at its next poll. `listen`: a connection for the NOTIFY of every instance.
        self._wakes = [asyncio.Event() for _ in range(concurrency)]
        self._listener = wakeup.Listener(listen, self.wake) if listen is not None else None

    # -- lifecycle --

    def start(self) -> ScanWorker:
        loop = asyncio.get_running_loop()
        self._on_reachable(True)
        self._tasks = [
            loop.create_task(self._slot(n), name=f"scan-{n}") for n in range(self.concurrency)
        ]
        self._tasks.append(loop.create_task(self._watch(), name="scan-watch"))
        if self._listener is not None:
            self._tasks.append(loop.create_task(self._listener.run(), name="scan-listen"))
        return self

    def wake(self) -> None:
        """A file was stored: idle slots look for work now."""
        for event in self._wakes:
            event.set()

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # A scan in a thread finishes on its own (bounded by the engine's timeouts); its row's
        # claim runs out and another instance (or this one, restarted) scans it again.
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._probe_executor.shutdown(wait=False, cancel_futures=True)

    # -- the loop --

    async def _slot(self, n: int) -> None:
        wake = self._wakes[n]
        while True:
            try:
                await self._recovered.wait()
                wake.clear()  # a file stored from here on is seen, by this look or the next
                worked = await self.scan_next()
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
                log.warning("scan worker: database unavailable (%s)", exc)
                worked = False
            except Exception:
                log.exception("scan worker: unexpected failure")
                worked = False
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.poll_seconds)

    async def _watch(self) -> None:
        """Ping the scanner now and then, so that an outage shows (metrics, logs) even when
        there is nothing to scan."""
        while True:
            await asyncio.sleep(self.watch_seconds)
            if self._unreachable_since is not None:
                continue  # the probing slot is on it
            try:
                await self._probe()
            except ScannerUnavailable as exc:
                await self._scanner_down(str(exc))
            except Exception:
                log.exception("scan worker: the scanner check failed unexpectedly")

    async def scan_next(self) -> bool:
        """Claim one due pending file and settle it; False when none is due."""
        async with self.pool.connection() as conn:
            claim = await scans_repo.claim(
                conn, lease_seconds=CLAIM_SECONDS, bytes_per_second=CLAIM_BYTES_PER_SECOND
            )
        if claim is None:
            return False
        await self._settle(claim)
        return True

    async def verdict_now(self, row: scans_repo.Claim) -> Verdict | None:
        """For a download of a pending file: with GuardDuty, its tag read now (one request) and,
        if there is one, the verdict recorded, so a file is served as soon as GuardDuty has
        spoken rather than at the worker's next look. With `off`, `clean` at once: the files a
        tenant had before scanning existed are all pending after the upgrade, and a large
        library would otherwise be refused (409) until the worker has gone through every row.
        Other engines scan for seconds to minutes, which a request must not wait for: None."""
        if not isinstance(self.scanner, GuardDutyScanner | NoScanner):
            return None
        try:
            verdict = await self._run(self.scanner.scan, row["object_key"], row["size"])
        except ObjectMissing:
            # The worker is moving it to quarantine right now (copied there, then deleted): its
            # verdict is being recorded; answer it without recording it twice.
            missing = await self._missing(row["object_key"])
            return missing if missing.status == INFECTED else None
        except (StorageError, ScannerUnavailable, ScanError) as exc:
            log.info("verdict of file %s at download: %s", row["id"], exc)
            return None
        if verdict is None:
            return None
        try:
            await self._record(row, verdict)
        except StorageError as exc:
            # Infected bytes that could not be moved: not recorded; the worker tries again.
            log.info("verdict of file %s at download not recorded: %s", row["id"], exc)
            return None
        return verdict

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, functools.partial(fn, *args)
        )

    async def _probe(self) -> None:
        """The scanner's health check (ScannerUnavailable), bounded by the engine."""
        await asyncio.get_running_loop().run_in_executor(self._probe_executor, self.scanner.check)

    async def _settle(self, claim: scans_repo.Claim) -> None:
        key = claim["object_key"]
        if self.max_bytes is not None and claim["size"] > self.max_bytes:
            limit = f"SILO_SCAN_MAX_BYTES={self.max_bytes}"
            await self._record(claim, Verdict(OVERSIZE, f"{claim['size']} bytes, above {limit}"))
            return
        try:
            verdict = await self._run(self.scanner.scan, key, claim["size"])
        except ScannerUnavailable as exc:
            # Unreachable, or hung (no answer to a PING after the scan ran out of time): not
            # the file's fault, so no attempt is counted.
            await self._defer(claim, 0.0, attempt=False)
            await self._scanner_down(str(exc))
            return
        except ObjectMissing:
            verdict = await self._missing(key)
        except (ScanError, StorageError) as exc:
            await self._retry(claim, str(exc))
            return
        self._scanner_up()
        if verdict is None:
            await self._no_verdict_yet(claim)
            return
        try:
            await self._record(claim, verdict)
        except StorageError as exc:
            # The infected bytes could not be moved or deleted: nothing is recorded yet (the
            # file stays pending, so not served), and it is tried again.
            await self._retry(claim, f"could not take the infected bytes out of files/: {exc}")

    async def _missing(self, key: str) -> Verdict:
        """The object is gone: a move to quarantine that was cut short before its verdict was
        written (then the quarantined copy is the file), or it was removed behind our back."""
        try:
            await self._run(self.storage.read_tags, quarantine_key(key))
        except StorageError:  # ObjectMissing, or a quarantine the role may not look into
            return Verdict(FAILED, "the stored object is missing")
        return Verdict(INFECTED, "quarantined by an earlier scan")

    async def _record(self, claim: scans_repo.Claim, verdict: Verdict) -> None:
        disposal = None
        if verdict.status == INFECTED:
            disposal = await self._dispose(claim["object_key"])
        async with self.pool.connection() as conn, conn.transaction():
            recorded = await scans_repo.record(
                conn,
                claim["id"],
                status=verdict.status,
                engine=self.scanner.engine,
                detail=verdict.detail,
                disposal=disposal,
            )
        if not recorded:
            return
        self._on_result(verdict.status)
        if verdict.status == INFECTED:
            log.warning(
                "file %s is infected (%s, by %s); its bytes were %s",
                claim["id"],
                verdict.detail,
                self.scanner.engine,
                disposal,
            )
        elif verdict.status == FAILED:
            log.warning("file %s could not be scanned: %s", claim["id"], verdict.detail)
        elif verdict.status == OVERSIZE:
            log.warning("file %s is too large to be scanned: %s", claim["id"], verdict.detail)

    async def _dispose(self, key: str) -> str:
        """Take an infected file's bytes out of the readable prefix (StorageError: the row
        stays pending and is tried again)."""
        try:
            if self.infected == "delete":
                await self.storage.delete(key)
                return "deleted"
            await self.storage.move(key, quarantine_key(key))
        except ObjectMissing:
            pass  # already moved by a scan cut short
        return "deleted" if self.infected == "delete" else "quarantined"

    async def _retry(self, claim: scans_repo.Claim, reason: str) -> None:
        attempts = claim["scan_attempts"] + 1
        if attempts >= MAX_ATTEMPTS:
            await self._record(claim, Verdict(FAILED, f"{reason} ({attempts} tries)"))
            return
        log.info("scan of file %s failed (%s); trying again", claim["id"], reason)
        delay = RETRY_SECONDS[min(attempts - 1, len(RETRY_SECONDS) - 1)]
        await self._defer(claim, delay, attempt=True)

    async def _no_verdict_yet(self, claim: scans_repo.Claim) -> None:
        waited = (datetime.now(UTC) - claim["created_at"]).total_seconds()
        if waited > self.guardduty_timeout_seconds:
            await self._record(
                claim,
                Verdict(
                    FAILED,
                    f"no verdict from {self.scanner.engine} {waited / 3600:.1f} h after the "
                    "upload (is malware protection enabled, with tagging, for this bucket?)",
                ),
            )
            return
        # A verdict still to come is no failure: asked again sooner for a recent upload (most
        # are tagged within seconds), rarely for one that has waited long.
        delay = min(GUARDDUTY_RECHECK_MAX, max(GUARDDUTY_RECHECK_MIN, waited / 4))
        await self._defer(claim, delay, attempt=False)

    async def _defer(self, claim: scans_repo.Claim, seconds: float, *, attempt: bool) -> None:
        async with self.pool.connection() as conn:
            await scans_repo.defer(conn, claim["id"], seconds, attempt=attempt)

    # -- the scanner's reachability --

    async def _scanner_down(self, reason: str) -> None:
        if self._unreachable_since is None:
            self._unreachable_since = datetime.now(UTC)
            self._on_reachable(False)
            log.error("scanner unreachable, files stay pending until it is back: %s", reason)
        self._recovered.clear()
        # One slot probes; the others wait for it.
        if self._probe_lock.locked():
            return
        async with self._probe_lock:
            for attempt in itertools.count():
                await asyncio.sleep(UNREACHABLE_BACKOFF[min(attempt, len(UNREACHABLE_BACKOFF) - 1)])
                try:
                    await self._probe()
                except ScannerUnavailable:
                    continue
                self._scanner_up()
                return

    def _scanner_up(self) -> None:
        if self._unreachable_since is not None:
            down = datetime.now(UTC) - self._unreachable_since
            log.warning("scanner reachable again after %.0f s", down.total_seconds())
            self._unreachable_since = None
            self._on_reachable(True)
        self._recovered.set()
