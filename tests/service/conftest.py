"""The service under test: the real app served by uvicorn on a loopback port, against the real
PostgreSQL and S3 fixtures of tests/conftest.py, exercised over HTTP with httpx."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from service.app import create_app, server_config
from service.db.migrate import migrate
from service.http.server import uvicorn_config
from service.settings import Settings, from_environ
from tests.infra import PostgresServer, S3Endpoint
from tests.support.databases import migrated_database
from tests.support.env import ADMIN_KEY, TEST_MAX_UPLOAD_BYTES, service_env
from tests.support.net import free_port
from tests.support.waiting import eventually

__all__ = [
    "ADMIN_KEY",
    "TEST_MAX_UPLOAD_BYTES",
    "Service",
    "running_service",
    "serve",
    "service_env",
]


@pytest.fixture(scope="session")
def aws_credentials(s3: S3Endpoint) -> None:
    # The service takes credentials from boto3's default chain (the task role on ECS), so the
    # in-process server gets the local endpoint's from the environment.
    os.environ["AWS_ACCESS_KEY_ID"] = s3.access_key
    os.environ["AWS_SECRET_ACCESS_KEY"] = s3.secret_key


@dataclass
class Service:
    url: str
    settings: Settings
    s3: S3Endpoint
    bucket: str

    def client(self, key: str | None = ADMIN_KEY, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)

    def objects(self) -> list[str]:
        found = self.s3.client().list_objects_v2(Bucket=self.bucket)
        return [o["Key"] for o in found.get("Contents", [])]

    def pending_uploads(self) -> list[str]:
        found = self.s3.client().list_multipart_uploads(Bucket=self.bucket)
        return [u["Key"] for u in found.get("Uploads", [])]


@contextlib.contextmanager
def serve(settings: Settings, *, run_migrations: bool = True) -> Iterator[str]:
    """Run the app with uvicorn in a thread; yields its base URL."""
    if run_migrations:
        migrate(settings.database_url)
    port = free_port()
    # The production configuration (service/http/server.py: limits against hostile clients).
    config = uvicorn_config(
        create_app(settings),
        server_config(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    eventually(lambda: server.started or not thread.is_alive(), timeout=20, interval=0.02)
    if not server.started:
        raise RuntimeError("the service did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextlib.contextmanager
def running_service(
    pg: PostgresServer, s3: S3Endpoint, *, settings_changes: dict | None = None, **extra_env: str
) -> Iterator[Service]:
    """A service on its own database (a copy of the migrated template) and bucket, configured by
    `extra_env` (and, for settings no variable sets, `settings_changes`)."""
    database_url = migrated_database(pg)
    bucket = s3.create_bucket()
    settings = from_environ(service_env(database_url, s3, bucket, **extra_env))
    settings = dataclasses.replace(settings, **(settings_changes or {}))
    try:
        with serve(settings, run_migrations=False) as url:
            yield Service(url, settings, s3, bucket)
    finally:
        pg.drop_database(database_url)


@pytest.fixture(scope="module")
def service(pg: PostgresServer, s3: S3Endpoint, aws_credentials) -> Iterator[Service]:
    """One service (own database and bucket) shared by a test module."""
    with running_service(pg, s3) as svc:
        yield svc


@pytest.fixture
def fresh_service(pg: PostgresServer, s3: S3Endpoint, aws_credentials) -> Iterator[Service]:
    """A service with an empty database and bucket, for tests that count rows or objects."""
    with running_service(pg, s3) as svc:
        yield svc


@pytest.fixture
def admin(service: Service) -> Iterator[httpx.Client]:
    with service.client() as client:
        yield client
