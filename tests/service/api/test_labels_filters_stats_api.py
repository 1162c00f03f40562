"""Over HTTP: taxonomy endpoints, label validation, GET /files filters, role
visibility, the acting user, usage tracking and GET /stats."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from tests.service.conftest import Service, running_service
from tests.service.helpers import jpeg, multipart, new_boundary, part, pdf, png, post_multipart
from tests.service.helpers import upload as raw_upload
from tests.service.test_app import assert_error
from tests.support.waiting import eventually

MENTOR, MENTEE = "Mentor/Coach", "Mentee/Coachee"


def upload(client: httpx.Client, title: str, *, data: bytes | None = None, **fields) -> dict:
    form: dict = {"title": title}
    for name, value in fields.items():
        if value is not None:
            form[name] = value
    name, ctype = {b"\x89P": ("f.png", "image/png"), b"\xff\xd8": ("f.jpg", "image/jpeg")}.get(
        (data or b"%P")[:2], ("f.pdf", "application/pdf")
    )
    response = raw_upload(client, data or pdf(), filename=name, content_type=ctype, fields=form)
    assert response.status_code == 201, response.text
    return response.json()


def titles(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


def all_titles(client: httpx.Client, params: dict, headers: dict | None = None) -> list[str]:
    """Every page, two at a time, so filters are checked across cursors too."""
    out, cursor = [], None
    while True:
        response = client.get(
            "/files", params={**params, "limit": 2, **({"cursor": cursor} if cursor else {})},
            headers=headers or {},
        )  # fmt: skip
        out += titles(response)
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return out


@pytest.fixture(scope="module")
def svc(pg, s3, aws_credentials) -> Iterator[Service]:
    with running_service(pg, s3, SILO_EVENTS_FLUSH_MS="50") as service:
        yield service


@pytest.fixture(scope="module")
def admin(svc: Service) -> Iterator[httpx.Client]:
    with svc.client() as client:
        yield client


@pytest.fixture(scope="module")
def labelled(admin: httpx.Client) -> dict[str, dict]:
    """Six files with known labels, uploaded oldest first (newest first in listings)."""
    specs = [
        ("leadership basics", dict(category="Skills", language="en", roles=[MENTOR])),
        ("conflict at work", dict(category="Conflict resolution", language="it", roles=[MENTEE])),
        (
            "feedback for mentors",
            dict(category="Soft skills", language="en", roles=[MENTOR, MENTEE]),
        ),
        ("open leadership talk", dict(category="Skills", language="fr")),
        ("picture of a team", dict(category="Skills", language="en", roles=[MENTOR], data=png())),
        ("unlabelled photo", dict(data=jpeg(), description="a leadership retreat")),
    ]
    made = {}
    for title, fields in specs:
        made[title] = upload(admin, title, **fields)
        time.sleep(0.01)  # distinct created_at, for the date filters
    return made


# --- taxonomy endpoints --------------------------------------------------------------------------


def test_defaults_are_seeded_and_listed(admin):
    assert [c["name"] for c in admin.get("/categories").json()["items"]] == [
        "Conflict resolution",
        "Skills",
        "Soft skills",
    ]
    assert admin.get("/languages").json()["items"] == [
        {"code": "en", "name": "English"},
        {"code": "fr", "name": "Français"},
        {"code": "it", "name": "Italiano"},
    ]
    assert sorted(r["name"] for r in admin.get("/roles").json()["items"]) == [MENTEE, MENTOR]


def test_seeding_comes_from_silo_taxonomy(pg, s3, aws_credentials):
    taxonomy = '{"categories": ["Onboarding"], "languages": {"de": "Deutsch"}, "roles": []}'
    with running_service(pg, s3, SILO_TAXONOMY=taxonomy) as service, service.client() as c:
        assert [x["name"] for x in c.get("/categories").json()["items"]] == ["Onboarding"]
        assert c.get("/languages").json()["items"] == [{"code": "de", "name": "Deutsch"}]
        assert c.get("/roles").json()["items"] == []


def test_admin_creates_renames_and_deletes(svc, admin, labelled):
    made = admin.post("/categories", json={"name": "Leadership"})
    assert made.status_code == 201, made.text
    category = made.json()
    assert made.headers["location"] == f"/categories/{category['id']}"
    assert_error(admin.post("/categories", json={"name": "leadership"}), 409, "already_exists")
    assert_error(admin.post("/categories", json={"name": ""}), 422, "validation_error")
    assert_error(admin.post("/categories", json={"title": "x"}), 422, "validation_error")
    renamed = admin.patch(f"/categories/{category['id']}", json={"name": "Leading"})
    assert renamed.json() == {"id": category["id"], "name": "Leading"}
    assert admin.delete(f"/categories/{category['id']}").status_code == 204
    assert_error(admin.delete(f"/categories/{category['id']}"), 404, "not_found")
    assert_error(admin.patch("/categories/abc", json={"name": "x"}), 404, "not_found")

    lang = admin.post("/languages", json={"code": "pt-br", "name": "Português"})
    assert lang.status_code == 201 and lang.json() == {"code": "pt-BR", "name": "Português"}
    assert_error(admin.post("/languages", json={"code": "xx-yy-zz-1", "name": "?"}), 422,
                 "validation_error")  # fmt: skip
    assert admin.delete("/languages/pt-BR").status_code == 204

    role = admin.post("/roles", json={"name": "Observer"}).json()
    assert admin.delete(f"/roles/{role['id']}").status_code == 204


def test_deleting_an_entry_in_use_is_409_and_renames_show_on_files(admin, labelled):
    skills = next(c for c in admin.get("/categories").json()["items"] if c["name"] == "Skills")
    mentor = next(r for r in admin.get("/roles").json()["items"] if r["name"] == MENTOR)
    assert_error(admin.delete(f"/categories/{skills['id']}"), 409, "in_use")
    assert_error(admin.delete(f"/roles/{mentor['id']}"), 409, "in_use")
    assert_error(admin.delete("/languages/en"), 409, "in_use")
    file_id = labelled["leadership basics"]["id"]
    try:
        admin.patch(f"/categories/{skills['id']}", json={"name": "Hard skills"})
        assert admin.get(f"/files/{file_id}").json()["category"] == "Hard skills"
        assert titles(admin.get("/files", params={"category": "hard skills"}))[-1] == (
            "leadership basics"
        )
    finally:
        admin.patch(f"/categories/{skills['id']}", json={"name": "Skills"})


def test_taxonomy_scopes(svc, admin):
    read_key = admin.post("/keys", json={"name": "reader", "scopes": ["read"]}).json()["key"]
    with svc.client(read_key) as reader:
        assert reader.get("/roles").status_code == 200
        assert_error(reader.post("/roles", json={"name": "x"}), 403, "forbidden")
        assert_error(reader.delete("/roles/1"), 403, "forbidden")
    with svc.client(None) as anonymous:
        assert_error(anonymous.get("/categories"), 401, "unauthorized")
    response = admin.put("/categories")
    assert_error(response, 405, "method_not_allowed")
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


# --- labels on upload and PATCH ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "value"),
    [
        ({"category": "Cooking"}, "Cooking"),
        ({"language": "de"}, "de"),
        ({"roles": [MENTOR, "Janitor"]}, "Janitor"),
    ],
)
def test_upload_with_a_label_outside_the_taxonomy_is_422_and_stores_nothing(
    svc, admin, fields, value
):
    before = set(svc.objects())
    response = raw_upload(admin, pdf(), fields={"title": "bad label", **fields})
    body = assert_error(response, 422, "validation_error")
    assert value in body["error"]["message"]
    # The same label after the file part: checked at the end, the object is removed again.
    boundary = new_boundary()
    name, raw = next(iter(fields.items()))
    raw = raw if isinstance(raw, list) else [raw]
    parts = [part("title", b"late bad label"), part("file", pdf(), filename="x.pdf")]
    parts += [part(name, v.encode()) for v in raw]
    late = post_multipart(admin, multipart(parts, boundary), boundary)
    assert value in assert_error(late, 422, "validation_error")["error"]["message"]
    assert set(svc.objects()) == before
    assert svc.pending_uploads() == []
    assert "bad label" not in titles(admin.get("/files", params={"q": "bad label"}))


def test_patch_validates_labels(admin, labelled):
    file_id = labelled["open leadership talk"]["id"]
    body = assert_error(
        admin.patch(f"/files/{file_id}", json={"roles": ["Nobody"]}), 422, "validation_error"
    )
    assert "Nobody" in body["error"]["message"]
    assert_error(admin.patch(f"/files/{file_id}", json={"language": "de"}), 422, "validation_error")
    assert admin.get(f"/files/{file_id}").json()["roles"] == []


# --- GET /files filters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["unlabelled photo", "picture of a team", "open leadership talk",
              "feedback for mentors", "conflict at work", "leadership basics"]),
        ({"category": "Skills"}, ["picture of a team", "open leadership talk", "leadership basics"]),  # noqa: E501
        ({"category": "soft skills"}, ["feedback for mentors"]),
        ({"language": "en"}, ["picture of a team", "feedback for mentors", "leadership basics"]),
        ({"language": "IT"}, ["conflict at work"]),
        ({"role": MENTOR}, ["picture of a team", "feedback for mentors", "leadership basics"]),
        ({"role": MENTEE}, ["feedback for mentors", "conflict at work"]),
        ({"type": "png"}, ["picture of a team"]),
        ({"type": "pdf"}, ["open leadership talk", "feedback for mentors", "conflict at work",
                           "leadership basics"]),
        ({"q": "leadership"}, ["unlabelled photo", "open leadership talk", "leadership basics"]),
        ({"q": "LEADERSHIP talk"}, ["open leadership talk"]),
        ({"q": '"at work"'}, ["conflict at work"]),
        ({"q": "leadership -open"}, ["unlabelled photo", "leadership basics"]),
        ({"q": "retreat"}, ["unlabelled photo"]),
        ({"q": "nothingmatches"}, []),
        ({"category": "Skills", "language": "en"}, ["picture of a team", "leadership basics"]),
        ({"category": "Skills", "language": "en", "type": "pdf"}, ["leadership basics"]),
        ({"category": "Skills", "role": MENTOR, "q": "leadership"}, ["leadership basics"]),
        ({"language": "en", "role": MENTEE}, ["feedback for mentors"]),
        ({"category": "Skills", "language": "it"}, []),
        ({"q": "leadership", "type": "jpeg"}, ["unlabelled photo"]),
    ],
)  # fmt: skip
def test_filters_and_their_combinations(admin, labelled, params, expected):
    assert all_titles(admin, params) == expected


def test_date_filters(admin, labelled):
    def created(title: str) -> datetime:
        return datetime.fromisoformat(labelled[title]["created_at"])

    middle = created("feedback for mentors")
    after = all_titles(admin, {"uploaded_after": middle.isoformat()})
    assert after == ["unlabelled photo", "picture of a team", "open leadership talk",
                     "feedback for mentors"]  # fmt: skip
    before = all_titles(admin, {"uploaded_before": middle.isoformat()})
    assert before == ["conflict at work", "leadership basics"]
    window = {
        "uploaded_after": created("conflict at work").isoformat(),
        "uploaded_before": created("picture of a team").isoformat(),
        "language": "en",
    }
    assert all_titles(admin, window) == ["feedback for mentors"]
    day = middle.date().isoformat()
    tomorrow = (middle + timedelta(days=1)).date().isoformat()
    assert len(all_titles(admin, {"uploaded_after": day, "uploaded_before": tomorrow})) >= 6


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"category": "Cooking"}, 422, "validation_error"),
        ({"language": "de"}, 422, "validation_error"),
        ({"language": "not a tag"}, 422, "validation_error"),
        ({"role": "Janitor"}, 422, "validation_error"),
        ({"type": "exe"}, 422, "validation_error"),
        ({"q": "x" * 201}, 422, "validation_error"),
        ({"uploaded_after": "yesterday"}, 400, "invalid_parameter"),
        ({"uploaded_after": "2026-02-01", "uploaded_before": "2026-01-01"}, 422,
         "validation_error"),
    ],
)  # fmt: skip
def test_bad_filter_values(admin, params, status, code):
    body = assert_error(admin.get("/files", params=params), status, code)
    name, value = next(iter(params.items()))
    assert name in body["error"]["message"] or str(value)[:20] in body["error"]["message"]


def test_a_language_filter_is_checked_whatever_the_page_holds(admin, labelled):
    # A language alone is not looked up before the page (rows with it prove it known): an
    # empty page still tells a known language (200) from an unknown one (422).
    assert titles(admin.get("/files", params={"language": "fr", "q": "nothingmatches"})) == []
    assert titles(admin.get("/files", params={"language": "fr", "type": "png"})) == []
    for params in ({"language": "de", "type": "png"}, {"language": "de", "q": "leadership"}):
        body = assert_error(admin.get("/files", params=params), 422, "validation_error")
        assert "language" in body["error"]["message"]
    # With an acting role to resolve anyway, the language is checked first, as before.
    body = assert_error(
        admin.get("/files", params={"language": "de"}, headers={"X-Silo-Role": "Janitor"}),
        422,
        "validation_error",
    )
    assert "language" in body["error"]["message"]


# --- the acting user and role visibility ---------------------------------------------------------


def test_a_mentee_neither_sees_nor_downloads_a_mentor_only_file(admin, labelled):
    mentee = {"X-Silo-Role": MENTEE}
    mentor_only = labelled["leadership basics"]["id"]
    visible = all_titles(admin, {}, mentee)
    assert visible == ["unlabelled photo", "open leadership talk", "feedback for mentors",
                       "conflict at work"]  # fmt: skip
    assert_error(admin.get(f"/files/{mentor_only}", headers=mentee), 404, "not_found")
    assert_error(admin.get(f"/files/{mentor_only}/content", headers=mentee), 404, "not_found")
    assert all_titles(admin, {"category": "Skills"}, mentee) == ["open leadership talk"]
    # A mentor sees it; so does a caller without a role.
    assert admin.get(f"/files/{mentor_only}", headers={"X-Silo-Role": MENTOR}).status_code == 200
    content = admin.get(
        f"/files/{mentor_only}/content", params={"redirect": "false"},
        headers={"X-Silo-Role": "mentor/coach"},
    )  # fmt: skip
    assert content.status_code == 200 and content.json()["url"]
    assert len(all_titles(admin, {})) == 6


def test_a_role_can_neither_change_nor_delete_a_file_it_cannot_see(admin):
    hidden = upload(admin, "mentors only, to be kept", roles=[MENTOR])
    path = f"/files/{hidden['id']}"
    mentee = {"X-Silo-Role": MENTEE}
    for body in ({}, {"title": "renamed"}, {"roles": None}):
        assert_error(admin.patch(path, json=body, headers=mentee), 404, "not_found")
    assert_error(admin.delete(path, headers=mentee), 404, "not_found")
    unchanged = admin.get(path).json()
    assert (unchanged["title"], unchanged["roles"]) == ("mentors only, to be kept", [MENTOR])
    # A role in the audience may change and delete it.
    mentor = {"X-Silo-Role": MENTOR}
    assert admin.patch(path, json={"title": "renamed"}, headers=mentor).json()["title"] == "renamed"
    assert admin.delete(path, headers=mentor).status_code == 204
    assert_error(admin.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("headers", "name"),
    [
        ({"X-Silo-Role": "Janitor"}, "X-Silo-Role"),
        ({"X-Silo-Country": "XX"}, "X-Silo-Country"),
        ({"X-Silo-Country": "UK"}, "X-Silo-Country"),
        ({"X-Silo-Company": "c" * 201}, "X-Silo-Company"),
        ({"X-Silo-User": "u" * 201}, "X-Silo-User"),
    ],
)
def test_bad_acting_user_headers_are_422(admin, labelled, headers, name):
    file_id = labelled["open leadership talk"]["id"]
    for path in ("/files", f"/files/{file_id}", f"/files/{file_id}/content"):
        body = assert_error(admin.get(path, headers=headers), 422, "validation_error")
        assert name in body["error"]["message"]
    # Every method reads them: PATCH and DELETE refuse what GET refuses, and change nothing.
    patched = admin.patch(f"/files/{file_id}", json={"title": "x"}, headers=headers)
    assert name in assert_error(patched, 422, "validation_error")["error"]["message"]
    deleted = admin.delete(f"/files/{file_id}", headers=headers)
    assert name in assert_error(deleted, 422, "validation_error")["error"]["message"]
    assert admin.get(f"/files/{file_id}").json()["title"] == "open leadership talk"


def test_uploaded_by_is_the_acting_user_when_given(admin):
    with_user = raw_upload(
        admin,
        pdf(),
        fields={"title": "by user"},
    )
    assert with_user.json()["uploaded_by"] == "admin"
    response = admin.post(
        "/files",
        data={"title": "on behalf"},
        files={"file": ("a.pdf", pdf(), "application/pdf")},
        headers={"X-Silo-User": "user-42"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["uploaded_by"] == "user-42"
    admin.delete(f"/files/{response.json()['id']}")
    admin.delete(f"/files/{with_user.json()['id']}")


# --- usage tracking and GET /stats ---------------------------------------------------------------


def test_reads_are_recorded_and_counted_in_stats(admin, labelled):
    today = datetime.now().astimezone().date()
    window = {"from": (today - timedelta(days=1)).isoformat(),
              "to": (today + timedelta(days=1)).isoformat()}  # fmt: skip
    start = admin.get("/stats", params=window).json()
    talk = labelled["open leadership talk"]["id"]
    conflict = labelled["conflict at work"]["id"]
    fr = {
        "X-Silo-Country": "FR",
        "X-Silo-Company": "Société Générale".encode(),  # UTF-8 on the wire
        "X-Silo-User": "u1",
        "X-Silo-Role": MENTEE,
    }
    for _ in range(3):
        assert admin.get(f"/files/{talk}/content", headers=fr).status_code == 302
    assert admin.get(f"/files/{conflict}/content", params={"redirect": "false"},
                     headers={"X-Silo-Country": "IT"}).status_code == 200  # fmt: skip
    assert admin.get(f"/files/{talk}", headers=fr).status_code == 200  # a metadata read

    def counted():
        body = admin.get("/stats", params=window).json()
        # The four downloads and the metadata read may reach the rollups in separate flushes.
        done = body["downloads"]["count"] == start["downloads"]["count"] + 4
        read = body["metadata_reads"]["count"] >= start["metadata_reads"]["count"] + 1
        return body if done and read else None

    stats = eventually(counted, message="the events never reached the rollups")
    downloads = stats["downloads"]
    by_country = {x["country"]: x["downloads"] for x in downloads["by_country"]}
    assert by_country["FR"] >= 3 and by_country["IT"] >= 1
    assert {"company": "Société Générale", "downloads": 3} in downloads["by_company"]
    roles = {x["name"]: x["downloads"] for x in downloads["by_role"]}
    assert roles[MENTEE] >= 3
    languages = {x["code"]: x["downloads"] for x in downloads["by_language"]}
    assert languages["fr"] >= 3 and languages["it"] >= 1
    top = {t["title"]: t["downloads"] for t in downloads["top_files"]}
    assert top["open leadership talk"] >= 3
    assert stats["metadata_reads"]["count"] >= start["metadata_reads"]["count"] + 1
    files = stats["files"]
    assert files["files"] >= 6
    assert {"type": "png", "files": 1, "bytes": labelled["picture of a team"]["size"]} in (
        files["by_type"]
    )
    assert_error(admin.get("/stats", params={"from": "soon"}), 422, "validation_error")
    assert_error(admin.get("/stats", params={"from": "2026-02-01", "to": "2026-01-01"}), 422,
                 "validation_error")  # fmt: skip
