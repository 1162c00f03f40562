"""The database connection pool, built once in the lifespan and shared through app.state, and
the readiness probe of the database.

Connections are in autocommit mode: a lone read is one round trip (not BEGIN, the query and
COMMIT), and anything that must be atomic says so with `conn.transaction()`, as every write
path does.
"""

from __future__ import annotations

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from service.settings import Settings

# How long a request waits for a free connection (or for an unreachable database) before it
# gets a 503 instead of hanging.
ACQUIRE_TIMEOUT_SECONDS = 5.0


async def open_pool(settings: Settings) -> AsyncConnectionPool:
    """An opened pool. It does not wait for the database: readiness reports that instead."""
    pool = AsyncConnectionPool(
        settings.database_url,
        min_size=1,
        max_size=settings.db_pool_max,
        kwargs={"row_factory": dict_row, "connect_timeout": 5, "autocommit": True},
        timeout=ACQUIRE_TIMEOUT_SECONDS,
        open=False,
        name="silo",
    )
    await pool.open(wait=False)
    return pool


async def ping(pool: AsyncConnectionPool, timeout: float) -> None:
    """Raises unless a connection is had and answers within about `timeout` seconds."""
    async with pool.connection(timeout=timeout) as conn:
        await conn.execute("SELECT 1")
