"""The files pages over HTTP, as a browser without JavaScript sees them: filters, keyset pages,
a file's page (preview by type, download), deletion with a confirmation. The module's service
(the `console` fixture) is its own, so the lists hold only what these tests uploaded."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from service.console.files import PAGE_SIZE
from tests.console.conftest import csrf_of, sign_in, wait_until_clean
from tests.service.conftest import Service
from tests.service.helpers import pdf, png


@pytest.fixture
def signed_in(console: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console.url, timeout=30) as client:
        assert sign_in(client).status_code == 303
        yield client


def upload(console: Service, title: str, **fields) -> dict:
    name, data, mime = fields.pop("file", ("a.png", png(), "image/png"))
    with console.client() as admin:
        answer = admin.post(
            "/files", files={"file": (name, data, mime)}, data={"title": title, **fields}
        )
    assert answer.status_code == 201, answer.text
    wait_until_clean(console, answer.json()["id"])
    return answer.json()


def titles(page: httpx.Response) -> list[str]:
    return re.findall(
        r'<td data-label="Title"><a href="/console/files/[^"]+">([^<]+)</a>', page.text
    )


def test_keyset_pages_newest_first_keeping_the_filters(console, signed_in):
    made = [upload(console, f"Paged {i:02d}", category="Skills") for i in range(PAGE_SIZE + 3)]
    upload(console, "Paged but elsewhere", category="Soft skills")
    first = signed_in.get("/console/files", params={"category": "Skills"})
    assert first.status_code == 200
    newest = [f["title"] for f in reversed(made)]
    assert titles(first) == newest[:PAGE_SIZE]
    next_url = re.search(r'<a href="(/console/files\?[^"]+)" rel="next">', first.text).group(1)
    second = signed_in.get(next_url.replace("&amp;", "&"))
    assert titles(second) == newest[PAGE_SIZE:]
    assert 'rel="next"' not in second.text
    assert "First page" in second.text


def test_every_filter_of_the_api_is_offered_and_applied(console, signed_in):
    upload(
        console,
        "Mentor handbook",
        language="fr",
        roles="Mentor/Coach",
        description="how to listen",
    )
    upload(console, "Minutes", file=("m.pdf", pdf(3000), "application/pdf"))
    form = signed_in.get("/console/files")
    for name in ("q", "category", "language", "role", "type", "uploaded_after", "uploaded_before"):
        assert f'name="{name}"' in form.text, name
    assert titles(signed_in.get("/console/files", params={"q": "listen"})) == ["Mentor handbook"]
    assert titles(signed_in.get("/console/files", params={"language": "fr"})) == ["Mentor handbook"]
    by_role = titles(signed_in.get("/console/files", params={"role": "Mentor/Coach"}))
    assert by_role == ["Mentor handbook"]
    assert titles(signed_in.get("/console/files", params={"type": "pdf"})) == ["Minutes"]
    # A form submits its empty fields: they mean "any", as leaving the parameter out does.
    empty = {"q": "listen", "category": "", "type": "", "uploaded_after": "", "uploaded_before": ""}
    assert titles(signed_in.get("/console/files", params=empty)) == ["Mentor handbook"]
    future = signed_in.get("/console/files", params={"uploaded_after": "2999-01-01"})
    assert titles(future) == [] and "match these filters" in future.text


def test_a_bad_filter_is_shown_next_to_its_field(signed_in):
    page = signed_in.get("/console/files", params={"uploaded_before": "yesterday"})
    assert page.status_code == 400  # the API's status for it: not a date at all
    assert re.search(
        r'id="uploaded_before"[^>]*aria-describedby="uploaded_before-error"', page.text
    )
    assert re.search(
        r'<p class="error" id="uploaded_before-error">`uploaded_before` must be', page.text
    )
    page = signed_in.get("/console/files", params={"category": "Nonexistent"})
    assert page.status_code == 422
    assert "category &#39;Nonexistent&#39; is not in the taxonomy" in page.text


def test_previews_by_type_and_the_download_redirect(console, signed_in):
    image = upload(console, "Picture")
    document = upload(console, "Paper", file=("p.pdf", pdf(3000), "application/pdf"))
    page = signed_in.get(f"/console/files/{image['id']}")
    assert re.search(r'<img src="[^"]+" alt="Preview of a.png">', page.text)
    page = signed_in.get(f"/console/files/{document['id']}")
    frame = re.search(r'<iframe src="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    assert (
        "frame-src " + console.s3.endpoint_url.rstrip("/")
        in page.headers["content-security-policy"]
    )
    # The preview is shown inline (a download would be saved instead), through storage.
    shown = httpx.get(frame)
    assert shown.status_code == 200 and shown.content.startswith(b"%PDF")
    assert shown.headers["content-disposition"].startswith("inline;")
    download = signed_in.get(f"/console/files/{document['id']}/download")
    assert download.status_code == 302
    saved = httpx.get(download.headers["location"])
    assert saved.headers["content-disposition"].startswith("attachment;")
    assert saved.content == shown.content


def test_delete_asks_first_then_deletes(console, signed_in):
    doomed = upload(console, "Doomed")
    confirm = signed_in.get(f"/console/files/{doomed['id']}/delete")
    assert confirm.status_code == 200 and "Delete “Doomed”?" in confirm.text
    with console.client() as admin:
        assert admin.get(f"/files/{doomed['id']}").status_code == 200  # asking deleted nothing
    done = signed_in.post(f"/console/files/{doomed['id']}/delete", data={"csrf": csrf_of(confirm)})
    assert done.status_code == 303 and done.headers["location"] == "/console/files?deleted=1"
    assert "The file was deleted." in signed_in.get(done.headers["location"]).text
    with console.client() as admin:
        assert admin.get(f"/files/{doomed['id']}").status_code == 404
    gone = signed_in.get(f"/console/files/{doomed['id']}")
    assert gone.status_code == 404 and "No such file" in gone.text


def test_an_edit_changes_every_field_through_the_api_rules(console, signed_in):
    file = upload(console, "Before", category="Skills", language="en")
    page = signed_in.get(f"/console/files/{file['id']}")
    saved = signed_in.post(
        f"/console/files/{file['id']}",
        data={
            "csrf": csrf_of(page),
            "title": "  After  ",
            "description": "New words",
            "category": "",
            "language": "it",
            "roles": ["Mentee/Coachee", "Mentor/Coach"],
        },
    )
    assert saved.status_code == 303
    with console.client() as admin:
        now = admin.get(f"/files/{file['id']}").json()
    assert now["title"] == "After"  # trimmed, as PATCH trims it
    assert (now["description"], now["category"], now["language"]) == ("New words", None, "it")
    assert sorted(now["roles"]) == ["Mentee/Coachee", "Mentor/Coach"]
    refused = signed_in.post(
        f"/console/files/{file['id']}",
        data={"csrf": csrf_of(page), "title": "Fine", "roles": ["Nobody"]},
    )
    assert refused.status_code == 422
    assert re.search(r'<p class="error" id="roles-error">[^<]*Nobody', refused.text)
    # What was typed stays in the form, and nothing changed.
    assert 'value="Fine"' in refused.text
    with console.client() as admin:
        assert admin.get(f"/files/{file['id']}").json()["title"] == "After"


def test_a_file_not_known_clean_is_not_served_and_says_why(console, signed_in):
    """The domain's scan rule, shown: no preview or download of an infected file; admins find
    such files with the scan filter, other keys are not offered it."""
    file = upload(console, "Suspicious")
    with psycopg.connect(console.settings.database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE files SET scan_status = 'infected', scan_engine = 'clamav' WHERE id = %s",
            (file["id"],),
        )
    page = signed_in.get(f"/console/files/{file['id']}")
    assert page.status_code == 200
    assert "<img" not in page.text
    assert "The file was found infected by the malware scan and is not served." in page.text
    download = signed_in.get(f"/console/files/{file['id']}/download")
    assert download.status_code == 410 and "infected" in download.text
    assert titles(signed_in.get("/console/files", params={"scan": "infected"})) == ["Suspicious"]
    _, key = new_key(console, "read")
    with httpx.Client(base_url=console.url, timeout=30) as reader:
        assert sign_in(reader, key).status_code == 303
        assert 'name="scan"' not in reader.get("/console/files").text
        refused = reader.get("/console/files", params={"scan": "infected"})
        assert refused.status_code == 403
        assert '<p class="error" id="scan-error">the `scan` filter needs an admin key' in (
            refused.text
        )


def new_key(console: Service, *scopes: str) -> tuple[str, str]:
    with console.client() as admin:
        created = admin.post("/keys", json={"name": "console test", "scopes": list(scopes)})
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["key"]
