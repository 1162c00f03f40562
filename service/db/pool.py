"""The database connection pool, built once in the lifespan, and the database's readiness probe.

- `open_pool`: the pool (autocommit connections), with `connection_options` and, with
  DATABASE_SECRET_ARN, `database_credentials`; `bounded_pool` (also the lock connections')
- `BoundedConnection`, `deadline`, `DatabaseStalled`: every wait for the server bounded
- `lease`: a pool connection for a block; `ping`: the readiness check

Design: docs/design/database.md
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from service.db.credentials import SecretCredentials

# Client-side slack on top of the server's statement_timeout: a live server cancels first.
CLIENT_SLACK_SECONDS = 1.0
RECONNECT_GIVE_UP_SECONDS = 5.0


@dataclass(frozen=True)
class PoolConfig:
    """What the pool is opened with (service/app.py builds it from the settings)."""

    url: str  # DATABASE_URL
    max_size: int
    statement_timeout_ms: int
    connect_timeout_seconds: float
    acquire_timeout_seconds: float
    max_lifetime_seconds: float
    tenant: str = ""  # names the sessions in pg_stat_activity
    lock_slots: int = 0  # connections beside the pool that hold upload locks


class DatabaseStalled(psycopg.OperationalError):
    """The server did not answer within the client-side bound; the connection was closed."""


class BoundedConnection(psycopg.AsyncConnection):
    """An `AsyncConnection` whose every wait for the server has a deadline.

    psycopg's own handling of a cancelled wait sends a cancel request and waits up to 5 s more
    for the server, twice, so `asyncio.wait_for` around a query on a frozen server takes far
    longer than its timeout. Bounding the wait itself avoids that: on expiry the connection is
    simply closed.
    """

    # Set per pool by `open_pool` (a subclass per settings), overridable per use: `deadline()`.
    wait_limit: float | None = None
    # Set per pool by `open_pool` when the credentials come from a secret.
    credentials: SecretCredentials | None = None

    @classmethod
    async def connect(cls, conninfo: str = "", **kwargs):  # type: ignore[override]
        if cls.credentials is None:
            return await super().connect(conninfo, **kwargs)
        return await cls.credentials.connect(super().connect, conninfo, **kwargs)

    async def wait(self, gen, interval=0.1, timeout=None):  # type: ignore[override]
        limit = self.wait_limit if timeout is None else timeout
        try:
            return await super().wait(gen, interval=interval, timeout=limit)
        except pg_errors._WaitTimeout:
            self.pgconn.finish()
            raise DatabaseStalled(f"the database did not answer within {limit:g} s") from None


@contextlib.contextmanager
def deadline(conn: psycopg.AsyncConnection, seconds: float) -> Iterator[None]:
    """Bound the waits of `conn` by `seconds` inside the block (e.g. a readiness check)."""
    previous = conn.__dict__.get("wait_limit")
    conn.wait_limit = seconds  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if previous is None:
            conn.__dict__.pop("wait_limit", None)
        else:
            conn.wait_limit = previous  # type: ignore[attr-defined]


def connection_options(config: PoolConfig) -> dict[str, object]:
    """Connection parameters the pool adds to DATABASE_URL's (options are appended to)."""
    given = psycopg.conninfo.conninfo_to_dict(config.url)
    existing = given.get("options") or ""
    # Sessions in UTC: timestamps come back as UTC datetimes, which the file objects carry as
    # they are (orjson writes them as isoformat() does), whatever the server's own TimeZone.
    # No JIT: a query here reads a page or a few rows, and compiling it costs more than running
    # it (a query of several pages, whose limits the planner cannot see, was estimated above
    # jit_above_cost and spent 21 ms compiling to run in 1).
    # Custom plans only: psycopg prepares a statement run 5 times on a connection, and after 5
    # more PostgreSQL may keep a generic plan, planned without the values. For the page query
    # of `q` that plan walks files by date testing every row (the estimate for `@@` an unknown
    # tsquery is 0.5 % of the table): a search matching nothing then reads the whole table,
    # 29 s at ten million files (bench/README.md). Planning each time costs well under 1 ms.
    ours = (
        f"-c statement_timeout={config.statement_timeout_ms} -c TimeZone=UTC -c jit=off "
        "-c plan_cache_mode=force_custom_plan"
    )
    return {
        # pg_stat_activity tells the service's sessions apart (lock sessions add " locks");
        # one DATABASE_URL sets is kept.
        "application_name": given.get("application_name") or f"silo {config.tenant}",
        "row_factory": dict_row,
        "connect_timeout": config.connect_timeout_seconds,
        "autocommit": True,
        "options": f"{existing} {ours}".strip(),
    }


async def open_pool(
    config: PoolConfig, credentials: SecretCredentials | None = None
) -> AsyncConnectionPool:
    """An opened pool. It does not wait for the database: readiness reports that instead.
    With `credentials`, every connection it opens logs in with the secret's current ones."""
    return await bounded_pool(
        config,
        credentials,
        min_size=1,
        max_size=config.max_size,
        kwargs=connection_options(config),
    )


async def bounded_pool(
    config: PoolConfig,
    credentials: SecretCredentials | None,
    *,
    name: str = "silo",
    min_size: int,
    max_size: int,
    kwargs: dict[str, object],
) -> AsyncConnectionPool:
    """An opened pool of `BoundedConnection`s, every wait bounded by `config` (the main pool,
    and the lock connections' in service/db/locks.py)."""
    limit = config.statement_timeout_ms / 1000 + CLIENT_SLACK_SECONDS
    connection_class = type(
        "SiloConnection",
        (BoundedConnection,),
        {"wait_limit": limit, "credentials": credentials},
    )
    pool = AsyncConnectionPool(
        config.url,
        min_size=min_size,
        max_size=max_size,
        connection_class=connection_class,
        kwargs=kwargs,
        timeout=config.acquire_timeout_seconds,
        max_lifetime=config.max_lifetime_seconds,
        # The pool retries a lost connection with a doubling delay that never stops growing
        # (1, 2, 4 ... 32 s after a 45 s outage): a recovered database went unnoticed for that
        # long. Giving up after a few attempts caps the delay; the next request (or readiness
        # check) that finds the pool short starts a fresh attempt at once.
        reconnect_timeout=RECONNECT_GIVE_UP_SECONDS,
        open=False,
        name=name,
    )
    await pool.open(wait=False)
    return pool


class lease:
    """`async with db.lease(pool) as conn`: a pool connection for the block, then back, for
    the read paths. What `pool.connection()` does, less what it costs on every request in
    autocommit mode: its generator-based context manager, and the connection's own context,
    which takes the connection's lock to COMMIT or ROLLBACK a transaction that autocommit never
    left open. A block that opens one (`conn.transaction()`) closes it itself; whatever a
    failure leaves (a transaction, a query still running) the pool's `putconn` rolls back or
    discards, as it does for `pool.connection()`."""

    __slots__ = ("_conn", "_pool")

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._conn: psycopg.AsyncConnection | None = None

    async def __aenter__(self) -> psycopg.AsyncConnection:
        self._conn = await self._pool.getconn()
        return self._conn

    async def __aexit__(self, *exc_info: object) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._pool.putconn(conn)


async def ping(pool: AsyncConnectionPool, timeout: float) -> None:
    """Raises unless a connection is had and answers within about `timeout` seconds: the wait
    for the server itself is bounded (`deadline`), not only the wait for a pool connection."""
    end = time.monotonic() + timeout
    async with pool.connection(timeout=timeout) as conn:
        with deadline(conn, max(end - time.monotonic(), 0.05)):
            await conn.execute("SELECT 1")
