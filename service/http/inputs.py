"""Reading untrusted request inputs (JSON bodies, path ids, query values) into plain values.

Everything here fails with an `APIError` (4xx), never with a bare exception (500).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import anyio
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request

from service import errors

MAX_JSON_BYTES = 64 * 1024
# Arrays and objects inside one another, at most: Silo's own bodies need 3 (an object, a list
# of roles); anything far deeper is an attack on the parser (RecursionError past ~1000).
MAX_JSON_DEPTH = 32
# The tokens that matter to nesting: strings (whose brackets do not count), brackets, colons.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}:]', re.DOTALL)
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


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
        text = body.decode("utf-8")
        check_json_depth(text)
        value = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise errors.InvalidJSON() from None
    except RecursionError:
        raise errors.InvalidJSON("the JSON body is nested too deeply") from None
    if not isinstance(value, dict):
        raise errors.ValidationFailed("the body must be a JSON object")
    return value


def check_json_depth(text: str, name: str = "the JSON body") -> None:
    """422 naming the field when JSON `text` nests arrays and objects deeper than
    MAX_JSON_DEPTH, before a parser follows them: the top-level object's key the too-deep value
    is under (`roles`), else `name`. Malformed text passes: the parser refuses it next."""
    depth = 0
    key: str | None = None
    previous = ""
    for token in _JSON_TOKEN.finditer(text):
        kind = token.group()
        if kind in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                where = f"`{key}`" if key is not None else name
                raise errors.ValidationFailed(
                    f"{where} is nested too deeply (at most {MAX_JSON_DEPTH} levels)"
                )
        elif kind in "]}":
            depth -= 1
        elif kind == ":" and depth == 1 and previous.startswith('"'):
            # Named only when it looks like a field name: the message quotes it.
            key = previous[1:-1] if _FIELD_NAME.fullmatch(previous[1:-1]) else None
        previous = kind


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
