"""The connection pool against a real PostgreSQL: a lone read leaves no transaction open (one
round trip), and `conn.transaction()` still makes several statements atomic."""

from __future__ import annotations

import asyncio
import dataclasses

import psycopg
import pytest
from psycopg import pq

from service.app import pool_config
from service.db.pool import open_pool
from service.settings import Settings


def settings_for(url: str) -> Settings:
    return Settings(
        tenant="t", database_url=url, s3_bucket="b", aws_region="eu-west-1", admin_key="k" * 16
    )


def test_reads_are_autocommit_and_transactions_still_atomic(database_url: str):
    async def scenario() -> None:
        pool = await open_pool(pool_config(settings_for(database_url)))
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


def test_a_lease_gives_back_a_clean_connection_whatever_the_block_left(database_url: str):
    from service.db.pool import lease

    async def scenario() -> None:
        pool = await open_pool(
            pool_config(dataclasses.replace(settings_for(database_url), db_pool_max=1))
        )
        try:
            await pool.wait()
            async with lease(pool) as conn:
                first = conn
                assert (await (await conn.execute("SELECT 1 AS n")).fetchone())["n"] == 1
            # A transaction left open, and one left failed, are rolled back on the way back.
            async with lease(pool) as conn:
                assert conn is first  # one connection: the same comes back each time
                await conn.execute("BEGIN")
                await conn.execute("CREATE TEMP TABLE leased (n int)")
            with pytest.raises(psycopg.errors.DivisionByZero):
                async with lease(pool) as conn:
                    await conn.execute("BEGIN")
                    await conn.execute("SELECT 1 / 0")
            async with lease(pool) as conn:
                assert conn.info.transaction_status == pq.TransactionStatus.IDLE
                cur = await conn.execute("SELECT to_regclass('leased') IS NULL AS gone")
                assert (await cur.fetchone())["gone"]
            # A block cancelled mid-query: the pool replaces or cleans the connection.
            async with lease(pool) as conn:
                task = asyncio.ensure_future(conn.execute("SELECT pg_sleep(5)"))
                await asyncio.sleep(0.2)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            async with lease(pool) as conn:
                assert (await (await conn.execute("SELECT 2 AS n")).fetchone())["n"] == 2
        finally:
            await pool.close()

    asyncio.run(scenario())


def test_sessions_run_in_utc_with_the_timeout_and_no_jit(database_url: str):
    """What the queries rely on: UTC timestamps (file objects render them as they come), the
    statement timeout, and no JIT (a query of several pages is estimated far above
    jit_above_cost and compiled for longer than it runs)."""

    async def scenario() -> None:
        settings = dataclasses.replace(settings_for(database_url), db_statement_timeout_ms=4321)
        pool = await open_pool(pool_config(settings))
        try:
            await pool.wait()
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT current_setting('TimeZone') AS tz, current_setting('jit') AS jit,"
                    " current_setting('statement_timeout') AS timeout"
                )
                assert await cur.fetchone() == {"tz": "UTC", "jit": "off", "timeout": "4321ms"}
        finally:
            await pool.close()

    asyncio.run(scenario())


def test_a_statement_run_again_and_again_is_planned_with_its_values(database_url: str):
    """psycopg prepares a statement run often; PostgreSQL would then settle on a generic plan,
    made without the values, which for a search matching nothing reads the whole table. The
    pool's sessions plan every execution with its values."""

    async def scenario() -> None:
        config = dataclasses.replace(pool_config(settings_for(database_url)), max_size=1)
        pool = await open_pool(config)
        query = "SELECT count(*) FROM pg_class WHERE relname LIKE %s AND relpages >= %s"
        try:
            await pool.wait()
            async with pool.connection() as conn:
                for n in range(20):
                    await conn.execute(query, (f"pg_{n}%", n))
                cur = await conn.execute(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement LIKE 'SELECT count(*) FROM pg_class%'"
                )
                plans = await cur.fetchall()
        finally:
            await pool.close()
        # Prepared (psycopg's threshold), yet never a generic plan.
        assert [(p["generic_plans"], p["custom_plans"] > 0) for p in plans] == [(0, True)]

    asyncio.run(scenario())
