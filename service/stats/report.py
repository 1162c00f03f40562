"""GET /stats: what a tenant has and how it is used, read from rollups, never from raw rows.

- `parse_range` -> `Range`: UTC days, both ends included, either end open
- `report`, `compute`: the /stats body, from one snapshot
- `file_stats` (`file_rollup_monthly` for whole months, `file_rollup` for the days at the
  edges), `access_counts` (`access_rollup`, month/week/day grains: `grain_spans`), `top_files`:
  exact top downloads from each month's and edge day's leaders (`access_file_monthly`,
  `access_file_daily`), not every row

Design: docs/design/events.md
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from service import errors
from service.stats.events import CONTENT, METADATA

TOP_FILES = 10
MAX_COMPANIES = 100
_FIRST_CANDIDATES = 20
_MAX_CANDIDATES = 2000
# Nothing is uploaded or downloaded outside these days, so a range is clamped to them: `from` and
# `to` may be any valid date (0001-01-01 to 9999-12-31) without the month and week arithmetic
# below ever stepping past the last date Python can represent.
_OPEN_START = date(1970, 1, 1)
_OPEN_END = date(9999, 12, 1)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DIMS = ("total", "country", "company", "role", "language")
_FILE_DIMS = ("total", "category", "language", "type", "role")


class InvalidRange(errors.DomainError):
    """A bad `from`/`to` (422); `field` names the parameter."""

    api_error = errors.ValidationFailed

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Range:
    start: date | None  # inclusive
    end: date | None  # inclusive

    @property
    def first(self) -> date:
        return min(max(self.start or _OPEN_START, _OPEN_START), _OPEN_END)

    @property
    def last(self) -> date:
        return min(max(self.end or _OPEN_END, _OPEN_START), _OPEN_END)


def parse_day(value: str | None, field: str) -> date | None:
    """A `YYYY-MM-DD` day; absent is None. Anything else, the empty string included, is
    InvalidRange: what the OpenAPI document declares (`format: date`) is what is accepted."""
    if value is None:
        return None
    try:
        if not _DAY.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRange(field, f"`{field}` must be a date, YYYY-MM-DD") from None


def parse_range(start: str | None, end: str | None) -> Range:
    r = Range(parse_day(start, "from"), parse_day(end, "to"))
    if r.start and r.end and r.start > r.end:
        raise InvalidRange("from", "`from` is after `to`")
    return r


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


Span = tuple[date, date]


def split_range(first: date, last: date) -> tuple[Span | None, list[Span]]:
    """Pure: [first, last] (days, inclusive) as whole months plus edge day spans.

    Returns (months, days): months = (first month start, last month start) inclusive or None;
    days = inclusive day spans not covered by those months.
    """
    month_from = first if first.day == 1 else _next_month(first)
    end_exclusive = last + timedelta(days=1) if last < date.max else last
    month_to_exclusive = end_exclusive.replace(day=1)
    if month_from >= month_to_exclusive:
        return None, [(first, last)]
    days = []
    if first < month_from:
        days.append((first, month_from - timedelta(days=1)))
    if month_to_exclusive < end_exclusive:
        days.append((month_to_exclusive, last))
    last_month = (month_to_exclusive - timedelta(days=1)).replace(day=1)
    return (month_from, last_month), days


def split_weeks(first: date, last: date) -> tuple[Span | None, list[Span]]:
    """Pure: a day span as whole ISO weeks (Mondays, inclusive) plus the days around them."""
    week_from = first + timedelta(days=-first.weekday() % 7)
    week_to_exclusive = last + timedelta(days=1) - timedelta(days=(last.weekday() + 1) % 7)
    if week_from >= week_to_exclusive:
        return None, [(first, last)]
    days = []
    if first < week_from:
        days.append((first, week_from - timedelta(days=1)))
    if week_to_exclusive <= last:
        days.append((week_to_exclusive, last))
    return (week_from, week_to_exclusive - timedelta(days=7)), days


def grain_spans(first: date, last: date) -> list[tuple[str, date, date]]:
    """Pure: (grain, first period, last period) spans covering [first, last] exactly once,
    coarsest first: months, then weeks inside the edges, then the remaining days."""
    months, edges = split_range(first, last)
    spans = [("m", *months)] if months else []
    for a, b in edges:
        weeks, days = split_weeks(a, b)
        if weeks:
            spans.append(("w", *weeks))
        spans += [("d", x, y) for x, y in days]
    return spans


async def _rows(conn, query: str, params: Any = None) -> list[tuple]:
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def _names(conn, table: str) -> dict[str, str]:
    key = "code" if table == "languages" else "id"
    return {str(k): n for k, n in await _rows(conn, f"SELECT {key}, name FROM {table}")}


async def file_stats(conn, r: Range, names: dict[str, dict[str, str]]) -> dict[str, Any]:
    months, edges = split_range(r.first, r.last)
    dims = list(_FILE_DIMS)
    parts, params = [], []
    if months:
        parts.append(
            "SELECT dim, key, files, bytes FROM file_rollup_monthly "
            "WHERE dim = ANY(%s) AND month BETWEEN %s AND %s"
        )
        params += [dims, *months]
    for first, last in edges:
        parts.append(
            "SELECT dim, key, files, bytes FROM file_rollup "
            "WHERE dim = ANY(%s) AND day BETWEEN %s AND %s"
        )
        params += [dims, first, last]
    rows = await _rows(
        conn,
        "SELECT dim, key, sum(files)::bigint, sum(bytes)::bigint FROM ("
        + " UNION ALL ".join(parts)
        + ") AS spans GROUP BY dim, key HAVING sum(files) <> 0",
        params,
    )
    by: dict[str, list[dict[str, Any]]] = {d: [] for d in ("category", "language", "type", "role")}
    total = {"files": 0, "bytes": 0}
    for dim, key, files, size in rows:
        if dim == "total":
            total = {"files": files, "bytes": size}
        else:
            by[dim].append({**_label(dim, key, names), "files": files, "bytes": size})
    for entries in by.values():
        entries.sort(key=lambda e: (-e["files"], -e["bytes"], str(e.get("name") or "")))
    return {
        **total,
        "by_category": by["category"],
        "by_language": by["language"],
        "by_type": by["type"],
        "by_role": by["role"],
    }


def _label(dim: str, key: str, names: dict[str, dict[str, str]]) -> dict[str, Any]:
    """How a rollup key shows in the response; '' (not given) becomes null."""
    if dim == "category":
        return {"id": int(key) if key else None, "name": names["categories"].get(key)}
    if dim == "role":
        return {"id": int(key) if key else None, "name": names["roles"].get(key)}
    if dim == "language":
        return {"code": key or None, "name": names["languages"].get(key)}
    if dim == "type":
        return {"type": key}
    return {dim: key or None}


async def access_counts(conn, r: Range) -> list[tuple[str, str, str, int]]:
    """(action, dim, key, n) summed over the range, months where whole, days at the edges.

    Each span is one primary-key range scan per (action, dim): the key starts with grain,
    action and dim, so fixing them (= ANY) keeps the period range an index range."""
    spans = grain_spans(r.first, r.last)
    parts = []
    params: list[Any] = []
    for grain, first, last in spans:
        # Downloads by every dimension; metadata reads only in total.
        for action, dims in ((CONTENT, _DIMS), (METADATA, ("total",))):
            parts.append(
                "SELECT action, dim, key, n FROM access_rollup WHERE grain = %s "
                "AND action = %s AND dim = ANY(%s) AND period BETWEEN %s AND %s"
            )
            params += [grain, action, list(dims), first, last]
    return await _rows(
        conn,
        "SELECT action, dim, key, sum(n)::bigint FROM ("
        + " UNION ALL ".join(parts)
        + ") AS spans GROUP BY action, dim, key",
        params,
    )


async def per_day(conn, r: Range) -> dict[str, list[dict[str, Any]]]:
    rows = await _rows(
        conn,
        "SELECT action, period, n FROM access_rollup WHERE grain = 'd' AND action = ANY(%s) "
        "AND dim = 'total' AND period BETWEEN %s AND %s ORDER BY action, period",
        ([CONTENT, METADATA], r.first, r.last),
    )
    out: dict[str, list[dict[str, Any]]] = {CONTENT: [], METADATA: []}
    for action, day, n in rows:
        out[action].append({"day": day.isoformat(), "count": n})
    return out


async def top_files(conn, r: Range, k: int = TOP_FILES) -> list[tuple[str, int]]:
    """The k most downloaded files in the range, exact (see the module docstring)."""
    bounds = await _rows(
        conn,
        "SELECT min(period), max(period) FROM access_rollup "
        "WHERE grain = 'd' AND action = %s AND dim = 'total' AND period BETWEEN %s AND %s",
        (CONTENT, r.first, r.last),
    )
    first, last = bounds[0]
    if first is None:
        return []
    # Whole months are read from the monthly table, the edges of the range day by day: the
    # leaders and the bound below hold for any partition of the range into periods.
    months, edges = split_range(first, last)
    spans = ([("access_file_monthly", "month", "1 month", *months)] if months else []) + [
        ("access_file_daily", "day", "1 day", a, b) for a, b in edges
    ]
    m = max(k, _FIRST_CANDIDATES)
    while m <= _MAX_CANDIDATES:
        parts, params = [], []
        for table, column, step, a, b in spans:
            parts.append(
                f"SELECT '{column}', p::date, t.file_id, t.n "
                f"FROM generate_series(%s::date, %s::date, interval '{step}') AS p "
                f"CROSS JOIN LATERAL (SELECT file_id, n FROM {table} WHERE {column} = p::date "
                "ORDER BY n DESC LIMIT %s) AS t"
            )
            params += [a, b, m]
        leaders = await _rows(conn, " UNION ALL ".join(parts), params)
        # Bound for non-candidates: per period, the M-th count when the period has M or more
        # files (an absent file had at most that), else 0 (every file of that period is a
        # candidate). The smallest of a full period's leaders is its M-th count: no ranking
        # needed in SQL (a window per day cost a third of this query).
        by_period: dict[tuple[str, date], list[int]] = {}
        for grain, period, _file, n in leaders:
            by_period.setdefault((grain, period), []).append(n)
        bound = sum(min(counts) for counts in by_period.values() if len(counts) == m)
        candidates = list({file_id for _g, _p, file_id, _n in leaders})
        totals = await _sum_per_file(conn, spans, k, candidates)
        if bound == 0 or (len(totals) == k and totals[-1][1] >= bound):
            return [(str(f), n) for f, n in totals]
        m *= 4
    return [(str(f), n) for f, n in await _sum_per_file(conn, spans, k)]


async def _sum_per_file(conn, spans, k: int, only: list | None = None) -> list[tuple]:
    """The k files with the most downloads over the spans (among `only`, when given)."""
    parts, params = [], []
    for table, column, _step, a, b in spans:
        where = f"{column} BETWEEN %s AND %s"
        params += [a, b]
        if only is not None:
            where = "file_id = ANY(%s) AND " + where
            params.insert(len(params) - 2, only)
        parts.append(f"SELECT file_id, n FROM {table} WHERE {where}")
    return await _rows(
        conn,
        "SELECT file_id, sum(n)::bigint AS total FROM ("
        + " UNION ALL ".join(parts)
        + ") AS spans GROUP BY file_id ORDER BY total DESC, file_id LIMIT %s",
        [*params, k],
    )


async def infected_stats(conn, r: Range) -> dict[str, int]:
    """Files of the range the malware scan found infected (their rows stay, their bytes are
    gone): read through the scan status index, as there are few."""
    ((count, size),) = await _rows(
        conn,
        "SELECT count(*), coalesce(sum(size), 0)::bigint FROM files WHERE scan_status = "
        "'infected' AND (created_at AT TIME ZONE 'UTC')::date BETWEEN %s AND %s",
        (r.first, r.last),
    )
    return {"files": count, "bytes": size}


async def compute(conn, r: Range) -> dict[str, Any]:
    """The /stats body. Runs its queries in one REPEATABLE READ snapshot when the caller opened
    one; several small index reads either way."""
    names = {t: await _names(conn, t) for t in ("categories", "languages", "roles")}
    files = await file_stats(conn, r, names)
    files["infected"] = await infected_stats(conn, r)
    downloads: dict[str, list[dict[str, Any]]] = {
        "country": [],
        "company": [],
        "role": [],
        "language": [],
    }
    totals = {CONTENT: 0, METADATA: 0}
    for action, dim, key, n in await access_counts(conn, r):
        if dim == "total":
            totals[action] = n
        elif action == CONTENT and n:
            downloads[dim].append({**_label(dim, key, names), "downloads": n})
    for entries in downloads.values():
        entries.sort(key=lambda e: (-e["downloads"], str(next(iter(e.values())) or "")))
    days = await per_day(conn, r)
    top = await top_files(conn, r)
    titles = dict(
        await _rows(
            conn,
            "SELECT id::text, title FROM files WHERE id = ANY(%s::uuid[])",
            ([f for f, _n in top],),
        )
    )
    return {
        "from": r.start.isoformat() if r.start else None,
        "to": r.end.isoformat() if r.end else None,
        "files": files,
        "downloads": {
            "count": totals[CONTENT],
            "by_country": downloads["country"],
            "by_company": downloads["company"][:MAX_COMPANIES],
            "by_role": downloads["role"],
            "by_language": downloads["language"],
            "per_day": days[CONTENT],
            "top_files": [{"id": f, "title": titles.get(f), "downloads": n} for f, n in top],
        },
        "metadata_reads": {"count": totals[METADATA], "per_day": days[METADATA]},
    }


class Stats:
    """The tenant's statistics on its pool: what GET /stats and the console's stats page call."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def report(self, r: Range) -> dict[str, Any]:
        """The /stats body, every section from one snapshot so that they agree with each other."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return await compute(conn, r)
