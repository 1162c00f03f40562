"""Reading untrusted request inputs (JSON bodies, path ids, query values) into plain values.

Everything here fails with an `APIError` (4xx), never with a bare exception (500).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import anyio
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request

from service import errors

MAX_JSON_BYTES = 64 * 1024


async def with_idle_timeout(chunks: AsyncIterable[bytes], seconds: float) -> AsyncIterator[bytes]:
    """`chunks`, failing with 408 when none arrives for `seconds` (uploads and JSON bodies)."""
    iterator = aiter(chunks)
    while True:
        try:
            with anyio.fail_after(seconds):
                chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise errors.RequestTimeout(
                f"no data received for {seconds:g} seconds; the request was abandoned"
            ) from None
        yield chunk


def refuse_content_encoding(request: Request) -> None:
    """415 for a body with a Content-Encoding (gzip...): it is not decoded, so it must not be
    read as if it were plain (`identity` is the same as none)."""
    encoding = request.headers.get("content-encoding")
    if encoding is not None and encoding.strip().lower() not in ("", "identity"):
        raise errors.UnsupportedEncoding()


def require_json(request: Request) -> None:
    """415 unless the body is declared as JSON: `application/json` or `application/*+json`,
    in UTF-8 (a `charset` parameter, when given, must say so), and not content-encoded."""
    mime, params = parse_options_header(request.headers.get("content-type") or "")
    is_json = mime == b"application/json" or (
        mime.startswith(b"application/") and mime.endswith(b"+json")
    )
    charset = params.get(b"charset", b"utf-8").lower()
    if not is_json or charset not in (b"utf-8", b"utf8"):
        raise errors.UnsupportedMediaType(
            "the request body must be JSON: send `Content-Type: application/json` (UTF-8)"
        )
    refuse_content_encoding(request)


async def bounded_body(request: Request, max_bytes: int, what: str) -> bytes:
    """A small body (JSON, a form), read whole with a size cap (413 naming `what`) and the
    body idle timeout (408 when the client stops sending)."""
    idle: float = request.state["body_idle_timeout"]  # the lifespan's (service/state.py)
    body = bytearray()
    try:
        async for chunk in with_idle_timeout(request.stream(), idle):
            body += chunk
            if len(body) > max_bytes:
                raise errors.TooLarge(f"{what} are limited to {max_bytes} bytes")
    except ClientDisconnect:
        raise errors.ClientDisconnected() from None
    return bytes(body)


async def json_object(request: Request, *, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """The body as a JSON object, read with a size cap and the body idle timeout (408 when
    the client stops sending before the promised Content-Length, as uploads do); 415 when it
    is not declared as JSON."""
    require_json(request)
    body = await bounded_body(request, max_bytes, "JSON bodies")
    try:
        value = json.loads(body.decode("utf-8"))
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
    # Exactly what the OpenAPI document declares (a boolean): `true` or `false`.
    if raw == "true":
        return True
    if raw == "false":
        return False
    raise errors.InvalidParameter(f"`{name}` must be true or false")
