"""service/http/server.py writes a response's head and its first body chunk in one transport
write (uvicorn writes them apart), and a response cut short still goes out as before."""

from __future__ import annotations

import asyncio

import uvicorn
from uvicorn.server import ServerState

from service.app import server_config
from service.http.server import protocol_class
from tests.service.db.test_pool import settings_for


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _answer(app, request: bytes) -> FakeTransport:
    config = uvicorn.Config(app, log_config=None, access_log=False)
    config.load()
    protocol = protocol_class(server_config(settings_for("postgresql://unused/db")))(
        config=config, server_state=ServerState(), app_state={}
    )
    transport = FakeTransport()
    protocol.connection_made(transport)
    protocol.data_received(request)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if protocol.cycle is not None and protocol.cycle.response_complete:
            break
    await asyncio.sleep(0.01)
    protocol.connection_lost(None)
    return transport


GET = b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n"


def test_head_and_body_go_out_in_one_write():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"2")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b"ok"})

    writes = asyncio.run(_answer(app, GET)).writes
    assert len(writes) == 1, writes
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and writes[0].endswith(b"\r\n\r\nok")


def test_a_streamed_body_follows_its_first_chunk_and_a_head_request_gets_its_head():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["method"] != "HEAD":
            await send({"type": "http.response.body", "body": b"a", "more_body": True})
            await send({"type": "http.response.body", "body": b"b"})
        else:
            await send({"type": "http.response.body", "body": b""})

    writes = asyncio.run(_answer(app, GET)).writes
    assert len(writes) == 2 and writes[0].endswith(b"\r\n\r\n1\r\na\r\n"), writes
    assert writes[1] == b"1\r\nb\r\n0\r\n\r\n"
    head = asyncio.run(_answer(app, b"HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n")).writes
    assert len(head) == 1 and head[0].startswith(b"HTTP/1.1 200 OK\r\n"), head


def test_a_response_cut_short_still_sends_its_head_then_closes():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"10")]})  # fmt: skip
        raise RuntimeError("boom")

    transport = asyncio.run(_answer(app, GET))
    assert len(transport.writes) == 1 and transport.writes[0].startswith(b"HTTP/1.1 200 OK")
    assert transport.closed
