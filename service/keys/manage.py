"""API keys as the tenant's admins manage them: create (the key is shown once), list, revoke.

`Keys` (built once in the lifespan) holds the rules, so that the API (`service/api/keys.py`)
and the console's admin page apply the same ones; how a presented key is checked is
`service/keys/auth.py`'s concern.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from service import errors
from service.keys import auth
from service.keys import sql as keys_repo

NAME_MAX = 100


class InvalidKeyField(errors.DomainError):
    """A bad `name` or `scopes` (422); `field` names which, for a form to show it there."""

    api_error = errors.ValidationFailed

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class NewKey:
    row: dict[str, Any]
    key: str  # the secret itself: only this answer ever holds it


def clean_name(name: object) -> str:
    if isinstance(name, str) and any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name):
        raise InvalidKeyField("name", "`name` must have no control characters")
    if isinstance(name, str) and len(name) > NAME_MAX:
        raise InvalidKeyField("name", f"`name` must be at most {NAME_MAX} characters")
    if not isinstance(name, str) or not name.strip():
        raise InvalidKeyField("name", "`name` is required and must be a non-empty string")
    return name.strip()


def clean_scopes(scopes: object) -> list[str]:
    """The scopes in their canonical order (read, write, admin), each once."""
    if not isinstance(scopes, list) or not scopes:
        raise InvalidKeyField(
            "scopes", f"`scopes` is required: a non-empty list of {', '.join(auth.SCOPES)}"
        )
    if not all(isinstance(s, str) and s in auth.SCOPES for s in scopes):
        raise InvalidKeyField("scopes", f"`scopes` may contain only {', '.join(auth.SCOPES)}")
    return [s for s in auth.SCOPES if s in scopes]


class Keys:
    """The tenant's API keys, on its pool: what `/keys` and the console's admin page call.
    Revoking tells `authenticator`, so this instance refuses the key at once."""

    def __init__(self, pool: AsyncConnectionPool, authenticator: auth.Authenticator) -> None:
        self._pool = pool
        self._authenticator = authenticator

    async def create(self, name: object, scopes: object) -> NewKey:
        name, scopes = clean_name(name), clean_scopes(scopes)
        key = auth.generate_key()
        async with self._pool.connection() as conn:
            row = await keys_repo.insert(
                conn,
                key_id=uuid.uuid4(),
                name=name,
                prefix=key[: auth.DISPLAY_PREFIX_LENGTH],
                key_hash=auth.hash_key(key),
                scopes=scopes,
            )
        return NewKey(row, key)

    async def list_all(self) -> list[dict[str, Any]]:
        async with self._pool.connection() as conn:
            return await keys_repo.list_all(conn)

    async def revoke(self, key_id: uuid.UUID) -> bool:
        """Delete the key; False when there was none. This instance refuses it at once, the
        others within SILO_KEY_CACHE_SECONDS."""
        async with self._pool.connection() as conn:
            deleted = await keys_repo.delete(conn, key_id)
        self._authenticator.forget(str(key_id))
        return deleted
