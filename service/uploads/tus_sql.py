"""SQL for `tus_uploads`, the state of resumable uploads (service/uploads/tus.py has the rules).
Callers pass a connection, so transactions are theirs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from psycopg.types.json import Jsonb

Row = dict[str, Any]

# An advisory-lock namespace for uploads being received ("tus" in ASCII); the second key is a
# hash of the upload id. Held on a session of its own for as long as a PATCH reads its body.
LOCK_CLASS = 0x747573


async def insert(
    conn,
    *,
    upload_id: uuid.UUID,
    length: int,
    fields: Mapping[str, Any],
    filename: str | None,
    filetype: str | None,
    metadata: str | None,
    uploaded_by: str,
    api_key_id: str,
    expires_in: timedelta,
) -> Row:
    cur = await conn.execute(
        "INSERT INTO tus_uploads (id, length, fields, filename, filetype, metadata, uploaded_by,"
        " api_key_id, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now() + %s)"
        " RETURNING *",
        [
            upload_id,
            length,
            Jsonb(dict(fields)),
            filename,
            filetype,
            metadata,
            uploaded_by,
            api_key_id,
            expires_in,
        ],
    )
    return await cur.fetchone()


async def get(conn, upload_id: uuid.UUID, *, include_expired: bool = False) -> Row | None:
    """The upload unless it is unknown or expired (an expired one is gone, swept or not)."""
    query = "SELECT *, expires_at <= now() AS expired FROM tus_uploads WHERE id = %s"
    if not include_expired:
        query += " AND expires_at > now()"
    cur = await conn.execute(query, [upload_id])
    return await cur.fetchone()


async def set_storage_upload(conn, upload_id: uuid.UUID, s3_upload_id: str) -> None:
    await conn.execute(
        "UPDATE tus_uploads SET s3_upload_id = %s WHERE id = %s", [s3_upload_id, upload_id]
    )


async def save_progress(
    conn,
    upload_id: uuid.UUID,
    *,
    received: int,
    parts: list[dict[str, Any]],
    tail: bytes,
    type_id: str | None,
    expires_in: timedelta,
) -> Row:
    """Offset, committed parts and the tail, in one statement: they never disagree."""
    cur = await conn.execute(
        "UPDATE tus_uploads SET received = %s, parts = %s, tail = %s, type = %s,"
        " expires_at = now() + %s WHERE id = %s RETURNING *",
        [received, Jsonb(parts), tail, type_id, expires_in, upload_id],
    )
    return await cur.fetchone()


async def mark_completing(conn, upload_id: uuid.UUID) -> None:
    """A CompleteMultipartUpload is about to be sent: from now on a vanished multipart upload
    may be a completion still assembling the object, not an abort."""
    await conn.execute("UPDATE tus_uploads SET completing = true WHERE id = %s", [upload_id])


async def mark_stored(conn, upload_id: uuid.UUID, *, length: int, type_id: str) -> None:
    """Every byte is in the object now: the multipart upload is complete, nothing waits."""
    await conn.execute(
        "UPDATE tus_uploads SET received = %s, tail = '', type = %s, stored = true WHERE id = %s",
        [length, type_id, upload_id],
    )


async def stored(conn, limit: int) -> list[Row]:
    """Uploads whose bytes are all stored but whose file row is not written yet."""
    cur = await conn.execute("SELECT id FROM tus_uploads WHERE stored LIMIT %s", [limit])
    return await cur.fetchall()


async def delete(conn, upload_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM tus_uploads WHERE id = %s", [upload_id])


async def expired(conn, limit: int) -> list[Row]:
    cur = await conn.execute(
        "SELECT id, s3_upload_id FROM tus_uploads WHERE expires_at <= now()"
        " ORDER BY expires_at LIMIT %s",
        [limit],
    )
    return await cur.fetchall()


async def try_lock(conn, upload_id: uuid.UUID) -> bool:
    """Take the upload's session-level advisory lock if free. It is released when `conn`
    closes, also when the process holding it dies: another instance can then take over."""
    cur = await conn.execute(
        "SELECT pg_try_advisory_lock(%s, hashtext(%s)) AS locked", [LOCK_CLASS, str(upload_id)]
    )
    return (await cur.fetchone())["locked"]


async def unlock(conn, upload_id: uuid.UUID) -> None:
    """Release the upload's advisory lock now, before `conn` closes (the server drops a closed
    session's locks asynchronously, when its backend has exited)."""
    await conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [LOCK_CLASS, str(upload_id)])


async def file_size(conn, file_id: uuid.UUID) -> int | None:
    """The size of the file a finished upload became, if it exists."""
    cur = await conn.execute("SELECT size FROM files WHERE id = %s", [file_id])
    row = await cur.fetchone()
    return None if row is None else row["size"]


async def open_count(conn) -> int:
    """Uploads created and not yet stored, terminated or expired (the metrics' gauge)."""
    cur = await conn.execute(
        "SELECT count(*) AS n FROM tus_uploads WHERE NOT stored AND expires_at > now()"
    )
    return (await cur.fetchone())["n"]
