"""/uploads/direct is its own resource, not a tus upload whose id is `direct` (issue 21,
item 12): a method it does not take is 405 with its `Allow`, not the tus route's 412."""

from __future__ import annotations

import httpx
import pytest

from tests.service.test_app import assert_error
from tests.service.uploads.test_tus import TUS


@pytest.mark.parametrize("method", ["PATCH", "DELETE", "GET", "PUT"])
@pytest.mark.parametrize("tus", [False, True])
def test_a_method_direct_uploads_do_not_take_is_405(admin: httpx.Client, method, tus):
    response = admin.request(method, "/uploads/direct", headers=TUS if tus else {})
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
def test_head_and_options_are_405_too(admin: httpx.Client, method):
    response = admin.request(method, "/uploads/direct", headers=TUS)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_tus_uploads_keep_their_urls(admin: httpx.Client):
    assert (
        admin.head("/uploads/0b7d6b4e-3a39-4a8e-9e4e-6f7d0b0a3f11", headers=TUS).status_code == 404
    )
    assert admin.head("/uploads/directory", headers=TUS).status_code == 404
    assert admin.options("/uploads/0b7d6b4e-3a39-4a8e-9e4e-6f7d0b0a3f11").status_code == 204
