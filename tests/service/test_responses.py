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
