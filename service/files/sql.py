"""SQL for `files`. Listing takes composable filters so later ones (category, language, role,
text search, dates) add a condition each without touching the pagination."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg import sql
from psycopg.rows import RowMaker, tuple_row

from service.files.cursors import Position

Row = dict[str, Any]

# Taxonomy labels are stored as ids (category_id, role_ids) and shown as names: a rename is
# one row in `categories` / `roles` and every file shows the new name at once.
_CATEGORY_NAME = "(SELECT c.name FROM categories c WHERE c.id = files.category_id)"
_ROLE_NAMES = (
    "ARRAY(SELECT r.name FROM unnest(files.role_ids) WITH ORDINALITY AS u(id, pos)"
    " JOIN roles r ON r.id = u.id ORDER BY u.pos)"
)
# The API's file object, field by field in the order it is written. A file query selects
# exactly these (then the scan's columns, `SCAN_COLUMNS`) and its rows are that object
# (`file_rows`): the read paths render them as they come, with no copy per row. Timestamps are
# UTC (the pool's sessions run in UTC, service/db/pool.py), so orjson writes them as isoformat()
# would.
FIELDS = (
    "id",
    "title",
    "description",
    "category",
    "language",
    "roles",
    "filename",
    "content_type",
    "type",
    "size",
    "sha256",
    "created_at",
    "updated_at",
    "uploaded_by",
)
# The file object's last field, `scan`: {status, scanned_at, engine}, from these columns.
SCAN_COLUMNS = ("scan_status", "scanned_at", "scan_engine")
# What a download needs besides the file object (never rendered): where the content is, and
# why a scan failed (the 409's message).
DOWNLOAD_COLUMNS = ("object_key", "scan_detail")
_EXPRESSIONS = {"category": _CATEGORY_NAME, "roles": _ROLE_NAMES}
# Rendered to text once: composing it again on every query costs more than the query's I/O.
_SELECT = sql.SQL(
    sql.SQL(", ")
    .join(
        sql.SQL(f"{_EXPRESSIONS[c]} AS {c}") if c in _EXPRESSIONS else sql.Identifier(c)
        for c in (*FIELDS, *SCAN_COLUMNS)
    )
    .as_string()
)
_SCAN = len(FIELDS)
_DOWNLOAD = _SCAN + len(SCAN_COLUMNS)


def _file_object(values: Sequence[Any]) -> Row:
    # zip stops at the end of FIELDS; the scan's columns follow them.
    row = dict(zip(FIELDS, values, strict=False))
    row["scan"] = {
        "status": values[_SCAN],
        "scanned_at": values[_SCAN + 1],
        "engine": values[_SCAN + 2],
    }
    return row


def _file_object_for_download(values: Sequence[Any]) -> Row:
    row = _file_object(values)
    row["object_key"] = values[_DOWNLOAD]
    row["scan_detail"] = values[_DOWNLOAD + 1]
    return row


def file_rows(cursor: Any) -> RowMaker[Row]:
    """Row factory of the file queries: each row is the file object. dict_row would find the
    names in the result's description on every query; these are known."""
    return _file_object


def file_rows_with_key(cursor: Any) -> RowMaker[Row]:
    """`file_rows`, plus the file's `object_key` and `scan_detail` (for a download; never
    rendered)."""
    return _file_object_for_download


_GET_WHERE = sql.SQL("SELECT {} FROM files WHERE {}")
_GET_KEY_WHERE = sql.SQL("SELECT {}, " + ", ".join(DOWNLOAD_COLUMNS) + " FROM files WHERE {}")
_GET = _GET_WHERE.format(_SELECT, sql.SQL("id = %s")).as_string()
_GET_KEY = _GET_KEY_WHERE.format(_SELECT, sql.SQL("id = %s")).as_string()


EDITABLE = ("title", "description", "category_id", "language", "role_ids")


class Filter:
    """One WHERE condition with its parameters, e.g. Filter("category = %s", [value])."""

    def __init__(self, condition: str | sql.Composable, params: Sequence[Any] = ()) -> None:
        # The text of a plain-string condition: queries made of those are rendered once (below).
        self.text = condition if isinstance(condition, str) else None
        self.condition = sql.SQL(condition) if isinstance(condition, str) else condition
        self.params = list(params)


# Query text by (kind, condition texts): the conditions are a few fixed strings (the filters of
# service/files/filters.py, the audience rule), so composing and rendering a query again on every
# request (more work than the rest of a read) is done once per combination. Bounded all the same.
_RENDERED: dict[tuple[str, tuple[str, ...]], str] = {}
_MAX_RENDERED = 1024


def _rendered(kind: str, filters: Sequence[Filter], compose) -> sql.Composable | str:
    """`compose()` rendered to text, cached by `kind` and the filters' condition texts (not
    cached when a condition is a Composable, whose text needs a connection's encoding)."""
    texts = tuple(f.text for f in filters)
    if None in texts:
        return compose()
    key = (kind, texts)  # type: ignore[arg-type]
    query = _RENDERED.get(key)
    if query is None:
        if len(_RENDERED) >= _MAX_RENDERED:
            _RENDERED.clear()
        query = _RENDERED[key] = compose().as_string()
    return query


async def insert(conn, *, file_id: uuid.UUID, object_key: str, values: Mapping[str, Any]) -> Row:
    names = ["id", "object_key", *values]
    cur = conn.cursor(row_factory=file_rows)
    await cur.execute(
        sql.SQL("INSERT INTO files ({}) VALUES ({}) RETURNING {}").format(
            sql.SQL(", ").join(sql.Identifier(n) for n in names),
            sql.SQL(", ").join(sql.Placeholder() for _ in names),
            _SELECT,
        ),
        [file_id, object_key, *values.values()],
    )
    return await cur.fetchone()


def _by_id(file_id: uuid.UUID, filters: Sequence[Filter]) -> tuple[sql.Composable, list[Any]]:
    """`id = %s AND <filters>` and its parameters (the filters: who may see the file)."""
    conditions = [Filter("id = %s", [file_id]), *filters]
    where = sql.SQL(" AND ").join(f.condition for f in conditions)
    return where, [p for f in conditions for p in f.params]


async def get(
    conn, file_id: uuid.UUID, filters: Sequence[Filter] = (), *, with_key: bool = False
) -> Row | None:
    """The file object (with `object_key` and `scan_detail` too when `with_key`: a download's
    row), if a file passes `filters`."""
    kind, where, whole = ("get", _GET_WHERE, _GET)
    if with_key:
        kind, where, whole = ("get+key", _GET_KEY_WHERE, _GET_KEY)
    if filters:
        params = [file_id, *(p for f in filters for p in f.params)]
        query = _rendered(kind, filters, lambda: where.format(_SELECT, _by_id(file_id, filters)[0]))
    else:
        query, params = whole, [file_id]
    cur = conn.cursor(row_factory=file_rows_with_key if with_key else file_rows)
    # Binary results: the same values, cheaper for the server to send and for us to parse.
    await cur.execute(query, params, binary=True)  # type: ignore[arg-type]
    return await cur.fetchone()


async def get_many(
    conn, file_ids: Sequence[uuid.UUID], filters: Sequence[Filter] = (), *, with_key: bool = False
) -> list[Row]:
    """The file objects of those of `file_ids` that pass `filters` (any order): `get` for many
    ids in one round trip (service/files/coalescing.py). One query text whatever the number of ids,
    so it is prepared like `get`."""
    conditions = [Filter("id = ANY(%s)", [list(file_ids)]), *filters]
    kind, select = ("many+key", _GET_KEY_WHERE) if with_key else ("many", _GET_WHERE)

    def compose() -> sql.Composable:
        return select.format(_SELECT, sql.SQL(" AND ").join(f.condition for f in conditions))

    cur = conn.cursor(row_factory=file_rows_with_key if with_key else file_rows)
    await cur.execute(
        _rendered(kind, conditions, compose),  # type: ignore[arg-type]
        [p for f in conditions for p in f.params],
        binary=True,
    )
    return await cur.fetchall()


# The one order of every page, the one the cursor and the index follow.
_PAGE_ORDER = "ORDER BY created_at DESC, id DESC"
_AFTER = "(created_at, id) < (%s, %s)"  # a cursor: the position of the last row shown


def _page_of(columns: str) -> sql.SQL:
    """The query of one page of `columns`: `{}` is the WHERE clause (service/files/filters.py's
    conditions, the audience rule, the cursor); the last parameter is the limit."""
    return sql.SQL(f"SELECT {columns} FROM files {{}} {_PAGE_ORDER} LIMIT %s")


# In a query of several pages, page 1 is the page after a position before every row.
_BEFORE_ALL = (datetime.max.replace(tzinfo=UTC), uuid.UUID(int=(1 << 128) - 1))


def _pages_of(columns: str, names: str) -> sql.SQL:
    """The query of several pages of `columns` (selected from each page as `names`), each
    after its own position and with its own limit, given as three arrays before the other
    parameters; `{}` is the conditions other than the cursor, each followed by AND. Each row is
    a row of one page, then that page's number (from 1, in the arrays' order): in page order,
    then in the order of a page."""
    return sql.SQL(
        f"SELECT {names}, q.n FROM unnest(%s::timestamptz[], %s::uuid[], %s::integer[])"
        " WITH ORDINALITY AS q(after_at, after_id, page_limit, n) CROSS JOIN LATERAL"
        f" (SELECT {columns}, created_at AS page_at, id AS page_id FROM files"
        f" WHERE {{}}(created_at, id) < (q.after_at, q.after_id) {_PAGE_ORDER}"
        " LIMIT q.page_limit) AS page"
        " ORDER BY q.n, page.page_at DESC, page.page_id DESC"
    )


# A row version: the row's xmin, the id of the transaction that wrote this version of it.
# Every UPDATE writes a new version with a new xmin, and a transaction's own intermediate
# versions are never seen by others, so (id, xmin) names one committed content of a row. The
# taxonomy's version (migration 0018) moves with every change to the names a file shows.
_ROW_VERSION = "xmin::text::bigint"
_TAXONOMY_VERSION = "(SELECT version FROM taxonomy_version)"
_OBJECT = _SELECT.as_string()
_OBJECT_NAMES = (*FIELDS, *SCAN_COLUMNS)
_VERSION = f"id::text AS id_text, {_ROW_VERSION} AS row_version"
_TAXONOMY = f", {_TAXONOMY_VERSION}"
# The file object's columns, then its id as text and the two versions (a VersionedRow).
_VERSIONED = f"SELECT {_OBJECT}, {_VERSION}{_TAXONOMY} FROM files WHERE id = ANY(%s::uuid[])"

# A page's row as its version: (the file's id as text, the row's xmin, created_at, the
# taxonomy's version). Plain tuples, the id as text: a page's rows are looked up by id in a
# dict several times, and a str hashes in C where a UUID's hash is Python code.
RowVersion = tuple[str, int, datetime, int]

# A whole row with its versions: (file object, its id as text, row version, taxonomy version).
VersionedRow = tuple[Row, str, int, int]


def _versioned_file_object(values: Sequence[Any]) -> VersionedRow:
    return _file_object(values), values[-3], values[-2], values[-1]


# Rows of a query of several pages, led by the page's number (their last column).
def _numbered_file_object(values: Sequence[Any]) -> tuple[int, Row]:
    return values[-1], _file_object(values)


def _numbered_version(values: Sequence[Any]) -> tuple[int, RowVersion]:
    return values[-1], (values[0], values[1], values[2], values[3])


def _numbered_versioned_file_object(values: Sequence[Any]) -> tuple[int, VersionedRow]:
    return values[-1], (_file_object(values), values[-4], values[-3], values[-2])


class PageKind:
    """What a page's rows are: `columns` of `files` (named `names` in it), then `outer` (the
    same value for every row); the query of one page and its rows' factory, and the query of
    several pages and its rows' factory ((page number, row))."""

    def __init__(
        self, name: str, columns: str, names: Sequence[str], outer: str, rows, numbered
    ) -> None:
        self.name = name
        self.one = _page_of(f"{columns}{outer}")
        self.rows = rows
        self.several = _pages_of(columns, ", ".join(f"page.{n}" for n in names) + outer)
        self.numbered_rows = lambda _: numbered


# Whole file objects (Row).
OBJECTS = PageKind("objects", _OBJECT, _OBJECT_NAMES, "", file_rows, _numbered_file_object)
# Row versions only (RowVersion).
VERSIONS = PageKind(
    "versions",
    f"{_VERSION}, created_at",
    ("id_text", "row_version", "created_at"),
    _TAXONOMY,
    tuple_row,
    _numbered_version,
)
# Whole rows with their versions (VersionedRow).
VERSIONED = PageKind(
    "versioned",
    f"{_OBJECT}, {_VERSION}",
    (*_OBJECT_NAMES, "id_text", "row_version"),
    _TAXONOMY,
    lambda _: _versioned_file_object,
    _numbered_versioned_file_object,
)


async def list_pages(
    conn, kind: PageKind, pages: Sequence[tuple[Position | None, int]], filters: Sequence[Filter]
) -> list[list]:
    """Pages under the same `filters`, in one query (service/files/coalescing.py): for each
    (position, limit) of `pages`, up to `limit` rows of `kind`, newest first, strictly after
    the position in that order (None: from the first row). All in one snapshot."""
    if len(pages) == 1:
        # A page alone (one client, or a quiet moment): the query of one page.
        (after, limit), conditions = pages[0], list(filters)
        if after is not None:
            conditions.append(Filter(_AFTER, [after.created_at, after.id]))

        def compose_one() -> sql.Composable:
            if not conditions:
                return kind.one.format(sql.SQL(""))
            where = sql.SQL(" AND ").join(f.condition for f in conditions)
            return kind.one.format(sql.SQL("WHERE ") + where)

        query = _rendered(kind.name, conditions, compose_one)
        params = [p for f in conditions for p in f.params]
        return [await _fetch(conn, query, [*params, limit], bool(filters), kind.rows)]

    after_at, after_id, limits = [], [], []
    for after, limit in pages:
        at, file_id = (after.created_at, after.id) if after is not None else _BEFORE_ALL
        after_at.append(at)
        after_id.append(file_id)
        limits.append(limit)

    def compose_several() -> sql.Composable:
        return kind.several.format(
            sql.SQL("").join(f.condition + sql.SQL(" AND ") for f in filters)
        )

    query = _rendered(f"{kind.name}*", filters, compose_several)
    params = [after_at, after_id, limits, *(p for f in filters for p in f.params)]
    out: list[list] = [[] for _ in pages]
    for n, row in await _fetch(conn, query, params, bool(filters), kind.numbered_rows):
        out[n - 1].append(row)
    return out


async def _fetch(conn, query, params, filtered: bool, row_factory) -> list:
    cur = conn.cursor(row_factory=row_factory)
    await cur.execute(
        query,
        params,
        # With filters, never a prepared statement: its generic plan cannot see the filter
        # values, and the right plan for a rare value (read the matches, sort them) is the
        # wrong one for a common value (walk the date order until the page is full). Without
        # filters there is one plan (walk the date order from each position): prepared, it is
        # neither parsed nor planned again (psycopg prepares a query seen five times).
        prepare=False if filtered else None,
        binary=True,  # the same values as text, cheaper to send and to parse
    )
    return await cur.fetchall()


async def get_versioned(conn, file_ids: Sequence[str]) -> list[VersionedRow]:
    """(file object, id as text, row version, taxonomy version) of each of `file_ids` (as
    text) that exists."""
    cur = conn.cursor(row_factory=lambda _: _versioned_file_object)
    await cur.execute(_VERSIONED, [list(file_ids)], binary=True)
    return await cur.fetchall()


async def update(
    conn, file_id: uuid.UUID, changes: Mapping[str, Any], filters: Sequence[Filter] = ()
) -> Row | None:
    assert set(changes) <= set(EDITABLE), changes
    assignments = [
        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder()) for name in changes
    ]
    assignments.append(sql.SQL("updated_at = clock_timestamp()"))
    where, params = _by_id(file_id, filters)
    cur = conn.cursor(row_factory=file_rows)
    await cur.execute(
        sql.SQL("UPDATE files SET {} WHERE {} RETURNING {}").format(
            sql.SQL(", ").join(assignments), where, _SELECT
        ),
        [*changes.values(), *params],
    )
    return await cur.fetchone()


async def delete_returning_key(
    conn, file_id: uuid.UUID, filters: Sequence[Filter] = ()
) -> str | None:
    """Delete the row (inside the caller's transaction) and return its object key."""
    where, params = _by_id(file_id, filters)
    cur = await conn.execute(
        sql.SQL("DELETE FROM files WHERE {} RETURNING object_key").format(where), params
    )
    row = await cur.fetchone()
    return None if row is None else row["object_key"]


async def creator(conn, file_id: uuid.UUID) -> Row | None:
    """Who created the file: `api_key_id` (NULL before migration 0020) and `uploaded_by`."""
    cur = await conn.execute("SELECT api_key_id, uploaded_by FROM files WHERE id = %s", [file_id])
    return await cur.fetchone()


async def audience_passes(conn, role_ids: Sequence[int], filters: Sequence[Filter]) -> bool:
    """Whether a file whose audience would be `role_ids` passes `filters` (the audience rule),
    before any row exists: an upload's declared roles."""
    conditions = sql.SQL(" AND ").join(f.condition for f in filters)
    query = sql.SQL("SELECT 1 FROM (SELECT %s::integer[] AS role_ids) AS declared WHERE {}")
    params = [list(role_ids), *(p for f in filters for p in f.params)]
    cur = await conn.execute(query.format(conditions), params)
    return await cur.fetchone() is not None


async def exists(conn, file_id: uuid.UUID) -> bool:
    cur = await conn.execute("SELECT 1 FROM files WHERE id = %s", [file_id])
    return await cur.fetchone() is not None
