"""SQL for `console_sessions` (the rules are service/console/sessions.py's). Callers pass a
connection, so transactions are theirs."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

Row = dict[str, Any]


async def insert(
    conn,
    *,
    token_hash: bytes,
    api_key_id: uuid.UUID | None,
    key_hash: bytes,
    csrf_token: str,
    lifetime: timedelta,
) -> Row:
    cur = await conn.execute(
        "INSERT INTO console_sessions (token_hash, api_key_id, key_hash, csrf_token, expires_at) "
        "VALUES (%s, %s, %s, %s, now() + %s) RETURNING csrf_token, expires_at",
        (token_hash, api_key_id, key_hash, csrf_token, lifetime),
    )
    return await cur.fetchone()


async def find_live(conn, token_hash: bytes) -> Row | None:
    """The session, unless it has expired (or its key was revoked: then the row is gone)."""
    cur = await conn.execute(
        "SELECT key_hash, csrf_token, expires_at FROM console_sessions "
        "WHERE token_hash = %s AND expires_at > now()",
        (token_hash,),
    )
    return await cur.fetchone()


async def delete(conn, token_hash: bytes) -> None:
    await conn.execute("DELETE FROM console_sessions WHERE token_hash = %s", (token_hash,))


async def delete_expired(conn) -> int:
    cur = await conn.execute("DELETE FROM console_sessions WHERE expires_at <= now()")
    return cur.rowcount
