"""The console's pure helpers: the Content-Security-Policy, which field an error is about, the
same-origin check, and where sign-in may send the browser back to."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from service import errors
from service.console import pages
from service.console.signin import _next
from service.files import filters as file_filters
from service.files import taxonomy


def test_the_policy_allows_nothing_inline_and_storage_only_for_media():
    plain = pages.content_security_policy()
    assert "script-src 'self'" in plain and "style-src 'self'" in plain
    assert "media-src 'none'" in plain and "frame-src 'none'" in plain
    assert "unsafe" not in plain
    storage = "https://b.s3.eu-west-1.amazonaws.com"
    with_media = pages.content_security_policy([storage, storage])
    assert f"img-src 'self' {storage};" in with_media
    assert f"media-src {storage};" in with_media and f"frame-src {storage};" in with_media
    assert with_media.count(storage) == 3  # once per directive, however often it was given


@pytest.mark.parametrize(
    ("exc", "field"),
    [
        (errors.ValidationFailed("`title` is longer than 200 characters"), "title"),
        (taxonomy.InvalidValue("category", "x"), "category"),
        (
            file_filters.InvalidFilter("uploaded_after", "`uploaded_after` must be a date"),
            "uploaded_after",
        ),
        (errors.ValidationFailed("invalid request"), None),
    ],
)
def test_an_error_names_its_field(exc, field):
    assert pages.field_of(exc) == field


def request_with(**headers: str) -> Request:
    raw = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw})


@pytest.mark.parametrize(
    ("headers", "same"),
    [
        ({"host": "pack.example.com"}, True),  # not a browser: no ambient cookie to abuse
        ({"host": "pack.example.com", "origin": "https://pack.example.com"}, True),
        ({"host": "pack.example.com", "origin": "https://hrcomp.example.com"}, False),
        ({"host": "pack.example.com", "origin": "null"}, False),
        ({"host": "pack.example.com", "sec_fetch_site": "same-origin"}, True),
        # Another tenant's console is the same site (a sibling host): still refused.
        ({"host": "pack.example.com", "sec_fetch_site": "same-site"}, False),
        ({"host": "pack.example.com", "sec_fetch_site": "cross-site"}, False),
    ],
)
def test_same_origin(headers, same):
    assert pages.same_origin(request_with(**headers)) is same


@pytest.mark.parametrize(
    ("asked", "landing"),
    [
        (None, "/console"),
        ("/console", "/console"),
        ("/console/files/abc?saved=1", "/console/files/abc?saved=1"),
        ("/console/../files", "/console"),
        ("/console\\@evil.example", "/console"),
        ("javascript:alert(1)", "/console"),
    ],
)
def test_next_stays_in_the_console(asked, landing):
    assert _next(asked) == landing
