"""Files the smoke test uploads, built in code so the test needs no fixtures on disk.

The PNG is a real, decodable image (valid chunks and CRCs), with random pixels so every run
uploads different bytes and the sha256 comparison cannot pass by accident. The "JPEG" is a JFIF
header and an end marker: enough for a content sniffer to call it JPEG, which is all the spoofing
check needs.
"""

from __future__ import annotations

import os
import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def make_png(width: int = 16, height: int = 16, pixels: bytes | None = None) -> bytes:
    """An 8-bit RGB PNG of `width` x `height`; random pixels unless `pixels` (RGB bytes) given."""
    row_bytes = width * 3
    if pixels is None:
        pixels = os.urandom(row_bytes * height)
    if len(pixels) != row_bytes * height:
        raise ValueError(f"need {row_bytes * height} bytes of RGB pixels, got {len(pixels)}")
    # Each scanline starts with its filter type; 0 = None.
    raw = b"".join(b"\x00" + pixels[y * row_bytes : (y + 1) * row_bytes] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


def make_jpeg_bytes() -> bytes:
    """Bytes that start like a JFIF JPEG (SOI, APP0 'JFIF') and end with EOI."""
    app0 = b"JFIF\x00" + bytes([1, 1, 0]) + struct.pack(">HH", 1, 1) + b"\x00\x00"
    return b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + b"\xff\xd9"
