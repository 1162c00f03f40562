"""The service keeps working across a rotation of its database password, without a restart.

The database user and password come from a secret in a Secrets Manager endpoint (moto's server
mode over HTTP, as for S3) through DATABASE_SECRET_ARN; the password is rotated as RDS does it
(`ALTER ROLE ... PASSWORD` and the secret's new value) while the service runs. The role logs in
with a password the server checks (scram-sha-256), not the test server's `trust`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import psycopg
import pytest
from psycopg import sql

from service.__main__ import _migrate
from service.app import pool_config
from service.db.credentials import CredentialsUnavailable, SecretCredentials
from service.db.pool import open_pool
from service.settings import Settings, from_environ
from tests.faults import PausableProxy
from tests.infra import PostgresServer, S3Endpoint
from tests.service.conftest import Service, serve, service_env
from tests.service.helpers import pdf, upload
from tests.service.test_app import assert_error
from tests.service.uploads.test_tus import new_upload, patch
from tests.support.net import LOCAL_CREDENTIALS, LocalS3, free_port
from tests.support.waiting import eventually

FAST_DB = {
    "SILO_DB_STATEMENT_TIMEOUT_MS": "500",
    "SILO_DB_ACQUIRE_TIMEOUT_SECONDS": "1",
    "SILO_DB_CONNECT_TIMEOUT_SECONDS": "2",
}


@dataclass
class Secrets:
    """A local Secrets Manager endpoint (moto)."""

    endpoint_url: str

    def client(self):
        return boto3.client(
            "secretsmanager",
            endpoint_url=self.endpoint_url,
            region_name=LOCAL_CREDENTIALS["AWS_REGION"],
            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def create(self, username: str, password: str) -> str:
        value = json.dumps({"username": username, "password": password})
        found = self.client().create_secret(Name=f"rds!db-{uuid.uuid4()}", SecretString=value)
        return found["ARN"]

    def put(self, arn: str, username: str, password: str) -> None:
        value = json.dumps({"username": username, "password": password})
        self.client().put_secret_value(SecretId=arn, SecretString=value)


@pytest.fixture(scope="module")
def secrets() -> Iterator[Secrets]:
    local = LocalS3(free_port()).start()  # moto's server mode serves Secrets Manager too
    try:
        yield Secrets(local.endpoint_url)
    finally:
        local.stop()


@dataclass
class Role:
    name: str
    database_url: str  # no user or password: those come from the secret

    def conninfo(self, password: str) -> str:
        return psycopg.conninfo.make_conninfo(self.database_url, user=self.name, password=password)

    def can_log_in(self, password: str) -> bool:
        try:
            with psycopg.connect(self.conninfo(password), connect_timeout=5):
                return True
        except psycopg.OperationalError:
            return False


@contextlib.contextmanager
def password_checked(pg: PostgresServer, role: str) -> Iterator[None]:
    """Make the server check `role`'s password over TCP. The test server may trust every
    login (`silo dev`'s and the tests' own PostgreSQL do): then a scram-sha-256 line for this
    role alone goes first in its pg_hba.conf for the duration."""
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        hba = conn.execute("SHOW hba_file").fetchone()[0]
    if not os.path.exists(hba):
        yield  # a server elsewhere (a container, SILO_TEST_DATABASE_URL): checked below
        return
    with open(hba) as fh:
        original = fh.read()
    lines = "".join(f"host all {role} {net} scram-sha-256\n" for net in ("127.0.0.1/32", "::1/128"))
    with open(hba, "w") as fh:
        fh.write(lines + original)
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")
    try:
        yield
    finally:
        with open(hba, "w") as fh:
            fh.write(original)
        with psycopg.connect(pg.admin_url, autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")


@contextlib.contextmanager
def application_role(pg: PostgresServer, password: str) -> Iterator[Role]:
    """A login role owning a fresh database, whose password the server checks."""
    name = f"silo_rot_{uuid.uuid4().hex[:10]}"
    url = pg.create_database()
    info = psycopg.conninfo.conninfo_to_dict(url)
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(info["dbname"]), sql.Identifier(name)
            )
        )
    bare = {k: v for k, v in info.items() if k not in ("user", "password")}
    role = Role(name, psycopg.conninfo.make_conninfo(**bare))
    try:
        with password_checked(pg, name):
            # pg_reload_conf() only signals the postmaster: wait for the new rules.
            eventually(
                lambda: not role.can_log_in("not-the-password"),
                timeout=5,
                message="the test PostgreSQL accepts any password for a TCP login and its "
                "pg_hba.conf is not on this machine: the rotation cannot be tested",
            )
            assert role.can_log_in(password)
            yield role
    finally:
        pg.drop_database(url)
        with psycopg.connect(pg.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def rotate(pg: PostgresServer, secrets: Secrets, arn: str, role: Role, password: str) -> None:
    """What RDS does: the role's new password, then the secret's new value."""
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(role.name), sql.Literal(password)
            )
        )
    secrets.put(arn, role.name, password)


def backends_since(pg: PostgresServer, role: Role, since: float) -> int:
    """How many of the role's sessions started after `since` (a time.time())."""
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE usename = %s AND backend_start > to_timestamp(%s)",
            (role.name, since),
        ).fetchone()[0]


def secret_env(role: Role, arn: str, secrets: Secrets, s3: S3Endpoint, bucket: str, **extra):
    """The environment ECS gives the service: DATABASE_HOST/PORT/NAME, DATABASE_SECRET_ARN,
    no DATABASE_USER/PASSWORD (and the local Secrets Manager endpoint)."""
    info = psycopg.conninfo.conninfo_to_dict(role.database_url)
    env = service_env(role.database_url, s3, bucket, **extra)
    del env["DATABASE_URL"]
    return {
        **env,
        "DATABASE_HOST": info.get("host") or "127.0.0.1",
        "DATABASE_PORT": str(info.get("port") or 5432),
        "DATABASE_NAME": info["dbname"],
        "DATABASE_SECRET_ARN": arn,
        "SECRETS_ENDPOINT_URL": secrets.endpoint_url,
    }


def test_requests_keep_succeeding_across_a_rotation(pg, s3, secrets, aws_credentials):
    with application_role(pg, "first-password") as role:
        arn = secrets.create(role.name, "first-password")
        bucket = s3.create_bucket()
        settings = from_environ(secret_env(role, arn, secrets, s3, bucket))
        assert settings.database_secret_arn == arn
        # The start-up migrations log in with the secret too.
        assert _migrate(settings) == 0
        # Connections are replaced after half a second of use: every request soon needs a
        # new login, as after an hour in production (or a failover, or a restarted server).
        settings = _with(settings, db_max_lifetime_seconds=0.5)
        with serve(settings, run_migrations=False) as url:
            svc = Service(url, settings, s3, bucket)
            with svc.client() as client:
                assert client.get("/files").status_code == 200
                assert upload(client, pdf(2000)).status_code == 201

                rotated_at = time.time()
                rotate(pg, secrets, arn, role, "second-password")
                assert not role.can_log_in("first-password")

                # No restart; the cached (first) password is refused at the next login and
                # the secret read again at once.
                end = time.monotonic() + 3
                while time.monotonic() < end:
                    listed = client.get("/files")
                    assert listed.status_code == 200, listed.text
                    assert len(listed.json()["items"]) == 1, listed.json()
                    time.sleep(0.1)
                assert upload(client, pdf(3000)).status_code == 201
                # A resumable upload: each PATCH holds its lock on a connection of its own,
                # which logs in with the secret's credentials too.
                data = pdf(100_000)
                location = new_upload(client, len(data), title="After the rotation")
                done = patch(client, location, 0, data)
                assert done.status_code == 204, done.text
                assert "Silo-File-Id" in done.headers
                assert client.get("/readyz").status_code == 200
                # The requests above were served by sessions that logged in after the
                # rotation, with the new password.
                assert backends_since(pg, role, rotated_at) >= 1

                # A second rotation, with the old sessions killed outright.
                rotated_at = time.time()
                rotate(pg, secrets, arn, role, "third-password")
                time.sleep(0.6)  # the pool's connections reach their lifetime
                for _ in range(20):
                    assert client.get("/files").status_code == 200
                    time.sleep(0.05)
                assert backends_since(pg, role, rotated_at) >= 1


def _with(settings: Settings, **changes) -> Settings:
    import dataclasses

    return dataclasses.replace(settings, **changes)


def test_a_stale_cached_password_is_fetched_again_at_once(pg):
    """The pool's login with a cached password that was rotated meanwhile reads the secret
    again and succeeds: no failure, no wait for the cache to expire."""
    with application_role(pg, "first-password") as role:
        current = {"password": "first-password"}

        def fetch() -> str:
            return json.dumps({"username": role.name, "password": current["password"]})

        credentials = SecretCredentials(fetch, ttl=3600)
        settings = Settings(
            tenant="t",
            database_url=role.database_url,
            s3_bucket="b",
            aws_region="eu-west-1",
            admin_key="k" * 16,
        )

        async def scenario() -> None:
            pool = await open_pool(pool_config(settings), credentials)
            try:
                await pool.wait(timeout=10)
                async with pool.connection() as conn:
                    await conn.execute("SELECT 1")
                assert credentials.fetches == 1
                # Cached: a second connection does not read the secret again.
                async with pool.connection() as a, pool.connection() as b:
                    await a.execute("SELECT 1")
                    await b.execute("SELECT 1")
                assert credentials.fetches == 1

                with psycopg.connect(pg.admin_url, autocommit=True) as conn:
                    conn.execute(
                        sql.SQL("ALTER ROLE {} PASSWORD 'second-password'").format(
                            sql.Identifier(role.name)
                        )
                    )
                current["password"] = "second-password"
                # Every open connection goes; the next ones must log in again.
                with psycopg.connect(pg.admin_url, autocommit=True) as conn:
                    conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                        (role.name,),
                    )
                await pool.check()
                async with pool.connection(timeout=5) as conn:
                    cur = await conn.execute("SELECT current_user AS u")
                    assert (await cur.fetchone())["u"] == role.name
                assert credentials.fetches == 2
            finally:
                await pool.close()

        asyncio.run(scenario())


def test_a_refused_password_is_retried_once_not_in_a_loop(pg):
    with application_role(pg, "right-password") as role:
        fetched: list[str] = []

        def fetch() -> str:
            fetched.append("x")
            return json.dumps({"username": role.name, "password": "wrong-password"})

        credentials = SecretCredentials(fetch, ttl=3600)

        async def scenario() -> None:
            with pytest.raises(psycopg.OperationalError, match="password authentication"):
                await credentials.connect(
                    psycopg.AsyncConnection.connect, role.database_url, connect_timeout=5
                )

        asyncio.run(scenario())
        # The cached value, then one fresh read; it holds the same refused password, so the
        # login is not even tried again.
        assert len(fetched) == 2


def test_an_unreadable_secret_fails_the_connection_without_echoing_it():
    credentials = SecretCredentials(lambda: "not json: hunter2", ttl=60)
    with pytest.raises(CredentialsUnavailable) as caught:
        credentials.get_sync()
    assert "hunter2" not in str(caught.value)


def test_an_unreachable_secrets_endpoint_is_a_fast_503(pg, s3, secrets, aws_credentials):
    """A stalled Secrets Manager costs a request the usual bounded wait and a 503
    `database_unavailable`, like a stalled database; it recovers once the endpoint answers."""
    host_port = secrets.endpoint_url.rsplit(":", 1)[1]
    proxy = PausableProxy(int(host_port))
    try:
        with application_role(pg, "the-password") as role:
            arn = secrets.create(role.name, "the-password")
            bucket = s3.create_bucket()
            env = secret_env(role, arn, secrets, s3, bucket, **FAST_DB)
            env["SECRETS_ENDPOINT_URL"] = f"http://127.0.0.1:{proxy.port}"
            settings = _with(from_environ(env), database_secret_ttl_seconds=0.0)
            assert _migrate(settings) == 0
            with (
                serve(settings, run_migrations=False) as url,
                Service(url, settings, s3, bucket).client() as client,
            ):
                assert client.get("/files").status_code == 200
                with psycopg.connect(pg.admin_url, autocommit=True) as conn:
                    conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                        (role.name,),
                    )
                with proxy.paused():
                    for _ in range(3):
                        start = time.monotonic()
                        response = client.get("/files")
                        took = time.monotonic() - start
                        if response.status_code != 503:
                            continue  # a connection the termination had not reached yet
                        assert_error(response, 503, "database_unavailable")
                        assert took < 4, took
                    start = time.monotonic()
                    response = client.get("/files")
                    assert_error(response, 503, "database_unavailable")
                    assert time.monotonic() - start < 4
                    ready = client.get("/readyz")
                    assert ready.status_code == 503
                eventually(
                    lambda: client.get("/files").status_code == 200,
                    interval=0.2,
                    message="no recovery after the endpoint answered",
                )
    finally:
        proxy.close()
