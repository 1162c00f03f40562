"""SQL for `direct_uploads`, the pending direct-to-S3 uploads (service/uploads/direct.py has
the rules). Callers pass a connection, so transactions are theirs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from psycopg.types.json import Jsonb

Row = dict[str, Any]


async def insert(
    conn,
    *,
    upload_id: uuid.UUID,
    fields: Mapping[str, Any],
    filename: str,
    content_type: str | None,
    size: int,
    sha256: str,
    uploaded_by: str,
    api_key_id: str,
    expires_in: timedelta,
) -> Row:
    cur = await conn.execute(
        "INSERT INTO direct_uploads (id, fields, filename, content_type, size, sha256,"
        " uploaded_by, api_key_id, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now() + %s)"
        " RETURNING *, false AS expired",
        [
            upload_id,
            Jsonb(dict(fields)),
            filename,
            content_type,
            size,
            sha256,
            uploaded_by,
            api_key_id,
            expires_in,
        ],
    )
    return await cur.fetchone()


async def get(conn, upload_id: uuid.UUID) -> Row | None:
    """The pending upload, expired or not (`expired` says which)."""
    cur = await conn.execute(
        "SELECT *, expires_at <= now() AS expired FROM direct_uploads WHERE id = %s", [upload_id]
    )
    return await cur.fetchone()


async def delete(conn, upload_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM direct_uploads WHERE id = %s", [upload_id])


async def expired(conn, limit: int) -> list[Row]:
    cur = await conn.execute(
        "SELECT id FROM direct_uploads WHERE expires_at <= now() ORDER BY expires_at LIMIT %s",
        [limit],
    )
    return await cur.fetchall()
