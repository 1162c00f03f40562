"""The registry of file types Silo accepts, detected from content (magic numbers), not names.

Pure functions, no I/O. The upload pipeline calls `detect()` on the first `SNIFF_BYTES` of a
file, `mismatch()` to compare the result with what the client claimed (file name extension,
declared content type), and feeds the whole stream to `content_validator()` for the types whose
validity a sniff cannot establish (plain text must be UTF-8 to the last byte).

Adding a type is adding one `_Entry` to `_ENTRIES`: its `FileType` (id, canonical content type,
extensions, accepted declared content types), a matcher over the head, and optionally a
whole-stream validator. Order matters only in that entries are tried first to last and
`txt` (the catch-all "it decodes as text") comes last.

`KNOWN_TYPE_IDS` (the contract `tenants.yaml`'s `allowed_types` is validated against) is derived
from the registry, so a new entry is a new known id.
"""

from __future__ import annotations

import codecs
import functools
import re
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple, Protocol

SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class FileType:
    id: str
    mime: str  # canonical content type: what the service records and serves
    extensions: tuple[str, ...]  # lower case, with the dot
    mimes: tuple[str, ...]  # every content type a client may declare for it, canonical first


class InvalidContent(ValueError):
    """The stream is not what its head said it was (e.g. `txt` with a binary byte later on)."""


class ContentValidator(Protocol):
    def feed(self, chunk: bytes) -> None: ...  # raises InvalidContent

    def finish(self) -> None: ...  # raises InvalidContent


Matcher = Callable[[bytes, bool], bool]  # (head, complete) -> is this type


@dataclass(frozen=True)
class _Entry:
    type: FileType
    matches: Matcher
    validator: Callable[[], ContentValidator] | None = None


# --- signatures --------------------------------------------------------------------------------


def _pdf(head: bytes, complete: bool) -> bool:
    # "%PDF-1.7" / "%PDF-2.0"; the version digit rules out text files that merely start "%PDF-".
    return re.match(rb"%PDF-\d\.\d", head) is not None


def _png(head: bytes, complete: bool) -> bool:
    # Signature, then the first chunk must be IHDR with its fixed 13-byte length.
    return head[:8] == b"\x89PNG\r\n\x1a\n" and head[8:16] == b"\x00\x00\x00\x0dIHDR"


def _jpeg(head: bytes, complete: bool) -> bool:
    # SOI followed by another marker (APPn, DQT, SOFn, COM...): FF D8 FF xx with xx a marker code.
    return len(head) >= 4 and head[:3] == b"\xff\xd8\xff" and 0xC0 <= head[3] <= 0xFE


def _gif(head: bytes, complete: bool) -> bool:
    return head[:6] in (b"GIF87a", b"GIF89a")


def _riff(head: bytes, form: bytes) -> bool:
    return len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == form


def _webp(head: bytes, complete: bool) -> bool:
    return _riff(head, b"WEBP") and head[12:16] in (b"VP8 ", b"VP8L", b"VP8X")


def _wav(head: bytes, complete: bool) -> bool:
    return _riff(head, b"WAVE")


def _ogg(head: bytes, complete: bool) -> bool:
    # Capture pattern, stream structure version 0, and the first page must be a BOS page.
    return len(head) >= 27 and head[:4] == b"OggS" and head[4] == 0 and head[5] & 0x02 != 0


# ISO base media file format (MP4, QuickTime, M4A...): an `ftyp` box first, whose major brand says
# which flavour it is. HEIF/AVIF images are ISO BMFF too, which is why brands are listed rather
# than "any ftyp".
_MOV_BRANDS = frozenset({b"qt  "})
_M4A_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P "})
_MP4_BRANDS = frozenset(
    {
        *(b"iso" + bytes([c]) for c in b"m23456789"),
        b"mp41",
        b"mp42",
        b"mp71",
        b"avc1",
        b"M4V ",
        b"M4VH",
        b"M4VP",
        b"MSNV",
        b"NDAS",
        b"dash",
        b"f4v ",
        b"XAVC",
        b"mmp4",
        b"3gp4",
        b"3gp5",
        b"3gp6",
    }
)


_GENERIC_BRANDS = frozenset({*(b"iso" + bytes([c]) for c in b"m23456789"), b"mp41", b"mp42"})


def _bmff_kind(head: bytes) -> str | None:
    if len(head) < 16 or head[4:8] != b"ftyp":
        return None
    (box_size,) = struct.unpack(">I", head[:4])
    # size, type, major brand, minor version, then compatible brands in 4-byte steps.
    if box_size < 16 or (box_size - 16) % 4:
        return None
    major = head[8:12]
    compatible = {head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)}
    if major in _MOV_BRANDS:
        return "mov"
    if major in _M4A_BRANDS:
        return "m4a"
    if major in _MP4_BRANDS:
        # Some encoders write a generic major brand (isom, mp42) on audio-only files and say
        # "M4A " among the compatible brands.
        if major in _GENERIC_BRANDS and compatible & _M4A_BRANDS:
            return "m4a"
        return "mp4"
    return None


def _bmff(kind: str) -> Matcher:
    return lambda head, complete: _bmff_kind(head) == kind


# Matroska/WebM: an EBML header element whose DocType child names the flavour.
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_EBML_DOCTYPE_ID = 0x4282


def _vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at `pos`: (value, next position), None if malformed."""
    if pos >= len(data) or data[pos] == 0:
        return None
    first = data[pos]
    length = 8 - first.bit_length() + 1
    if pos + length > len(data):
        return None
    value = first if keep_marker else first & ((1 << (8 - length)) - 1)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    return value, pos + length


def _ebml_doctype(head: bytes) -> bytes | None:
    if not head.startswith(_EBML_MAGIC):
        return None
    size = _vint(head, 4, keep_marker=False)
    if size is None:
        return None
    header_size, pos = size
    end = min(len(head), pos + header_size)
    while pos < end:
        element = _vint(head, pos, keep_marker=True)
        if element is None:
            return None
        element_id, pos = element
        length = _vint(head, pos, keep_marker=False)
        if length is None:
            return None
        element_size, pos = length
        if pos + element_size > end:
            return None
        if element_id == _EBML_DOCTYPE_ID:
            return head[pos : pos + element_size].rstrip(b"\x00")
        pos += element_size
    return None


def _ebml(doctype: bytes) -> Matcher:
    return lambda head, complete: _ebml_doctype(head) == doctype


# MP3: an ID3v2 tag, or MPEG-1/2/2.5 Layer III frames. A lone frame sync (11 set bits) occurs
# in random data often enough that a header is only believed when the next frame header sits
# exactly where the first one's length says (or the file ends there).
_MP3_BITRATES = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2 and 2.5
}
_MP3_SAMPLE_RATES = {
    0b11: (44100, 48000, 32000),  # MPEG-1
    0b10: (22050, 24000, 16000),  # MPEG-2
    0b00: (11025, 12000, 8000),  # MPEG-2.5
}


def _mp3_frame_length(head: bytes, pos: int) -> int | None:
    """Length of the Layer III frame whose header starts at `pos`; None if not a valid header."""
    if pos + 4 > len(head):
        return None
    (word,) = struct.unpack(">I", head[pos : pos + 4])
    if word >> 21 != 0x7FF:
        return None
    version = (word >> 19) & 0b11
    layer = (word >> 17) & 0b11
    bitrate_index = (word >> 12) & 0b1111
    rate_index = (word >> 10) & 0b11
    padding = (word >> 9) & 1
    if version == 0b01 or layer != 0b01 or rate_index == 0b11:
        return None
    if bitrate_index in (0, 0b1111):  # free format is legal but too rare to trust; 15 is invalid
        return None
    bitrate = _MP3_BITRATES[1 if version == 0b11 else 2][bitrate_index] * 1000
    sample_rate = _MP3_SAMPLE_RATES[version][rate_index]
    samples_factor = 144 if version == 0b11 else 72
    return samples_factor * bitrate // sample_rate + padding


def _mp3(head: bytes, complete: bool) -> bool:
    if len(head) >= 10 and head[:3] == b"ID3":
        # Major version 2-4, revision not 0xFF, tag size as four 7-bit (syncsafe) bytes.
        return head[3] in (2, 3, 4) and head[4] != 0xFF and all(b < 0x80 for b in head[6:10])
    length = _mp3_frame_length(head, 0)
    if length is None:
        return False
    if length + 4 <= len(head):
        return _mp3_frame_length(head, length) is not None
    # The head ends inside the second header: believable only if the file ends with this frame.
    return complete and len(head) == length


# Office Open XML (docx/xlsx/pptx): a ZIP whose parts name the document kind. The head suggests
# the kind from its local file headers: `[Content_Types].xml` (the authority: it names the main
# part's content type, which also tells docx from docm) or else the top-level part directories.
# The whole stream is then checked by `OoxmlValidator` (the central directory must list
# `[Content_Types].xml`), so directories alone never make a package.
_ZIP_LOCAL = b"PK\x03\x04"
_OOXML_MAIN = {
    "docx": b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    "xlsx": b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "pptx": b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
}
_OOXML_DIRS = {"docx": "word/", "xlsx": "xl/", "pptx": "ppt/"}
_CONTENT_TYPES_LIMIT = 256 * 1024  # inflate at most this much of [Content_Types].xml


def _zip_entries(head: bytes) -> list[tuple[str, int, int, bytes]]:
    """(name, compression method, flags, available data) of each local header in `head`."""
    entries = []
    pos = head.find(_ZIP_LOCAL)
    while pos >= 0 and pos + 30 <= len(head):
        flags, method = struct.unpack("<HH", head[pos + 6 : pos + 10])
        compressed_size, _, name_len, extra_len = struct.unpack("<IIHH", head[pos + 18 : pos + 30])
        name_end = pos + 30 + name_len
        if name_end > len(head):
            break
        name = head[pos + 30 : name_end].decode("utf-8", "replace")
        data_start = name_end + extra_len
        # With a data descriptor (flag bit 3) the sizes in the local header are zero: the data
        # then runs to the next signature at the latest.
        next_sig = head.find(_ZIP_LOCAL, data_start)
        data_end = next_sig if next_sig >= 0 else len(head)
        if compressed_size and not flags & 0x08:
            data_end = min(data_end, data_start + compressed_size)
        entries.append((name, method, flags, head[data_start:data_end]))
        pos = next_sig
    return entries


def _inflate(method: int, data: bytes) -> bytes | None:
    if method == 0:
        return data[:_CONTENT_TYPES_LIMIT]
    if method == 8:
        try:
            return zlib.decompressobj(-15).decompress(data, _CONTENT_TYPES_LIMIT)
        except zlib.error:
            return None
    return None


def _ooxml_kind(head: bytes) -> str | None:
    if not head.startswith(_ZIP_LOCAL):
        return None
    entries = _zip_entries(head)
    for name, method, _flags, data in entries:
        if name == "[Content_Types].xml":
            xml = _inflate(method, data)
            if xml:
                kinds = [kind for kind, main in _OOXML_MAIN.items() if main in xml]
                if len(kinds) == 1:
                    return kinds[0]
                if kinds or b"main+xml" in xml:
                    return None  # several, or another main part (docm, xltx...): not ours
    dirs = {
        kind
        for kind, prefix in _OOXML_DIRS.items()
        for name, *_ in entries
        if name.startswith(prefix)
    }
    return dirs.pop() if len(dirs) == 1 else None


def _ooxml(kind: str) -> Matcher:
    return lambda head, complete: _ooxml_kind(head) == kind


_ZIP_END = b"PK\x05\x06"
_ZIP64_END = b"PK\x06\x06"
_ZIP_CENTRAL = b"PK\x01\x02"
_CONTENT_TYPES = "[content_types].xml"
# The end of the stream kept to read the central directory from: room for ~20,000 entries.
_ZIP_TAIL_BYTES = 1024 * 1024


class OoxmlValidator:
    """The whole stream as an Office Open XML package of one kind, judged from the ZIP's central
    directory (the list of every member, at the end of the file): a package must hold
    `[Content_Types].xml` (ECMA-376 part 2) and parts of its kind (`word/`, `xl/`, `ppt/`). When
    `[Content_Types].xml` is near the end (some writers put it last) its main part type must be
    this kind's too. The head only suggests the kind; a ZIP of `word/document.xml` alone is not
    a docx. Memory: the last `_ZIP_TAIL_BYTES` of the stream."""

    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._tail = bytearray()
        self._size = 0

    def feed(self, chunk: bytes) -> None:
        self._size += len(chunk)
        self._tail += chunk
        if len(self._tail) > 2 * _ZIP_TAIL_BYTES:
            del self._tail[: len(self._tail) - _ZIP_TAIL_BYTES]

    def finish(self) -> None:
        tail = bytes(self._tail[-_ZIP_TAIL_BYTES:])
        names = self._central_directory(tail)
        by_name = {name.lower(): (offset, method, size) for name, offset, method, size in names}
        if _CONTENT_TYPES not in by_name:
            raise InvalidContent("the package has no [Content_Types].xml")
        prefix = _OOXML_DIRS[self._kind]
        if not any(name.startswith(prefix) for name in by_name):
            raise InvalidContent(f"the package has no {prefix} parts")
        offset, method, size = by_name[_CONTENT_TYPES]
        start = offset - (self._size - len(tail))
        if start >= 0 and start + 30 <= len(tail) and tail[start : start + 4] == _ZIP_LOCAL:
            name_len, extra_len = struct.unpack("<HH", tail[start + 26 : start + 30])
            data_start = start + 30 + name_len + extra_len
            xml = _inflate(method, tail[data_start : data_start + size])
            if xml is not None and _OOXML_MAIN[self._kind] not in xml:
                raise InvalidContent(f"[Content_Types].xml does not declare a {self._kind} part")

    def _central_directory(self, tail: bytes) -> list[tuple[str, int, int, int]]:
        """(name, local header offset, method, compressed size) of every member."""
        end = tail.rfind(_ZIP_END)
        if end < 0 or end + 22 > len(tail):
            raise InvalidContent("not a complete ZIP archive (no end of central directory)")
        entries, cd_size = struct.unpack("<xxxxxxxxxxHI", tail[end : end + 16])
        zip64 = tail.rfind(_ZIP64_END, 0, end)
        if entries == 0xFFFF or cd_size == 0xFFFFFFFF:
            if zip64 < 0:
                raise InvalidContent("a ZIP64 archive without its end record")
            (cd_size,) = struct.unpack("<Q", tail[zip64 + 40 : zip64 + 48])
            end = zip64
        elif zip64 >= 0 and end - zip64 == 56 + 20:
            end = zip64
        pos = end - cd_size
        if pos < 0:
            raise InvalidContent("the ZIP central directory is too large")
        out = []
        while pos < end:
            if tail[pos : pos + 4] != _ZIP_CENTRAL or pos + 46 > end:
                raise InvalidContent("the ZIP central directory is corrupt")
            (method,) = struct.unpack("<H", tail[pos + 10 : pos + 12])
            (size,) = struct.unpack("<I", tail[pos + 20 : pos + 24])
            name_len, extra_len, comment_len = struct.unpack("<HHH", tail[pos + 28 : pos + 34])
            (offset,) = struct.unpack("<I", tail[pos + 42 : pos + 46])
            name = tail[pos + 46 : pos + 46 + name_len].decode("utf-8", "replace")
            out.append((name, offset, method, size))
            pos += 46 + name_len + extra_len + comment_len
        return out


# Plain text: UTF-8 (a BOM allowed), no NUL and no control characters other than tab, line feed,
# carriage return and form feed. C1 controls (U+0080-U+009F) betray mis-decoded binary too.
_FORBIDDEN_TEXT = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


class TextValidator:
    """Incremental check of a whole stream as UTF-8 text; feed every byte from the first."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
        self._offset = 0

    def feed(self, chunk: bytes) -> None:
        try:
            text = self._decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise InvalidContent(
                f"text is not valid UTF-8 (near byte {self._offset + exc.start}): "
                "text must be UTF-8"
            ) from None
        found = _FORBIDDEN_TEXT.search(text)
        if found:
            raise InvalidContent(
                f"text contains the binary control character U+{ord(found.group()):04X}"
            )
        self._offset += len(chunk)

    def finish(self) -> None:
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise InvalidContent("text ends inside a UTF-8 character: text must be UTF-8") from None


# Bytes no text in any 8-bit encoding holds (C0 controls but tab, LF, VT... and DEL; NUL).
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")


def text_problem(head: bytes, *, complete: bool, claimed: bool) -> str | None:
    """Why `head` (content no type matched) is not text Silo accepts, when it is text in
    another encoding: Latin-1, Windows-1252... (no control bytes), or anything the client
    calls text (`claimed`: a .txt name or a text/plain type; UTF-16 then too). Else None."""
    if not claimed and _BINARY_BYTES.search(head):
        return None
    validator = TextValidator()
    try:
        validator.feed(head)
        if complete:
            validator.finish()
    except InvalidContent as exc:
        return str(exc)
    return None


def _txt(head: bytes, complete: bool) -> bool:
    if not head:
        return False
    validator = TextValidator()
    try:
        validator.feed(head)
        if complete:
            validator.finish()
    except InvalidContent:
        return False
    return True


# --- the registry ------------------------------------------------------------------------------

_ENTRIES: tuple[_Entry, ...] = (
    _Entry(
        FileType("pdf", "application/pdf", (".pdf",), ("application/pdf", "application/x-pdf")),
        _pdf,
    ),
    _Entry(FileType("png", "image/png", (".png",), ("image/png", "image/x-png")), _png),
    _Entry(
        FileType(
            "jpeg",
            "image/jpeg",
            (".jpg", ".jpeg", ".jpe", ".jfif"),
            ("image/jpeg", "image/pjpeg", "image/jpg"),
        ),
        _jpeg,
    ),
    _Entry(FileType("gif", "image/gif", (".gif",), ("image/gif",)), _gif),
    _Entry(FileType("webp", "image/webp", (".webp",), ("image/webp",)), _webp),
    _Entry(
        FileType(
            "mp4",
            "video/mp4",
            (".mp4", ".m4v"),
            ("video/mp4", "application/mp4", "audio/mp4", "video/x-m4v"),
        ),
        _bmff("mp4"),
    ),
    _Entry(FileType("mov", "video/quicktime", (".mov", ".qt"), ("video/quicktime",)), _bmff("mov")),
    _Entry(
        FileType(
            "m4a",
            "audio/mp4",
            (".m4a", ".m4b"),
            ("audio/mp4", "audio/x-m4a", "audio/m4a", "audio/x-m4b"),
        ),
        _bmff("m4a"),
    ),
    _Entry(
        FileType("webm", "video/webm", (".webm",), ("video/webm", "audio/webm")), _ebml(b"webm")
    ),
    _Entry(
        FileType(
            "mkv",
            "video/x-matroska",
            (".mkv", ".mka"),
            ("video/x-matroska", "audio/x-matroska", "video/matroska", "audio/matroska"),
        ),
        _ebml(b"matroska"),
    ),
    _Entry(
        FileType("mp3", "audio/mpeg", (".mp3",), ("audio/mpeg", "audio/mp3", "audio/mpeg3")), _mp3
    ),
    _Entry(
        FileType(
            "wav",
            "audio/wav",
            (".wav",),
            ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"),
        ),
        _wav,
    ),
    _Entry(
        FileType(
            "ogg",
            "audio/ogg",
            (".ogg", ".oga", ".ogv", ".opus"),
            ("audio/ogg", "video/ogg", "application/ogg", "audio/opus"),
        ),
        _ogg,
    ),
    _Entry(
        FileType(
            "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            (".docx",),
            ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
        ),
        _ooxml("docx"),
        functools.partial(OoxmlValidator, "docx"),
    ),
    _Entry(
        FileType(
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            (".xlsx",),
            ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",),
        ),
        _ooxml("xlsx"),
        functools.partial(OoxmlValidator, "xlsx"),
    ),
    _Entry(
        FileType(
            "pptx",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            (".pptx",),
            ("application/vnd.openxmlformats-officedocument.presentationml.presentation",),
        ),
        _ooxml("pptx"),
        functools.partial(OoxmlValidator, "pptx"),
    ),
    # Last: anything above that happens to be valid UTF-8 (rare, but "%PDF-" is ASCII) wins.
    _Entry(
        FileType(
            "txt",
            "text/plain",
            (".txt", ".text", ".log", ".md", ".markdown", ".csv", ".tsv", ".srt", ".vtt"),
            (
                "text/plain",
                "text/markdown",
                "text/x-markdown",
                "text/csv",
                "text/tab-separated-values",
                "text/vtt",
                "application/x-subrip",
            ),
        ),
        _txt,
        TextValidator,
    ),
)

REGISTRY: Mapping[str, FileType] = MappingProxyType({e.type.id: e.type for e in _ENTRIES})
KNOWN_TYPE_IDS: tuple[str, ...] = tuple(REGISTRY)
_BY_ID: Mapping[str, _Entry] = {e.type.id: e for e in _ENTRIES}


def detect(head: bytes, *, complete: bool) -> FileType | None:
    """Type from the first bytes. `head` is min(SNIFF_BYTES, whole file) bytes; complete=True
    when head is the whole file. None = unknown/unsupported content (and empty content)."""
    head = head[:SNIFF_BYTES]
    for entry in _ENTRIES:
        if entry.matches(head, complete):
            return entry.type
    return None


def content_validator(file_type: FileType) -> ContentValidator | None:
    """A fresh whole-stream validator for `file_type` (feed it every byte, head included), or None
    when the sniff is all there is to check."""
    factory = _BY_ID[file_type.id].validator
    return factory() if factory else None


# --- what the client claimed -------------------------------------------------------------------

# Declared types that say nothing about the content.
_UNSPECIFIC_MIMES = frozenset(
    {"application/octet-stream", "binary/octet-stream", "application/unknown"}
)
# Only a short alphanumeric suffix counts as an extension: "Mr. Smith's notes" has none.
_EXTENSION = re.compile(r"\.[a-z0-9]{1,10}$")


def extension_of(filename: str | None) -> str | None:
    """The lower-case extension of a client file name (any directory part ignored), or None."""
    if not filename:
        return None
    base = re.split(r"[\\/]", filename.strip())[-1].lower()
    found = _EXTENSION.search(base)
    if not found or found.start() == 0:  # ".bashrc" is a name, not an extension
        return None
    return found.group()


def essence(content_type: str | None) -> str | None:
    """`type/subtype` of a Content-Type value (parameters dropped, lower case), or None."""
    if not content_type:
        return None
    value = content_type.split(";", 1)[0].strip().lower()
    return value or None


def mismatch(detected: FileType, filename: str | None, declared: str | None) -> str | None:
    """None when the client's file name extension and declared content type (each optional;
    `application/octet-stream` and a missing extension count as 'not given') agree with the
    detected type; else a human-readable reason, e.g. "content is jpeg but the name says .pdf"."""
    extension = extension_of(filename)
    if extension is not None and extension not in detected.extensions:
        return f"content is {detected.id} but the name says {extension}"
    mime = essence(declared)
    if mime is not None and mime not in _UNSPECIFIC_MIMES and mime not in detected.mimes:
        return f"content is {detected.id} ({detected.mime}) but it was declared as {mime}"
    return None


class Claims(NamedTuple):
    """What a client's claims alone (name and declared type) allow the file to be."""

    candidates: list[FileType]  # empty when `problem` says why
    problem: str | None = None
    # True when the name and the declared type each name a known type, but not the same one.
    conflicting: bool = False


def declared_types(filename: str | None, declared: str | None) -> Claims:
    """The registry's types a file could be, judged only from what the client claims (its
    name's extension, its declared content type; either may be missing or unspecific), before
    any byte is seen. The content is sniffed later all the same."""
    candidates = list(REGISTRY.values())
    extension = extension_of(filename)
    if extension is not None:
        candidates = [t for t in candidates if extension in t.extensions]
        if not candidates:
            return Claims([], f"no accepted type has the extension {extension}")
    mime = essence(declared)
    if mime is not None and mime not in _UNSPECIFIC_MIMES:
        by_mime = [t for t in candidates if mime in t.mimes]
        if not by_mime:
            if any(mime in t.mimes for t in REGISTRY.values()):
                return Claims([], f"the name says {extension} but it is declared as {mime}", True)
            return Claims([], f"no accepted type is declared as {mime}")
        candidates = by_mime
    return Claims(candidates)
