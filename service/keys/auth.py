"""API keys: generation, hashing, and turning an `Authorization` header into a principal.

- `generate_key` (`silo_` + 256 random bits), `hash_key` (sha256: what is stored)
- `Authenticator`: `authenticate` a bearer header, `authenticate_hash`; stored keys cached
  SILO_KEY_CACHE_SECONDS within `cache_budget_bytes` (least recently used out), `forget` on
  revocation; the bootstrap key SILO_ADMIN_KEY
- `Principal` (key id, scopes: `SCOPES`), `require`: 401/403 unless the caller holds a scope
- `bearer_token`: the token of `Bearer <token>`

Design: docs/design/auth.md
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request

from service import errors
from service.keys import sql as keys_repo

SCOPES = ("read", "write", "admin")
KEY_PREFIX = "silo_"
BOOTSTRAP_KEY_ID = "admin"
# Long enough to tell keys apart in a listing, far too short to guess the rest.
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 6
MAX_PRESENTED_KEY_LENGTH = 512
# The key cache's memory at most; the least recently used key goes first when it is full (a
# tenant has a handful of keys; refused keys are never cached).
DEFAULT_KEY_CACHE_BUDGET_BYTES = 1024**2
# What one cached key costs besides its id and scopes' characters: the 32-byte hash (65 as a
# bytes object), the entry's tuple and float, the Principal with its str and frozenset, and the
# dict's slot (sys.getsizeof, CPython 3.11: about 530).
KEY_ENTRY_OVERHEAD_BYTES = 640
# The ASGI scope key under which a layer that authenticated the request another way (the
# console's session cookie, service/console/sessions.py) leaves the principal; `require` then
# reads no Authorization header, and still checks the scope.
SCOPE_PRINCIPAL = "silo.principal"


@dataclass(frozen=True)
class Principal:
    key_id: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        # admin is a superset: an admin key may also read and write.
        return scope in self.scopes or "admin" in self.scopes


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def bearer_token(header: str | None) -> str | None:
    """The token of `Bearer <token>` (scheme case-insensitive), or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_PRESENTED_KEY_LENGTH:
        return None
    return token


class Authenticator:
    def __init__(
        self,
        admin_key: str,
        pool,
        *,
        cache_seconds: float = 0.0,
        cache_budget_bytes: int = DEFAULT_KEY_CACHE_BUDGET_BYTES,
        clock=None,
    ) -> None:
        self._admin_hash = hash_key(admin_key)
        self._pool = pool
        self._cache_seconds = cache_seconds
        self._cache_budget = cache_budget_bytes
        self._clock = clock or time.monotonic
        # sha256 of a stored key -> (its principal, when the entry expires on self._clock),
        # least recently used first; self._cache_bytes: their cost by `_entry_bytes`.
        self._cache: dict[bytes, tuple[Principal, float]] = {}
        self._cache_bytes = 0
        # key id -> when it was revoked here: a lookup that started earlier may have read the
        # row before the delete, so its result is not cached.
        self._revoked: dict[str, float] = {}

    async def authenticate(self, header: str | None) -> Principal:
        token = bearer_token(header)
        if token is None:
            raise errors.Unauthorized()
        return await self.authenticate_hash(hash_key(token))

    async def authenticate_hash(self, presented: bytes) -> Principal:
        """The principal of the key whose sha256 is `presented` (what a console session keeps
        instead of the key), by the same rules and cache as a bearer header."""
        if hmac.compare_digest(presented, self._admin_hash):
            return Principal(BOOTSTRAP_KEY_ID, frozenset(SCOPES))
        # A dict lookup by the hash is safe: finding the entry needs the whole key's sha256.
        cached = self._cache.pop(presented, None)
        if cached is not None:
            if self._clock() < cached[1]:
                self._cache[presented] = cached  # now the most recently used
                return cached[0]
            self._cache_bytes -= _entry_bytes(presented, cached[0])
        looked_up_at = self._clock()
        async with self._pool.connection() as conn:
            row = await keys_repo.find_by_hash(conn, presented)
        if row is None or not hmac.compare_digest(bytes(row["key_hash"]), presented):
            raise errors.Unauthorized()
        principal = Principal(str(row["id"]), frozenset(row["scopes"]))
        revoked_at = self._revoked.get(principal.key_id)
        if self._cache_seconds > 0 and (revoked_at is None or revoked_at < looked_up_at):
            self._keep(presented, principal, looked_up_at + self._cache_seconds)
        return principal

    @property
    def cache_bytes(self) -> int:
        """The key cache's size by `_entry_bytes`: at most `cache_budget_bytes`."""
        return self._cache_bytes

    def _keep(self, key_hash: bytes, principal: Principal, expires: float) -> None:
        cache, cost = self._cache, _entry_bytes(key_hash, principal)
        if cost > self._cache_budget:
            return
        old = cache.pop(key_hash, None)
        if old is not None:
            self._cache_bytes -= _entry_bytes(key_hash, old[0])
        while cache and self._cache_bytes + cost > self._cache_budget:
            oldest = next(iter(cache))
            self._cache_bytes -= _entry_bytes(oldest, cache.pop(oldest)[0])
        cache[key_hash] = (principal, expires)
        self._cache_bytes += cost

    def forget(self, key_id: str) -> None:
        """Drop a key from this instance's cache (it was just revoked here), and keep lookups
        already under way from caching it again."""
        now = self._clock()
        for key_hash, (principal, _) in list(self._cache.items()):
            if principal.key_id == key_id:
                self._cache.pop(key_hash, None)
                self._cache_bytes -= _entry_bytes(key_hash, principal)
        # Lookups older than cache_seconds are over (or their entry would have expired anyway).
        horizon = now - self._cache_seconds
        self._revoked = {k: t for k, t in self._revoked.items() if t >= horizon}
        self._revoked[key_id] = now


def _entry_bytes(key_hash: bytes, principal: Principal) -> int:
    """What one cached key costs, by the estimate the budget counts in."""
    return (
        KEY_ENTRY_OVERHEAD_BYTES
        + len(key_hash)
        + len(principal.key_id)
        + sum(len(scope) for scope in principal.scopes)
    )


async def require(request: Request, scope: str) -> Principal:
    """The caller's principal, if it holds `scope`; else 401 (no/unknown key) or 403."""
    principal = request.scope.get(SCOPE_PRINCIPAL)
    if principal is None:
        authenticator: Authenticator = request.state["authenticator"]  # service/state.py
        principal = await authenticator.authenticate(request.headers.get("authorization"))
    if not principal.allows(scope):
        raise errors.Forbidden(f"this API key lacks the `{scope}` scope")
    return principal
