"""A key's scopes mean in the console what they mean in the API: no page or form shows a key
file data, or a presigned URL to its bytes, that the API would refuse it (issue 21, item 1)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.console.conftest import csrf_of, sign_in, wait_until_clean
from tests.service.conftest import Service
from tests.service.helpers import png

TITLE = "Private: layoffs plan"
FILENAME = "layoffs-plan.png"


@pytest.fixture(scope="module")
def stored(console: Service) -> dict:
    with console.client() as admin:
        answer = admin.post(
            "/files", files={"file": (FILENAME, png(), "image/png")}, data={"title": TITLE}
        )
    assert answer.status_code == 201, answer.text
    wait_until_clean(console, answer.json()["id"])
    return answer.json()


def _key(console: Service, scopes: list[str]) -> str:
    with console.client() as admin:
        made = admin.post("/keys", json={"name": "-".join(scopes), "scopes": scopes})
    assert made.status_code == 201, made.text
    return made.json()["key"]


@pytest.fixture(scope="module")
def write_only_key(console: Service) -> str:
    return _key(console, ["write"])


@pytest.fixture(scope="module")
def write_only(console: Service, write_only_key: str) -> Iterator[httpx.Client]:
    """A console session of a write-only key."""
    with httpx.Client(base_url=console.url, timeout=30) as client:
        assert sign_in(client, write_only_key).status_code == 303
        yield client


def _csrf(client: httpx.Client) -> str:
    # The upload page is the one page a write-only key may open: its CSRF token is the session's.
    page = client.get("/console/upload")
    assert page.status_code == 200, page.text
    return csrf_of(page)


def _shows_file_data(page: httpx.Response, stored: dict) -> bool:
    return TITLE in page.text or FILENAME in page.text or "X-Amz-Signature" in page.text


def test_the_api_refuses_the_write_only_key_the_file(console: Service, stored, write_only_key):
    with console.client(write_only_key) as api:
        assert api.get(f"/files/{stored['id']}").status_code == 403
        assert api.get(f"/files/{stored['id']}/content").status_code == 403


@pytest.mark.parametrize("path", ["", "/delete", "/download"])
def test_a_write_only_key_gets_no_file_page(stored, write_only, path):
    page = write_only.get(f"/console/files/{stored['id']}{path}")
    assert page.status_code == 403, page.text
    assert "lacks the `read` scope" in page.text
    assert not _shows_file_data(page, stored)
    assert "location" not in page.headers


def test_a_write_only_key_gets_no_file_page_from_a_refused_edit(stored, write_only):
    """An invalid edit used to answer 422 with the whole file page, the preview's presigned
    URL included."""
    csrf = _csrf(write_only)
    answer = write_only.post(
        f"/console/files/{stored['id']}", data={"csrf": csrf, "title": "", "roles": []}
    )
    assert answer.status_code == 403, answer.text
    assert not _shows_file_data(answer, stored)
    assert not re.search(r'<img src="http', answer.text)


def test_a_write_only_key_gets_no_file_list(stored, write_only):
    page = write_only.get("/console/files")
    assert page.status_code == 403
    assert not _shows_file_data(page, stored)


def test_a_read_and_write_key_still_edits_and_previews(console: Service, stored):
    key = _key(console, ["read", "write"])
    with httpx.Client(base_url=console.url, timeout=30) as client:
        assert sign_in(client, key).status_code == 303
        page = client.get(f"/console/files/{stored['id']}")
        assert page.status_code == 200 and TITLE in page.text
        refused = client.post(
            f"/console/files/{stored['id']}", data={"csrf": csrf_of(page), "title": ""}
        )
        assert refused.status_code == 422 and TITLE in refused.text
        assert client.get(f"/console/files/{stored['id']}/delete").status_code == 200
