"""Session-wide real dependencies: one PostgreSQL server and one S3 endpoint for the run.

Tests that need isolation ask for `database_url` (a fresh database) or `bucket` (a fresh bucket).
"""

from __future__ import annotations

import pytest

from tests.infra import PostgresServer, S3Endpoint, postgres_server, s3_endpoint


@pytest.fixture(scope="session")
def pg() -> PostgresServer:
    with postgres_server() as server:
        yield server


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
def bucket(s3: S3Endpoint) -> str:
    return s3.create_bucket()
