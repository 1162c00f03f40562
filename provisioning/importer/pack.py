"""A Pack deployment as an import source: one provider's files, read from Pack's PostgreSQL
database, their bytes streamed from Pack's S3 bucket.

Pack's schema (the facts the importer relies on, nothing else):

    files(id, title, description, category -> categories.id, language -> languages.id,
          provider -> providers.id, file (the S3 object key), mimetype, uploaded_by)
    files_roles(file_id, role_id)
    categories(id, name), languages(id, name), roles(id, name), providers(id, name)

Only rows whose `provider` is the chosen one are read: the query filters by it, and nothing of
another provider's (files, objects, taxonomy names they alone use) is ever looked at.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import boto3
import botocore.config
import psycopg
from botocore.exceptions import BotoCoreError, ClientError
from psycopg.rows import dict_row

from provisioning.importer.sources import CHUNK_BYTES, Item, SourceError, default_title

FILES_QUERY = """
SELECT f.id, f.title, f.description, f.file, f.mimetype, f.uploaded_by,
       c.name AS category, l.name AS language,
       ARRAY(SELECT r.name FROM files_roles fr JOIN roles r ON r.id = fr.role_id
             WHERE fr.file_id = f.id ORDER BY r.name) AS roles
  FROM files f
  LEFT JOIN categories c ON c.id = f.category
  LEFT JOIN languages l ON l.id = f.language
 WHERE f.provider = %(provider)s
 ORDER BY f.id
"""
# Object sizes are read with one HEAD each, this many at a time.
HEAD_CONCURRENCY = 8


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


class PackSource:
    def __init__(
        self,
        database_url: str,
        bucket: str,
        provider: str,
        *,
        s3_endpoint: str | None = None,
        region: str | None = None,
    ) -> None:
        self.database_url = database_url
        self.bucket = bucket
        self.s3 = boto3.client(
            "s3",
            endpoint_url=s3_endpoint,
            region_name=region,
            config=botocore.config.Config(
                retries={"max_attempts": 5, "mode": "standard"},
                max_pool_connections=32,
            ),
        )
        self.provider_id, self.provider_name = self._provider(provider)
        self.identity = f"pack provider {self.provider_id} ({self.provider_name}) in {bucket}"

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.database_url, connect_timeout=10, row_factory=dict_row)
        except psycopg.Error as exc:
            raise SourceError(f"cannot connect to the Pack database: {exc}".strip()) from None

    def _provider(self, wanted: str) -> tuple[int, str]:
        """`--provider` is Pack's providers.id; a name is accepted too (case-insensitive)."""
        with self._connect() as conn:
            if wanted.isdigit():
                row = conn.execute(
                    "SELECT id, name FROM providers WHERE id = %s", (int(wanted),)
                ).fetchone()
            else:
                row = conn.execute(
                    "SELECT id, name FROM providers WHERE lower(name) = lower(%s)", (wanted,)
                ).fetchone()
            if row is None:
                known = conn.execute("SELECT id, name FROM providers ORDER BY id").fetchall()
                listed = ", ".join(f"{r['id']} ({r['name']})" for r in known)
                raise SourceError(f"Pack has no provider {wanted!r}; providers: {listed}")
        return row["id"], row["name"]

    def items(self) -> list[Item]:
        with self._connect() as conn:
            rows = conn.execute(FILES_QUERY, {"provider": self.provider_id}).fetchall()
        with concurrent.futures.ThreadPoolExecutor(HEAD_CONCURRENCY) as pool:
            return list(pool.map(self._item, rows))

    def _item(self, row: dict) -> Item:
        key = _text(row["file"])
        filename = PurePosixPath(key).name if key else f"pack-{row['id']}"
        size, problem = None, None
        if key is None:
            problem = "Pack has no object key for this file"
        else:
            try:
                size = self.s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in ("404", "NoSuchKey", "NotFound"):
                    raise SourceError(f"cannot read s3://{self.bucket}/{key}: {exc}") from None
                problem = f"object s3://{self.bucket}/{key} is missing"
            except BotoCoreError as exc:
                raise SourceError(f"cannot reach the source bucket {self.bucket}: {exc}") from None
        return Item(
            source_id=f"pack:{self.bucket}:{row['id']}",
            label=f"pack file {row['id']} ({key})",
            filename=filename,
            size=size,
            title=_text(row["title"]) or default_title(filename),
            title_given=bool(_text(row["title"])),
            description=_text(row["description"]),
            category=_text(row["category"]),
            language=_text(row["language"]),
            roles=tuple(n for n in (_text(r) for r in row["roles"]) if n),
            content_type=_text(row["mimetype"]),
            uploaded_by=_text(row["uploaded_by"]),
            problem=problem,
            extra={"key": key},
        )

    def chunks(self, item: Item, offset: int = 0) -> Iterator[bytes]:
        args = {"Bucket": self.bucket, "Key": item.extra["key"]}
        if offset:
            args["Range"] = f"bytes={offset}-"
        body = self.s3.get_object(**args)["Body"]
        try:
            yield from body.iter_chunks(CHUNK_BYTES)
        finally:
            body.close()

    def default_journal(self, target_tag: str) -> Path:
        """Pack has no directory to sit beside: the current one, named after the source."""
        tag = hashlib.sha256(self.bucket.encode()).hexdigest()[:8]
        return Path(f"pack-{self.provider_id}-{tag}.silo-import-{target_tag}.jsonl")
