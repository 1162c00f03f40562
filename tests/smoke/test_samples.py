"""The files the smoke test uploads: a real PNG, and a JPEG that claims to be a PDF."""

from __future__ import annotations

import struct
import zlib

import pytest

from provisioning.smoke.samples import PNG_SIGNATURE, make_jpeg_bytes, make_png
from service.uploads import filetypes


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data.startswith(PNG_SIGNATURE)
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    return chunks


def test_png_is_a_well_formed_image():
    pixels = bytes(range(256)) * 3  # 16 x 16 RGB
    data = make_png(16, 16, pixels)
    chunks = png_chunks(data)
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, color, *_ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (width, height, depth, color) == (16, 16, 8, 2)
    raw = zlib.decompress(chunks[1][1])
    rows = [raw[i * 49 : (i + 1) * 49] for i in range(16)]
    assert all(row[0] == 0 for row in rows)
    assert b"".join(row[1:] for row in rows) == pixels


def test_png_pixels_are_random_unless_given():
    assert make_png() != make_png()
    with pytest.raises(ValueError, match="RGB pixels"):
        make_png(2, 2, b"\x00")


def test_the_service_sees_the_png_as_png_and_the_spoof_as_a_jpeg_claiming_to_be_pdf():
    png = make_png()
    assert filetypes.detect(png, complete=True).id == "png"
    jpeg = filetypes.detect(make_jpeg_bytes(), complete=True)
    assert jpeg.id == "jpeg"
    assert filetypes.mismatch(jpeg, "x.pdf", "application/pdf") is not None
