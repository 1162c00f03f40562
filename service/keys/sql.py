"""SQL for `api_keys`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

Row = dict[str, Any]
_COLUMNS = "id, name, prefix, scopes, created_at"


async def find_by_hash(conn, key_hash: bytes) -> Row | None:
    cur = await conn.execute(
        "SELECT id, key_hash, scopes FROM api_keys WHERE key_hash = %s", (key_hash,)
    )
    return await cur.fetchone()


async def insert(
    conn, *, key_id: uuid.UUID, name: str, prefix: str, key_hash: bytes, scopes: Sequence[str]
) -> Row:
    cur = await conn.execute(
        f"INSERT INTO api_keys (id, name, prefix, key_hash, scopes) "
        f"VALUES (%s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
        (key_id, name, prefix, key_hash, list(scopes)),
    )
    return await cur.fetchone()


async def list_all(conn) -> list[Row]:
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, id")
    return await cur.fetchall()


async def delete(conn, key_id: uuid.UUID) -> bool:
    cur = await conn.execute("DELETE FROM api_keys WHERE id = %s", (key_id,))
    return cur.rowcount == 1


async def lock_if_present(conn, key_id: uuid.UUID) -> bool:
    """Whether the key still exists, holding a share lock on its row until the transaction ends:
    a revocation (DELETE) waits for that commit, so it lands wholly before or wholly after it."""
    cur = await conn.execute("SELECT 1 FROM api_keys WHERE id = %s FOR SHARE", (key_id,))
    return await cur.fetchone() is not None
