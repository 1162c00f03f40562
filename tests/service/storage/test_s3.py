"""S3Storage against a real S3 endpoint over HTTP (the `s3`/`bucket` fixtures)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time

import httpx
import pytest

from service.storage import MIN_PART_SIZE, S3Storage, StorageError, content_disposition
from tests.service.memory_storage import MemoryStorage

PART = MIN_PART_SIZE  # the smallest legal part keeps multi-part tests quick


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def aws_env(s3, monkeypatch):
    # The storage takes credentials the way production does: boto3's default chain.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
async def storage(s3, bucket, aws_env):
    store = S3Storage(bucket=bucket, region=s3.region, endpoint_url=s3.endpoint_url, part_size=PART)
    yield store
    await store.aclose()


class CountingClient:
    """The real boto3 client, recording how many UploadPart calls overlap."""

    def __init__(self, client, delay: float = 0.0, create_delay: float = 0.0):
        self._client = client
        self._delay = delay
        self._create_delay = create_delay
        self._lock = threading.Lock()
        self.concurrent = 0
        self.max_concurrent = 0
        self.parts = 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def create_multipart_upload(self, **kwargs):
        time.sleep(self._create_delay)
        return self._client.create_multipart_upload(**kwargs)

    def upload_part(self, **kwargs):
        with self._lock:
            self.concurrent += 1
            self.parts += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            time.sleep(self._delay)  # makes overlap observable on a fast local endpoint
            return self._client.upload_part(**kwargs)
        finally:
            with self._lock:
                self.concurrent -= 1


def payload(size: int) -> bytes:
    return os.urandom(size)


async def upload(storage, key: str, data: bytes, chunk: int = 64 * 1024, content_type="video/mp4"):
    up = await storage.begin_upload(key, content_type)
    for start in range(0, len(data), chunk):
        await up.write(data[start : start + chunk])
    await up.complete(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    return up


def tags_of(s3, bucket, key) -> dict[str, str]:
    tag_set = s3.client().get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    return {tag["Key"]: tag["Value"] for tag in tag_set}


def keys_in(s3, bucket) -> list[str]:
    return [obj["Key"] for obj in s3.client().list_objects_v2(Bucket=bucket).get("Contents", [])]


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_small_file_is_one_put_with_sha256_metadata_and_tags(storage, s3, bucket):
    data = payload(1000)
    await upload(storage, "files/small", data, content_type="application/pdf")

    obj = s3.client().get_object(Bucket=bucket, Key="files/small")
    assert obj["Body"].read() == data
    assert obj["ContentType"] == "application/pdf"
    digest = hashlib.sha256(data).hexdigest()
    assert obj["Metadata"] == {"sha256": digest, "size": "1000"}
    assert tags_of(s3, bucket, "files/small") == {"sha256": digest, "size": "1000"}
    assert await storage.pending_uploads() == []


@pytest.mark.anyio
async def test_a_small_file_holds_only_its_own_size(storage):
    up = await upload(storage, "files/tiny", b"x" * 3000, chunk=1000)
    assert up.peak_buffered == 3000  # not a whole part buffer


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("size", "chunk"),
    [
        (2 * PART + 12_345, 100_003),  # odd chunks straddling part boundaries, short last part
        (2 * PART, 65_536),  # exact multiple: no empty trailing part
        (PART, 1 << 20),  # exactly one part
        (PART - 1, 7_777),  # one byte short of a part: a single PUT
    ],
)
async def test_round_trip_by_parts(storage, s3, bucket, size, chunk):
    data = payload(size)
    await upload(storage, "files/big", data, chunk=chunk)

    obj = s3.client().get_object(Bucket=bucket, Key="files/big")
    body = obj["Body"].read()
    assert len(body) == size
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    assert obj["ContentType"] == "video/mp4"
    # Tagged only when created with one request: a multipart object is never tagged after it
    # exists (that would race GuardDuty's verdict tag); the file's row holds sha256 and size.
    single = {"sha256": hashlib.sha256(data).hexdigest(), "size": str(size)}
    assert tags_of(s3, bucket, "files/big") == (single if size < PART else {})
    assert await storage.pending_uploads() == []


@pytest.mark.anyio
async def test_concurrent_uploads_do_not_mix(storage, s3, bucket):
    blobs = {f"files/c{i}": payload(PART + 1000 * i) for i in range(3)}
    await asyncio.gather(*(upload(storage, key, data) for key, data in blobs.items()))
    for key, data in blobs.items():
        assert s3.client().get_object(Bucket=bucket, Key=key)["Body"].read() == data


@pytest.mark.anyio
async def test_complete_refuses_a_size_that_was_not_written(storage):
    up = await storage.begin_upload("files/x", "text/plain")
    await up.write(b"abc")
    with pytest.raises(ValueError, match="3 bytes were written"):
        await up.complete(sha256="0" * 64, size=4)
    await up.abort()


# --- memory and back-pressure ------------------------------------------------------------------


@pytest.mark.anyio
async def test_memory_stays_a_few_parts_and_at_most_two_parts_are_in_flight(s3, bucket, aws_env):
    client = CountingClient(s3.client(), delay=0.05)
    store = S3Storage(
        bucket=bucket,
        region=s3.region,
        endpoint_url=s3.endpoint_url,
        part_size=PART,
        max_in_flight=2,
        client=client,
    )
    try:
        size = 8 * PART + 99
        data = payload(size)
        chunk = 256 * 1024
        up = await upload(store, "files/bounded", data, chunk=chunk)
    finally:
        await store.aclose()
    assert client.parts == 9
    assert client.max_concurrent == 2  # parallel, and bounded
    # One part filling, one full part waiting for a slot, two on the wire.
    assert up.peak_buffered <= 3 * PART
    assert up.peak_buffered < size / 2
    body = s3.client().get_object(Bucket=bucket, Key="files/bounded")["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()


@pytest.mark.anyio
async def test_write_waits_while_parts_are_in_flight(s3, bucket, aws_env):
    # With one slot and a slow endpoint, writing three parts must take about two part uploads.
    client = CountingClient(s3.client(), delay=0.3)
    store = S3Storage(
        bucket=bucket,
        region=s3.region,
        endpoint_url=s3.endpoint_url,
        part_size=PART,
        max_in_flight=1,
        client=client,
    )
    try:
        up = await store.begin_upload("files/slow", "video/mp4")
        started = time.monotonic()
        for _ in range(3):
            await up.write(bytes(PART))
        elapsed = time.monotonic() - started
        assert elapsed >= 0.55  # parts 2 and 3 each waited for the previous one
        assert client.max_concurrent == 1
        await up.abort()
    finally:
        await store.aclose()


# --- failure leaves nothing --------------------------------------------------------------------


@pytest.mark.anyio
async def test_abort_mid_way_leaves_no_object_and_no_pending_upload(storage, s3, bucket):
    up = await storage.begin_upload("files/aborted", "video/mp4")
    for _ in range(5):
        await up.write(payload(PART // 2))
    assert await storage.pending_uploads() == ["files/aborted"]

    await up.abort()
    await up.abort()  # twice is fine

    assert await storage.pending_uploads() == []
    assert keys_in(s3, bucket) == []
    with pytest.raises(RuntimeError, match="completed or aborted"):
        await up.write(b"more")


@pytest.mark.anyio
async def test_abort_before_any_part_and_after_a_completed_put(storage, s3, bucket):
    empty = await storage.begin_upload("files/nothing", "text/plain")
    await empty.abort()
    partial = await storage.begin_upload("files/partial", "text/plain")
    await partial.write(b"not yet a part")
    await partial.abort()
    done = await upload(storage, "files/done", b"complete, then rolled back")
    await done.abort()  # e.g. the database insert failed after the object was written
    assert keys_in(s3, bucket) == []
    assert await storage.pending_uploads() == []


@pytest.mark.anyio
async def test_abort_after_a_failed_complete_is_safe(storage, s3, bucket):
    up = await storage.begin_upload("files/broken", "video/mp4")
    data = payload(PART + 10)
    await up.write(data)
    # The multipart upload vanishes behind the service's back (lifecycle rule, operator...).
    client = s3.client()
    (pending,) = client.list_multipart_uploads(Bucket=bucket)["Uploads"]
    client.abort_multipart_upload(Bucket=bucket, Key=pending["Key"], UploadId=pending["UploadId"])

    with pytest.raises(StorageError):
        await up.complete(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    await up.abort()
    await up.abort()
    assert keys_in(s3, bucket) == []
    assert await storage.pending_uploads() == []


@pytest.mark.anyio
async def test_put_failure_is_a_storage_error_and_abort_is_safe(s3, aws_env):
    store = S3Storage(
        bucket="silo-test-no-such-bucket", region=s3.region, endpoint_url=s3.endpoint_url
    )
    try:
        up = await store.begin_upload("files/x", "text/plain")
        await up.write(b"hello")
        with pytest.raises(StorageError, match="NoSuchBucket"):
            await up.complete(sha256=hashlib.sha256(b"hello").hexdigest(), size=5)
        await up.abort()
    finally:
        await store.aclose()


@pytest.mark.anyio
async def test_abort_finishes_even_when_the_caller_is_cancelled(storage, s3, bucket):
    up = await storage.begin_upload("files/disconnect", "video/mp4")

    async def client_that_disconnects():
        try:
            while True:
                await up.write(payload(256 * 1024))
        except asyncio.CancelledError:
            await up.abort()  # the caller is cancelled again while this waits
            raise

    task = asyncio.create_task(client_that_disconnects())
    while not await storage.pending_uploads():
        await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await storage.aclose()  # waits for the background abort

    assert await asyncio.to_thread(keys_in, s3, bucket) == []
    uploads = s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert uploads == []


@pytest.mark.anyio
async def test_a_caller_cancelled_while_the_upload_is_being_created_leaves_nothing(
    s3, bucket, aws_env
):
    # The cancelled call still completes on its thread; abort must wait for it, then undo it.
    client = CountingClient(s3.client(), delay=0.2, create_delay=0.3)
    store = S3Storage(
        bucket=bucket, region=s3.region, endpoint_url=s3.endpoint_url, part_size=PART, client=client
    )
    try:
        up = await store.begin_upload("files/racy", "video/mp4")
        task = asyncio.create_task(up.write(bytes(PART)))
        await asyncio.sleep(0.1)  # inside CreateMultipartUpload
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The part being sent was lost with the cancelled write: the upload cannot go on.
        with pytest.raises(RuntimeError, match="completed or aborted"):
            await up.write(b"more")
        await up.abort()
        assert await store.pending_uploads() == []
    finally:
        await store.aclose()
    assert keys_in(s3, bucket) == []


@pytest.mark.anyio
async def test_a_caller_cancelled_during_the_single_put_leaves_nothing(s3, bucket, aws_env):
    class SlowPut(CountingClient):
        def put_object(self, **kwargs):
            time.sleep(0.3)
            return self._client.put_object(**kwargs)

    store = S3Storage(
        bucket=bucket,
        region=s3.region,
        endpoint_url=s3.endpoint_url,
        part_size=PART,
        client=SlowPut(s3.client()),
    )
    try:
        up = await store.begin_upload("files/put", "text/plain")
        await up.write(b"hello")
        digest = hashlib.sha256(b"hello").hexdigest()
        task = asyncio.create_task(up.complete(sha256=digest, size=5))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await up.abort()
    finally:
        await store.aclose()
    assert keys_in(s3, bucket) == []


# --- other operations --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_delete_is_idempotent(storage, s3, bucket):
    await upload(storage, "files/gone", b"bytes")
    await storage.delete("files/gone")
    await storage.delete("files/gone")
    await storage.delete("files/never-existed")
    assert keys_in(s3, bucket) == []


@pytest.mark.anyio
async def test_check_passes_for_the_bucket_and_fails_for_a_missing_one(storage, s3, aws_env):
    await storage.check()
    missing = S3Storage(bucket="silo-test-missing", region=s3.region, endpoint_url=s3.endpoint_url)
    try:
        with pytest.raises(StorageError):
            await missing.check()
    finally:
        await missing.aclose()


@pytest.mark.anyio
async def test_check_fails_when_the_endpoint_is_down(aws_env):
    from tests.support.net import free_port

    store = S3Storage(
        bucket="b", region="us-east-1", endpoint_url=f"http://127.0.0.1:{free_port()}"
    )
    try:
        with pytest.raises(StorageError):
            await store.check()
    finally:
        await store.aclose()


@pytest.mark.anyio
async def test_presigned_get_downloads_with_disposition_type_and_ranges(storage):
    data = payload(PART + 4321)
    await upload(storage, "files/video", data, chunk=1 << 20)
    url = await storage.presigned_get(
        "files/video", filename="Clip — été 1.mp4", content_type="video/mp4", ttl_seconds=60
    )
    assert "X-Amz-Signature" in url

    async with httpx.AsyncClient() as client:
        full = await client.get(url)
        assert full.status_code == 200
        assert full.content == data
        assert full.headers["content-type"] == "video/mp4"
        assert full.headers["content-disposition"] == (
            'attachment; filename="Clip ete 1.mp4"; '
            "filename*=UTF-8''Clip%20%E2%80%94%20%C3%A9t%C3%A9%201.mp4"
        )

        ranged = await client.get(url, headers={"Range": "bytes=100-199"})
        assert ranged.status_code == 206
        assert ranged.content == data[100:200]
        assert ranged.headers["content-range"] == f"bytes 100-199/{len(data)}"


@pytest.mark.anyio
async def test_presigned_get_carries_its_ttl(storage):
    # (moto does not enforce expiry, so the signed lifetime is checked in the URL itself.)
    url = await storage.presigned_get(
        "files/short", filename="a.txt", content_type="text/plain", ttl_seconds=90
    )
    query = httpx.URL(url).params
    assert query["X-Amz-Expires"] == "90"
    assert query["response-content-type"] == "text/plain"


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("report.pdf", "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"),
        (
            'a "quoted" name;.txt',
            'attachment; filename="a _quoted_ name_.txt"; '
            "filename*=UTF-8''a%20%22quoted%22%20name%3B.txt",
        ),
        ("C:\\Users\\me\\x.png", "attachment; filename=\"x.png\"; filename*=UTF-8''x.png"),
        ("../../etc/passwd", "attachment; filename=\"passwd\"; filename*=UTF-8''passwd"),
        (
            "日本.txt",
            "attachment; filename=\"download.txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt",
        ),
        ("", "attachment; filename=\"download\"; filename*=UTF-8''download"),
        (
            "line\r\nbreak.txt",
            "attachment; filename=\"line break.txt\"; filename*=UTF-8''line%0D%0Abreak.txt",
        ),
    ],
)
def test_content_disposition(filename, expected):
    assert content_disposition(filename) == expected


def test_content_disposition_inline_keeps_the_name():
    """The console's preview: shown by the browser, still under the file's name if saved."""
    assert content_disposition("r é.pdf", inline=True) == (
        "inline; filename=\"r e.pdf\"; filename*=UTF-8''r%20%C3%A9.pdf"
    )


def test_part_size_below_the_s3_minimum_is_refused():
    with pytest.raises(ValueError, match="at least"):
        S3Storage(
            bucket="b", region="us-east-1", endpoint_url=None, part_size=1024, client=object()
        )


@pytest.mark.anyio
async def test_stat_reports_storages_full_object_checksum_and_none_for_a_missing_key(
    storage, s3, bucket
):
    """What a direct upload's `complete` relies on: HeadObject (ChecksumMode=ENABLED) gives
    size, ETag and the SHA-256 storage keeps for a single PUT; a multipart object's checksum
    (of its parts' checksums) is not taken for the file's; a missing key is None, not an
    error; a ranged read is only of the object with that ETag."""
    assert await storage.stat("staging/nothing") is None
    data = b"%PDF-1.7\n" + os.urandom(5000)
    digest = hashlib.sha256(data).hexdigest()
    url, headers = await storage.presigned_put(
        "staging/one", size=len(data), sha256=digest, ttl_seconds=60
    )
    assert httpx.put(url, content=data, headers=headers).status_code == 200
    found = await storage.stat("staging/one")
    assert (found.size, found.sha256) == (len(data), digest)
    assert await storage.read_range("staging/one", 9, etag=found.etag) == data[:9]
    with pytest.raises(StorageError):
        await storage.read_range("staging/one", 9, etag='"not-its-etag"')
    assert await storage.sha256_of("staging/one", etag=found.etag) == digest

    upload = await storage.begin_upload("files/multi", "application/pdf")
    big = os.urandom(PART + 10)
    await upload.write(big)
    await upload.complete(sha256=hashlib.sha256(big).hexdigest(), size=len(big))
    multi = await storage.stat("files/multi")
    assert multi.size == len(big)
    assert multi.sha256 is None


@pytest.mark.anyio
async def test_copy_to_moves_an_object_with_the_files_type_metadata_and_tags(storage, s3, bucket):
    data = os.urandom(3000)
    digest = hashlib.sha256(data).hexdigest()
    client = s3.client()
    client.put_object(Bucket=bucket, Key="staging/c", Body=data, Tagging="client=tag")
    found = await storage.stat("staging/c")
    await storage.copy_to(
        "staging/c",
        "files/c",
        etag=found.etag,
        content_type="image/png",
        sha256=digest,
        size=len(data),
    )
    head = client.head_object(Bucket=bucket, Key="files/c")
    assert head["ContentType"] == "image/png"
    assert head["Metadata"] == {"sha256": digest, "size": str(len(data))}
    tags = client.get_object_tagging(Bucket=bucket, Key="files/c")["TagSet"]
    # REPLACE: nothing the client tagged its staged object with is carried over.
    assert {t["Key"]: t["Value"] for t in tags} == {"sha256": digest, "size": str(len(data))}
    assert client.get_object(Bucket=bucket, Key="files/c")["Body"].read() == data
    with pytest.raises(StorageError):  # the staged object changed since it was checked
        await storage.copy_to(
            "staging/c",
            "files/d",
            etag='"other"',
            content_type="image/png",
            sha256=digest,
            size=len(data),
        )


# --- resumable uploads: the interface's contract, on S3 and on the test double ----------------


@pytest.fixture(params=["s3", "memory"])
def any_storage(request):
    """Each implementation of `ObjectStorage`: S3Storage against the local S3 endpoint, and the
    in-memory double the domain tests use, so the double keeps to the same contract."""
    if request.param == "memory":
        return MemoryStorage(part_size=PART)
    return request.getfixturevalue("storage")


@pytest.mark.anyio
async def test_a_resumable_upload_is_completed_from_its_receipts_on_any_handle(any_storage):
    store = any_storage
    data = payload(PART + 1000)
    begun = await store.begin_resumable("files/resumable", "application/pdf")
    assert await begun.exists()
    assert "files/resumable" in await store.pending_uploads()
    first = await begun.send_part(1, payload(PART))  # replaced by the next send of number 1
    assert first["PartNumber"] == 1
    # Another request (another instance) goes on from the key, the id and the receipts.
    again = store.resumable("files/resumable", begun.upload_id)
    parts = [await again.send_part(1, data[:PART]), await again.send_part(2, data[PART:])]
    await again.complete(parts)
    assert not await again.exists()
    assert await store.sha256_of("files/resumable") == hashlib.sha256(data).hexdigest()
    await again.abort()  # completed: not an error
    assert "files/resumable" not in await store.pending_uploads()


@pytest.mark.anyio
async def test_an_aborted_resumable_upload_is_gone_and_abort_is_idempotent(any_storage):
    store = any_storage
    begun = await store.begin_resumable("files/dropped", "application/pdf")
    await begun.send_part(1, payload(PART))
    await begun.abort()
    await begun.abort()
    assert not await begun.exists()
    with pytest.raises(StorageError):
        await begun.send_part(2, payload(10))
    with pytest.raises(StorageError):
        await begun.complete([])
    assert await store.pending_uploads() == []


@pytest.mark.anyio
async def test_put_stores_a_small_object_with_its_sha256(any_storage):
    data = payload(1000)
    digest = hashlib.sha256(data).hexdigest()
    await any_storage.put("files/put", data, content_type="application/pdf", sha256=digest)
    assert await any_storage.sha256_of("files/put") == digest


@pytest.mark.anyio
async def test_put_on_s3_carries_metadata_and_tags_as_a_streamed_file_does(storage, s3, bucket):
    data = payload(1000)
    digest = hashlib.sha256(data).hexdigest()
    await storage.put("files/put", data, content_type="application/pdf", sha256=digest)
    obj = s3.client().get_object(Bucket=bucket, Key="files/put")
    assert obj["ContentType"] == "application/pdf"
    assert obj["Metadata"] == {"sha256": digest, "size": "1000"}
    assert tags_of(s3, bucket, "files/put") == {"sha256": digest, "size": "1000"}
