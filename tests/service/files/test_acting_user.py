"""X-Silo-* headers: the acting user, validated (bad values are 422 naming the header)."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from service.files.acting_user import ActingUser, InvalidActingUser, parse_acting_user
from service.files.countries import ASSIGNED_ALPHA2


def parse(**headers: str) -> ActingUser:
    raw = [(k.replace("_", "-").encode(), v.encode("utf-8")) for k, v in headers.items()]
    # As Starlette hands them over: bytes decoded as latin-1.
    return parse_acting_user(Headers(raw=raw))


def test_no_headers_is_an_anonymous_caller():
    assert parse() == ActingUser()
    assert parse().anonymous


def test_all_headers_are_read_and_normalised():
    who = parse(
        x_silo_user=" user-42 ",
        x_silo_role="Mentee/Coachee",
        x_silo_country="FR",
        x_silo_company="Société Générale",
    )
    assert who == ActingUser("user-42", "Mentee/Coachee", "FR", "Société Générale")


@pytest.mark.parametrize(
    ("header", "display"),
    [
        ("x_silo_user", "X-Silo-User"),
        ("x_silo_role", "X-Silo-Role"),
        ("x_silo_country", "X-Silo-Country"),
        ("x_silo_company", "X-Silo-Company"),
    ],
)
@pytest.mark.parametrize("value", ["", "  "])
def test_a_present_header_must_not_be_empty(header, display, value):
    # An empty X-Silo-Role used to count as "no role", which sees every file.
    with pytest.raises(InvalidActingUser) as caught:
        parse(**{header: value})
    assert caught.value.header == display


@pytest.mark.parametrize(
    "code",
    ["XX", "UK", "EU", "ZZ", "AA", "QZ", "XK", "AN", "F", "FRA", "F1", "12", "É", "fr", "Fr"],
)
def test_unassigned_or_malformed_country_codes_are_rejected(code):
    with pytest.raises(InvalidActingUser) as caught:
        parse(x_silo_country=code)
    assert caught.value.header == "X-Silo-Country"
    assert "X-Silo-Country" in caught.value.message


def test_the_country_list_is_the_assigned_iso_3166_set():
    assert len(ASSIGNED_ALPHA2) == 249
    for code in ("FR", "IT", "GB", "US", "SS", "CW", "SX", "BQ", "AX", "TL", "ME", "RS", "PS"):
        assert code in ASSIGNED_ALPHA2
    for gone in ("AN", "YU", "CS", "TP", "ZR", "UK", "EU"):
        assert gone not in ASSIGNED_ALPHA2


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x_silo_company", "a" * 201),
        ("x_silo_user", "u" * 201),
        ("x_silo_role", "r" * 101),
        ("x_silo_company", "Acme\x07Corp"),
        ("x_silo_user", "bob\x00"),
        ("x_silo_company", "Acme\u200bCorp"),  # zero-width space (format character)
    ],
)
def test_too_long_or_control_characters_are_rejected(header, value):
    with pytest.raises(InvalidActingUser) as caught:
        parse(**{header: value})
    assert caught.value.header == "-".join(p.capitalize() for p in header.split("_"))


def test_limits_are_inclusive():
    who = parse(x_silo_company="c" * 200, x_silo_user="u" * 200, x_silo_role="r" * 100)
    assert len(who.company) == 200


def test_bytes_that_are_not_utf8_are_rejected():
    headers = Headers(raw=[(b"x-silo-company", b"Soci\xe9t\xe9")])  # latin-1, not UTF-8
    with pytest.raises(InvalidActingUser) as caught:
        parse_acting_user(headers)
    assert "UTF-8" in caught.value.message
