"""service/files/metadata.py: one validator for the upload form and PATCH."""

from __future__ import annotations

import pytest

from service import errors
from service.files import metadata


def test_a_new_file_needs_a_title_and_gets_normalized_values():
    values = metadata.validate(
        {
            "title": "  Cafe\u0301 notes ",
            "description": "line one\nline two\tand a tab",
            "category": "Skills",
            "language": "pt-BR",
            "roles": ["Mentor", "Mentor", " Mentee "],
        },
        partial=False,
    )
    assert values == {
        "title": "Café notes",  # NFC, trimmed
        "description": "line one\nline two\tand a tab",
        "category": "Skills",
        "language": "pt-BR",
        "roles": ["Mentor", "Mentee"],  # duplicates once, order kept
    }
    with pytest.raises(errors.ValidationFailed, match="`title` is required"):
        metadata.validate({"description": "x"}, partial=False)


def test_partial_checks_only_what_is_present():
    assert metadata.validate({}, partial=True) == {}
    assert metadata.validate({"description": None}, partial=True) == {"description": None}
    assert metadata.validate({"roles": None}, partial=True) == {"roles": []}
    assert metadata.validate({"category": "  "}, partial=True) == {"category": None}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"title": None}, "`title` is required"),
        ({"title": ""}, "`title` must not be empty"),
        ({"title": 3}, "`title` must be a string"),
        ({"title": "a\nb"}, "`title` must be a single line"),
        ({"title": "t" * (metadata.TITLE_MAX + 1)}, "`title` is longer than"),
        ({"title": "bell\x07"}, "`title` contains control characters"),
        ({"title": "lone \ud800"}, "`title` contains control characters"),
        ({"description": "d" * (metadata.DESCRIPTION_MAX + 1)}, "`description` is longer"),
        ({"category": "a\tb"}, "`category` must be a single line"),
        ({"language": "english!"}, "`language` must be a language tag"),
        ({"language": "e"}, "`language` must be a language tag"),
        ({"roles": "Mentor"}, "`roles` must be a list"),
        ({"roles": [1]}, "`roles` must be a string"),
        ({"roles": [""]}, "`roles` must not be empty"),
        ({"roles": ["r"] * (metadata.ROLES_MAX + 1)}, "`roles` has more than"),
        ({"owner": "me"}, "unknown field"),
    ],
)
def test_bad_values_name_the_field(values, message):
    with pytest.raises(errors.ValidationFailed, match=message):
        metadata.validate(values, partial=True)


def test_limits_are_inclusive():
    longest = {"title": "t" * metadata.TITLE_MAX, "roles": ["r"] * metadata.ROLES_MAX}
    assert metadata.validate(longest, partial=True)["title"] == longest["title"]
