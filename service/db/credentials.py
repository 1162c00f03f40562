"""Database credentials read from a Secrets Manager secret when a connection is opened, so the
service keeps logging in across a password rotation without a restart.

- `SecretCredentials`: the secret's user and password, cached `ttl` seconds, read again on a
  refused password (`is_invalid_password`, SQLSTATE 28P01); `fetch` is the seam for tests
- `secretsmanager_fetch`: the real fetch, bounded by `timeout`
- `Credentials`, `CredentialsUnavailable`

Design: docs/design/database.md
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psycopg

DEFAULT_TTL_SECONDS = 60.0
INVALID_PASSWORD = "28P01"


class CredentialsUnavailable(psycopg.OperationalError):
    """The secret could not be read (or is not {"username", "password"} JSON)."""


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str


def secretsmanager_fetch(
    secret_id: str, *, region: str, endpoint_url: str | None, timeout: float
) -> Callable[[], str]:
    """A fetch of the secret's current string with boto3 (credentials from the default chain:
    the task role on ECS). One attempt, bounded: the caller's retry is the pool's."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "secretsmanager",
        region_name=region,
        endpoint_url=endpoint_url,
        config=Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"mode": "standard", "total_max_attempts": 1},
        ),
    )

    def fetch() -> str:
        return client.get_secret_value(SecretId=secret_id)["SecretString"]

    return fetch


class SecretCredentials:
    """The current credentials of one secret, cached for `ttl` seconds."""

    def __init__(
        self,
        fetch: Callable[[], str],
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._timeout = timeout
        self._clock = clock
        self._cached: tuple[Credentials, float] | None = None
        self._lock = threading.Lock()
        self.fetches = 0  # how many times the secret was read (tests, logs)

    def invalidate(self) -> None:
        self._cached = None

    def _fresh(self) -> Credentials | None:
        cached = self._cached
        if cached is not None and self._clock() - cached[1] < self._ttl:
            return cached[0]
        return None

    def get_sync(self, *, stale: Credentials | None = None) -> Credentials:
        """The credentials (blocking): the cached ones unless expired, or unless they are
        `stale` (refused by the server). Concurrent callers holding the same refused ones
        cause one read: the later ones find the fresh value already cached."""
        with self._lock:
            found = self._fresh()
            if found is not None and (stale is None or found != stale):
                return found
            self.fetches += 1
            try:
                raw = self._fetch()
            except Exception as exc:
                raise CredentialsUnavailable(
                    f"database credentials unavailable: {type(exc).__name__}"
                ) from exc
            credentials = _parse(raw)
            self._cached = (credentials, self._clock())
            return credentials

    async def get(self, *, stale: Credentials | None = None) -> Credentials:
        """`get_sync` off the event loop, within `timeout` seconds."""
        found = self._fresh()
        if found is not None and (stale is None or found != stale):
            return found
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(self.get_sync, stale=stale), self._timeout
            )
        except TimeoutError:
            raise CredentialsUnavailable(
                f"database credentials unavailable: no answer within {self._timeout:g} s"
            ) from None

    def conninfo(self, conninfo: str) -> str:
        """`conninfo` with the current user and password (blocking; for one-shot connections
        such as the migrations at start-up)."""
        found = self.get_sync()
        return psycopg.conninfo.make_conninfo(conninfo, user=found.user, password=found.password)

    async def connect(
        self, connect: Callable[..., Awaitable[Any]], conninfo: str, **kwargs: Any
    ) -> Any:
        """`connect(conninfo, user=..., password=..., **kwargs)` with the current credentials;
        a refused password fetches the secret again and retries once."""
        used = await self.get()
        try:
            return await connect(conninfo, user=used.user, password=used.password, **kwargs)
        except psycopg.OperationalError as exc:
            if not is_invalid_password(exc):
                raise
            fresh = await self.get(stale=used)
            if fresh == used:
                raise  # the secret still holds the refused password: retrying cannot help
        return await connect(conninfo, user=fresh.user, password=fresh.password, **kwargs)


def is_invalid_password(exc: psycopg.Error) -> bool:
    """A login refused for its password. A refused connection carries no SQLSTATE in psycopg,
    so the server's message is the evidence too (its English text: lc_messages is the
    server's default, `C`, for a login)."""
    if exc.sqlstate == INVALID_PASSWORD:
        return True
    return "password authentication failed" in str(exc)


def _parse(raw: str) -> Credentials:
    try:
        value = json.loads(raw)
        return Credentials(user=str(value["username"]), password=str(value["password"]))
    except (ValueError, KeyError, TypeError):
        # Never echo the value: it is a password.
        raise CredentialsUnavailable(
            'database credentials unavailable: the secret is not {"username", "password"} JSON'
        ) from None
