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

from starlette.requests import Request
from starlette.responses import Response

from service import errors
from service.console import sessions_sql as repo
from service.keys import auth
from service.keys.auth import Principal

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


def cookie_name(request: Request, base: str = COOKIE) -> str:
    return f"{base}_{request.app.state.settings.tenant}"


def over_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_cookie(request: Request, response: Response, base: str, value: str, max_age: int) -> None:
    response.set_cookie(
        cookie_name(request, base),
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=over_https(request),
    )


def clear_cookie(request: Request, response: Response, base: str) -> None:
    response.delete_cookie(
        cookie_name(request, base),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=over_https(request),
    )


async def sign_in(request: Request, key: str, response: Response) -> Session:
    """Open a session for `key` (Unauthorized when it is not a valid key) and set its cookie on
    `response`."""
    key = key.strip()
    if not key or len(key) > auth.MAX_PRESENTED_KEY_LENGTH:
        raise errors.Unauthorized("this is not a valid API key")
    key_hash = auth.hash_key(key)
    authenticator: auth.Authenticator = request.app.state.authenticator
    try:
        principal = await authenticator.authenticate_hash(key_hash)
    except errors.Unauthorized:
        raise errors.Unauthorized("this is not a valid API key") from None
    replaced = request.cookies.get(cookie_name(request))
    token = secrets.token_urlsafe(32)
    stored_key = None if principal.key_id == auth.BOOTSTRAP_KEY_ID else uuid.UUID(principal.key_id)
    async with request.app.state.pool.connection() as conn:
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
    set_cookie(request, response, COOKIE, token, int(SESSION_LIFETIME.total_seconds()))
    return Session(principal, row["csrf_token"], row["expires_at"])


async def current(request: Request) -> Session | None:
    """The request's live session, or None (no cookie, unknown, expired, or its key revoked)."""
    token = request.cookies.get(cookie_name(request))
    if not token or len(token) > 100:
        return None
    token_hash = _token_hash(token)
    pool = request.app.state.pool
    async with pool.connection() as conn:
        row = await repo.find_live(conn, token_hash)
    if row is None:
        return None
    authenticator: auth.Authenticator = request.app.state.authenticator
    try:
        principal = await authenticator.authenticate_hash(bytes(row["key_hash"]))
    except errors.Unauthorized:
        # The bootstrap key was changed (a stored key's sessions go with its row).
        async with pool.connection() as conn:
            await repo.delete(conn, token_hash)
        return None
    return Session(principal, row["csrf_token"], row["expires_at"])


async def sign_out(request: Request, response: Response) -> None:
    token = request.cookies.get(cookie_name(request))
    if token and len(token) <= 100:
        async with request.app.state.pool.connection() as conn:
            await repo.delete(conn, _token_hash(token))
    clear_cookie(request, response, COOKIE)


def csrf_matches(session_token: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(
        session_token.encode(), presented.encode("utf-8", "replace")
    )
