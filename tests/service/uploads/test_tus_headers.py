"""The tus header parsers and Upload-Metadata validation, without HTTP."""

from __future__ import annotations

import base64
import re

import pytest

from service import errors
from service.api.tus import parse_checksum, parse_metadata
from service.uploads.tus import validate_metadata


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def test_upload_metadata_pairs():
    raw = f"title {b64(b'Quarterly report')},flag,filename {b64('é.pdf'.encode())}"
    assert parse_metadata(raw) == {"title": "Quarterly report", "flag": "", "filename": "é.pdf"}
    assert parse_metadata(None) == {}
    assert parse_metadata("  ") == {}


NOT_UTF8 = b64(bytes([0xFF]))


@pytest.mark.parametrize(
    "raw", ["title !!notbase64", f"title {b64(b'a')},title {b64(b'b')}", f"title {NOT_UTF8}"]
)
def test_bad_upload_metadata_is_400(raw):
    with pytest.raises(errors.BadRequest):
        parse_metadata(raw)


def test_upload_checksum():
    digest = bytes(20)
    assert parse_checksum(f"sha1 {b64(digest)}").digest == digest
    assert parse_checksum(f"SHA256 {b64(bytes(32))}").algorithm == "sha256"
    assert parse_checksum(None) is None
    bad = (f"md5 {b64(bytes(16))}", "sha1 ###", f"sha1 {b64(bytes(32))}", f"sha1  {b64(bytes(20))}")
    for raw in bad:
        with pytest.raises(errors.BadRequest):
            parse_checksum(raw)


def test_metadata_uses_the_rules_of_post_files():
    declared = validate_metadata(
        {"title": " T ", "roles": '["a", "a", "b"]', "filetype": "application/pdf"}
    )
    assert declared.fields == {"title": "T", "roles": ["a", "b"]}
    assert (declared.filename, declared.filetype) == (None, "application/pdf")
    bad_values = (
        {},  # no title and no file name to take it from
        {"title": "x", "roles": "[1]"},
        {"title": "a\x00b"},
        {"filename": "a\x00b.pdf"},  # Silo's keys keep their control-character refusal
        {"name": "a\nb.pdf"},  # `name` stands for `filename`: its rules too
        {"title": "", "filename": "handbook.pdf"},  # a title sent must be a title
    )
    for bad in bad_values:
        with pytest.raises(errors.ValidationFailed):
            validate_metadata(bad)


def test_uppys_metadata_is_accepted():
    """What a stock Uppy Dashboard + Tus sends: `name`, `type`, `relativePath` (the string
    "null"), and `filename`/`filetype` copied from them; no title."""
    uppy = {"name": "handbook.pdf", "type": "application/pdf", "relativePath": "null"}
    declared = validate_metadata(
        {**uppy, "filename": "handbook.pdf", "filetype": "application/pdf"}
    )
    assert declared.fields == {"title": "handbook"}
    assert (declared.filename, declared.filetype) == ("handbook.pdf", "application/pdf")
    # `name` and `type` alone map to `filename` and `filetype`; the explicit keys win.
    declared = validate_metadata(uppy)
    assert (declared.filename, declared.filetype) == ("handbook.pdf", "application/pdf")
    declared = validate_metadata({**uppy, "filename": "notes.txt", "title": "Notes"})
    assert (declared.filename, declared.fields["title"]) == ("notes.txt", "Notes")
    # Keys Silo does not read are ignored, whatever they hold.
    odd = {"title": "T", "x-colour": "red\x00", "relativePath": "a\nb"}
    assert validate_metadata(odd).fields == {"title": "T"}


def test_values_of_other_keys_need_not_be_utf8():
    raw = f"title {b64(b'T')},blob {NOT_UTF8},flag"
    assert parse_metadata(raw) == {"title": "T", "flag": ""}
    with pytest.raises(errors.BadRequest):  # a repeated key stays malformed, read or not
        parse_metadata(f"blob {NOT_UTF8},blob {NOT_UTF8}")
    for key in ("name", "type", "filename", "title"):
        with pytest.raises(errors.BadRequest):
            parse_metadata(f"{key} {NOT_UTF8}")


def test_header_shapes_are_the_documents():
    """The OpenAPI patterns of Upload-Checksum and Upload-Metadata are the parsers' own."""
    from service.api.openapi.document import document

    post = document()["paths"]["/uploads"]["post"]
    schemas = {parameter["name"]: parameter["schema"] for parameter in post["parameters"]}
    metadata = re.compile(schemas["Upload-Metadata"]["pattern"])
    checksum = re.compile(schemas["Upload-Checksum"]["pattern"])
    good = f" title {b64(b'T')} , filename {b64(b'a.pdf')},filetype,relativePath {b64(b'null')}"
    assert metadata.search(good) and parse_metadata(good)["title"] == "T"
    for raw in (f"title\t{b64(b'T')}", f"title {b64(b'T')[:-1]}", "title a b"):
        assert not metadata.search(raw)
        with pytest.raises(errors.BadRequest):
            parse_metadata(raw)
    for raw in schemas["Upload-Checksum"]["examples"]:
        assert checksum.search(raw) and parse_checksum(raw) is not None
