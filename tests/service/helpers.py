"""Sample file bytes and request builders shared by the service tests."""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import threading
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator

import httpx


def pdf(size: int = 2048, *, seed: bytes | None = None) -> bytes:
    """A PDF-headed file of exactly `size` bytes (random body, so uploads differ)."""
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    body = os.urandom(size - len(head)) if seed is None else _repeat(seed, size - len(head))
    return head + body


def _repeat(seed: bytes, size: int) -> bytes:
    return (seed * (size // len(seed) + 1))[:size]


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8" + app0 + b"\xff\xdb\x00\x43\x00" + bytes(64) + b"\xff\xd9"


def elf() -> bytes:
    return b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00" + os.urandom(2000)


def mz() -> bytes:
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + os.urandom(2000)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(
    client: httpx.Client,
    data: bytes,
    *,
    filename: str = "doc.pdf",
    content_type: str | None = "application/pdf",
    fields: dict[str, str | list[str]] | None = None,
) -> httpx.Response:
    form = {"title": "A title"} if fields is None else fields
    file_tuple = (filename, data, content_type) if content_type else (filename, data)
    return client.post("/files", data=form, files={"file": file_tuple})


# --- hand-built multipart bodies, for field order and raw-socket tests -------------------------


def part(
    name: str, value: bytes, *, filename: str | None = None, ctype: str | None = None
) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    headers = f"Content-Disposition: {disposition}\r\n"
    if ctype:
        headers += f"Content-Type: {ctype}\r\n"
    return headers.encode() + b"\r\n" + value


def multipart(parts: Iterable[bytes], boundary: str) -> bytes:
    b = boundary.encode()
    body = b"".join(b"--" + b + b"\r\n" + p + b"\r\n" for p in parts)
    return body + b"--" + b + b"--\r\n"


def new_boundary() -> str:
    return "silo-" + uuid.uuid4().hex


def post_multipart(client: httpx.Client, body: bytes, boundary: str) -> httpx.Response:
    return client.post(
        "/files",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def raw_request_head(url: str, key: str, boundary: str, content_length: int | None) -> bytes:
    host = httpx.URL(url).netloc.decode()
    lines = [
        "POST /files HTTP/1.1",
        f"Host: {host}",
        f"Authorization: Bearer {key}",
        f"Content-Type: multipart/form-data; boundary={boundary}",
    ]
    if content_length is None:
        lines.append("Transfer-Encoding: chunked")
    else:
        lines.append(f"Content-Length: {content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def connect(url: str) -> socket.socket:
    parsed = httpx.URL(url)
    return socket.create_connection((parsed.host, parsed.port), timeout=30)


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status code and raw bytes of one response (reads until the server closes or body done)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while length is not None and len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, head + b"\r\n\r\n" + rest


def chunks_of(data: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def at_once(call: Callable[[], None], times: int) -> None:
    """Run `call` in `times` threads at once and wait for them all (concurrent requests)."""
    threads = [threading.Thread(target=call) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
