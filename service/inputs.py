"""Reading untrusted request inputs (JSON bodies, path ids, query values) into plain values.

Everything here fails with an `APIError` (4xx), never with a bare exception (500).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import ClientDisconnect, Request

from service import errors
from service.upload import with_idle_timeout

MAX_JSON_BYTES = 64 * 1024


async def json_object(request: Request, *, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """The body as a JSON object, read with a size cap and the body idle timeout (408 when
    the client stops sending before the promised Content-Length, as uploads do)."""
    idle = request.app.state.settings.body_idle_timeout_seconds
    body = bytearray()
    try:
        async for chunk in with_idle_timeout(request.stream(), idle):
            body += chunk
            if len(body) > max_bytes:
                raise errors.TooLarge(f"JSON bodies are limited to {max_bytes} bytes")
    except ClientDisconnect:
        raise errors.ClientDisconnected() from None
    try:
        value = json.loads(bytes(body).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise errors.InvalidJSON() from None
    except RecursionError:
        raise errors.InvalidJSON("the JSON body is nested too deeply") from None
    if not isinstance(value, dict):
        raise errors.ValidationFailed("the body must be a JSON object")
    return value


def path_uuid(request: Request, name: str) -> uuid.UUID:
    """A UUID path parameter; anything else is simply not found."""
    raw = request.path_params.get(name, "")
    try:
        return uuid.UUID(raw)
    except (ValueError, TypeError):
        raise errors.NotFound() from None


def query_int(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        raise errors.InvalidParameter(f"`{name}` must be an integer between {low} and {high}")
    value = int(raw)
    if not low <= value <= high:
        raise errors.InvalidParameter(f"`{name}` must be an integer between {low} and {high}")
    return value


def query_bool(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise errors.InvalidParameter(f"`{name}` must be true or false")
