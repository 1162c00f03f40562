"""Raw access events by UTC month: partitions created ahead, old ones dropped (the retention).

- `maintain(pool, retention_months)`: run now and then by the service (service/app.py); creates
  the partitions of this month and the next `AHEAD`, drops those wholly older than the
  retention, and returns how many it dropped. Several instances may run it at once: one does
  the work, the others skip the round.
- `create_month(conn, month)`: one month's partition, rows the DEFAULT partition already holds
  for it moved in (the bench's loader uses it for past months too)

The rollups (`access_rollup`, `access_file_daily`) are not partitioned and never dropped: the
statistics outlive the raw events. Layout: migration 0032. Design: docs/design/events.md
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from psycopg import sql
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

# Months created ahead of the current one: a service down for that long still finds them.
AHEAD = 3
# Any instance holding it runs the round; the others skip it (pg_try_advisory_xact_lock).
LOCK_ID = 0x73696C6F_6576  # "silo" "ev"
# DDL on the partitioned table waits for the recorder's flushes and blocks the next ones: give
# up (and try again next round) rather than queue behind a long one.
LOCK_TIMEOUT = "2s"
_BOUNDS = re.compile(r"FROM \((?:'([^']+)'|MINVALUE)\) TO \('([^']+)'\)")


def month_of(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"access_events_{month:%Y%m}"


async def partitions(conn) -> dict[str, tuple[date | None, date] | None]:
    """name -> (first day or None for MINVALUE, the day after) of each partition; None for
    DEFAULT. Needs TimeZone UTC (bounds print in the session's time zone)."""
    rows = await (
        await conn.execute(
            """SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
               FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = 'access_events'::regclass"""
        )
    ).fetchall()
    out: dict[str, tuple[date | None, date] | None] = {}
    for name, bound in rows:
        found = _BOUNDS.search(bound)
        if found is None:  # DEFAULT
            out[name] = None
            continue
        low = date.fromisoformat(found[1][:10]) if found[1] else None
        out[name] = (low, date.fromisoformat(found[2][:10]))
    return out


def _day(value: date) -> str:
    return f"{value.isoformat()} 00:00:00+00"


async def create_month(conn, month: date) -> None:
    """The partition for `month`, in the caller's transaction. Rows the DEFAULT partition
    holds for that month (written while it was missing) are moved into it first, since
    PostgreSQL refuses a new partition whose rows sit in the default one."""
    name, low, high = partition_name(month), _day(month), _day(add_months(month, 1))
    moved = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM access_events_default WHERE at >= %s AND at < %s)",
        (low, high),
    )
    bounds = sql.SQL("FOR VALUES FROM ({}) TO ({})").format(sql.Literal(low), sql.Literal(high))
    if not (await moved.fetchone())[0]:
        await conn.execute(
            sql.SQL("CREATE TABLE {} PARTITION OF access_events {}").format(
                sql.Identifier(name), bounds
            )
        )
        return
    await conn.execute(
        sql.SQL("CREATE TABLE {} (LIKE access_events INCLUDING ALL)").format(sql.Identifier(name))
    )
    await conn.execute(
        sql.SQL(
            "WITH moved AS (DELETE FROM access_events_default WHERE at >= %s AND at < %s "
            "RETURNING *) INSERT INTO {} SELECT * FROM moved"
        ).format(sql.Identifier(name)),
        (low, high),
    )
    await conn.execute(
        sql.SQL("ALTER TABLE access_events ATTACH PARTITION {} {}").format(
            sql.Identifier(name), bounds
        )
    )


async def maintain(
    pool: AsyncConnectionPool, retention_months: int, *, now: datetime | None = None
) -> int:
    """Create this month's partition and the next AHEAD; drop those whose every event is older
    than `retention_months` whole months before this one (0: keep raw events forever).
    Returns the number dropped; 0 too when another instance holds the round."""
    this_month = month_of(now or datetime.now(UTC))
    # Rows as tuples whatever the pool's row factory (the service's is dict_row): one cursor
    # for the whole round, passed where the helpers take a connection.
    async with (
        pool.connection() as connection,
        connection.transaction(),
        connection.cursor(row_factory=tuple_row) as conn,
    ):
        got = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (LOCK_ID,))
        if not (await got.fetchone())[0]:
            return 0
        await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        await conn.execute("SET LOCAL TimeZone = 'UTC'")
        existing = await partitions(conn)
        covered = [bounds for bounds in existing.values() if bounds is not None]
        for n in range(AHEAD + 1):
            month = add_months(this_month, n)
            if not any((low is None or low <= month) and month < high for low, high in covered):
                await create_month(conn, month)
        if retention_months <= 0:
            return 0
        cutoff = add_months(this_month, -retention_months)
        old = [name for name, b in existing.items() if b is not None and b[1] <= cutoff]
        for name in sorted(old):
            await conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
        return len(old)
