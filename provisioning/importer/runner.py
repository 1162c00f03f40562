"""One import run: plan (taxonomy mapped, journal read), then every file in `jobs` worker
threads, then the report.

A file's way:
1. skipped at once when the journal says it is done;
2. hashed (sha256, one streamed read of the source): with its `source_id` it derives the
   Idempotency-Key, so whatever run sends it, the tenant sees the same key;
3. sent directly (POST /uploads/direct, PUT to the presigned URL, complete) when it is at most
   `direct_max_bytes` and the tenant offers direct uploads, else with tus (the upload URL is
   journaled before the first byte, so a rerun resumes it from the tenant's offset);
4. checked: the bytes sent (direct) or the tenant's sha256 of what it stored (tus) must be
   what was hashed in 2, else the file changed meanwhile: it fails, and a stored copy is
   deleted (DELETE /files/{id});
5. "done" journaled once the tenant has the file.
A kill between 3 and 4 is answered on the next run by the tenant itself: the direct replay says
the file exists, the tus HEAD says the upload is complete. Neither stores it again.

Files already there (skipped) are then compared with the tenant's metadata
(`provisioning.importer.metadata`): the differences are reported, and applied with
`--update-metadata` (PATCH /files/{id}).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import httpx

from provisioning.importer import client as api
from provisioning.importer import metadata
from provisioning.importer.journal import Journal
from provisioning.importer.progress import Progress, human_bytes, human_duration
from provisioning.importer.report import printable, write_report
from provisioning.importer.sources import Item, ItemChanged, Source
from provisioning.importer.taxonomy_map import TaxonomyMap, plan

# Shown on the terminal at the end; the report file has them all.
FAILURES_SHOWN = 50
# Exit statuses: 0 nothing failed, 1 some files failed, 2 the import stopped (unreachable,
# key refused, unmapped taxonomy, unreadable source), 130 interrupted (Ctrl-C).
EXIT_OK, EXIT_FAILED, EXIT_STOPPED, EXIT_INTERRUPTED = 0, 1, 2, 130
# The test-only crash hook (see Options.crash_after_uploads) exits with this status.
CRASH_EXIT_STATUS = 99


@dataclass(frozen=True)
class Options:
    jobs: int = 4
    direct_max_bytes: int = 64 * 1024 * 1024
    tus_chunk_bytes: int = 16 * 1024 * 1024
    retries: int = 8
    # `busy` answers do not count as retries (they are the tenant pacing us), up to this many.
    max_busy_answers: int = 1000
    create_missing: bool = False
    # PATCH the metadata of files already there when the source's differs (else: reported).
    update_metadata: bool = False
    report: Path | None = None
    progress_interval: float = 10.0
    live_progress: bool = False
    # TEST ONLY (SILO_IMPORT_TEST_EXIT_AFTER_UPLOADS): after this many files were stored by
    # the tenant in this run, exit at once (status CRASH_EXIT_STATUS) right after the upload and
    # before the journal records it: the crash the journal cannot see, which the rerun must
    # answer without storing the file twice. None in real runs.
    crash_after_uploads: int | None = None


@dataclass
class Outcome:
    item: Item
    status: str  # "imported", "skipped", "failed"; "pending" when the run stopped first
    file_id: str | None = None
    reason: str | None = None
    via: str | None = None  # "direct" or "tus": how the tenant got it (in this run)
    # Of a skipped file: the fields whose source value differs from the tenant's, and whether
    # this run applied them (--update-metadata).
    changed: tuple[str, ...] = ()
    updated: bool = False


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)
    stopped: str | None = None  # the one line, when the import stopped
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def exit_status(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.stopped:
            return EXIT_STOPPED
        return EXIT_FAILED if self.count("failed") else EXIT_OK


def idempotency_key(source_id: str, sha256: str) -> str:
    """The same for the same file of the same source, whichever run or machine sends it."""
    digest = hashlib.sha256(f"{source_id}\n{sha256}".encode()).hexdigest()
    return f"silo-import-{digest}"


class Importer:
    def __init__(
        self,
        source: Source,
        client: api.SiloClient,
        journal: Journal,
        options: Options,
        *,
        admin: api.SiloClient | None = None,
        out: TextIO,
        err: TextIO,
    ) -> None:
        self.source, self.client, self.journal, self.options = source, client, journal, options
        self.admin = admin or client
        self.out, self.err = out, err
        self.stop = threading.Event()
        self.throttle = api.Throttle(options.jobs, self.stop)
        self._stored = 0
        self._stored_lock = threading.Lock()
        self._fatal: str | None = None

    # --- planning ------------------------------------------------------------------------------

    def map_taxonomy(self, items: list[Item]) -> TaxonomyMap | None:
        """The mapping, after creating what is missing when asked; None (with the list
        printed) when names are missing and may not be created."""
        sendable = [i for i in items if not i.problem]
        mapping = plan(self.client.taxonomy(), sendable)
        if not mapping.missing:
            return mapping
        lines = [m.describe() for m in mapping.missing]
        uncreatable = [m for m in mapping.missing if m.kind == "language" and not m.code]
        if not self.options.create_missing or uncreatable:
            print(
                f"silo import: {len(lines)} name(s) of the source are not in the tenant's "
                "taxonomy; nothing was sent:",
                file=self.err,
            )
            for line in lines:
                print(f"  {line}", file=self.err)
            hint = (
                "add them in the tenant (POST /languages {code, name}) or fix the source"
                if uncreatable
                else "rerun with --create-missing (with an admin key) to add them"
            )
            print(f"silo import: {hint}", file=self.err)
            return None
        for missing in mapping.missing:
            self.admin.create_entry(missing.kind, missing.name, missing.code)
            print(f"created {missing.kind} {missing.name!r}", file=self.err)
        mapping = plan(self.client.taxonomy(), sendable)
        assert not mapping.missing, mapping.missing
        return mapping

    # --- the run -------------------------------------------------------------------------------

    def run(self) -> Summary:
        summary = Summary()
        try:
            self.client.preflight()
            items = self.source.items()
            mapping = self.map_taxonomy(items)
        except (api.Fatal, api.Transient, api.Refused, api.Gone, httpx.HTTPError) as exc:
            # One line, and nothing else: the endpoint or the key is wrong, or the tenant
            # could not even tell its taxonomy.
            summary.stopped = str(exc) or type(exc).__name__
            print(printable(f"silo import: {summary.stopped}"), file=self.err)
            return summary
        if mapping is None:
            summary.stopped = "names missing from the tenant's taxonomy"
            return summary
        print(printable(f"silo import: journal {self.journal.path}"), file=self.err)
        items = [mapping.apply(i) for i in items]
        todo: list[Item] = []
        for item in items:
            entry = self.journal.get(item.source_id)
            if entry is not None and entry.done:
                summary.outcomes.append(Outcome(item, "skipped", entry.file_id, None))
            else:
                todo.append(item)
        total_bytes = sum(i.size or 0 for i in todo)
        progress = Progress(
            len(todo),
            total_bytes,
            self.err,
            live=self.options.live_progress,
            interval=self.options.progress_interval,
        ).start()
        started = time.monotonic()
        pool = concurrent.futures.ThreadPoolExecutor(self.options.jobs, "import")
        futures: dict[concurrent.futures.Future, Item] = {}
        try:
            futures = {pool.submit(self._one, item, progress): item for item in todo}
            pending = set(futures)
            while pending:
                _, pending = concurrent.futures.wait(pending, timeout=0.5)
                if self._fatal:
                    break
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            if summary.interrupted or self._fatal:
                self.stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            progress.stop()
        if self._fatal:
            summary.stopped = self._fatal
        for future, item in futures.items():
            outcome = future.result() if future.done() and not future.cancelled() else None
            if outcome is None or outcome.status == "stopped":
                # Cut short by Ctrl-C or a fatal answer: the rerun picks it up.
                outcome = Outcome(item, "pending", reason="not finished: the import stopped")
            summary.outcomes.append(outcome)
        if not (summary.interrupted or summary.stopped):
            self._check_metadata(summary)
        self._print_summary(summary, time.monotonic() - started, progress.wire)
        if self.options.report:
            write_report(
                self.options.report,
                (
                    (o.item.label, o.item.title, o.status, o.via, o.file_id, o.reason)
                    for o in sorted(summary.outcomes, key=lambda o: o.item.label)
                ),
            )
        return summary

    def _one(self, item: Item, progress: Progress) -> Outcome:
        sent = [0]

        def on_bytes(n: int) -> None:
            sent[0] += n
            progress.add_bytes(n)

        def rewind(to: int) -> None:
            """The next attempt starts at byte `to`: what was sent past it will be again."""
            progress.add_bytes(to - sent[0], on_the_wire=False)
            sent[0] = to

        try:
            outcome = self._import(item, on_bytes, rewind)
        except api.Stopped:
            return Outcome(item, "stopped")
        except api.Fatal as exc:
            self._fatal = self._fatal or str(exc)
            self.stop.set()
            return Outcome(item, "stopped")
        except ItemChanged as exc:  # not the file that was listed, or edited meanwhile
            outcome = Outcome(item, "failed", reason=str(exc))
            self.journal.record(item.source_id, "failed", reason=outcome.reason)
        except Exception as exc:  # a bug or an unreadable source file: this file fails
            outcome = Outcome(item, "failed", reason=f"{type(exc).__name__}: {exc}")
            self.journal.record(item.source_id, "failed", reason=outcome.reason)
        failed = outcome.status == "failed"
        progress.file_done(failed=failed, unsent=(item.size or 0) - sent[0])
        return outcome

    def _import(
        self, item: Item, on_bytes: Callable[[int], None], rewind: Callable[[int], None]
    ) -> Outcome:
        if item.problem:
            self.journal.record(item.source_id, "failed", reason=item.problem)
            return Outcome(item, "failed", reason=item.problem)
        size = item.size or 0
        try:
            sha256 = self._sha256(item)
        except api.Refused as exc:
            self.journal.record(item.source_id, "failed", reason=str(exc))
            return Outcome(item, "failed", reason=str(exc))
        key = idempotency_key(item.source_id, sha256)
        entry = self.journal.get(item.source_id)
        if entry is not None and entry.via:
            direct = entry.via == "direct"
        else:
            direct = size <= self.options.direct_max_bytes
        attempt = busy = 0
        while True:
            try:
                with self.throttle.slot():
                    stored, via = None, "direct"
                    if direct and self.client.direct_supported is not False:
                        rewind(0)
                        stored = self._direct(item, size, sha256, key, on_bytes)
                    if stored is None:
                        stored, via = self._tus(item, size, sha256, key, on_bytes, rewind), "tus"
                self.throttle.ok()
                break
            except api.Refused as exc:
                self.journal.record(item.source_id, "failed", reason=str(exc))
                return Outcome(item, "failed", reason=str(exc))
            except api.Transient as exc:
                if exc.busy and busy < self.options.max_busy_answers:
                    busy += 1
                    self.throttle.busy(exc.retry_after, busy)
                    continue
                attempt += 1
                if attempt > self.options.retries and exc.connection:
                    # Nothing answers any more: every other file would wait out its retries
                    # the same way. Stop; the rerun continues.
                    raise api.Fatal(
                        f"no answer after {self.options.retries} retries ({exc}); "
                        "run the same command again once it answers"
                    ) from None
                if attempt > self.options.retries:
                    reason = f"gave up after {self.options.retries} retries: {exc}"
                    self.journal.record(item.source_id, "failed", reason=reason)
                    return Outcome(item, "failed", reason=reason)
                self.throttle.backoff(attempt, exc.retry_after)
            except api.Gone as exc:
                # An expired tus upload or presigned URL: start the file again.
                attempt += 1
                if attempt > self.options.retries:
                    reason = f"gave up after {self.options.retries} retries: {exc}"
                    self.journal.record(item.source_id, "failed", reason=reason)
                    return Outcome(item, "failed", reason=reason)
                self.journal.record(item.source_id, "restart")
        if not stored.replayed:
            self._crash_hook()
        if via == "tus":
            self._check_stored(item, sha256, stored)
        self.journal.record(
            item.source_id, "done", file_id=stored.file_id, replayed=stored.replayed
        )
        status = "skipped" if stored.replayed else "imported"
        return Outcome(item, status, stored.file_id, via=via)

    def _crash_hook(self) -> None:
        """Counts the files this run stored (replays are not counted)."""
        if self.options.crash_after_uploads is None:
            return
        with self._stored_lock:
            self._stored += 1
            if self._stored >= self.options.crash_after_uploads:
                self.err.flush()
                os._exit(CRASH_EXIT_STATUS)

    def _sha256(self, item: Item) -> str:
        digest, size = hashlib.sha256(), 0
        for piece in self.source.chunks(item):
            if self.stop.is_set():
                raise api.Stopped()
            digest.update(piece)
            size += len(piece)
        if size != item.size:
            # The upload sends `item.size` bytes: a file that grew would arrive cut short.
            raise ItemChanged(f"the source changed while being read ({item.size} -> {size} bytes)")
        return digest.hexdigest()

    def _check_stored(self, item: Item, sha256: str, stored: api.Stored) -> None:
        """The tenant computed its own sha256 of what a tus upload stored: when it is not the
        one hashed before sending, the file was edited meanwhile, and the tenant holds a file
        the import never read whole. It is deleted (the key has the write scope) and the file
        fails; the rerun hashes it anew. ItemChanged says so."""
        got = self._retrying(lambda: self.client.file(stored.file_id))["sha256"]
        if got == sha256:
            return
        self.journal.record(item.source_id, "restart")  # the recorded upload is not this file
        what = f"the file changed while being imported (sha256 {sha256[:12]}... when hashed"
        what += f", {got[:12]}... as stored)"
        try:
            self._retrying(lambda: self.client.delete_file(stored.file_id))
        except (api.Refused, api.Transient) as exc:
            raise ItemChanged(
                f"{what}; the stored copy (file {stored.file_id}) could not be deleted ({exc}): "
                "delete it, then run again"
            ) from None
        raise ItemChanged(f"{what}; the stored copy was deleted: run again to import it")

    @staticmethod
    def _check_sent(body: api.Body, size: int, sha256: str) -> None:
        """A direct upload's bytes, hashed as they were sent, against the planned sha256 (the
        tenant would refuse them at `complete`, sha256_mismatch: this says why)."""
        if body.taken == size and body.sha256() != sha256:
            raise ItemChanged(
                f"the file changed while being imported (sha256 {sha256[:12]}... when hashed, "
                f"{body.sha256()[:12]}... as sent); nothing was stored: run again to import it"
            )

    def _retrying(self, call: Callable[[], object]) -> object:
        """`call`, tried again after a transient failure (up to --retries times)."""
        attempt = 0
        while True:
            try:
                return call()
            except api.Transient as exc:
                attempt += 1
                if attempt > self.options.retries:
                    raise
                self.throttle.backoff(attempt, exc.retry_after)

    def _direct(
        self, item: Item, size: int, sha256: str, key: str, on_bytes: Callable[[int], None]
    ) -> api.Stored | None:
        grant = self.client.direct_start(item, size, sha256, key)
        if grant is None:
            return None  # the tenant has no direct uploads: tus
        if "file" in grant:
            return api.Stored(str(grant["id"]), replayed=True)
        self.journal.record(item.source_id, "direct", upload_id=str(grant["id"]))
        body = api.Body(self.source.chunks(item), on_bytes, self.stop)
        try:
            self.client.direct_put(grant, size, body.take(size))
        except (api.Gone, api.Transient):  # storage may refuse the bytes for their checksum
            self._check_sent(body, size, sha256)
            raise
        finally:
            body.close()
        self._check_sent(body, size, sha256)
        # The bytes are in storage: a completion that fails for a while (503, 423 while another
        # request completes it, a dropped answer) is asked again, not paid for with another PUT.
        # `not_uploaded` (nothing landed) goes back up: the next attempt PUTs again.
        attempt = 0
        while True:
            try:
                return self.client.direct_complete(str(grant["id"]))
            except api.Transient as exc:
                attempt += 1
                if exc.code == "not_uploaded" or attempt > self.options.retries:
                    raise
                self.throttle.backoff(attempt, exc.retry_after)

    def _tus(
        self,
        item: Item,
        size: int,
        sha256: str,
        key: str,
        on_bytes: Callable[[int], None],
        rewind: Callable[[int], None],
    ) -> api.Stored:
        url, offset = None, 0
        entry = self.journal.get(item.source_id)
        if entry is not None and entry.url:
            if entry.sha256 != sha256:
                self.client.tus_terminate(entry.url)  # the source changed since: start anew
            else:
                state = self.client.tus_state(entry.url)
                if state is not None:
                    offset, length, file_id = state
                    if file_id and offset == length:
                        return api.Stored(file_id, replayed=True)
                    url = entry.url
        if url is None:
            url, stored = self.client.tus_create(item, size, key)
            if stored is not None:
                return stored
            self.journal.record(item.source_id, "tus", url=url, sha256=sha256)
            # A replayed creation hands back an upload already under way: ask where it is.
            state = self.client.tus_state(url)
            if state is None:
                raise api.Gone("the upload just created is gone")
            offset, _, file_id = state
            if file_id and offset == size:
                return api.Stored(file_id, replayed=True)
        rewind(offset)
        body = api.Body(self.source.chunks(item, offset), on_bytes, self.stop)
        try:
            while True:
                length = min(self.options.tus_chunk_bytes, size - offset)
                offset, file_id = self.client.tus_patch(
                    url, offset, length, body.take(length), item
                )
                if file_id and offset == size:
                    return api.Stored(file_id, replayed=False)
                if offset >= size:
                    raise api.Transient("the last chunk was taken but no file was announced")
        finally:
            body.close()

    # --- files already there: their metadata ----------------------------------------------------

    def _check_metadata(self, summary: Summary) -> None:
        """Each skipped file against the tenant's file object: the fields that differ go on
        its outcome (and the report), and are PATCHed with --update-metadata."""
        skipped = [o for o in summary.outcomes if o.status == "skipped" and o.file_id]
        if not skipped:
            return
        try:
            with concurrent.futures.ThreadPoolExecutor(self.options.jobs, "metadata") as pool:
                list(pool.map(self._compare, skipped))
        except api.Fatal as exc:
            summary.stopped = str(exc)
        except KeyboardInterrupt:
            self.stop.set()
            summary.interrupted = True

    def _compare(self, outcome: Outcome) -> None:
        file_id = str(outcome.file_id)
        try:
            file = self._retrying(lambda: self.client.file(file_id))
        except api.Gone:
            outcome.reason = f"the tenant no longer has file {file_id}"
            return
        except (api.Refused, api.Transient) as exc:
            outcome.reason = f"metadata not compared: {exc}"
            return
        fields = metadata.changes(outcome.item, file)
        if not fields:
            return
        outcome.changed = tuple(fields)
        names = ", ".join(fields)
        if not self.options.update_metadata:
            outcome.reason = f"metadata differs: {names} (--update-metadata applies it)"
            return
        try:
            self._retrying(lambda: self.client.update_file(file_id, fields))
        except (api.Refused, api.Transient, api.Gone) as exc:
            outcome.status, outcome.reason = "failed", f"metadata update refused: {exc}"
            return
        outcome.updated, outcome.reason = True, f"metadata updated: {names}"

    def _print_metadata(self, summary: Summary) -> None:
        changed = sorted((o for o in summary.outcomes if o.changed), key=lambda o: o.item.label)
        updated = sum(o.updated for o in changed)
        if updated:
            print(f"updated the metadata of {updated} file(s) already there", file=self.out)
        if not changed or self.options.update_metadata:
            return
        n = len(changed)
        print(
            f"{n} {'file has' if n == 1 else 'files have'} changed metadata "
            "(rerun with --update-metadata to apply it):",
            file=self.out,
        )
        for outcome in changed[:FAILURES_SHOWN]:
            line = f"  {outcome.item.label}: {', '.join(outcome.changed)}"
            print(printable(line), file=self.out)
        if n > FAILURES_SHOWN:
            print(f"  ... and {n - FAILURES_SHOWN} more (--report FILE)", file=self.out)

    # --- the end -------------------------------------------------------------------------------

    def _print_summary(self, summary: Summary, seconds: float, sent: int) -> None:
        imported, skipped, failed = (summary.count(s) for s in ("imported", "skipped", "failed"))
        line = (
            f"imported {imported}, skipped {skipped} (already there), failed {failed}; "
            f"{human_bytes(sent)} sent in {human_duration(seconds)}"
        )
        if self.throttle.busy_answers:
            line += (
                f"; the tenant was busy {self.throttle.busy_answers} time(s), "
                f"{self.throttle.waited:.1f} s waited, down to {self.throttle.lowest_limit} "
                "file(s) at once"
            )
        print(line, file=self.out)
        self._print_metadata(summary)
        failures = sorted(
            (o for o in summary.outcomes if o.status == "failed"), key=lambda o: o.item.label
        )
        for outcome in failures[:FAILURES_SHOWN]:
            print(printable(f"failed: {outcome.item.label}: {outcome.reason}"), file=self.out)
        if len(failures) > FAILURES_SHOWN:
            print(
                f"... and {len(failures) - FAILURES_SHOWN} more failed (--report FILE)",
                file=self.out,
            )
        if summary.stopped:
            print(printable(f"silo import: stopped: {summary.stopped}"), file=self.err)
        if summary.interrupted:
            print("silo import: interrupted; run the same command again to continue", file=self.err)
