"""The connection pool against a real PostgreSQL: a lone read leaves no transaction open (one
round trip), and `conn.transaction()` still makes several statements atomic."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg import pq

from service.db import open_pool
from service.settings import Settings


def settings_for(url: str) -> Settings:
    return Settings(
        tenant="t", database_url=url, s3_bucket="b", aws_region="eu-west-1", admin_key="k" * 16
    )


def test_reads_are_autocommit_and_transactions_still_atomic(database_url: str):
    async def scenario() -> None:
        pool = await open_pool(settings_for(database_url))
        try:
            await pool.wait()
            async with pool.connection() as conn:
                await conn.execute("CREATE TABLE t (n int PRIMARY KEY)")
                await conn.execute("SELECT 1")
                # No implicit BEGIN was sent, so no COMMIT is needed when it goes back.
                assert conn.info.transaction_status == pq.TransactionStatus.IDLE
            with pytest.raises(psycopg.errors.UniqueViolation):
                async with pool.connection() as conn, conn.transaction():
                    await conn.execute("INSERT INTO t VALUES (1)")
                    await conn.execute("INSERT INTO t VALUES (1)")
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT count(*) AS n FROM t")
                assert (await cur.fetchone())["n"] == 0
        finally:
            await pool.close()

    asyncio.run(scenario())
