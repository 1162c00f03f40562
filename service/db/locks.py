"""Lock connections: the sessions that hold an upload's advisory lock (a tus PATCH, a direct
upload's `complete`), from a small bounded pool beside the main one, so that the instance's
database connections of every kind stay under SILO_DB_MAX_CONNECTIONS.

- `LockSessions`: `session()` a lock connection for a block, `DatabaseBusy` (503 `busy`)
  beyond its slots; `release()` gives a lock up within `RELEASE_SECONDS` or closes the session
- `open_lock_sessions`, `lock_connection_options`: built once in the lifespan

Design: docs/design/database.md
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import psycopg
from psycopg_pool import AsyncConnectionPool

from service import errors
from service.db.credentials import SecretCredentials
from service.db.pool import PoolConfig, bounded_pool, connection_options, deadline

log = logging.getLogger("silo.db.locks")

# Seconds a client should wait before retrying a `busy` request.
RETRY_AFTER_SECONDS = 1
# The longest a lock's release may wait for the server (a live one answers in a millisecond);
# past it the session is closed, which releases the lock once the server notices.
RELEASE_SECONDS = 1.0
# A lock session is idle while its request streams: the server drops it (and its lock) when its
# peer has been unreachable for about idle + interval x count seconds; the client likewise.
KEEPALIVE_IDLE_SECONDS = 10
KEEPALIVE_INTERVAL_SECONDS = 5
KEEPALIVE_COUNT = 3


class DatabaseBusy(errors.DomainError):
    """Every lock connection of this instance is in use; retry after a moment."""

    api_error = errors.Busy

    def __init__(self, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(
            "this instance holds as many database connections as SILO_DB_MAX_CONNECTIONS "
            f"allows; retry in {retry_after} s"
        )
        # A PATCH's body is left unread: the connection cannot carry another request after it.
        self.headers = {"Retry-After": str(retry_after), "Connection": "close"}


def lock_connection_options(config: PoolConfig) -> dict[str, object]:
    """The pool's connection options, plus TCP keepalives both ways and a lock_timeout, and an
    application_name of their own (pg_stat_activity tells them from the pool's)."""
    options = connection_options(config)
    ours = (
        f"-c lock_timeout={config.statement_timeout_ms}"
        f" -c tcp_keepalives_idle={KEEPALIVE_IDLE_SECONDS}"
        f" -c tcp_keepalives_interval={KEEPALIVE_INTERVAL_SECONDS}"
        f" -c tcp_keepalives_count={KEEPALIVE_COUNT}"
    )
    return {
        **options,
        "options": f"{options['options']} {ours}",
        "application_name": f"{options['application_name']} locks",
        "keepalives": 1,
        "keepalives_idle": KEEPALIVE_IDLE_SECONDS,
        "keepalives_interval": KEEPALIVE_INTERVAL_SECONDS,
        "keepalives_count": KEEPALIVE_COUNT,
    }


class LockSessions:
    """At most `slots` lock connections, pooled. Not a queue: a request beyond the slots is
    refused at once (`DatabaseBusy`), before any connection is opened.

    A connection goes back to the pool only after its lock was released with an answer from
    the server (`release`); a session-level advisory lock would otherwise outlive the request
    on the pooled connection. Any other end closes it."""

    def __init__(self, pool: AsyncConnectionPool, slots: int) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.pool = pool
        self.slots = slots
        self.in_use = 0
        self.rejected = 0

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A lock connection for the block: `DatabaseBusy` when every slot is taken, 503
        `database_unavailable` when none is had within the pool's timeout. The block leaves
        it holding no lock, or closed (the pool discards it, as one left mid-query)."""
        if self.in_use >= self.slots:
            self.rejected += 1
            raise DatabaseBusy()
        self.in_use += 1
        try:
            conn = await self.pool.getconn()
            try:
                yield conn
            finally:
                with anyio.CancelScope(shield=True):
                    await self.pool.putconn(conn)
        finally:
            self.in_use -= 1

    @staticmethod
    async def release(
        conn: psycopg.AsyncConnection, unlock: Callable[[], Awaitable[object]], what: str
    ) -> bool:
        """Run `unlock` on `conn` within `RELEASE_SECONDS` (shielded from cancellation);
        on any failure close `conn`, which releases its locks once the server notices (at
        once on a live server, when it thaws on a frozen one). True if released in time."""
        with anyio.CancelScope(shield=True):
            try:
                with deadline(conn, RELEASE_SECONDS):
                    await unlock()
                return True
            except Exception:
                log.warning("releasing %s failed; closing its session", what)
                await conn.close()
                return False


async def open_lock_sessions(
    config: PoolConfig, credentials: SecretCredentials | None = None
) -> LockSessions:
    """The lock connections' pool (opened; it opens connections only when asked), with every
    wait bounded as the main pool's are (service/db/pool.py)."""
    slots = config.lock_slots
    pool = await bounded_pool(
        config,
        credentials,
        name="silo-locks",
        min_size=0,
        max_size=slots,
        kwargs=lock_connection_options(config),
    )
    return LockSessions(pool, slots)
