"""JSON bodies of the file endpoints (rendered with orjson): the same bytes Starlette's
JSONResponse writes (compact, UTF-8, non-ASCII unescaped), checked over HTTP."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx
import psycopg
from psycopg import sql
from starlette.responses import JSONResponse as StarletteJSONResponse

from service.api.responses import JSONResponse
from service.settings import from_environ
from tests.infra import PostgresServer, S3Endpoint
from tests.service.conftest import ADMIN_KEY, Service, serve, service_env
from tests.service.helpers import pdf, upload
from tests.support.databases import migrated_database


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


def test_timestamps_are_utc_isoformat_whatever_the_database_time_zone(
    pg: PostgresServer, s3: S3Endpoint, aws_credentials
):
    """The rows are rendered as they come from the database, so their timestamps must be UTC:
    the pool's sessions ask for it, even from a database whose own time zone is not. The
    scan's time too (SILO_SCAN=off here: stored clean, with a time)."""
    database_url = migrated_database(pg)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET timezone = 'Asia/Kolkata'").format(
                sql.Identifier(conn.info.dbname)
            )
        )
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SHOW timezone").fetchone()[0] == "Asia/Kolkata"
    settings = from_environ(service_env(database_url, s3, s3.create_bucket()))
    try:
        with (
            serve(settings) as url,
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client,
        ):
            created = upload(client, pdf(), fields={"title": "t"})
            assert created.status_code == 201, created.text
            file_id = created.json()["id"]
            one = client.get(f"/files/{file_id}").json()
            listed = client.get("/files").json()["items"]
            patched = client.patch(f"/files/{file_id}", json={"title": "u"}).json()
    finally:
        pg.drop_database(database_url)
    assert one == created.json() == listed[0]
    for body in (one, patched):
        assert set(body["scan"]) == {"status", "scanned_at", "engine"}, body
        assert body["scan"]["status"] == "clean", body
        for text in (body["created_at"], body["updated_at"], body["scan"]["scanned_at"]):
            at = datetime.fromisoformat(text)
            assert at.utcoffset() == timedelta(0), body
            assert text == at.isoformat(), body  # +00:00, six fractional digits or none
    assert patched["created_at"] == one["created_at"] < patched["updated_at"]
