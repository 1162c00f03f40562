"""The type registry: detection from generated samples, claims vs content, whole-stream text."""

from __future__ import annotations

import io
import os
import struct
import zipfile

import pytest

from service.uploads.filetypes import (
    KNOWN_TYPE_IDS,
    REGISTRY,
    SNIFF_BYTES,
    InvalidContent,
    content_validator,
    detect,
    mismatch,
)
from tests.service.helpers import jpeg, png

# --- sample builders: the smallest byte strings that are honestly each format ------------------


def gif() -> bytes:
    screen = b"\x01\x00\x01\x00\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
    image = b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00"
    return b"GIF89a" + screen + image + b";"


def riff(form: bytes, *chunks: tuple[bytes, bytes]) -> bytes:
    body = form + b"".join(k + struct.pack("<I", len(d)) + d for k, d in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp() -> bytes:
    return riff(b"WEBP", (b"VP8L", b"\x2f\x00\x00\x00\x00\x00"))


def wav() -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    return riff(b"WAVE", (b"fmt ", fmt), (b"data", b"\x00\x00" * 8))


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x02\x00" + b"".join(compatible)
    box = struct.pack(">I", 8 + len(body)) + b"ftyp" + body
    return box + struct.pack(">I", 16) + b"mdat" + os.urandom(8)


def ebml_element(element_id: bytes, payload: bytes) -> bytes:
    assert len(payload) < 127
    return element_id + bytes([0x80 | len(payload)]) + payload


def ebml(doctype: bytes) -> bytes:
    header = (
        ebml_element(b"\x42\x86", b"\x01")  # EBMLVersion
        + ebml_element(b"\x42\xf7", b"\x01")  # EBMLReadVersion
        + ebml_element(b"\x42\x82", doctype)  # DocType
        + ebml_element(b"\x42\x87", b"\x04")  # DocTypeVersion
    )
    segment = b"\x18\x53\x80\x67" + b"\x01\xff\xff\xff\xff\xff\xff\xff"  # unknown-size Segment
    return ebml_element(b"\x1a\x45\xdf\xa3", header) + segment


# MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding: 144 * 128000 // 44100 = 417 bytes.
MP3_HEADER = b"\xff\xfb\x90\x64"
MP3_FRAME = MP3_HEADER + bytes(417 - 4)


def mp3() -> bytes:
    return MP3_FRAME * 3


def mp3_id3() -> bytes:
    # ID3v2.4 header, a 10-byte tag body (syncsafe size), then frames.
    return b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"TIT2\x00\x00\x00\x00\x00\x00" + mp3()


def ogg() -> bytes:
    header = b"OggS\x00\x02" + bytes(8) + struct.pack("<II", 1, 0) + b"\x00\x00\x00\x00\x01\x13"
    return header + b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"


MAIN_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
}
MAIN_PARTS = {
    "docx": "word/document.xml",
    "xlsx": "xl/workbook.xml",
    "pptx": "ppt/presentation.xml",
}


def content_types(main_part: str, main_type: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/{main_part}" ContentType="{main_type}"/></Types>'
    )


def zip_of(files: dict[str, bytes | str], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def ooxml(kind: str, *, with_content_types: bool = True, extra: bytes = b"") -> bytes:
    files: dict[str, bytes | str] = {}
    if with_content_types:
        files["[Content_Types].xml"] = content_types(MAIN_PARTS[kind], MAIN_TYPES[kind])
    files["_rels/.rels"] = "<Relationships/>"
    files[MAIN_PARTS[kind]] = "<document/>"
    if extra:
        files["docProps/thumbnail.bin"] = extra
    return zip_of(files)


SAMPLES: dict[str, bytes] = {
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n",
    "png": png(),
    "jpeg": jpeg(),
    "gif": gif(),
    "webp": webp(),
    "mp4": ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41"),
    "mov": ftyp(b"qt  ", b"qt  "),
    "m4a": ftyp(b"M4A ", b"M4A ", b"mp42", b"isom"),
    "webm": ebml(b"webm"),
    "mkv": ebml(b"matroska"),
    "mp3": mp3(),
    "wav": wav(),
    "ogg": ogg(),
    "docx": ooxml("docx"),
    "xlsx": ooxml("xlsx"),
    "pptx": ooxml("pptx"),
    "txt": "Grüße — plain text\r\n\ttabbed line\n".encode(),
}
NAMES = {type_id: f"sample{REGISTRY[type_id].extensions[0]}" for type_id in SAMPLES}


def sniff(data: bytes):
    head = data[:SNIFF_BYTES]
    return detect(head, complete=len(data) <= SNIFF_BYTES)


# --- the registry ------------------------------------------------------------------------------


def test_registry_keeps_the_known_ids_and_every_type_has_a_sample():
    assert set(KNOWN_TYPE_IDS) == {
        *("pdf", "png", "jpeg", "gif", "webp", "mp4", "mov", "m4a", "webm", "mkv"),
        *("mp3", "wav", "ogg", "docx", "xlsx", "pptx", "txt"),
    }
    assert tuple(REGISTRY) == KNOWN_TYPE_IDS
    assert set(SAMPLES) == set(KNOWN_TYPE_IDS)
    for file_type in REGISTRY.values():
        assert file_type.mimes[0] == file_type.mime
        assert all(ext.startswith(".") and ext == ext.lower() for ext in file_type.extensions)


@pytest.mark.parametrize("type_id", sorted(SAMPLES))
def test_each_sample_is_detected_as_its_type(type_id):
    assert sniff(SAMPLES[type_id]) is REGISTRY[type_id]


@pytest.mark.parametrize("type_id", sorted(SAMPLES))
def test_detection_from_a_head_of_a_longer_file(type_id):
    # The pipeline passes SNIFF_BYTES of a bigger file with complete=False.
    data = SAMPLES[type_id]
    tail = b"plain tail " * (SNIFF_BYTES // 5) if type_id == "txt" else os.urandom(SNIFF_BYTES)
    head = (data + tail)[:SNIFF_BYTES]
    assert detect(head, complete=False) is REGISTRY[type_id]


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("empty", b""),
        ("elf", b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00" + os.urandom(48)),
        ("pe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(48)),
        ("random", b"\x00\x01\x02\x03" + os.urandom(1000)),
        ("plain zip", zip_of({"a.txt": "hello", "b/c.bin": b"\x00\x01"})),
        ("jar", zip_of({"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\n"})),
        ("heic", ftyp(b"heic", b"mif1", b"heic")),
        ("avif", ftyp(b"avif", b"avif", b"mif1", b"miaf")),
        ("ebml without doctype", ebml_element(b"\x1a\x45\xdf\xa3", b"\x42\x86\x81\x01")),
        ("other ebml doctype", ebml(b"other")),
        ("riff avi", riff(b"AVI ", (b"LIST", b"hdrl"))),
        ("truncated png", png()[:12]),
        ("png signature alone", b"\x89PNG\r\n\x1a\n" + os.urandom(64)),
        ("lone mpeg sync", MP3_HEADER + os.urandom(64)),
        ("mpeg layer I header", b"\xff\xff\x90\x64" + bytes(2000)),
        ("bad id3 size", b"ID3\x03\x00\x00\x80\x00\x00\x00" + bytes(64)),
        ("pdf lookalike", b"%PDF-x not a version\x00\x01"),
        ("utf-16 text", "hello".encode("utf-16")),
        ("latin-1 text", "façade".encode("latin-1")),
        ("text with NUL", b"hello\x00world"),
        ("text with escape", b"ls \x1b[31mred\x1b[0m"),
        ("text with C1 control", "a\x85b".encode()),
        (
            "docm",
            zip_of(
                {
                    "[Content_Types].xml": content_types(
                        "word/document.xml",
                        "application/vnd.ms-word.document.macroEnabled.main+xml",
                    ),
                    "word/document.xml": "<d/>",
                }
            ),
        ),
    ],
)
def test_unsupported_content_is_not_detected(label, data):
    assert sniff(data) is None


def test_executable_named_png_is_unsupported():
    elf = b"\x7fELF\x02\x01\x01\x00" + bytes(56)
    assert detect(elf, complete=True) is None


def test_mp3_single_frame_only_when_the_file_ends_there():
    assert detect(MP3_FRAME, complete=True) is REGISTRY["mp3"]
    assert detect(MP3_FRAME[:300], complete=False) is None
    assert detect(MP3_FRAME + b"x", complete=True) is None


def test_mp3_with_id3_tag_and_padded_frames():
    assert sniff(mp3_id3()) is REGISTRY["mp3"]
    padded = b"\xff\xfb\x92\x64" + bytes(418 - 4)  # padding bit adds one byte
    assert sniff(padded + MP3_FRAME) is REGISTRY["mp3"]
    # MPEG-2 Layer III, 64 kbit/s at 22.05 kHz: 72 * 64000 // 22050 = 208 bytes.
    mpeg2 = b"\xff\xf3\x80\x44" + bytes(208 - 4)
    assert sniff(mpeg2 * 2) is REGISTRY["mp3"]


def test_iso_bmff_brands_decide_between_mp4_mov_and_m4a():
    assert sniff(ftyp(b"mp42", b"mp42", b"isom")) is REGISTRY["mp4"]
    assert sniff(ftyp(b"M4B ")) is REGISTRY["m4a"]
    assert sniff(ftyp(b"qt  ")) is REGISTRY["mov"]
    assert sniff(ftyp(b"XXXX")) is None
    # A generic major brand with M4A among the compatible brands is audio.
    assert sniff(ftyp(b"mp42", b"isom", b"M4A ", b"mp42")) is REGISTRY["m4a"]
    assert sniff(ftyp(b"isom", b"isom", b"iso2", b"mp41")) is REGISTRY["mp4"]
    # ...but a specific video brand is not overridden.
    assert sniff(ftyp(b"M4V ", b"M4V ", b"M4A ")) is REGISTRY["mp4"]


def whole_stream_valid(data: bytes, type_id: str) -> bool:
    """What the upload pipeline does after the sniff: feed every byte to the validator."""
    validator = content_validator(REGISTRY[type_id])
    try:
        for start in range(0, len(data), 7000):
            validator.feed(data[start : start + 7000])
        validator.finish()
    except InvalidContent:
        return False
    return True


@pytest.mark.parametrize("kind", ["docx", "xlsx", "pptx"])
def test_ooxml_by_directories_when_content_types_is_not_first(kind):
    # Some writers put [Content_Types].xml last: the head suggests the kind by its directories,
    # the central directory confirms the package.
    files = {"_rels/.rels": "<Relationships/>", MAIN_PARTS[kind]: "<document/>",
             "docProps/thumbnail.bin": os.urandom(2 * SNIFF_BYTES),
             "[Content_Types].xml": content_types(MAIN_PARTS[kind], MAIN_TYPES[kind])}  # fmt: skip
    data = zip_of(files)
    assert sniff(data) is REGISTRY[kind]
    assert whole_stream_valid(data, kind)


@pytest.mark.parametrize("kind", ["docx", "xlsx", "pptx"])
def test_a_zip_of_parts_without_content_types_is_not_a_package(kind):
    # A zip holding only word/document.xml used to pass as docx.
    assert not whole_stream_valid(zip_of({MAIN_PARTS[kind]: "<document/>"}), kind)
    assert not whole_stream_valid(ooxml(kind, with_content_types=False), kind)


@pytest.mark.parametrize("kind", ["docx", "xlsx", "pptx"])
def test_every_ooxml_sample_is_a_valid_package(kind):
    assert whole_stream_valid(SAMPLES[kind], kind)
    assert whole_stream_valid(ooxml(kind, extra=os.urandom(3 * SNIFF_BYTES)), kind)


def test_ooxml_packages_that_are_not_what_the_head_said():
    # [Content_Types].xml written last names another kind than the directories suggest.
    xlsx_types = content_types("xl/workbook.xml", MAIN_TYPES["xlsx"])
    files = {"word/document.xml": "<d/>", "docProps/x.bin": os.urandom(2 * SNIFF_BYTES),
             "[Content_Types].xml": xlsx_types}  # fmt: skip
    assert not whole_stream_valid(zip_of(files), "docx")
    # A truncated package has no central directory.
    assert not whole_stream_valid(SAMPLES["docx"][:-30], "docx")
    # Content types alone, without the kind's parts.
    only_types = zip_of({"[Content_Types].xml": content_types("word/document.xml",
                                                              MAIN_TYPES["docx"])})  # fmt: skip
    assert not whole_stream_valid(only_types, "docx")


@pytest.mark.parametrize("kind", ["docx", "xlsx", "pptx"])
def test_ooxml_stored_without_compression(kind):
    files = {
        "[Content_Types].xml": content_types(MAIN_PARTS[kind], MAIN_TYPES[kind]),
        MAIN_PARTS[kind]: "<x/>",
    }
    assert sniff(zip_of(files, zipfile.ZIP_STORED)) is REGISTRY[kind]


def test_ooxml_bigger_than_the_head_is_judged_from_the_head():
    data = ooxml("docx", extra=os.urandom(3 * SNIFF_BYTES))
    assert len(data) > SNIFF_BYTES
    assert sniff(data) is REGISTRY["docx"]


def test_ooxml_written_in_streaming_mode_with_data_descriptors():
    # Streaming writers (flag bit 3) leave sizes out of the local headers.
    buffer = io.BytesIO()

    class Unseekable(io.RawIOBase):
        def writable(self):
            return True

        def write(self, b):
            return buffer.write(b)

    with zipfile.ZipFile(Unseekable(), "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml", content_types("xl/workbook.xml", MAIN_TYPES["xlsx"])
        )
        archive.writestr("xl/workbook.xml", "<w/>")
    data = buffer.getvalue()
    assert struct.unpack("<H", data[6:8])[0] & 0x08
    assert sniff(data) is REGISTRY["xlsx"]


def test_text_with_bom_and_a_head_cut_inside_a_character():
    assert sniff(b"\xef\xbb\xbfhello") is REGISTRY["txt"]
    cut = "€".encode()[:2]
    assert detect(b"price " + cut, complete=False) is REGISTRY["txt"]
    assert detect(b"price " + cut, complete=True) is None


# --- claims vs content -------------------------------------------------------------------------


@pytest.mark.parametrize("type_id", sorted(SAMPLES))
def test_honest_claims_agree(type_id):
    file_type = REGISTRY[type_id]
    for mime in file_type.mimes:
        for ext in file_type.extensions:
            assert mismatch(file_type, f"my file{ext.upper()}", mime) is None


@pytest.mark.parametrize(
    ("type_id", "filename", "declared"),
    [
        ("jpeg", "photo.JPG", "image/jpeg"),
        ("jpeg", "photo.jpeg", "image/pjpeg"),
        ("txt", "notes.txt", "text/plain; charset=utf-8"),
        ("txt", "notes.txt", "Text/Plain;Charset=UTF-8"),
        ("pdf", None, None),
        ("pdf", "report", "application/octet-stream"),
        ("pdf", "Mr. Smith's report", None),
        ("pdf", "C:\\Users\\me\\report.pdf", "application/pdf"),
        ("pdf", "../../etc/report.pdf", ""),
        ("mp4", "clip.mp4", "application/octet-stream"),
        ("png", ".hidden", "image/png"),
    ],
)
def test_claims_that_agree_or_say_nothing(type_id, filename, declared):
    assert mismatch(REGISTRY[type_id], filename, declared) is None


@pytest.mark.parametrize(
    ("type_id", "filename", "declared", "reason"),
    [
        ("jpeg", "report.pdf", None, "content is jpeg but the name says .pdf"),
        ("jpeg", "report.pdf", "application/pdf", "content is jpeg but the name says .pdf"),
        ("jpeg", None, "application/pdf", "content is jpeg (image/jpeg) but it was declared as"),
        ("jpeg", "photo.jpg", "application/pdf", "declared as application/pdf"),
        ("png", "photo.png", "text/plain", "content is png (image/png) but it was declared as"),
        ("txt", "page.html", "text/html", "content is txt but the name says .html"),
        ("txt", None, "text/html; charset=utf-8", "declared as text/html"),
        ("mp4", "song.mp3", "audio/mpeg", "content is mp4 but the name says .mp3"),
        ("mov", "clip.mp4", None, "content is mov but the name says .mp4"),
        ("docx", "sheet.xlsx", None, "content is docx but the name says .xlsx"),
    ],
)
def test_claims_that_contradict_the_content(type_id, filename, declared, reason):
    found = mismatch(REGISTRY[type_id], filename, declared)
    assert found is not None
    assert reason in found


def test_binary_declared_as_text_is_caught_by_detection_or_mismatch():
    binary = b"\x00\x01\x02\xff" * 64
    assert detect(binary, complete=True) is None
    png_bytes = SAMPLES["png"]
    assert mismatch(detect(png_bytes, complete=True), "image.txt", "text/plain") is not None


def test_every_sample_under_another_types_name_is_a_mismatch():
    for type_id, data in SAMPLES.items():
        detected = sniff(data)
        for other in REGISTRY.values():
            if other.id == type_id or set(other.extensions) & set(detected.extensions):
                continue
            assert mismatch(detected, f"x{other.extensions[0]}", None) is not None


# --- whole-stream validation -------------------------------------------------------------------


def test_text_and_office_packages_have_a_whole_stream_validator():
    with_validator = {"txt", "docx", "xlsx", "pptx"}
    for type_id in KNOWN_TYPE_IDS:
        assert (content_validator(REGISTRY[type_id]) is not None) == (type_id in with_validator)


def feed_all(data: bytes, chunk_size: int) -> None:
    validator = content_validator(REGISTRY["txt"])
    for start in range(0, len(data), chunk_size):
        validator.feed(data[start : start + chunk_size])
    validator.finish()


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 4096])
def test_text_validator_accepts_utf8_split_anywhere(chunk_size):
    text = "\ufeffGrüße — 日本語 😀 \u00e9\n" * 50
    feed_all(text.encode("utf-8"), chunk_size)
    feed_all(b"\xef\xbb\xbf" + b"x\n" * 10, chunk_size)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"fine text\n" * 10_000 + b"\x00 then binary", r"U\+0000"),
        (b"fine text\n" * 10_000 + b"\x07 bell", r"U\+0007"),
        (b"fine text\n" * 10_000 + b"\xff\xfe invalid", "not valid UTF-8"),
        (b"fine text\n" * 100 + "€".encode()[:2], "ends inside a UTF-8 character"),
    ],
)
def test_text_validator_rejects_binary_after_the_head(data, message):
    assert detect(data[:SNIFF_BYTES], complete=False) is REGISTRY["txt"]
    with pytest.raises(InvalidContent, match=message):
        feed_all(data, 8192)


def test_text_validator_reports_the_offset_of_invalid_utf8():
    validator = content_validator(REGISTRY["txt"])
    validator.feed(b"a" * 100)
    with pytest.raises(InvalidContent, match="near byte 103"):
        validator.feed(b"abc\xc3\x28")
