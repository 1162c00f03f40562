"""Waking the scan workers of every instance when a file is stored, so that a verdict follows
the upload at once instead of at the next poll (which stays, as the fallback).

- `CHANNEL`, `notify_stored`: in the transaction that inserts a pending row, a NOTIFY that
  PostgreSQL delivers to every listener when, and only if, the transaction commits
- `Listener`: a connection of its own that LISTENs on `CHANNEL` and calls `on_wake` for each
  notification (and once on every (re)connect, for what was stored meanwhile)
- `connector`: how the listener connects, as the pool's connections do

Design: docs/design/scanning.md
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import psycopg

from service.db.credentials import SecretCredentials
from service.db.pool import PoolConfig, connection_options

log = logging.getLogger("silo.scan")

CHANNEL = "silo_scan_stored"
# A listener that has heard nothing for this long checks that its connection still answers.
IDLE_CHECK_SECONDS = 30.0
CHECK_TIMEOUT_SECONDS = 5.0
RECONNECT_BACKOFF = (1.0, 2.0, 5.0, 15.0, 30.0)

Connect = Callable[[], Awaitable[psycopg.AsyncConnection]]


async def notify_stored(conn: psycopg.AsyncConnection) -> None:
    """Say a pending row was stored; sent when `conn`'s transaction commits."""
    await conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))


def connector(config: PoolConfig, credentials: SecretCredentials | None) -> Connect:
    """A connection outside the pool, logged in as the pool's are (DATABASE_SECRET_ARN)."""

    async def connect() -> psycopg.AsyncConnection:
        options = connection_options(config)
        if credentials is None:
            return await psycopg.AsyncConnection.connect(config.url, **options)
        return await credentials.connect(psycopg.AsyncConnection.connect, config.url, **options)

    return connect


class Listener:
    def __init__(self, connect: Connect, on_wake: Callable[[], None]) -> None:
        self._connect = connect
        self._on_wake = on_wake
        self.listening = asyncio.Event()

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with a back-off when the connection is lost."""
        failures = 0
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError, TimeoutError) as exc:
                if failures == 0:
                    log.warning("scan wake-up: not listening (%s); polling meanwhile", exc)
            self.listening.clear()
            await asyncio.sleep(RECONNECT_BACKOFF[min(failures, len(RECONNECT_BACKOFF) - 1)])
            failures += 1

    async def _listen(self) -> None:
        conn = await self._connect()
        try:
            await conn.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            self._on_wake()  # files stored while nobody listened
            while True:
                async for _ in conn.notifies(timeout=IDLE_CHECK_SECONDS):
                    self._on_wake()
                # Quiet for a while: a connection cut without a word would stay quiet forever.
                await asyncio.wait_for(conn.execute("SELECT 1"), CHECK_TIMEOUT_SECONDS)
        finally:
            await conn.close()
