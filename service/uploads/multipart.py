"""Incremental multipart/form-data reading: body chunks in, part events out.

python-multipart's low-level `MultipartParser` does the byte work through callbacks; this module
turns its callbacks into a stream of events (`PartStart`, `PartData`, `PartEnd`) that async code
can act on (upload to S3, hash, validate) between chunks. Nothing is buffered beyond the chunk
being parsed, so memory does not grow with the body.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from service import errors

MAX_PARTS = 64
MAX_HEADER_BYTES = 8 * 1024


@dataclass(frozen=True)
class PartStart:
    name: str
    filename: str | None
    content_type: str | None


@dataclass(frozen=True)
class PartData:
    data: bytes


@dataclass(frozen=True)
class PartEnd:
    pass


Event = PartStart | PartData | PartEnd


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data Content-Type; 415 for any other body type."""
    mime, params = parse_options_header(content_type or "")
    if mime != b"multipart/form-data":
        raise errors.UnsupportedMediaType()
    boundary = params.get(b"boundary")
    if not boundary or len(boundary) > 70:
        raise errors.MalformedBody("multipart/form-data needs a boundary of 1-70 characters")
    return boundary


def _decode(value: bytes) -> str:
    # Browsers send UTF-8 names; anything undecodable is kept legibly rather than rejected.
    return value.decode("utf-8", "replace")


def _quotes_closed(value: bytes) -> bool:
    """Whether every quoted-string of a header value is closed (backslash escapes honoured)."""
    quoted = escaped = False
    for byte in value:
        if escaped:
            escaped = False
        elif quoted and byte == 0x5C:  # backslash
            escaped = True
        elif byte == 0x22:  # double quote
            quoted = not quoted
    return not quoted


class MultipartReader:
    def __init__(self, content_type: str | None) -> None:
        self._events: list[Event] = []
        self._headers: dict[bytes, bytes] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._parts = 0
        self._ended = False
        self._parser = MultipartParser(
            boundary_of(content_type),
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
        )

    # -- parser callbacks (synchronous; they only record events) --

    def _on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise errors.MalformedBody(f"more than {MAX_PARTS} parts")
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]
        self._check_header_size()

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]
        self._check_header_size()

    def _check_header_size(self) -> None:
        if len(self._field) + len(self._value) > MAX_HEADER_BYTES:
            raise errors.MalformedBody("a part header is too long")

    def _on_header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _on_headers_finished(self) -> None:
        raw_disposition = self._headers.get(b"content-disposition") or b""
        if not _quotes_closed(raw_disposition):
            # `filename="a` + CRLF + ...: the name would silently end at the line break.
            raise errors.MalformedBody("a part's Content-Disposition has an unterminated quote")
        disposition, options = parse_options_header(raw_disposition)
        if disposition != b"form-data" or not options.get(b"name"):
            raise errors.MalformedBody("each part needs `Content-Disposition: form-data; name=...`")
        filename = options.get(b"filename")
        declared = self._headers.get(b"content-type")
        self._events.append(
            PartStart(
                name=_decode(options[b"name"]),
                filename=None if filename is None else _decode(filename),
                content_type=None if declared is None else _decode(declared).strip(),
            )
        )

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if end > start:
            self._events.append(PartData(data[start:end]))

    def _on_part_end(self) -> None:
        self._events.append(PartEnd())

    def _on_end(self) -> None:
        self._ended = True

    # -- the async side --

    async def events(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[Event]:
        """Events for the whole body; MalformedBody if it is not well-formed or is cut short."""
        async for chunk in chunks:
            if not chunk:
                continue
            try:
                self._parser.write(chunk)
            except FormParserError:
                # The parser's own text ("Expected boundary character 79, got 88 at index 4")
                # describes its internals, not the request: say what is wrong in API terms.
                raise errors.MalformedBody(
                    "the multipart body is malformed: its boundaries or part headers do not "
                    "follow multipart/form-data with the boundary declared in Content-Type"
                ) from None
            events, self._events = self._events, []
            for event in events:
                yield event
        if not self._ended:
            raise errors.MalformedBody("the body ended before the closing boundary")
