"""Helpers for the taxonomy, events and stats tests: small inserts into a migrated database."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import uuid
from datetime import datetime
from pathlib import Path

import psycopg

from service.db.migrate import MIGRATIONS_DIR, migrate


def migrate_before(url: str, version: str, directory: Path) -> None:
    """Migrate `url` to the version before `version`, through copies in `directory` (a test's
    tmp_path: a migration copied there later is applied by `migrate(url, directory)`)."""
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if path.name < version:
            shutil.copy(path, directory)
    migrate(url, directory)


def run(coro):
    return asyncio.run(coro)


async def connect(url: str) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(url, autocommit=True)


async def insert_file(
    conn: psycopg.AsyncConnection,
    *,
    title: str = "a file",
    description: str | None = None,
    category_id: int | None = None,
    language: str | None = None,
    role_ids: tuple[int, ...] = (),
    type_: str = "pdf",
    size: int = 100,
    created_at: datetime | None = None,
) -> uuid.UUID:
    file_id = uuid.uuid4()
    await conn.execute(
        """INSERT INTO files (id, object_key, title, description, category_id, language,
               role_ids, filename, content_type, type, size, sha256, uploaded_by, created_at,
               updated_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, 'f.bin', 'application/octet-stream', %s, %s,
                   %s, 'test', coalesce(%s, now()), now())""",
        (
            file_id,
            f"files/{file_id}",
            title,
            description,
            category_id,
            language,
            list(role_ids),
            type_,
            size,
            hashlib.sha256(file_id.bytes).hexdigest(),
            created_at,
        ),
    )
    return file_id
