"""Opaque keyset cursors over (created_at, id), newest first.

A cursor is the position of the last row of a page, signed with an HMAC so a client cannot
forge or edit one (a garbled or foreign cursor is a 400, never a 500 or a silently wrong page).
Keyset pagination stays stable when rows are added between pages: new rows sort before the
cursor and never shift the rows after it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from service.errors import InvalidCursor

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAC_BYTES = 12
MAX_CURSOR_LENGTH = 256


@dataclass(frozen=True)
class Position:
    created_at: datetime
    id: uuid.UUID


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Encodes and checks cursors with a key; every instance of a tenant derives the same key."""

    def __init__(self, secret: str, *, purpose: str = "files") -> None:
        self._key = hashlib.sha256(f"silo-cursor:{purpose}:{secret}".encode()).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, position: Position) -> str:
        micros = (position.created_at - _EPOCH) // timedelta(microseconds=1)
        payload = micros.to_bytes(8, "big", signed=True) + position.id.bytes
        return _b64(payload + self._mac(payload))

    def decode(self, cursor: str) -> Position:
        if len(cursor) > MAX_CURSOR_LENGTH or not cursor.isascii():
            raise InvalidCursor()
        try:
            raw = _unb64(cursor)
        except ValueError:
            raise InvalidCursor() from None
        if len(raw) != 8 + 16 + _MAC_BYTES:
            raise InvalidCursor()
        payload, mac = raw[:24], raw[24:]
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise InvalidCursor()
        micros = int.from_bytes(payload[:8], "big", signed=True)
        try:
            created_at = _EPOCH + timedelta(microseconds=micros)
        except OverflowError:
            raise InvalidCursor() from None
        return Position(created_at, uuid.UUID(bytes=payload[8:]))
