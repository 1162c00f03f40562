"""JSON bodies of the file endpoints (rendered with orjson): the same bytes Starlette's
JSONResponse writes (compact, UTF-8, non-ASCII unescaped), checked over HTTP."""

from __future__ import annotations

import json

import httpx
from starlette.responses import JSONResponse as StarletteJSONResponse

from service.responses import JSONResponse
from tests.service.conftest import Service
from tests.service.helpers import pdf, upload


def starlette_bytes(content) -> bytes:
    return StarletteJSONResponse(content).body


def test_render_matches_starlette():
    content = {"title": 'Société Générale ✓ "q" \\ \n', "n": [1, 2.5, None, True], "e": {}}
    assert JSONResponse(content).body == starlette_bytes(content)
    assert JSONResponse(content).headers["content-type"] == "application/json"


def test_file_bodies_are_compact_utf8_json(service: Service, admin: httpx.Client):
    created = upload(admin, pdf(), fields={"title": "Café crème — naïve", "description": "x"})
    assert created.status_code == 201, created.text
    one = admin.get(f"/files/{created.json()['id']}")
    page = admin.get("/files", params={"limit": "3"})
    for response in (created, one, page):
        assert response.headers["content-type"] == "application/json"
        assert response.content == starlette_bytes(json.loads(response.content))
    assert "Café crème — naïve".encode() in one.content


def _stringified(obj: dict) -> dict:
    """The file object as it was built before orjson rendered UUIDs and datetimes itself."""
    out = dict(obj)
    out["id"] = str(obj["id"])
    for name in ("created_at", "updated_at"):
        value = obj[name]
        out[name] = value if isinstance(value, str) else value.isoformat()
    scanned_at = obj["scan"]["scanned_at"]
    if scanned_at is not None and not isinstance(scanned_at, str):
        out["scan"] = {**obj["scan"], "scanned_at": scanned_at.isoformat()}
    return out


def test_file_object_renders_uuids_and_timestamps_as_str_and_isoformat():
    import uuid
    from datetime import UTC, datetime, timedelta, timezone
    from zoneinfo import ZoneInfo

    from service.routes.files import file_object

    instants = [
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no fraction: none written
        datetime(2026, 6, 2, 3, 4, 5, 120000, tzinfo=ZoneInfo("Asia/Kolkata")),
        # Offsets with seconds: orjson would round them to minutes, isoformat keeps them.
        datetime(1890, 1, 1, tzinfo=ZoneInfo("Europe/Amsterdam")),
        datetime(2026, 1, 1, tzinfo=timezone(timedelta(seconds=3661))),
    ]
    for at in instants:
        row = {
            "id": uuid.uuid4(), "title": "t", "description": None, "category": None,
            "language": "en", "roles": ["a", "b"], "filename": "f.pdf",
            "content_type": "application/pdf", "type": "pdf", "size": 3, "sha256": "00",
            "created_at": at, "updated_at": at + timedelta(microseconds=1),
            "uploaded_by": "k", "role_ids": [1, 2], "object_key": "x",
            "scan_status": "clean", "scanned_at": at, "scan_engine": "clamav",
        }  # fmt: skip
        obj = file_object(row)
        assert JSONResponse(obj).body == starlette_bytes(_stringified(obj)), at
        assert json.loads(JSONResponse(obj).body)["created_at"] == at.isoformat()
