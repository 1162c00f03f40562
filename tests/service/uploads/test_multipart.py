"""service/uploads/multipart.py: events from a body however it is cut into chunks, and its
limits."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable

import pytest

from service import errors
from service.uploads.multipart import (
    MAX_HEADER_BYTES,
    MAX_PARTS,
    MultipartReader,
    PartData,
    PartEnd,
    PartStart,
)
from tests.service.helpers import multipart, part

BOUNDARY = "silo-boundary-0123456789"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
FILE = b"%PDF-1.7\r\n\r\n--silo-boundary-012 not quite\r\n" + bytes(range(256)) * 4
BODY = multipart(
    [part("title", "Café\r\nnot a header".encode()), part("file", FILE, filename="ré.pdf",
     ctype="application/pdf")],
    BOUNDARY,
)  # fmt: skip


async def _aiter(chunks: Iterable[bytes]):
    for chunk in chunks:
        yield chunk


def read(chunks: Iterable[bytes], content_type: str = CONTENT_TYPE) -> list:
    """The events, with consecutive PartData merged (how data is split is not the contract)."""

    async def collect() -> list:
        out: list = []
        async for event in MultipartReader(content_type).events(_aiter(chunks)):
            if isinstance(event, PartData) and out and isinstance(out[-1], PartData):
                out[-1] = PartData(out[-1].data + event.data)
            else:
                out.append(event)
        return out

    return asyncio.run(collect())


EXPECTED = [
    PartStart("title", None, None),
    PartData("Café\r\nnot a header".encode()),
    PartEnd(),
    PartStart("file", "ré.pdf", "application/pdf"),
    PartData(FILE),
    PartEnd(),
]


def cut(data: bytes, *at: int) -> list[bytes]:
    edges = [0, *at, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def test_whole_body_in_one_chunk():
    assert read([BODY]) == EXPECTED


def test_one_byte_chunks():
    assert read([BODY[i : i + 1] for i in range(len(BODY))]) == EXPECTED


def test_empty_chunks_are_ignored():
    assert read([b"", BODY[:10], b"", BODY[10:], b""]) == EXPECTED


@pytest.mark.parametrize("offset", range(-4, len(BOUNDARY) + 8))
def test_a_boundary_split_across_chunks(offset):
    # Cut inside (or around) the delimiter that ends the file part: "\r\n--<boundary>--".
    closing = BODY.rindex(b"\r\n--" + BOUNDARY.encode())
    assert read(cut(BODY, closing + offset)) == EXPECTED


def test_every_single_cut_point():
    for at in range(1, len(BODY)):
        assert read(cut(BODY, at)) == EXPECTED, at


def test_a_crlf_split_between_chunks_in_headers_and_data():
    header_end = BODY.index(b"\r\n\r\n")
    data_crlf = BODY.index(b"\r\n\r\n", BODY.index(b"%PDF"))
    assert read(cut(BODY, header_end + 1, header_end + 3, data_crlf + 1)) == EXPECTED


def test_a_body_cut_short_is_malformed():
    with pytest.raises(errors.MalformedBody, match="ended before the closing boundary"):
        read([BODY[:-10]])


@pytest.mark.parametrize(
    "content_type",
    ["application/json", None, "text/plain; boundary=x"],
)
def test_a_body_that_is_not_multipart_is_415(content_type):
    with pytest.raises(errors.UnsupportedMediaType):
        MultipartReader(content_type)


@pytest.mark.parametrize("boundary", ["", "b" * 71])
def test_a_bad_boundary_is_malformed(boundary):
    with pytest.raises(errors.MalformedBody, match="boundary"):
        MultipartReader(f"multipart/form-data; boundary={boundary}" if boundary else
                        "multipart/form-data")  # fmt: skip


def test_at_most_max_parts():
    within = multipart([part(f"f{i}", b"x") for i in range(MAX_PARTS)], BOUNDARY)
    assert sum(isinstance(e, PartStart) for e in read([within])) == MAX_PARTS
    beyond = multipart([part(f"f{i}", b"x") for i in range(MAX_PARTS + 1)], BOUNDARY)
    with pytest.raises(errors.MalformedBody, match=f"more than {MAX_PARTS} parts"):
        read([beyond])


def test_a_part_header_is_capped_even_when_it_arrives_byte_by_byte():
    long_name = "n" * MAX_HEADER_BYTES
    body = multipart([part(long_name, b"x")], BOUNDARY)
    with pytest.raises(errors.MalformedBody, match=r"(?i)header"):
        read([body[i : i + 1] for i in range(len(body))])
    fits = multipart([part("n" * (MAX_HEADER_BYTES // 2), b"x")], BOUNDARY)
    assert read([fits])[0].name == "n" * (MAX_HEADER_BYTES // 2)


def test_a_part_without_a_form_data_name_is_malformed():
    body = (f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{BOUNDARY}--\r\n").encode()
    with pytest.raises(errors.MalformedBody, match="Content-Disposition"):
        read([body])


def test_garbage_before_the_first_boundary_is_malformed():
    with pytest.raises(errors.MalformedBody):
        read([b"garbage\r\n" + BODY])
