"""The lock connections (a tus PATCH, a direct upload's `complete`) are bounded like the pool's:
a database that stalls while a request holds an upload's lock costs it one bounded wait and a
503, and the instance's database connections of every kind stay under SILO_DB_MAX_CONNECTIONS,
beyond which a request is refused with 503 `busy` before any connection is opened.

PostgreSQL and S3 are reached through pausable loopback proxies (tests/faults.py): a paused
proxy is a frozen server, without freezing the cluster the other tests share.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from service.settings import SettingsError, from_environ
from service.uploads.tus_sql import LOCK_CLASS
from tests.service.adversity.test_sick_dependencies import service_behind_proxies
from tests.service.conftest import ADMIN_KEY, Service
from tests.service.helpers import connect, pdf, read_response, sha256

MIB = 1024 * 1024
# Small database bounds, so that the tests take seconds: a stalled wait is given up after
# statement_timeout + 1 s = 1.5 s (docs/configuration.md).
FAST_DB = {
    "SILO_DB_STATEMENT_TIMEOUT_MS": "500",
    "SILO_DB_ACQUIRE_TIMEOUT_SECONDS": "1",
    "SILO_DB_CONNECT_TIMEOUT_SECONDS": "2",
}
STALLED_WAIT_SECONDS = 0.5 + 1.0
# What a request may take beyond that one stalled wait (the S3 work left, scheduling).
SLACK_SECONDS = 3.0
# How long the tests keep the database frozen at most: the old code answered only after it.
FROZEN_SECONDS = 12.0


@contextlib.contextmanager
def proxied(pg, s3, *, database: bool, **env) -> Iterator[tuple[Service, dict, str]]:
    """`service_behind_proxies` with S3 always proxied; yields the service, the proxies and
    the database's own (unproxied) URL."""
    with service_behind_proxies(pg, s3, database=database, storage=True, **env) as (svc, proxies):
        name = psycopg.conninfo.conninfo_to_dict(svc.settings.database_url)["dbname"]
        try:
            yield svc, proxies, pg.url_for(name)
        finally:
            for proxy in proxies.values():
                proxy.resume()  # before the service stops: its requests must not hang


def upload_locks_held(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [LOCK_CLASS],
        ).fetchone()
    return row[0]


def wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def error_code(body: bytes) -> str:
    return json.loads(body.partition(b"\r\n\r\n")[2])["error"]["code"]


def test_a_database_stall_during_a_tus_patch_is_a_bounded_503(pg, s3, aws_credentials):
    """The PATCH holds the upload's lock while its first part is on its way to S3 (held back
    by the paused S3 proxy); the database freezes; the part goes through and the progress
    commit finds the database stalled. The answer comes one bounded wait later: before, the
    unlock on the lock connection waited for the database to thaw (48 s in the report)."""
    with proxied(pg, s3, database=True, **FAST_DB) as (svc, proxies, real_url):
        data = pdf(20 * MIB)
        with svc.client() as client:
            created = client.post(
                "/uploads",
                headers={
                    "Tus-Resumable": "1.0.0",
                    "Upload-Length": str(len(data)),
                    "Upload-Metadata": f"title {b64('Big')},filename {b64('big.pdf')}",
                },
            )
        assert created.status_code == 201, created.text
        path = httpx.URL(created.headers["Location"]).path
        head = (
            f"PATCH {path} HTTP/1.1\r\nHost: {httpx.URL(svc.url).netloc.decode()}\r\n"
            f"Authorization: Bearer {ADMIN_KEY}\r\nTus-Resumable: 1.0.0\r\n"
            "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode()
        sock = connect(svc.url)

        def send() -> None:
            with contextlib.suppress(OSError):  # the server answers before the body's end
                sock.sendall(head + data)

        sender = threading.Thread(target=send, daemon=True)
        try:
            with proxies["s3"].paused():
                sender.start()
                wait_until(lambda: upload_locks_held(real_url) == 1, 10, "no lock taken")
                proxies["db"].pause()
                frozen = time.monotonic()
            sock.settimeout(FROZEN_SECONDS)
            status, raw = read_response(sock)
            took = time.monotonic() - frozen
        finally:
            proxies["db"].resume()
            sock.close()
        print(f"\ntus PATCH: 503 {took:.2f} s after the database froze")
        assert status == 503, raw[:500]
        assert error_code(raw) == "database_unavailable"
        assert took < STALLED_WAIT_SECONDS + SLACK_SECONDS, took
        # Once the database is back the lock is free again (its session was closed) and the
        # upload goes on from its committed offset.
        wait_until(lambda: upload_locks_held(real_url) == 0, 10, "the lock stayed held")
        with svc.client() as client:
            offset = int(
                client.head(path, headers={"Tus-Resumable": "1.0.0"}).headers["Upload-Offset"]
            )
            done = client.patch(
                path,
                content=data[offset:],
                headers={
                    "Tus-Resumable": "1.0.0",
                    "Content-Type": "application/offset+octet-stream",
                    "Upload-Offset": str(offset),
                },
            )
        assert done.status_code == 204, done.text


def test_a_database_stall_during_a_direct_complete_is_a_bounded_503(pg, s3, aws_credentials):
    """`complete` holds the upload's lock while it checks and copies the staged object; the
    database freezes meanwhile. The file's row cannot be written: one bounded wait, a 503,
    and the upload stays to be completed again."""
    with proxied(pg, s3, database=True, **FAST_DB) as (svc, proxies, real_url):
        data = pdf(20 * MIB)
        with svc.client() as client:
            declared = client.post(
                "/uploads/direct",
                json={
                    "filename": "big.pdf",
                    "size": len(data),
                    "sha256": sha256(data),
                    "title": "Big",
                },
            )
            assert declared.status_code == 201, declared.text
            ticket = declared.json()
            stored = httpx.request(
                ticket["method"], ticket["url"], content=data, headers=ticket["headers"]
            )
            assert stored.status_code == 200, stored.text
        answer: dict[str, object] = {}

        def complete() -> None:
            with svc.client() as client:
                answer["response"] = client.post(f"/uploads/direct/{ticket['id']}/complete")
                answer["at"] = time.monotonic()

        caller = threading.Thread(target=complete, daemon=True)
        try:
            with proxies["s3"].paused():
                caller.start()
                wait_until(lambda: upload_locks_held(real_url) == 1, 10, "no lock taken")
                time.sleep(0.2)  # past the upload's row, into the S3 checks
                proxies["db"].pause()
                frozen = time.monotonic()
            caller.join(FROZEN_SECONDS)
        finally:
            proxies["db"].resume()
        caller.join(30)
        took = answer["at"] - frozen
        print(f"\ndirect complete: 503 {took:.2f} s after the database froze")
        response = answer["response"]
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "database_unavailable"
        assert took < STALLED_WAIT_SECONDS + SLACK_SECONDS, took
        wait_until(lambda: upload_locks_held(real_url) == 0, 10, "the lock stayed held")
        with svc.client() as client:
            again = client.post(f"/uploads/direct/{ticket['id']}/complete")
        assert again.status_code == 201, again.text


class BackendCounter:
    """Samples the service's backends (pg_stat_activity, by database) every few ms."""

    def __init__(self, admin_url: str, database: str) -> None:
        self.admin_url = admin_url
        self.database = database
        self.peak = 0
        self.peak_by_name: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> BackendCounter:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while not self._stop.is_set():
                # Client backends only: an autovacuum worker on the database is not the
                # service's (CI saw one counted as the 21st backend).
                rows = conn.execute(
                    "SELECT application_name, count(*) FROM pg_stat_activity"
                    " WHERE datname = %s AND backend_type = 'client backend' GROUP BY 1",
                    [self.database],
                ).fetchall()
                total = sum(n for _, n in rows)
                if total > self.peak:
                    self.peak, self.peak_by_name = total, dict(rows)
                time.sleep(0.01)


def test_the_connection_ceiling_holds_under_300_completes_with_s3_stalled(pg, s3, aws_credentials):
    """Each `complete` holds a lock connection while S3 keeps it waiting. Before, every one of
    them opened its own (PostgreSQL ran out of connection slots at 200); now the instance
    holds at most SILO_DB_MAX_CONNECTIONS (default: pool max 10 + 10 lock connections) and
    answers the rest 503 `busy` with Retry-After at once."""
    env = {"SILO_S3_READ_TIMEOUT_SECONDS": "5", "SILO_S3_MAX_ATTEMPTS": "1"}
    with proxied(pg, s3, database=False, **env) as (svc, proxies, real_url):
        ceiling = svc.settings.db_connection_ceiling
        assert ceiling == svc.settings.db_pool_max + svc.settings.db_lock_slots == 20
        data = pdf(1000)
        body = {"filename": "a.pdf", "size": len(data), "sha256": sha256(data), "title": "A"}
        with svc.client() as client:
            ids = []
            for _ in range(300):
                declared = client.post("/uploads/direct", json=body)
                assert declared.status_code == 201, declared.text
                ids.append(declared.json()["id"])

        async def burst() -> list[tuple[httpx.Response, float]]:
            limits = httpx.Limits(max_connections=len(ids), max_keepalive_connections=0)
            headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
            async with httpx.AsyncClient(
                base_url=svc.url, headers=headers, limits=limits, timeout=60
            ) as client:

                async def one(upload_id: str) -> tuple[httpx.Response, float]:
                    start = time.monotonic()
                    response = await client.post(f"/uploads/direct/{upload_id}/complete")
                    return response, time.monotonic() - start

                return await asyncio.gather(*(one(i) for i in ids))

        database = psycopg.conninfo.conninfo_to_dict(real_url)["dbname"]
        with BackendCounter(pg.admin_url, database) as counter, proxies["s3"].paused():
            answers = asyncio.run(burst())
        codes: dict[tuple[int, str], int] = {}
        for response, _ in answers:
            key = (response.status_code, response.json()["error"]["code"])
            codes[key] = codes.get(key, 0) + 1
        busy = [(r, took) for r, took in answers if r.json()["error"]["code"] == "busy"]
        print(
            f"\n300 completes, S3 stalled: peak {counter.peak} backends"
            f" {counter.peak_by_name} (ceiling {ceiling}); answers {codes};"
            f" slowest busy {max(took for _, took in busy):.2f} s"
        )
        assert counter.peak <= ceiling, (counter.peak, counter.peak_by_name)
        # The ones that got a lock connection waited for S3 (503 storage_unavailable); the
        # excess was refused at once: 503 busy with Retry-After, never a 500 or a hang.
        assert set(codes) <= {(503, "busy"), (503, "storage_unavailable")}, codes
        assert len(busy) >= len(ids) - 2 * svc.settings.db_lock_slots, codes
        for response, took in busy:
            assert response.headers["Retry-After"] == "1"
            assert took < 10, took
        # Once S3 answers again, the same uploads complete (nothing was PUT: 409).
        with svc.client() as client:
            assert client.post(f"/uploads/direct/{ids[0]}/complete").status_code == 409


def test_the_ceiling_is_the_pool_max_plus_the_lock_connections():
    base = {
        "SILO_TENANT": "t",
        "DATABASE_URL": "postgresql://u@h/d",
        "S3_BUCKET": "bucket",
        "AWS_REGION": "eu-west-1",
        "SILO_ADMIN_KEY": "k" * 16,
        "SILO_SCAN": "off",
    }
    default = from_environ(base)
    assert (default.db_connection_ceiling, default.db_lock_slots) == (20, 10)
    bigger_pool = from_environ({**base, "SILO_DB_POOL_MAX": "30"})
    assert (bigger_pool.db_connection_ceiling, bigger_pool.db_lock_slots) == (40, 10)
    set_ = from_environ({**base, "SILO_DB_MAX_CONNECTIONS": "15"})
    assert (set_.db_connection_ceiling, set_.db_lock_slots) == (15, 5)
    with pytest.raises(SettingsError, match="SILO_DB_MAX_CONNECTIONS"):
        from_environ({**base, "SILO_DB_MAX_CONNECTIONS": "10"})  # no room for a lock
