"""The file rules, each written once: who may see a file, labels, upload, list, read, download,
update, delete, and the access events reads leave behind.

No HTTP here. Routes turn a request into a `Caller` and plain values, call `Files`, and render
the row it returns; failures are `FileNotFound` (a DomainError) and the request-parsing
`APIError`s of the upload pipeline and the validators.

Visibility: every operation on one file (read, content, update, delete) and every listing goes
through `visible_to`, so a file outside the acting user's audience is missing for that user,
whatever the method (404, exactly like a file that does not exist).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

from service import errors
from service.db import pool as db
from service.files import filters as file_filters
from service.files import sql as files_repo
from service.files import taxonomy
from service.files.acting_user import ActingUser
from service.files.coalescing import Coalescer
from service.files.cursors import Position
from service.files.renderings import DEFAULT_BUDGET_BYTES, RenderedFiles
from service.files.sql import Filter, Row
from service.keys import auth
from service.keys import sql as keys_repo
from service.scanning import engines as scanner
from service.scanning import wakeup
from service.stats.events import CONTENT, METADATA, AccessEvent, EventRecorder
from service.storage import ObjectStorage
from service.uploads import rules

LABELS = ("category", "language", "roles")
# Pages read in one query at most (service/files/coalescing.py); more waiting go in the next.
PAGES_PER_QUERY = 32


class ScanPending(errors.DomainError):
    """The file is not known clean: its scan is pending, or failed. The message is the same
    for every key: why a scan failed (an endpoint, a bucket, clamd's words) stays in the logs,
    `scan_detail` and `file_scan_events`."""

    api_error = errors.ScanPending

    def __init__(self, status: str) -> None:
        if status == scanner.PENDING:
            message = "the file's malware scan has not finished; retry later"
        elif status == scanner.OVERSIZE:
            message = "the file is too large for the malware scan; it is held for review"
        else:
            message = (
                "the file could not be scanned for malware, so it is not served; "
                "an administrator can see why"
            )
        super().__init__(message)


class FileInfected(errors.DomainError):
    api_error = errors.Infected

    def __init__(self) -> None:
        super().__init__("the file was found infected by the malware scan and is not served")


class FileNotFound(errors.DomainError):
    """No such file, or one the caller's role may not see: the two are indistinguishable."""

    api_error = errors.NotFound

    def __init__(self) -> None:
        super().__init__("no such file")


@dataclass(frozen=True)
class Caller:
    """Who is asking: the API key, and the tenant's user it acts for (X-Silo-* headers)."""

    key_id: str
    user: ActingUser = field(default_factory=ActingUser)


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    # Where the next page starts; None on the last page.
    next: Position | None


@dataclass(frozen=True)
class RenderedPage:
    items: list[bytes]  # the file objects, as JSON
    next: Position | None


@dataclass(frozen=True)
class Download:
    url: str
    expires_at: datetime


def visible_to(role_id: int | None) -> list[Filter]:
    """The audience rule, as the only SQL that states it: a role sees the files whose audience
    includes it or is empty. No acting role (the tenant's back office) sees every file."""
    if role_id is None:
        return []
    return [Filter("(role_ids = '{}' OR role_ids @> ARRAY[%s]::integer[])", [role_id])]


async def label_ids(conn, values: Mapping[str, Any]) -> dict[str, Any]:
    """category/language/roles names -> the stored ids (InvalidValue naming an unknown value).
    Only the keys present are resolved, so an update changes just what it names, and values
    without labels cost no query."""
    out = {k: v for k, v in values.items() if k not in LABELS}
    if len(out) == len(values):
        return out
    labels = await taxonomy.resolve_labels(
        conn,
        category=values.get("category"),
        language=values.get("language"),
        roles=values.get("roles"),
    )
    if "category" in values:
        out["category_id"] = labels.category_id
    if "language" in values:
        out["language"] = labels.language
    if "roles" in values:
        out["role_ids"] = list(labels.role_ids)
    return out


async def acting_role_id(conn, who: ActingUser) -> int | None:
    """The acting user's role id (InvalidValue for an unknown role), None without a role."""
    return await taxonomy.role_id(conn, who.role) if who.role is not None else None


async def key_still_valid(conn, key_id: str) -> None:
    """Unauthorized when the key was revoked since the request was authenticated. Its row is
    share-locked until the caller's transaction commits, so a revocation either comes first (and
    this fails) or waits for the commit (and the file was stored before it). The bootstrap key
    is not stored: it lasts as long as the setting."""
    if key_id == auth.BOOTSTRAP_KEY_ID:
        return
    if not await keys_repo.lock_if_present(conn, uuid.UUID(key_id)):
        raise errors.Unauthorized("the API key was revoked during the upload; nothing was stored")


def uploaded_by(caller: Caller) -> str:
    """Who a new file is recorded as uploaded by: the acting user, else the API key."""
    return caller.user.user or caller.key_id


def created_by(row: Mapping[str, Any], caller: Caller) -> bool:
    """Whether an upload (or the file it became) is the caller's: its creating API key, the
    admin scope included, is nobody else's (docs/api.md, "Who may continue an upload"). A row
    written before keys were recorded (`api_key_id` NULL: migration 0020) is the caller's when
    the caller would record the same `uploaded_by`."""
    if row["api_key_id"] is not None:
        return row["api_key_id"] == caller.key_id
    return row["uploaded_by"] == uploaded_by(caller)


async def audience_admits(conn, roles: Sequence[str] | None, who: ActingUser) -> bool:
    """Whether a file declared for `roles` (names; not stored yet) would be visible to `who`:
    `visible_to`'s own condition, over the declared audience's ids."""
    role_id = await acting_role_id(conn, who)
    if role_id is None:
        return True
    role_ids = (await label_ids(conn, {"roles": list(roles or ())}))["role_ids"]
    return await files_repo.audience_passes(conn, role_ids, visible_to(role_id))


def access_event(row: Row, action: str, caller: Caller, role_id: int | None) -> AccessEvent:
    who = caller.user
    return AccessEvent(
        file_id=row["id"],
        action=action,
        user=who.user,
        role_id=role_id,
        country=who.country,
        company=who.company,
        language=row["language"],
        key_id=caller.key_id,
    )


@dataclass(frozen=True)
class Files:
    """The files of one tenant, with what the rules need; built once when the app starts."""

    pool: AsyncConnectionPool
    storage: ObjectStorage
    recorder: EventRecorder
    presign_ttl_seconds: int
    # SILO_SCAN=off: rows are stored clean (engine `none`) instead of pending, so nothing waits
    # for a worker that has nothing to do.
    scan_off: bool = False
    # Asked when a pending file is downloaded: the verdict, if the engine has one at once
    # (GuardDuty's tag: one request), recorded; else None. (service/scanning/worker.py)
    verdict_now: Callable[[Row], Awaitable[scanner.Verdict | None]] | None = None
    # SILO_SCAN_OVERSIZE=serve_unscanned: files too large for the engine (`oversize`) are
    # served, unscanned (their `scan.status` says so); otherwise they are held (409).
    serve_oversize: bool = False
    # The kept renderings' memory at most (SILO_RENDERINGS_CACHE_BYTES).
    renderings_budget_bytes: int = DEFAULT_BUDGET_BYTES
    _reads: Coalescer = field(init=False, repr=False, compare=False)
    _pages: Coalescer = field(init=False, repr=False, compare=False)
    _rendered: RenderedFiles = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_reads", Coalescer(self._fetch_visible))
        object.__setattr__(self, "_pages", Coalescer(self._fetch_pages, max_batch=PAGES_PER_QUERY))
        object.__setattr__(self, "_rendered", RenderedFiles(self.renderings_budget_bytes))

    async def insert_stored(
        self, conn, stored: rules.StoredFile, uploaded_by: str, *, api_key_id: str | None
    ) -> Row:
        """Write the row of a stored object, in `conn`'s transaction: how a POST /files upload
        and a finished tus upload (service/uploads/tus.py) both become a file. `api_key_id`:
        the key that created it (None: an upload from before keys were recorded)."""
        # Resolved in the insert's transaction: the entries stay locked until it commits.
        values = {
            **await label_ids(conn, stored.fields),
            "filename": stored.filename,
            "content_type": stored.file_type.mime,
            "type": stored.file_type.id,
            "size": stored.size,
            "sha256": stored.sha256,
            "uploaded_by": uploaded_by,
            "api_key_id": api_key_id,
        }
        if self.scan_off:
            values |= {
                "scan_status": scanner.CLEAN,
                "scan_engine": scanner.NoScanner.engine,
                "scanned_at": datetime.now(UTC),
            }
        # Otherwise the row is stored `pending` (the column's default) and the scan worker
        # (service/scanning/worker.py) gives it a verdict: every path that stores a file comes here.
        row = await files_repo.insert(
            conn, file_id=stored.id, object_key=stored.object_key, values=values
        )
        if not self.scan_off:
            # The scan workers of every instance wake when the row commits.
            await wakeup.notify_stored(conn)
        return row

    async def list_page(
        self,
        caller: Caller,
        query: file_filters.FileQuery,
        *,
        limit: int,
        after: Position | None = None,
    ) -> Page:
        """A page of file objects (dicts): what the console shows."""
        page, more = await self._read_page(
            caller, query, files_repo.OBJECTS, limit=limit, after=after
        )
        last = page[-1] if more else None
        return Page(page, Position(last["created_at"], last["id"]) if last else None)

    async def list_rendered(
        self,
        caller: Caller,
        query: file_filters.FileQuery,
        *,
        limit: int,
        after: Position | None = None,
    ) -> RenderedPage:
        """`list_page` with the file objects rendered to JSON, most of them kept from earlier
        pages (service/files/renderings.py): what `GET /files` answers."""
        if self._rendered.cold:
            # Most rows of recent pages were not rendered yet: the page's rows read whole, in
            # one query.
            rows, more = await self._read_page(
                caller, query, files_repo.VERSIONED, limit=limit, after=after
            )
            end = rows[-1][0] if more else None
            return RenderedPage(
                self._rendered.render(rows),
                Position(end["created_at"], end["id"]) if end else None,
            )
        # (id as text, row version, created_at, taxonomy version) per row
        page, more = await self._read_page(
            caller, query, files_repo.VERSIONS, limit=limit, after=after
        )
        found, missing = self._rendered.lookup(page)
        if missing:
            async with db.lease(self.pool) as conn:
                fetched = await files_repo.get_versioned(conn, missing)
                if any(taxonomy != page[0][3] for *_, taxonomy in fetched):
                    # Renamed in between: the page in the newer names only.
                    found, fetched = {}, await files_repo.get_versioned(conn, [v[0] for v in page])
            for row, file_id, version, taxonomy in fetched:
                found[file_id] = self._rendered.add(row, file_id, version, taxonomy)
        # A row changed in between shows its newer content; one deleted in between is left out.
        items = [rendered for v in page if (rendered := found.get(v[0])) is not None]
        last = page[-1] if more else None
        return RenderedPage(items, Position(last[2], uuid.UUID(last[0])) if last else None)

    async def _read_page(
        self,
        caller: Caller,
        query: file_filters.FileQuery,
        kind: files_repo.PageKind,
        *,
        limit: int,
        after: Position | None,
    ) -> tuple[list, bool]:
        """Up to `limit` rows of `kind` under the listing's conditions (the query's filters and
        the acting user's audience), and whether more follow."""
        # The acting role is resolved with the filter names, in the same round trip. A
        # language alone is not looked up first: rows with it prove it known.
        by_page = file_filters.language_checked_by_page(query, caller.user.role)
        if by_page or not file_filters.names_to_resolve(query, caller.user.role):
            resolved = file_filters.Resolved()
        else:
            async with db.lease(self.pool) as conn:
                resolved = await file_filters.resolve(conn, query, caller.user.role)
        conditions = file_filters.conditions(query, resolved)
        conditions += [(f.text, f.params) for f in visible_to(resolved.acting_role_id)]
        # Pages under the same conditions asked for at the same time share a query. One extra
        # row tells whether another page exists without a COUNT.
        key = (kind, *[(text, *params) for text, params in conditions])
        rows = await self._pages.get(key, (after, limit + 1))
        if by_page and not rows:
            async with db.lease(self.pool) as conn:
                await file_filters.check_language(conn, query.language)  # type: ignore[arg-type]
        return rows[:limit], len(rows) > limit  # type: ignore[index]

    async def _fetch_pages(
        self, key: tuple, pages: list[tuple[Position | None, int]]
    ) -> dict[tuple[Position | None, int], list]:
        """Each of `pages` ((position, limit)) read as `key[0]` under the conditions that
        follow it in `key` (each its text, then its parameters), in one query."""
        kind, *conditions = key
        filters = [Filter(text, params) for text, *params in conditions]
        async with db.lease(self.pool) as conn:
            rows = await files_repo.list_pages(conn, kind, pages, filters)
        return dict(zip(pages, rows, strict=True))

    async def _visible(
        self, caller: Caller, file_id: uuid.UUID, *, with_key: bool = False
    ) -> tuple[Row, int | None]:
        role_id = None
        if caller.user.role is not None:
            async with db.lease(self.pool) as conn:
                role_id = await acting_role_id(conn, caller.user)
        # Reads of one file that arrive together share a query (service/files/coalescing.py).
        row = await self._reads.get((role_id, with_key), file_id)
        if row is None:
            raise FileNotFound()
        return row, role_id

    async def _fetch_visible(
        self, key: tuple[int | None, bool], file_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, Row]:
        """The files among `file_ids` that the role `key[0]` may see, by id (with a download's
        columns, the object key and scan_detail, when `key[1]`)."""
        role_id, with_key = key
        async with db.lease(self.pool) as conn:
            rows = await files_repo.get_many(conn, file_ids, visible_to(role_id), with_key=with_key)
        return {row["id"]: row for row in rows}

    async def find(self, caller: Caller, file_id: uuid.UUID) -> Row:
        """The file's metadata, recording no access: what a replayed or repeated write answers."""
        row, _ = await self._visible(caller, file_id)
        return row

    async def find_created(self, caller: Caller, file_id: uuid.UUID) -> Row:
        """`find`, for the key that created the file only (`created_by`): what a finished
        upload's URL answers (FileNotFound to anyone else)."""
        row, _ = await self._visible(caller, file_id)
        async with db.lease(self.pool) as conn:
            creator = await files_repo.creator(conn, file_id)
        if creator is None or not created_by(creator, caller):
            raise FileNotFound()
        return row

    async def read(self, caller: Caller, file_id: uuid.UUID) -> Row:
        """The file's metadata; recorded as a metadata access."""
        row, role_id = await self._visible(caller, file_id)
        await self.recorder.record(access_event(row, METADATA, caller, role_id))
        return row

    async def download(
        self, caller: Caller, file_id: uuid.UUID, *, inline: bool = False, record: bool = True
    ) -> Download:
        """A presigned URL for the content of a file known clean; recorded as a content
        access (a download in /stats) unless `record` is false (the console: the back office
        looking is not a learner downloading); or `oversize`, where the tenant serves those
        unscanned. Anything else is refused (and not recorded): pending, failed or oversize,
        ScanPending (409); infected, FileInfected (410). `inline`: for the browser to show
        rather than save (the console's preview)."""
        # The download's row: the file object, its object key and scan_detail.
        row, role_id = await self._visible(caller, file_id, with_key=True)
        status = row["scan"]["status"]
        if status == scanner.PENDING and self.verdict_now is not None:
            verdict = await self.verdict_now(row)
            if verdict is not None:
                status = verdict.status
        if status == scanner.INFECTED:
            raise FileInfected()
        if status != scanner.CLEAN and not (status == scanner.OVERSIZE and self.serve_oversize):
            raise ScanPending(status)
        ttl = self.presign_ttl_seconds
        expires_at = datetime.now(UTC) + timedelta(seconds=ttl)
        url = await self.storage.presigned_get(
            row["object_key"],
            filename=row["filename"],
            content_type=row["content_type"],
            ttl_seconds=ttl,
            inline=inline,
        )
        if record:
            await self.recorder.record(access_event(row, CONTENT, caller, role_id))
        return Download(url, expires_at)

    async def update(self, caller: Caller, file_id: uuid.UUID, changes: Mapping[str, Any]) -> Row:
        """Apply validated metadata changes (labels by name); no changes reads the file."""
        async with self.pool.connection() as conn, conn.transaction():
            visible = visible_to(await acting_role_id(conn, caller.user))
            if changes:
                values = await label_ids(conn, changes)
                row = await files_repo.update(conn, file_id, values, visible)
            else:
                row = await files_repo.get(conn, file_id, visible)
        if row is None:
            raise FileNotFound()
        return row

    async def delete(self, caller: Caller, file_id: uuid.UUID) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            visible = visible_to(await acting_role_id(conn, caller.user))
            object_key = await files_repo.delete_returning_key(conn, file_id, visible)
            if object_key is None:
                raise FileNotFound()
            # The row goes only if the object went too: a storage error rolls the delete back.
            await self.storage.delete(object_key)
