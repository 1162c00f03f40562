"""SQL for the malware scan of `files` rows (the rules are service/scanning/worker.py's) and the
`file_scan_events` log of verdicts.

A pending row is claimed by pushing its `scan_due_at` past the time its scan may take, in a
short transaction that skips rows another instance is claiming (`FOR UPDATE SKIP LOCKED`):
instances share the backlog, no transaction stays open during a scan, and the claim of an
instance that died runs out, so the row is picked up again.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from psycopg.rows import tuple_row

Claim = dict[str, Any]

_CLAIM = """
UPDATE files SET scan_due_at = clock_timestamp() + make_interval(secs => %s + size / %s)
WHERE id = (
    SELECT id FROM files
    WHERE scan_status = 'pending' AND scan_due_at <= clock_timestamp()
    ORDER BY scan_due_at, created_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, object_key, size, created_at, scan_attempts
"""


async def claim(conn, *, lease_seconds: float, bytes_per_second: float) -> Claim | None:
    """The next due pending row, now claimed for `lease_seconds` plus its size at
    `bytes_per_second` (a claim long enough for the scan of any size), or None."""
    cur = await conn.execute(_CLAIM, (lease_seconds, bytes_per_second))
    return await cur.fetchone()


async def defer(conn, file_id: uuid.UUID, seconds: float, *, attempt: bool) -> None:
    """Try the row again in `seconds`; `attempt` counts a try that failed because of the file."""
    await conn.execute(
        "UPDATE files SET scan_due_at = clock_timestamp() + make_interval(secs => %s),"
        " scan_attempts = scan_attempts + %s WHERE id = %s AND scan_status = 'pending'",
        (seconds, 1 if attempt else 0, file_id),
    )


async def record(
    conn,
    file_id: uuid.UUID,
    *,
    status: str,
    engine: str,
    detail: str | None,
    disposal: str | None = None,
) -> bool:
    """Write the verdict on a pending row and log it; False when the row is gone or already
    has one (deleted meanwhile, or another instance got there first). Call in a transaction."""
    cur = await conn.execute(
        "UPDATE files SET scan_status = %s, scan_engine = %s, scan_detail = %s,"
        " scanned_at = clock_timestamp() WHERE id = %s AND scan_status = 'pending'"
        " RETURNING object_key",
        (status, engine, detail, file_id),
    )
    row = await cur.fetchone()
    if row is None:
        return False
    await conn.execute(
        "INSERT INTO file_scan_events (file_id, object_key, status, engine, detail, disposal)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (file_id, row["object_key"], status, engine, detail, disposal),
    )
    return True


async def backlog(conn) -> tuple[int, datetime | None]:
    """Pending rows: how many, and when the oldest was stored."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(
            "SELECT count(*), min(created_at) FROM files WHERE scan_status = 'pending'"
        )
        count, oldest = await cur.fetchone()
    return count, oldest


async def oversize_count(conn) -> int:
    """Files too large for the engine (`oversize`), whatever the policy does with them."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute("SELECT count(*) FROM files WHERE scan_status = 'oversize'")
        (count,) = await cur.fetchone()
    return count


async def events_of(conn, file_id: uuid.UUID) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT status, engine, detail, disposal, at FROM file_scan_events"
        " WHERE file_id = %s ORDER BY at",
        (file_id,),
    )
    return await cur.fetchall()
