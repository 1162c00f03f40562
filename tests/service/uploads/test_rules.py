"""The rules every upload path shares, as pure functions: the default title, the refusals that
name the way out (accepted types, UTF-8, the size limit in human units)."""

from __future__ import annotations

import pytest

from service import errors
from service.uploads import rules
from service.uploads.filetypes import KNOWN_TYPE_IDS
from tests.service.helpers import mz, pdf

LIMITS = rules.Limits(24 * 1024 * 1024, frozenset({"pdf", "png", "txt"}), 60)


@pytest.mark.parametrize(
    ("filename", "title"),
    [
        ("handbook.pdf", "handbook"),  # the console's upload page proposes the same
        ("lesson-03.v2.pdf", "lesson-03.v2"),  # only the last extension goes
        ("archive.tar.gz", "archive.tar"),
        (".txt", ".txt"),  # only an extension: kept whole, as the stored name keeps it
        ("README", "README"),
        ("C:\\Users\\me\\notes.txt", "notes"),  # no directory part
        ("docs/report.pdf", "report"),
        ("  spaced name .pdf ", "spaced name"),
        ("handbook.", "handbook"),
        ("...", "file"),  # nothing left: the stem of the stored name (`file.pdf`)
        ("é" * 300 + ".pdf", "é" * 200),  # cut to the title's 200 characters
        (None, None),  # no name: no default (`title` is required)
    ],
)
def test_default_title_is_the_name_without_its_extension(filename, title):
    assert rules.default_title(filename) == title


def test_default_title_keeps_the_names_control_character_refusal():
    with pytest.raises(errors.ValidationFailed, match="`filename`"):
        rules.default_title("a\x00b.pdf")


def test_a_title_sent_is_kept_even_empty():
    assert rules.with_default_title({"title": ""}, "a.pdf") == {"title": ""}
    assert rules.with_default_title({}, "a.pdf") == {"title": "a"}
    assert rules.with_default_title({"description": "d"}, None) == {"description": "d"}


def refusal(data: bytes, filename: str | None, declared: str | None = None) -> str:
    with pytest.raises(errors.UnsupportedType) as caught:
        rules.check_type(data, complete=True, filename=filename, declared=declared, limits=LIMITS)
    return caught.value.message


def test_unknown_content_lists_the_accepted_types():
    message = refusal(mz(), "setup.exe")
    assert message == (
        "the content is not of a type Silo accepts; accepted types: pdf (.pdf), png (.png), "
        "txt (.txt)"
    )


def test_a_type_not_accepted_here_lists_the_accepted_ones():
    limits = rules.Limits(1000, frozenset({"png"}), 60)
    with pytest.raises(errors.UnsupportedType, match=r"^pdf files are not accepted here; "):
        rules.check_type(pdf(500), complete=True, filename="a.pdf", declared=None, limits=limits)
    with pytest.raises(errors.UnsupportedType, match=r"accepted types: png \(\.png\)$"):
        rules.check_declared(filename="a.pdf", declared=None, limits=limits)
    with pytest.raises(errors.UnsupportedType, match=r"\.exe; accepted types: png \(\.png\)$"):
        rules.check_declared(filename="tool.exe", declared=None, limits=limits)


@pytest.mark.parametrize(
    ("data", "filename", "declared"),
    [
        ("Café crème, déjà vu\n".encode("latin-1"), "notes.txt", None),
        ("Café crème, déjà vu\n".encode("cp1252"), None, None),  # no name: it looks like text
        ("Café\n".encode("latin-1"), "notes", "text/plain; charset=iso-8859-1"),
        ("Café\n".encode("utf-16"), "notes.txt", None),  # NULs, but called text
    ],
)
def test_text_in_another_encoding_is_told_to_be_utf8(data, filename, declared):
    message = refusal(data, filename, declared)
    assert message.startswith("the content is not of a type Silo accepts: text is not valid UTF-8")
    assert message.endswith("text must be UTF-8")


def test_binary_content_is_not_called_text():
    assert "UTF-8" not in refusal(bytes(range(256)) * 4, None)


def test_text_not_accepted_here_is_not_told_about_utf8():
    limits = rules.Limits(1000, frozenset({"pdf"}), 60)
    with pytest.raises(errors.UnsupportedType, match=r"accepted types: pdf \(\.pdf\)$"):
        rules.check_type(
            "Café".encode("latin-1"), complete=True, filename="a.txt", declared=None, limits=limits
        )


def test_every_known_type_can_be_listed():
    limits = rules.Limits(1, frozenset(KNOWN_TYPE_IDS), 60)
    listed = rules.accepted_types(limits)
    assert all(f"{type_id} (" in listed for type_id in KNOWN_TYPE_IDS)


@pytest.mark.parametrize(
    ("n", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (24 * 1024 * 1024, "24 MiB"),
        (5 * 1024**3, "5 GiB"),
        (1024**7, "1024 EiB"),
    ],
)
def test_human_bytes(n, shown):
    assert rules.human_bytes(n) == shown


def test_the_size_limit_is_named_in_both_units():
    assert rules.size_limit(25_165_824) == "24 MiB (25,165,824 bytes)"
