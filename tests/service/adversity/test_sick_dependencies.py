"""A stalled dependency costs a request a bounded wait and a 503 naming it, never a hang.

Faults are injected on real connections: PostgreSQL and the S3 endpoint are reached through a
loopback proxy that can be paused (a frozen server: connections accepted, no byte answered).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from service.settings import from_environ
from service.storage import MIN_PART_SIZE, S3Storage
from tests.faults import PausableProxy
from tests.service.conftest import Service, running_service, serve, service_env
from tests.service.helpers import pdf, upload
from tests.service.test_app import assert_error
from tests.support.databases import migrated_database
from tests.support.waiting import eventually

# Small bounds so that the tests take seconds (defaults: docs/configuration.md).
FAST_DB = {
    "SILO_DB_STATEMENT_TIMEOUT_MS": "500",
    "SILO_DB_ACQUIRE_TIMEOUT_SECONDS": "1",
    "SILO_DB_CONNECT_TIMEOUT_SECONDS": "2",
}
FAST_S3 = {
    "SILO_S3_CONNECT_TIMEOUT_SECONDS": "1",
    "SILO_S3_READ_TIMEOUT_SECONDS": "1",
    "SILO_S3_MAX_ATTEMPTS": "2",
}


@contextlib.contextmanager
def service_behind_proxies(pg, s3, *, database=False, storage=False, **env) -> Iterator:
    """A service whose database and/or S3 endpoint are reached through pausable proxies."""
    url = migrated_database(pg)
    bucket = s3.create_bucket()
    proxies: dict[str, PausableProxy] = {}
    database_url = url
    if database:
        info = psycopg.conninfo.conninfo_to_dict(url)
        proxies["db"] = PausableProxy(int(info.get("port") or 5432), info.get("host") or "")
        database_url = psycopg.conninfo.make_conninfo(
            **{**info, "host": "127.0.0.1", "port": proxies["db"].port}
        )
    endpoint = s3
    if storage:
        parts = urlsplit(s3.endpoint_url)
        proxies["s3"] = PausableProxy(parts.port or 80, parts.hostname)
        endpoint = type(s3)(f"http://127.0.0.1:{proxies['s3'].port}", s3.access_key, s3.secret_key)
    settings = from_environ(service_env(database_url, endpoint, bucket, **env))
    try:
        with serve(settings) as base:
            yield Service(base, settings, s3, bucket), proxies
    finally:
        for proxy in proxies.values():
            proxy.close()
        pg.drop_database(url)


def until_ready(client, within: float) -> None:
    """Once the dependency answers again, readiness follows promptly, not after the pool's
    reconnection back-off has grown."""
    eventually(
        lambda: client.get("/readyz").status_code == 200,
        timeout=within,
        interval=0.1,
        message="readiness still failing after recovery",
    )


@pytest.fixture
def anyio_backend():
    return "asyncio"


def timed(call) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    response = call()
    return response, time.monotonic() - start


def test_a_stalled_database_is_a_fast_503_and_readiness_recovers(pg, s3, aws_credentials):
    with (
        service_behind_proxies(pg, s3, database=True, **FAST_DB) as (svc, proxies),
        svc.client() as client,
    ):
        assert client.get("/files").status_code == 200
        assert client.get("/readyz").status_code == 200
        with proxies["db"].paused():
            ready, ready_took = timed(lambda: client.get("/readyz"))
            listing, listing_took = timed(lambda: client.get("/files"))
            stats, stats_took = timed(lambda: client.get("/stats"))
            posted, post_took = timed(lambda: upload(client, pdf(1000)))
            ready_again, ready_again_took = timed(lambda: client.get("/readyz"))
        body = assert_error(ready, 503, "not_ready")
        assert "database" in body["error"]["message"]
        assert ready_took < 2 and ready_again_took < 2, (ready_took, ready_again_took)
        assert_error(ready_again, 503, "not_ready")
        for response, took in ((listing, listing_took), (stats, stats_took), (posted, post_took)):
            assert_error(response, 503, "database_unavailable")
            assert took < 4, took
        # The object stored before the row could be written is gone again.
        assert svc.objects() == [] and svc.pending_uploads() == []
        # Once the database answers again, so does readiness: promptly, not after the pool's
        # reconnection back-off has grown.
        until_ready(client, within=4)
        assert client.get("/files").status_code == 200


def test_list_pages_waiting_together_on_a_stalled_database_each_get_a_fast_503(
    pg, s3, aws_credentials
):
    """Pages asked for at once share queries (service/files/coalescing.py): when the database stalls
    under such a batch, every page waiting for it gets its bounded 503, none hangs, and the
    listing works again once the database answers."""
    with (
        service_behind_proxies(pg, s3, database=True, **FAST_DB) as (svc, proxies),
        svc.client() as client,
    ):
        for n in range(3):
            assert upload(client, pdf(100 + n)).status_code == 201
        limits = [1, 2, 3, 4, 5, 6, 7, 8] * 2  # different pages, some asked for twice
        assert client.get("/files", params={"limit": 1}).status_code == 200

        def page(limit: int) -> tuple[httpx.Response, float]:
            with svc.client() as own:
                return timed(lambda: own.get("/files", params={"limit": limit}))

        with proxies["db"].paused(), ThreadPoolExecutor(len(limits)) as pool:
            answers = list(pool.map(page, limits))
        for response, took in answers:
            assert_error(response, 503, "database_unavailable")
            assert took < 6, took
        until_ready(client, within=4)
        with ThreadPoolExecutor(len(limits)) as pool:
            answers = list(pool.map(page, limits))
        for limit, (response, _) in zip(limits, answers, strict=True):
            assert response.status_code == 200, response.text
            assert len(response.json()["items"]) == min(limit, 3)


def test_readiness_recovers_promptly_after_a_database_outage(pg, s3, aws_credentials):
    # A full pool (here: of one) cannot grow a fresh connection; only the pool's own
    # reconnection attempts bring it back, and psycopg_pool doubles their delay without limit
    # (1, 2, 4, 8, 16 s ...): readiness stayed 503 long after the database was back.
    with (
        service_behind_proxies(pg, s3, database=True, SILO_DB_POOL_MAX="1", **FAST_DB) as (
            svc,
            proxies,
        ),
        svc.client() as client,
    ):
        assert client.get("/readyz").status_code == 200
        with proxies["db"].refusing():
            end = time.monotonic() + 16
            while time.monotonic() < end:
                response, took = timed(lambda: client.get("/readyz"))
                assert response.status_code == 503 and took < 2, (response.status_code, took)
                time.sleep(0.5)
        until_ready(client, within=3)
        assert client.get("/files").status_code == 200


@pytest.mark.parametrize("size", [1000, 9 * 1024 * 1024], ids=["single-put", "multipart"])
def test_a_stalled_s3_is_a_fast_503_and_leaves_nothing(pg, s3, aws_credentials, size):
    with (
        service_behind_proxies(pg, s3, storage=True, **FAST_S3) as (svc, proxies),
        svc.client() as client,
    ):
        with proxies["s3"].paused():
            posted, took = timed(lambda: upload(client, pdf(size)))
            ready, ready_took = timed(lambda: client.get("/readyz"))
        assert_error(posted, 503, "storage_unavailable")
        assert took < 12, took
        body = assert_error(ready, 503, "not_ready")
        assert "bucket" in body["error"]["message"] and ready_took < 2, ready_took
        # What the stalled endpoint received late (the held requests) is cleaned up too.
        eventually(
            lambda: svc.objects() == [] and svc.pending_uploads() == [],
            timeout=15,
            interval=0.1,
            message="left behind",
        )
        assert client.get("/files").json()["items"] == []
        assert upload(client, pdf(size)).status_code == 201


@pytest.mark.anyio
async def test_a_retried_multipart_creation_leaves_no_orphan(s3, bucket, aws_credentials):
    """A CreateMultipartUpload whose answer is lost (read timeout) is retried by botocore; the
    first request still creates an upload on the server. Nothing of it may remain."""
    parts = urlsplit(s3.endpoint_url)
    proxy = PausableProxy(parts.port or 80, parts.hostname)
    store = S3Storage(
        bucket=bucket,
        region=s3.region,
        endpoint_url=f"http://127.0.0.1:{proxy.port}",
        part_size=MIN_PART_SIZE,
        connect_timeout=1,
        read_timeout=1,
        max_attempts=4,
    )
    data = os.urandom(MIN_PART_SIZE + 1000)
    try:
        up = await store.begin_upload("files/retried", "application/pdf")
        proxy.pause()
        writing = asyncio.create_task(up.write(data))
        await asyncio.sleep(1.5)  # the first CreateMultipartUpload timed out meanwhile
        proxy.resume()
        await writing
        await up.complete(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    finally:
        await store.aclose()
        proxy.close()
    client = s3.client()
    assert client.get_object(Bucket=bucket, Key="files/retried")["Body"].read() == data
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_the_sweeper_aborts_stale_multipart_uploads(pg, s3, aws_credentials):
    env = {"SILO_MULTIPART_SWEEP_INTERVAL_SECONDS": "1", "SILO_MULTIPART_MAX_AGE_SECONDS": "3"}
    with running_service(pg, s3, **env) as svc:
        client = s3.client()
        # What `kill -9` mid-upload leaves: a pending upload with two parts.
        created = client.create_multipart_upload(Bucket=svc.bucket, Key="files/killed")
        for number in (1, 2):
            client.upload_part(
                Bucket=svc.bucket,
                Key="files/killed",
                UploadId=created["UploadId"],
                PartNumber=number,
                Body=os.urandom(MIN_PART_SIZE),
            )
        time.sleep(1.5)
        assert svc.pending_uploads() == ["files/killed"], "too young to be swept"
        eventually(
            lambda: svc.pending_uploads() == [],
            timeout=6,
            interval=0.1,
            message="the stale upload was not swept",
        )
