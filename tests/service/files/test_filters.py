"""service/files/filters.py: GET /files query parameters -> a FileQuery -> SQL conditions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from service import errors
from service.files import filters as file_filters
from service.files.domain import visible_to
from service.files.filters import (
    MAX_Q_LENGTH,
    FileQuery,
    InvalidFilter,
    MalformedFilter,
    Resolved,
    conditions,
    parse_file_query,
    parse_instant,
)

KNOWN = ("pdf", "png", "mp4")
PLUS_TWO = timezone(timedelta(hours=2))


def test_no_filters():
    assert parse_file_query({"limit": "5", "cursor": "x"}, KNOWN) == FileQuery()
    # Present, even empty, is parsed (and refused): only absent parameters are skipped.
    for name in ("type", "uploaded_after", "uploaded_before"):
        with pytest.raises(InvalidFilter):
            parse_file_query({"limit": "5", name: ""}, KNOWN)
    assert conditions(FileQuery(), Resolved()) == []


def test_values_are_trimmed_and_canonical():
    query = parse_file_query(
        {"category": " Skills ", "language": "PT_br", "role": "Mentor", "type": "pdf",
         "q": " a b "},
        KNOWN,
    )  # fmt: skip
    assert query == FileQuery(category="Skills", language="pt-BR", role="Mentor", type="pdf",
                              q="a b")  # fmt: skip
    assert parse_file_query({"category": "   "}, KNOWN) == FileQuery()  # blank = absent


def test_a_type_is_a_listed_id_exactly():
    # The OpenAPI document declares the ids as an enum: `PDF` is not one of them.
    with pytest.raises(InvalidFilter, match="PDF"):
        parse_file_query({"type": "PDF"}, KNOWN)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-01T10:30:00", datetime(2026, 3, 1, 10, 30, tzinfo=UTC)),
        ("2026-03-01T10:30:00Z", datetime(2026, 3, 1, 10, 30, tzinfo=UTC)),
        # A "+" in a query string arrives as a space.
        ("2026-03-01T10:30:00 02:00", datetime(2026, 3, 1, 10, 30, tzinfo=PLUS_TWO)),
    ],
)  # fmt: skip
def test_instants(value, expected):
    assert parse_instant(value, "uploaded_after") == expected


@pytest.mark.parametrize(
    ("params", "field", "api_error"),
    [
        ({"uploaded_after": "yesterday"}, "uploaded_after", errors.InvalidParameter),
        ({"uploaded_before": "2026-13-01"}, "uploaded_before", errors.InvalidParameter),
        ({"type": "exe"}, "type", errors.ValidationFailed),
        ({"language": "english!"}, "language", errors.ValidationFailed),
        ({"category": "c" * 101}, "category", errors.ValidationFailed),
        ({"role": "bell\x07"}, "role", errors.ValidationFailed),
        ({"q": "q" * (MAX_Q_LENGTH + 1)}, "q", errors.ValidationFailed),
        (
            {"uploaded_after": "2026-03-02", "uploaded_before": "2026-03-02"},
            "uploaded_before",
            errors.ValidationFailed,
        ),
    ],
)
def test_bad_values_name_the_parameter(params, field, api_error):
    with pytest.raises(InvalidFilter) as caught:
        parse_file_query(params, KNOWN)
    assert caught.value.field == field
    assert errors.from_exception(caught.value).__class__ is api_error
    assert isinstance(caught.value, MalformedFilter) == (api_error is errors.InvalidParameter)


def test_each_filter_adds_one_condition_with_resolved_ids():
    query = parse_file_query(
        {"category": "Skills", "language": "en", "role": "Mentor", "type": "pdf", "q": "x",
         "uploaded_after": "2026-01-01", "uploaded_before": "2026-02-01"},
        KNOWN,
    )  # fmt: skip
    found = conditions(query, Resolved(category_id=7, role_id=3, acting_role_id=9))
    assert found == [
        ("category_id = %s", [7]),
        ("language = %s", ["en"]),
        ("type = %s", ["pdf"]),
        ("role_ids @> ARRAY[%s]::integer[]", [3]),
        ("search_folded @@ to_tsquery('silo_search', %s)", ["'x':*"]),
        ("created_at >= %s", [datetime(2026, 1, 1, tzinfo=UTC)]),
        ("created_at < %s", [datetime(2026, 2, 1, tzinfo=UTC)]),
    ]
    # The acting role is not a filter of the query: its visibility is the files domain's rule.
    assert all("role_ids = '{}'" not in c for c, _ in found)


def test_visibility_is_one_condition_only_with_an_acting_role():
    assert visible_to(None) == []
    (rule,) = visible_to(9)
    assert rule.params == [9]


def test_only_names_need_the_database():
    assert not file_filters.names_to_resolve(FileQuery(), None)
    assert not file_filters.names_to_resolve(FileQuery(type="pdf", q="x", scan="clean"), None)
    assert file_filters.names_to_resolve(FileQuery(), "Mentor")
    for name in ("category", "role", "language"):
        assert file_filters.names_to_resolve(FileQuery(**{name: "x"}), None), name
