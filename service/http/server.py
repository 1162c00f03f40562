"""The HTTP server: uvicorn, configured against hostile and broken clients.

- `uvicorn_config`: uvicorn's settings from ours (keep-alive, connection cap, h11 header size)
- `GuardedHttpToolsProtocol`: httptools with header size, count and time caps, and the
  connection cap (431, 408, 503, connection closed)
- `protocol_class`: that protocol, bound to the settings

Design: docs/design/server-limits.md
"""

from __future__ import annotations

import asyncio
import http
import logging
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("silo.server")


class _HeaderLimit(Exception):
    """Raised from a parser callback: the request head is over a limit (answered 431)."""


class _OneWriteResponse:
    """The transport of one request/response cycle, writing a response's head together with
    its first body chunk: uvicorn writes them apart, two sends (two loopback/TCP segments, and a
    wake-up of the client for each) for what is nearly always one small answer. The head is
    held only between the `http.response.start` message and the next one (the first body
    chunk, sent right after it by every Starlette response); `close()` writes anything held
    first, so a response cut short still goes out as before. Everything else is the real
    transport's."""

    __slots__ = ("_held", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: list[bytes] | None = None

    def hold(self) -> None:
        if self._held is None:
            self._held = []

    def release(self) -> None:
        held, self._held = self._held, None
        if held:
            self._transport.write(b"".join(held))

    def write(self, data: bytes) -> None:
        if self._held is not None:
            self._held.append(data)
        else:
            self._transport.write(data)

    def close(self) -> None:
        self.release()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _one_write(cycle: Any) -> None:
    """Make `cycle` (uvicorn's RequestResponseCycle, not started yet) write its response head
    with the first body chunk (`_OneWriteResponse`)."""
    transport = _OneWriteResponse(cycle.transport)
    cycle.transport = transport
    send = cycle.send

    async def send_once(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            transport.hold()
            try:
                await send(message)
            except BaseException:
                transport.release()
                raise
            return
        try:
            await send(message)
        finally:
            transport.release()

    cycle.send = send_once


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with caps on the request head and a deadline to receive it.

    The limits are class attributes: `protocol_class(settings)` makes a subclass carrying them.
    """

    max_connections: int = 1000
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # between the start of a request and the end of its headers
        self._head_bytes = 0  # bytes received while in the head (raw, before parsing)
        self._parsed_bytes = 0  # request line and header bytes the parser handed over
        self._header_count = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refusal: int | None = None

    # -- connection --------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            log.warning("connection refused: %d connections open", len(self.connections) - 1)
            self._refuse(503, "too many connections")
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # A head still incomplete after this many bytes will not fit: stop buffering it (the
        # parser would otherwise keep an unfinished 100 MB header in memory).
        if (
            self._in_head
            and self._head_bytes > self.max_header_bytes
            and not self.transport.is_closing()
        ):
            self._refuse(431, "request header fields too large")

    # -- parser callbacks --------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._parsed_bytes = 0
        self._header_count = 0
        if self._head_timer is None:
            self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.max_headers:
            self._refusal = 431
            raise _HeaderLimit("too many header fields")
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._cancel_head_timer()
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is not None and self.cycle is not previous:
            _one_write(self.cycle)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # Bytes after this belong to the next request's head (timed from its first byte).
        self._in_head = True
        self._head_bytes = 0

    def _count(self, size: int) -> None:
        self._parsed_bytes += size
        if self._parsed_bytes > self.max_header_bytes:
            self._refusal = 431
            raise _HeaderLimit("request header fields too large")

    # -- answers -----------------------------------------------------------------------------
    def send_400_response(self, msg: str) -> None:
        # uvicorn answers 400 to any parser error, ours (raised from a callback) included.
        if self._refusal is not None:
            self._refuse(self._refusal, "request header fields too large or too many")
            return
        super().send_400_response(msg)

    def _refuse(self, status: int, message: str) -> None:
        self._cancel_head_timer()
        if self.transport.is_closing():
            return
        body = message.encode("ascii")
        reason = http.HTTPStatus(status).phrase.encode("ascii")
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (status, reason, len(body), body)
        )
        self.transport.close()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return
        if self._head_bytes or self._parsed_bytes:
            self._refuse(408, "the request headers did not arrive in time")
        else:
            # Nothing was sent on this connection since the last response (or at all).
            self.transport.close()


@dataclass(frozen=True)
class ServerConfig:
    """One instance's server: where it listens and its limits (service/app.py builds it from
    the settings)."""

    host: str
    port: int
    max_connections: int
    max_header_bytes: int
    max_headers: int
    header_timeout_seconds: float
    keep_alive_seconds: int
    shutdown_timeout_seconds: int


def protocol_class(config: ServerConfig) -> type[GuardedHttpToolsProtocol]:
    return type(
        "SiloHttpProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "max_connections": config.max_connections,
            "max_header_bytes": config.max_header_bytes,
            "max_headers": config.max_headers,
            "header_timeout": float(config.header_timeout_seconds),
        },
    )


def uvicorn_config(app: Any, config: ServerConfig, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration of one instance (`overrides`: host, port, logging in tests)."""
    options: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "http": protocol_class(config),
        "proxy_headers": True,
        "forwarded_allow_ips": "*",
        "server_header": False,
        "log_level": "info",
        "log_config": None,
        "timeout_keep_alive": config.keep_alive_seconds,
        # uvicorn compares with >= and counts the connection asking: +1 lets each of the
        # max_connections admitted connections be served; a request beyond that gets uvicorn's
        # 503 (connections beyond it are refused by the protocol above).
        "limit_concurrency": config.max_connections + 1,
        # Only used by the h11 protocol (if httptools were missing): its header size cap.
        "h11_max_incomplete_event_size": config.max_header_bytes,
        # In-flight requests still running then are cancelled; an upload's cleanup (abort the
        # multipart upload) runs shielded from that cancellation.
        "timeout_graceful_shutdown": config.shutdown_timeout_seconds,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)
