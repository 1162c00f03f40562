"""SQL for `idempotency_keys_by_api_key` (service/uploads/idempotency.py has the rules): a key
is one API key's (migration 0019; `idempotency_keys`, unscoped, is the previous image's and is
not used). Callers pass a connection, so transactions are theirs."""

from __future__ import annotations

import uuid
from typing import Any

Row = dict[str, Any]


async def claim(
    conn, api_key_id: str, key: str, fingerprint: str, resource_id: uuid.UUID
) -> Row | None:
    """Record `key` for `resource_id` unless it is taken; None when it was free (now ours).
    Taken: the row, locked until the caller's transaction ends. A concurrent first use of the
    same key waits here for the other transaction, then sees its row."""
    cur = await conn.execute(
        "INSERT INTO idempotency_keys_by_api_key (api_key_id, key, fingerprint, resource_id)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (api_key_id, key) DO NOTHING RETURNING key",
        [api_key_id, key, fingerprint, resource_id],
    )
    if await cur.fetchone() is not None:
        return None
    cur = await conn.execute(
        "SELECT key, fingerprint, resource_id FROM idempotency_keys_by_api_key"
        " WHERE api_key_id = %s AND key = %s FOR UPDATE",
        [api_key_id, key],
    )
    return await cur.fetchone()


async def get(conn, api_key_id: str, key: str) -> Row | None:
    cur = await conn.execute(
        "SELECT key, fingerprint, resource_id FROM idempotency_keys_by_api_key"
        " WHERE api_key_id = %s AND key = %s",
        [api_key_id, key],
    )
    return await cur.fetchone()


async def rebind(conn, api_key_id: str, key: str, resource_id: uuid.UUID) -> None:
    """Point a key whose resource is gone (deleted, expired) at the new one; the caller holds
    the row's lock (`claim`)."""
    await conn.execute(
        "UPDATE idempotency_keys_by_api_key SET resource_id = %s, created_at = now()"
        " WHERE api_key_id = %s AND key = %s",
        [resource_id, api_key_id, key],
    )
