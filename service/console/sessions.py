"""Console sessions: an API key exchanged for a cookie, and the cookie turned back into the
key's principal on every request.

- `sign_in`: the key checked, a session row, an HttpOnly SameSite=Strict cookie (`COOKIE`)
- `current`: the request's live session (key authenticated again), or None; `sign_out`
- `Session`: the principal and the CSRF token; `csrf_matches`
- `set_cookie`, `clear_cookie`, `cookie_name`, `over_https`; `SESSION_LIFETIME`

Design: docs/design/auth.md
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import Response

from service import errors
from service.console import sessions_sql as repo
from service.keys import auth
from service.keys.auth import Principal

if TYPE_CHECKING:
    from service.state import State

# Cookie names end with the tenant's slug (`silo_console_<slug>`): cookies ignore ports, and
# `silo dev` serves every tenant on 127.0.0.1, so one browser keeps a session per tenant.
COOKIE = "silo_console"
COOKIE_PATH = "/console"
SESSION_LIFETIME = timedelta(hours=8)


@dataclass(frozen=True)
class Session:
    """A signed-in browser: the key's principal and the token every form must carry."""

    principal: Principal
    csrf_token: str
    expires_at: datetime

    @property
    def key_id(self) -> str:
        return self.principal.key_id

    def allows(self, scope: str) -> bool:
        return self.principal.allows(scope)


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii", "replace")).digest()


def cookie_name(request: Request[State], base: str = COOKIE) -> str:
    return f"{base}_{request.state['tenant']}"


def over_https(request: Request[State]) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_cookie(
    request: Request[State], response: Response, base: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        cookie_name(request, base),
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=over_https(request),
    )


def clear_cookie(request: Request[State], response: Response, base: str) -> None:
    response.delete_cookie(
        cookie_name(request, base),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=over_https(request),
    )


class SessionStore:
    """Console sessions in the tenant's database, each one's key checked again with the API's
    authenticator whenever it is used. Built once in the lifespan."""

    def __init__(self, pool: AsyncConnectionPool, authenticator: auth.Authenticator) -> None:
        self._pool = pool
        self._authenticator = authenticator

    async def open(self, key: str, replaced: str | None = None) -> tuple[Session, str]:
        """A new session for `key` and its token (Unauthorized when `key` is not a valid key);
        the session of token `replaced` (the browser's previous one) ends."""
        key = key.strip()
        if not key or len(key) > auth.MAX_PRESENTED_KEY_LENGTH:
            raise errors.Unauthorized("this is not a valid API key")
        key_hash = auth.hash_key(key)
        try:
            principal = await self._authenticator.authenticate_hash(key_hash)
        except errors.Unauthorized:
            raise errors.Unauthorized("this is not a valid API key") from None
        token = secrets.token_urlsafe(32)
        stored_key = (
            None if principal.key_id == auth.BOOTSTRAP_KEY_ID else uuid.UUID(principal.key_id)
        )
        async with self._pool.connection() as conn:
            # Expired rows are removed here, where sessions are made, rather than by a sweeper;
            # and a browser signing in again leaves no second session behind.
            await repo.delete_expired(conn)
            if replaced and len(replaced) <= 100:
                await repo.delete(conn, _token_hash(replaced))
            row = await repo.insert(
                conn,
                token_hash=_token_hash(token),
                api_key_id=stored_key,
                key_hash=key_hash,
                csrf_token=secrets.token_urlsafe(32),
                lifetime=SESSION_LIFETIME,
            )
        return Session(principal, row["csrf_token"], row["expires_at"]), token

    async def find(self, token: str | None) -> Session | None:
        """The live session of `token`, or None (unknown, expired, or its key revoked)."""
        if not token or len(token) > 100:
            return None
        token_hash = _token_hash(token)
        async with self._pool.connection() as conn:
            row = await repo.find_live(conn, token_hash)
        if row is None:
            return None
        try:
            principal = await self._authenticator.authenticate_hash(bytes(row["key_hash"]))
        except errors.Unauthorized:
            # The bootstrap key was changed (a stored key's sessions go with its row).
            await self.close(token)
            return None
        return Session(principal, row["csrf_token"], row["expires_at"])

    async def close(self, token: str | None) -> None:
        if token and len(token) <= 100:
            async with self._pool.connection() as conn:
                await repo.delete(conn, _token_hash(token))


def _store(request: Request[State]) -> SessionStore:
    return request.state["sessions"]


async def sign_in(request: Request[State], key: str, response: Response) -> Session:
    """Open a session for `key` (Unauthorized when it is not a valid key) and set its cookie on
    `response`."""
    replaced = request.cookies.get(cookie_name(request))
    session, token = await _store(request).open(key, replaced)
    set_cookie(request, response, COOKIE, token, int(SESSION_LIFETIME.total_seconds()))
    return session


async def current(request: Request[State]) -> Session | None:
    """The request's live session, or None (no cookie, unknown, expired, or its key revoked)."""
    return await _store(request).find(request.cookies.get(cookie_name(request)))


async def sign_out(request: Request[State], response: Response) -> None:
    await _store(request).close(request.cookies.get(cookie_name(request)))
    clear_cookie(request, response, COOKIE)


def csrf_matches(session_token: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(
        session_token.encode(), presented.encode("utf-8", "replace")
    )
