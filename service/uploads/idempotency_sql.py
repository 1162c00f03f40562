"""SQL for `idempotency_keys` (service/uploads/idempotency.py has the rules). Callers pass a
connection, so transactions are theirs."""

from __future__ import annotations

import uuid
from typing import Any

Row = dict[str, Any]


async def claim(conn, key: str, fingerprint: str, resource_id: uuid.UUID) -> Row | None:
    """Record `key` for `resource_id` unless it is taken; None when it was free (now ours).
    Taken: the row, locked until the caller's transaction ends. A concurrent first use of the
    same key waits here for the other transaction, then sees its row."""
    cur = await conn.execute(
        "INSERT INTO idempotency_keys (key, fingerprint, resource_id) VALUES (%s, %s, %s)"
        " ON CONFLICT (key) DO NOTHING RETURNING key",
        [key, fingerprint, resource_id],
    )
    if await cur.fetchone() is not None:
        return None
    cur = await conn.execute(
        "SELECT key, fingerprint, resource_id FROM idempotency_keys WHERE key = %s FOR UPDATE",
        [key],
    )
    return await cur.fetchone()


async def get(conn, key: str) -> Row | None:
    cur = await conn.execute(
        "SELECT key, fingerprint, resource_id FROM idempotency_keys WHERE key = %s", [key]
    )
    return await cur.fetchone()


async def rebind(conn, key: str, resource_id: uuid.UUID) -> None:
    """Point a key whose resource is gone (deleted, expired) at the new one; the caller holds
    the row's lock (`claim`)."""
    await conn.execute(
        "UPDATE idempotency_keys SET resource_id = %s, created_at = now() WHERE key = %s",
        [resource_id, key],
    )
