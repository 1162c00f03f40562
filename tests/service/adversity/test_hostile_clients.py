"""Hostile or broken clients cannot hold the service's memory or connections: the request head
is capped in size and count and must arrive in time, idle connections are closed, the number
of connections is capped, and a body that stops arriving is a 408 (service/http/server.py)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.service.conftest import ADMIN_KEY, Service, running_service

LIMITS = {
    "SILO_MAX_CONNECTIONS": "20",
    "SILO_MAX_HEADER_BYTES": "16384",
    "SILO_MAX_HEADERS": "50",
    "SILO_HEADER_TIMEOUT_SECONDS": "2",
    "SILO_KEEP_ALIVE_SECONDS": "1",
    "SILO_BODY_IDLE_TIMEOUT_SECONDS": "1",
}


@pytest.fixture(scope="module")
def limited(pg, s3, aws_credentials) -> Iterator[Service]:
    with running_service(pg, s3, **LIMITS) as svc:
        yield svc


@contextlib.contextmanager
def connection(svc: Service, timeout: float = 10) -> Iterator[socket.socket]:
    parts = urlsplit(svc.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    try:
        yield sock
    finally:
        sock.close()


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (a reset after its answer counts as closed)."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def head(path: str = "/healthz", extra: bytes = b"", method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\n".encode() + extra


def send_until_refused(sock: socket.socket, chunks) -> tuple[bytes, int]:
    """Send chunks until the server answers or drops us; returns (answer, bytes sent)."""
    sent = 0
    try:
        for chunk in chunks:
            sock.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        return read_all(sock), sent
    except OSError:
        return b"", sent


def test_a_request_within_the_limits_is_served(limited: Service):
    headers = {f"X-Pad-{i}": "v" * 100 for i in range(40)}
    with httpx.Client(base_url=limited.url) as client:
        assert client.get("/healthz", headers=headers).status_code == 200


def test_a_huge_header_is_431_and_not_buffered(limited: Service):
    chunk = b"a" * 65536
    with connection(limited) as sock:
        answer, sent = send_until_refused(
            sock,
            [head(extra=b"X-Big: ")] + [chunk] * 256,  # 16 MB, never finished
        )
    assert answer.startswith(b"HTTP/1.1 431") or sent < 256 * len(chunk), (answer[:80], sent)
    # A complete header just over the cap is refused too.
    with connection(limited) as sock:
        sock.sendall(head(extra=b"X-Big: " + b"b" * 17000 + b"\r\n\r\n"))
        assert read_all(sock).startswith(b"HTTP/1.1 431")


def test_too_many_headers_is_431(limited: Service):
    many = b"".join(b"X-H%d: 1\r\n" % i for i in range(60))
    with connection(limited) as sock:
        sock.sendall(head(extra=many + b"\r\n"))
        assert read_all(sock).startswith(b"HTTP/1.1 431")


def test_a_connection_that_sends_nothing_is_closed(limited: Service):
    with connection(limited) as sock:
        start = time.monotonic()
        assert read_all(sock) == b""
        assert time.monotonic() - start < 4


def test_headers_trickling_in_are_408(limited: Service):
    with connection(limited) as sock:
        start = time.monotonic()
        answer = b""
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for byte in head():
                sock.sendall(bytes([byte]))
                time.sleep(0.3)
                sock.setblocking(False)
                try:
                    answer = sock.recv(65536)
                    break
                except BlockingIOError:
                    pass
                finally:
                    sock.setblocking(True)
        answer += read_all(sock)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        assert time.monotonic() - start < 4


def test_an_idle_keep_alive_connection_is_closed(limited: Service):
    with connection(limited) as sock:
        sock.sendall(head() + b"\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        start = time.monotonic()
        assert read_all(sock) == b""
        assert time.monotonic() - start < 3


def test_connections_beyond_the_cap_are_refused(limited: Service):
    parts = urlsplit(limited.url)
    held = [socket.create_connection((parts.hostname, parts.port)) for _ in range(20)]
    try:
        time.sleep(0.3)
        with connection(limited) as sock:
            sock.sendall(head() + b"\r\n")
            assert read_all(sock).startswith(b"HTTP/1.1 503")
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    with httpx.Client(base_url=limited.url) as client:
        assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("method,path", [("POST", "/keys"), ("PATCH", "/files/{id}")])
def test_a_json_body_that_stops_arriving_is_408(limited: Service, method, path):
    body = b'{"title": "x"}'
    target = path.format(id="00000000-0000-4000-8000-000000000000")
    with connection(limited) as sock:
        start = time.monotonic()
        sock.sendall(
            head(target, method=method)
            + f"Authorization: Bearer {ADMIN_KEY}\r\n".encode()
            + b"Content-Type: application/json\r\n"
            + b"Content-Length: %d\r\n\r\n" % (len(body) + 10)
            + body
        )
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request_timeout" in answer
    assert time.monotonic() - start < 4
