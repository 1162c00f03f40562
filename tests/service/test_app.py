"""Health, readiness, the OpenAPI document, request ids and the error shape for unknown routes."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
from starlette.routing import Route

from service.app import create_app
from tests.service.conftest import Service, running_service


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    assert body["error"]["tenant"] == "test-tenant"
    return body


def test_healthz_answers_without_auth(service: Service):
    with service.client(key=None) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.headers["x-request-id"]


def test_readyz_reports_database_and_bucket(service: Service):
    with service.client(key=None) as client:
        response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "bucket": "ok"}


def test_readyz_names_the_missing_bucket(pg, s3, aws_credentials):
    with running_service(pg, s3) as svc:
        s3.client().delete_bucket(Bucket=svc.bucket)
        with svc.client(key=None) as client:
            response = client.get("/readyz")
    body = assert_error(response, 503, "not_ready")
    assert "bucket" in body["error"]["message"]
    assert "database" not in body["error"]["message"]


def test_request_id_is_echoed_when_sane_and_replaced_when_not(service: Service):
    with service.client(key=None) as client:
        assert (
            client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["x-request-id"]
            == "abc-123"
        )
        replaced = client.get("/healthz", headers={"X-Request-Id": "bad id\twith junk"})
    assert replaced.headers["x-request-id"] != "bad id\twith junk"
    assert len(replaced.headers["x-request-id"]) == 32


def test_unknown_route_and_wrong_method_are_json_errors(admin: httpx.Client):
    assert_error(admin.get("/nope"), 404, "not_found")
    response = admin.put("/files")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


CONSOLE = "/console"


def test_cache_budgets_reach_the_caches(service: Service):
    """SILO_KEY_CACHE_BYTES and SILO_RENDERINGS_CACHE_BYTES bound the objects that cache."""
    settings = dataclasses.replace(
        service.settings, key_cache_bytes=2048, renderings_cache_bytes=0, migrate=False
    )
    app = create_app(settings)

    async def built() -> tuple[int, int]:
        async with app.router.lifespan_context(app) as state:
            return state["authenticator"]._cache_budget, state["files"]._rendered._budget

    assert asyncio.run(built()) == (2048, 0)


def test_openapi_documents_every_route_and_method(service: Service):
    with service.client(key=None) as client:
        document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    app = create_app(service.settings)
    for route in app.routes:
        if route.path.startswith(CONSOLE):
            continue  # the web console's pages, not the API (tests/console/)
        assert isinstance(route, Route)
        path = route.path
        assert path in document["paths"], path
        for method in route.methods - {"HEAD"}:
            operation = document["paths"][path][method.lower()]
            assert operation["responses"], (path, method)
            # Completing a direct upload is an action on the upload: it takes no body.
            if method in ("POST", "PATCH") and not path.endswith("/complete"):
                assert operation["requestBody"]["content"], (path, method)
    schemas = document["components"]["schemas"]
    assert set(schemas["File"]["required"]) >= {"id", "sha256", "content_type", "uploaded_by"}
