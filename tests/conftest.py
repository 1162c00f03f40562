"""Session-wide real dependencies: one PostgreSQL server and one S3 endpoint for the run.

Tests that need isolation ask for `database_url` (a fresh, empty database),
`migrated_database_url` (a fresh copy of a database migrated once per session) or `bucket` (a
fresh bucket).
"""

from __future__ import annotations

import pytest

from tests.infra import PostgresServer, S3Endpoint, postgres_server, s3_endpoint
from tests.support.databases import drop_template, migrated_database


@pytest.fixture(scope="session")
def pg() -> PostgresServer:
    with postgres_server() as server:
        try:
            yield server
        finally:
            drop_template(server)


@pytest.fixture(scope="session")
def s3() -> S3Endpoint:
    with s3_endpoint() as endpoint:
        yield endpoint


@pytest.fixture
def database_url(pg: PostgresServer) -> str:
    url = pg.create_database()
    yield url
    pg.drop_database(url)


@pytest.fixture
def migrated_database_url(pg: PostgresServer) -> str:
    url = migrated_database(pg)
    yield url
    pg.drop_database(url)


@pytest.fixture
def bucket(s3: S3Endpoint) -> str:
    return s3.create_bucket()
