"""Idempotency-Key on POST /files, POST /uploads and POST /uploads/direct: the same creating
request sent again gets what the first one created, never a second copy. A key is one API
key's: the same value from another API key is another key (Stripe's rule).

- `parse`: the header's value (`PATTERN`: 1-255 visible ASCII); `Key`: a key, its API key and
  its fingerprint
- `fingerprint`: what makes two requests the same request
- `claim`: the key taken in the transaction that creates (or the id to replay); `peek`
- `KeyReused` (422 `idempotency_key_reused`); `HEADER`, `REPLAYED_HEADER`

Design: docs/design/idempotency.md
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from service import errors
from service.uploads import idempotency_sql as repo

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Visible ASCII (no space, no control character), as the OpenAPI document's pattern says.
PATTERN = r"^[!-~]{1,255}$"
_KEY = re.compile(PATTERN)


class KeyReused(errors.DomainError):
    api_error = errors.IdempotencyKeyReused

    def __init__(self) -> None:
        super().__init__(
            "this Idempotency-Key was used for a different request (another file, size,"
            " sha256 or metadata); use a new key for a new request"
        )


@dataclass(frozen=True)
class Key:
    api_key_id: str  # the API key that sent it: its scope
    value: str
    fingerprint: str


def parse(raw: str | None) -> str | None:
    """The request's key, None without the header; 422 `invalid_idempotency_key` for a value
    that is not 1-255 visible ASCII characters."""
    if raw is None:
        return None
    if not _KEY.match(raw):
        raise errors.InvalidIdempotencyKey()
    return raw


def fingerprint(endpoint: str, **request: Any) -> str:
    """What makes two requests the same request: a digest of the endpoint and the values."""
    canonical = json.dumps(
        {"endpoint": endpoint, **request}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


Alive = Callable[[Any, uuid.UUID], Awaitable[bool]]


async def claim(conn, key: Key, new_id: uuid.UUID, alive: Alive) -> uuid.UUID | None:
    """In the caller's transaction: None when `new_id` now holds the key (the caller creates
    it); else the id the key already stands for (the caller replays it). `alive(conn, id)`
    says whether that resource still exists; if not, the key moves to `new_id`."""
    row = await repo.claim(conn, key.api_key_id, key.value, key.fingerprint, new_id)
    if row is None:
        return None
    if row["fingerprint"] != key.fingerprint:
        raise KeyReused()
    if await alive(conn, row["resource_id"]):
        return row["resource_id"]
    await repo.rebind(conn, key.api_key_id, key.value, new_id)
    return None


async def peek(conn, api_key_id: str, value: str) -> tuple[str, uuid.UUID] | None:
    """(fingerprint, resource id) of a key the API key already used, without locking it."""
    row = await repo.get(conn, api_key_id, value)
    return None if row is None else (row["fingerprint"], row["resource_id"])
