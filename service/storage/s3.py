"""`S3Storage`: the object-storage interface (service/storage/interface.py) on S3, with boto3.

- `s3_client`: the boto3 client, with bounded timeouts and attempts
- `S3Storage`: the storage; S3 calls on its own thread pool; `abort_stale_uploads`, the sweeper
- `S3Upload`: one streamed upload (`write`, `complete`, `abort`), parts sent in the background
- `S3ResumableUpload`: one tus upload's multipart upload, taken up on any instance by key and id
- `object_tags`, `checksum_sha256`: the `sha256`/`size` object tags; a sha256 in S3's form

Design: docs/design/storage.md
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import functools
import hashlib
import logging
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from service.storage.headers import content_disposition
from service.storage.interface import (
    MAX_PARTS,
    MAX_SINGLE_PUT,
    MIN_PART_SIZE,
    ObjectMissing,
    StorageError,
)

T = TypeVar("T")
log = logging.getLogger("silo.storage")

# Server-side copies (a verified direct upload moved to its file's key): boto3's managed copy.
# One CopyObject up to 5 GiB, S3's limit for it (every direct upload: it is one PUT); parallel
# UploadPartCopy ranges only above. The bytes never pass through the service. One CopyObject is
# also the cheaper call here: against moto, a 1 GiB copy took 8.7 s as one CopyObject and 36.5 s
# as eight 128 MiB UploadPartCopy ranges (and their completion) on the 2-core build machine.
COPY_CONFIG = TransferConfig(
    multipart_threshold=MAX_SINGLE_PUT + 1, multipart_chunksize=512 * 1024**2, max_concurrency=8
)


class _Stat:
    def __init__(self, size: int, etag: str, sha256: str | None) -> None:
        self.size, self.etag, self.sha256 = size, etag, sha256


def object_tags(*, sha256: str, size: int) -> str:
    """A stored file's object tags, `sha256` and `size`, in the Tagging header's form: sent only
    with a request that creates the object (PutObject, CopyObject), never after."""
    return urllib.parse.urlencode({"sha256": sha256, "size": str(size)})


def checksum_sha256(sha256: str) -> str:
    """A hex sha256 in the form of S3's `x-amz-checksum-sha256` (base64 of the digest)."""
    return base64.b64encode(bytes.fromhex(sha256)).decode()


def _read_hashing(*, client: Any, validator: Any, **request: Any) -> str:
    """sha256 of a stored object, feeding the content validator on the way (storage thread)."""
    body = client.get_object(**request)["Body"]
    digest = hashlib.sha256()
    try:
        for chunk in body.iter_chunks(1024 * 1024):
            digest.update(chunk)
            if validator is not None:
                validator.feed(chunk)
    finally:
        body.close()
    if validator is not None:
        validator.finish()
    return digest.hexdigest()


# --- S3 ----------------------------------------------------------------------------------------


# Bounds of every S3 call (SILO_S3_CONNECT_TIMEOUT_SECONDS, SILO_S3_READ_TIMEOUT_SECONDS,
# SILO_S3_MAX_ATTEMPTS). The read timeout is per socket read (an 8 MiB part is not one read).
DEFAULT_CONNECT_TIMEOUT = 5
DEFAULT_READ_TIMEOUT = 10
DEFAULT_MAX_ATTEMPTS = 2
# How long `abort()` waits for its clean-up before leaving it to run in the background.
ABORT_WAIT_SECONDS = 3.0
# Background retries of a clean-up that failed (the endpoint still stalled).
CLEANUP_RETRY_DELAYS = (2, 5, 10, 30, 60, 120, 300)


def s3_client(
    *,
    region: str,
    endpoint_url: str | None,
    max_pool_connections: int = 32,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Any:
    """The boto3 S3 client the storage uses (credentials from boto3's default chain: the task
    role on ECS, AWS_* variables locally). The upload benchmark builds its baseline with it."""
    s3_options: dict[str, Any] = {
        # No SigV4 hash of each payload: boto3 already skips it over HTTPS (AWS) for uploads,
        # and over plain HTTP (a local endpoint) it would be a second SHA-256 pass over every
        # byte. Each part still carries a CRC32 that S3 verifies.
        "payload_signing_enabled": False,
    }
    if endpoint_url:
        # Local endpoints (moto, MinIO) are addressed by path, not by bucket sub-domain.
        s3_options["addressing_style"] = "path"
    return boto3.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint_url,
        config=Config(
            # One connection per worker thread: concurrent uploads never queue on the pool.
            max_pool_connections=max_pool_connections,
            # total_max_attempts counts the first call (botocore's `max_attempts` does not).
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            # An unreachable or stalled endpoint fails a call in seconds (botocore's default
            # read timeout is 60 s, times each attempt).
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # Presigned URLs must be SigV4: SigV2 is refused by newer regions.
            signature_version="s3v4",
            # The service hashes what it reads itself (sha256_of). botocore's own check of a GET
            # against the object's stored checksum would fail the read of an object whose
            # stored checksum is a lie (moto keeps a PUT's declared one unverified) before the
            # service could compute the real digest and say so (422, not 503).
            response_checksum_validation="when_required",
            s3=s3_options,
        ),
    )


# S3's answers that say a thing is not there. A resumable upload's calls (whose "gone" ends a
# tus upload) take only the multipart upload's and the key's; the others take the bucket's too.
UPLOAD_OR_KEY_MISSING = frozenset({"NoSuchUpload", "NoSuchKey", "404"})
MISSING = UPLOAD_OR_KEY_MISSING | {"NoSuchBucket", "NotFound"}


def _is_missing(error: BaseException | None, codes: frozenset[str] = MISSING) -> bool:
    """Whether an S3 failure (a ClientError, or the StorageError raised from one) says the
    object, multipart upload or bucket is not there."""
    if isinstance(error, StorageError):
        error = error.__cause__
    if not isinstance(error, ClientError):
        return False
    return error.response.get("Error", {}).get("Code", "") in codes


class S3Storage:
    def __init__(
        self,
        *,
        bucket: str,
        region: str,
        endpoint_url: str | None,
        part_size: int = 8 * 1024**2,
        max_in_flight: int = 2,
        client: Any = None,
        max_threads: int = 32,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.bucket = bucket
        self.part_size = part_size
        self.max_in_flight = max_in_flight
        if client is None:
            client = s3_client(
                region=region,
                endpoint_url=endpoint_url,
                max_pool_connections=max_threads,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_attempts=max_attempts,
            )
        self.client = client
        self._executor = ThreadPoolExecutor(max_threads, thread_name_prefix="s3")
        self._background: set[asyncio.Task] = set()
        self._retries: set[asyncio.Task] = set()  # clean-ups tried again later
        self._first_seen: dict[str, float] = {}  # upload id -> when the sweeper first saw it

    async def call(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Run one blocking boto3 call on the storage's threads; S3 failures -> StorageError."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(_guard, fn, **kwargs))

    def submit(self, fn: Callable[..., T], /, **kwargs: Any) -> asyncio.Future[T]:
        """Like `call`, but returns the future at once (it runs even if nobody awaits it)."""
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, functools.partial(_guard, fn, **kwargs))

    def keep(self, task: asyncio.Task) -> None:
        """Hold a background task until it ends (an abort outliving its cancelled caller)."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_retrieve)

    def retry_later(self, what: str, cleanup: Callable[[], Any]) -> None:
        """Try a failed clean-up again in the background (cancelled at shutdown)."""

        async def again() -> None:
            for delay in CLEANUP_RETRY_DELAYS:
                await asyncio.sleep(delay)
                try:
                    await cleanup()
                except StorageError as exc:
                    log.warning("clean-up of %s failed again: %s", what, exc)
                    continue
                log.info("clean-up of %s done on a later attempt", what)
                return
            log.error("gave up cleaning up %s", what)

        task = asyncio.get_running_loop().create_task(again())
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)
        task.add_done_callback(_retrieve)

    async def abort_uploads_of(self, key: str, *, keep: str | None = None) -> int:
        """Abort every multipart upload of `key` but `keep`; returns how many were aborted."""

        def run() -> int:
            found = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
            aborted = 0
            for upload in found.get("Uploads", []):
                if upload["Key"] != key or upload["UploadId"] == keep:
                    continue
                try:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=upload["UploadId"]
                    )
                except ClientError as exc:
                    if not _is_missing(exc):
                        raise
                aborted += 1
            return aborted

        return await self.call(run)

    async def abort_stale_uploads(self, older_than_seconds: float) -> int:
        """Abort the bucket's multipart uploads older than `older_than_seconds` (an instance
        killed mid-upload leaves its upload pending); returns how many.

        An upload's age is the lesser of its age by the endpoint's `Initiated` and the time
        since this storage first saw it: a clock that disagrees with ours, or an endpoint that
        reports no real date (moto answers a fixed date in 2010), never gets a young upload
        aborted. After a restart, an old upload is aborted `older_than_seconds` later at most.
        """
        now = datetime.datetime.now(datetime.UTC)
        seen_now = time.monotonic()

        def run() -> int:
            aborted = 0
            listed: set[str] = set()
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket):
                for upload in page.get("Uploads", []):
                    upload_id = upload["UploadId"]
                    listed.add(upload_id)
                    initiated = upload["Initiated"]
                    if initiated.tzinfo is None:
                        initiated = initiated.replace(tzinfo=datetime.UTC)
                    age = min(
                        (now - initiated).total_seconds(),
                        seen_now - self._first_seen.setdefault(upload_id, seen_now),
                    )
                    if age < older_than_seconds:
                        continue
                    try:
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                    except ClientError as exc:
                        if not _is_missing(exc):
                            raise
                    aborted += 1
            for upload_id in set(self._first_seen) - listed:
                del self._first_seen[upload_id]
            return aborted

        return await self.call(run)

    async def begin_upload(self, key: str, content_type: str) -> S3Upload:
        return S3Upload(self, key, content_type)

    async def begin_resumable(self, key: str, content_type: str) -> S3ResumableUpload:
        created = await self.call(
            self.client.create_multipart_upload,
            Bucket=self.bucket,
            Key=key,
            ContentType=content_type,
            ChecksumAlgorithm="CRC32",
        )
        return S3ResumableUpload(self, key, created["UploadId"])

    def resumable(self, key: str, upload_id: str) -> S3ResumableUpload:
        return S3ResumableUpload(self, key, upload_id)

    async def put(self, key: str, data: bytes, *, content_type: str, sha256: str) -> None:
        size = str(len(data))
        await self.call(
            self.client.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            Metadata={"sha256": sha256, "size": size},
            Tagging=object_tags(sha256=sha256, size=len(data)),
        )

    async def delete(self, key: str) -> None:
        await self.call(self.client.delete_object, Bucket=self.bucket, Key=key)

    async def presigned_get(
        self, key: str, *, filename: str, content_type: str, ttl_seconds: int, inline: bool = False
    ) -> str:
        # Signing is local computation (no request), cheap enough for the event loop.
        with _s3_errors("generate_presigned_url"):
            return self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentDisposition": content_disposition(filename, inline=inline),
                    "ResponseContentType": content_type,
                },
                ExpiresIn=ttl_seconds,
            )

    async def check(self) -> None:
        await self.call(self.client.head_bucket, Bucket=self.bucket)

    async def presigned_put(
        self, key: str, *, size: int, sha256: str, ttl_seconds: int
    ) -> tuple[str, dict[str, str]]:
        """A URL for one PUT of exactly `size` bytes whose SHA-256 is `sha256` (hex), and the
        headers the client must send with it. Content-Length and the checksum headers are
        signed: S3 refuses the PUT when they are changed (SignatureDoesNotMatch) and when the
        body does not match them (a short body, BadDigest), so a wrong object cannot land."""
        checksum = checksum_sha256(sha256)
        with _s3_errors("generate_presigned_url"):
            url = self.client.generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ContentLength": size,
                    "ChecksumSHA256": checksum,
                    # Tells storage which checksum the PUT carries (moto keeps it only with it).
                    "ChecksumAlgorithm": "SHA256",
                },
                ExpiresIn=ttl_seconds,
            )
        headers = {
            "Content-Length": str(size),
            "x-amz-checksum-sha256": checksum,
            "x-amz-sdk-checksum-algorithm": "SHA256",
        }
        return url, headers

    async def stat(self, key: str) -> _Stat | None:
        """Size, ETag and storage's own SHA-256 of an object (None when there is none). A
        missing key is a 404 only with s3:ListBucket (else S3 says 403): the task role has it."""
        try:
            head = await self.call(
                self.client.head_object, Bucket=self.bucket, Key=key, ChecksumMode="ENABLED"
            )
        except StorageError as exc:
            if _is_missing(exc):
                return None
            raise
        checksum = head.get("ChecksumSHA256")
        # A multipart object's checksum is of its parts' checksums ("...-<parts>" or
        # COMPOSITE): not the file's sha256, so not used.
        whole = checksum and "-" not in checksum and head.get("ChecksumType") != "COMPOSITE"
        sha256 = base64.b64decode(checksum).hex() if whole else None
        return _Stat(head["ContentLength"], head["ETag"], sha256)

    async def read_range(self, key: str, length: int, *, etag: str) -> bytes:
        """The first `length` bytes of the object, if it is still the one with `etag`."""
        response = await self.call(
            self.client.get_object,
            Bucket=self.bucket,
            Key=key,
            Range=f"bytes=0-{length - 1}",
            IfMatch=etag,
        )
        body = response["Body"]
        try:
            return await self.call(body.read)
        finally:
            body.close()

    async def sha256_of(self, key: str, *, etag: str | None = None, validator: Any = None) -> str:
        """The object's sha256, read whole (feeding `validator`, a filetypes content validator,
        on the way); with `etag`, only if it is still that object."""
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if etag is not None:
            request["IfMatch"] = etag
        return await self.call(_read_hashing, client=self.client, validator=validator, **request)

    async def copy_to(
        self, source: str, key: str, *, etag: str, content_type: str, sha256: str, size: int
    ) -> None:
        """Copy `source` to `key` inside the bucket (server-side; only if `source` is still the
        object with `etag`), with the content type, metadata and tags of a stored file."""
        await self.call(
            self.client.copy,
            CopySource={"Bucket": self.bucket, "Key": source},
            Bucket=self.bucket,
            Key=key,
            ExtraArgs={
                "CopySourceIfMatch": etag,
                "ContentType": content_type,
                "MetadataDirective": "REPLACE",
                "Metadata": {"sha256": sha256, "size": str(size)},
                "TaggingDirective": "REPLACE",
                "Tagging": object_tags(sha256=sha256, size=size),
            },
            Config=COPY_CONFIG,
        )

    def read_chunks(self, key: str, chunk_size: int) -> Iterator[bytes]:
        """The object's bytes, `chunk_size` at a time, as they arrive (blocking: the scan
        worker's thread). Holds one chunk at a time, whatever the object's size."""
        with _object_errors("get_object", key):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            with _object_errors("get_object (reading)", key):
                yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def read_tags(self, key: str) -> dict[str, str]:
        """The object's tags (blocking: the scan worker's thread)."""
        with _object_errors("get_object_tagging", key):
            found = self.client.get_object_tagging(Bucket=self.bucket, Key=key)
        return {tag["Key"]: tag["Value"] for tag in found.get("TagSet", [])}

    async def move(self, key: str, to_key: str) -> None:
        """Copy the object to `to_key`, then delete it (boto3's managed copy: a multipart copy
        for an object over its threshold, so any size moves, bytes never leaving S3)."""
        try:
            await self.call(
                self.client.copy,
                CopySource={"Bucket": self.bucket, "Key": key},
                Bucket=self.bucket,
                Key=to_key,
            )
        except StorageError as exc:
            # Gone already (moved by another scan of the same file): say so.
            if _is_missing(exc):
                raise ObjectMissing(key) from exc
            raise
        await self.delete(key)

    async def pending_uploads(self) -> list[str]:
        def collect() -> list[str]:
            paginator = self.client.get_paginator("list_multipart_uploads")
            return [
                upload["Key"]
                for page in paginator.paginate(Bucket=self.bucket)
                for upload in page.get("Uploads", [])
            ]

        return await self.call(collect)

    async def aclose(self) -> None:
        """Let background aborts finish, then release the threads and connections."""
        for task in list(self._retries):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown)
        self.client.close()


def _retrieve(future: asyncio.Future) -> None:
    # Mark the outcome as seen: its owner reports it (or is gone, having been cancelled).
    if not future.cancelled():
        future.exception()


@contextlib.contextmanager
def _s3_errors(what: str) -> Iterator[None]:
    """S3 failures (boto3's and botocore's exceptions) as StorageError: no botocore exception
    leaves service/storage/."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise StorageError(f"S3 {what}: {exc}") from exc


@contextlib.contextmanager
def _object_errors(what: str, key: str) -> Iterator[None]:
    """S3 failures of a call on one object as StorageError, ObjectMissing when it is not there."""
    try:
        with _s3_errors(what):
            yield
    except StorageError as exc:
        if _is_missing(exc):
            raise ObjectMissing(key) from exc.__cause__
        raise


def _guard(fn: Callable[..., T], /, **kwargs: Any) -> T:
    with _s3_errors(fn.__name__):
        return fn(**kwargs)


class S3Upload:
    """One object being written. Not safe for concurrent `write()` calls (one request feeds it)."""

    def __init__(self, storage: S3Storage, key: str, content_type: str) -> None:
        self._storage = storage
        self._client = storage.client
        self.key = key
        self._content_type = content_type
        self._part_size = storage.part_size
        # The part being filled, handed to boto3 as is once full, so each byte is copied once on
        # its way through (chunk -> part buffer). The first one grows as data comes (a small
        # file never costs a whole part of memory); later ones are full-size buffers, recycled.
        self._part = bytearray()
        self._filled = 0
        self._written = 0
        self._upload_id: str | None = None
        self._create: asyncio.Future | None = None  # CreateMultipartUpload, once started
        self._create_retried = False
        # Every S3 call of this upload still running: abort() lets them settle first, since a
        # call abandoned by a cancelled caller still completes on its thread.
        self._ops: set[asyncio.Future] = set()
        self._parts: list[dict[str, Any]] = []
        self._in_flight: dict[asyncio.Future, bytearray] = {}  # future -> its part's buffer
        # Buffers of parts already sent, reused for the next ones: a fresh 8 MiB bytearray
        # costs a zero-fill and page faults on the event loop for every part.
        self._free: list[bytearray] = []
        self._waiting = 0  # size of a full part waiting for a slot
        self._failure: BaseException | None = None
        self._object_may_exist = False
        self._closed = False  # completed, aborted or failing: no more writes
        self._abort_task: asyncio.Task | None = None
        # Observability for tests and benchmarks: the most bytes this upload held at once.
        self.peak_buffered = 0

    @property
    def buffered(self) -> int:
        """Bytes of part buffers this upload holds: filling, waiting, in flight, spare."""
        held = len(self._part) + self._waiting + sum(map(len, self._in_flight.values()))
        return held + sum(map(len, self._free))

    async def write(self, chunk: bytes) -> None:
        if self._closed:
            raise RuntimeError("upload is already completed or aborted")
        # Fast path (nearly every call): the chunk fits in a full-size part buffer, whose
        # capacity, hence the memory held, does not change.
        end = self._filled + len(chunk)
        if end < self._part_size and len(self._part) == self._part_size:
            self._part[self._filled : end] = chunk
            self._filled = end
            self._written += len(chunk)
            return
        view = memoryview(chunk)
        while view:
            room = self._part_size - self._filled
            take = min(room, len(view))
            if len(self._part) == self._part_size:
                self._part[self._filled : self._filled + take] = view[:take]
            else:
                self._part += view[:take]
            self._filled += take
            self._written += take
            view = view[take:]
            self.peak_buffered = max(self.peak_buffered, self.buffered)
            if self._filled == self._part_size:
                await self._send_full_part()

    async def _send_full_part(self) -> None:
        data, self._part = self._part, bytearray()
        self._filled = 0
        try:
            await self._send_part(data)
        except BaseException:
            # The part is lost (failure or cancellation): the upload cannot be completed.
            self._closed = True
            raise
        # Only now: waiting for a slot may have freed a buffer to fill next.
        self._part = self._free.pop() if self._free else bytearray(self._part_size)

    def _submit(self, fn: Callable[..., T], /, **kwargs: Any) -> asyncio.Future[T]:
        future = self._storage.submit(fn, **kwargs)
        self._ops.add(future)
        future.add_done_callback(self._ops.discard)
        future.add_done_callback(_retrieve)  # outcomes are read where they matter, or moot
        return future

    async def _run(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        # Shielded so that cancelling the caller does not orphan the call's outcome: abort()
        # still sees it in _ops and waits for it.
        return await asyncio.shield(self._submit(fn, **kwargs))

    async def _send_part(self, data: bytearray) -> None:
        if self._create is None:
            self._create = self._submit(
                self._client.create_multipart_upload,
                Bucket=self._storage.bucket,
                Key=self.key,
                ContentType=self._content_type,
                ChecksumAlgorithm="CRC32",
            )
        if self._upload_id is None:
            created = await asyncio.shield(self._create)
            self._upload_id = created["UploadId"]
            # A retried creation may have created an upload whose answer was lost.
            retried = created.get("ResponseMetadata", {}).get("RetryAttempts", 0) > 0
            self._create_retried = retried
        # Back-pressure: wait for a slot before putting another part on the wire.
        self._reap()
        self._waiting = len(data)
        self.peak_buffered = max(self.peak_buffered, self.buffered)
        while len(self._in_flight) >= self._storage.max_in_flight:
            await self._wait_for_parts(asyncio.FIRST_COMPLETED)
        self._waiting = 0
        number = len(self._parts) + len(self._in_flight) + 1
        if number > MAX_PARTS:
            raise StorageError(f"upload exceeds {MAX_PARTS} parts of {self._part_size} bytes")
        future = self._submit(
            upload_part,
            client=self._client,
            Bucket=self._storage.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=data,
        )
        self._in_flight[future] = data
        self.peak_buffered = max(self.peak_buffered, self.buffered)

    async def _wait_for_parts(self, return_when: str) -> None:
        await asyncio.wait(list(self._in_flight), return_when=return_when)
        self._reap()

    def _reap(self) -> None:
        """Collect finished parts; raise the first part failure (the upload is then dead)."""
        for future in [f for f in self._in_flight if f.done()]:
            buffer = self._in_flight.pop(future)
            if len(buffer) == self._part_size:
                self._free.append(buffer)
            exc = future.exception()
            if exc is not None:
                self._failure = self._failure or exc
            else:
                self._parts.append(future.result())
        if self._failure is not None:
            self._closed = True
            raise self._failure

    async def complete(self, *, sha256: str, size: int) -> None:
        if self._closed:
            raise RuntimeError("upload is already completed or aborted")
        if size != self._written:
            raise ValueError(f"complete(size={size}) but {self._written} bytes were written")
        self._closed = True  # one attempt: after a failure, only abort() is left
        tags = object_tags(sha256=sha256, size=size)
        if self._create is None:
            body = self._part
            del body[self._filled :]  # shrink in place: no copy of the data
            self._part = bytearray()
            self._object_may_exist = True
            await self._run(
                self._client.put_object,
                Bucket=self._storage.bucket,
                Key=self.key,
                Body=body,
                ContentType=self._content_type,
                Metadata={"sha256": sha256, "size": str(size)},
                Tagging=tags,
            )
            return
        if self._filled:
            last = self._part
            del last[self._filled :]
            self._part = bytearray()
            self._filled = 0
            await self._send_part(last)
        if self._in_flight:
            await self._wait_for_parts(asyncio.ALL_COMPLETED)
        self._object_may_exist = True
        parts = sorted(self._parts, key=lambda part: part["PartNumber"])
        await self._run(
            self._client.complete_multipart_upload,
            Bucket=self._storage.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": parts},
        )
        if self._create_retried:
            # The upload a lost answer may have created: not ours to keep.
            try:
                await self._storage.abort_uploads_of(self.key, keep=self._upload_id)
            except StorageError as exc:
                log.warning("could not abort the strays of %s: %s", self.key, exc)
                self._storage.retry_later(
                    self.key, lambda: self._storage.abort_uploads_of(self.key, keep=self._upload_id)
                )
        # No tags on a multipart object: its sha256 is known only now, and tagging an object
        # that exists (PutObjectTagging replaces the whole set) would race GuardDuty's verdict
        # tag. The file's row holds sha256 and size (docs/design/storage.md).

    async def abort(self) -> None:
        self._closed = True
        if self._abort_task is None:
            self._abort_task = asyncio.get_running_loop().create_task(self._abort())
            self._storage.keep(self._abort_task)
        # Shielded: a cancelled caller stops waiting, the clean-up itself still runs to the end.
        # The caller waits a few seconds at most: against a stalled endpoint the clean-up takes
        # as long as the S3 timeouts allow, and the client's 503 need not wait for it.
        try:
            await asyncio.wait_for(asyncio.shield(self._abort_task), ABORT_WAIT_SECONDS)
        except TimeoutError:
            log.warning("clean-up of %s goes on in the background", self.key)

    async def _abort(self) -> None:
        self._part = bytearray()
        self._filled = 0
        self._free.clear()
        self._in_flight.clear()
        while self._ops:
            settled, _ = await asyncio.wait(list(self._ops))
            for future in settled:
                _retrieve(future)
        try:
            await self._cleanup()
        except StorageError:
            # The endpoint may be stalled rather than gone: what it still holds (or receives
            # late) is removed by a later attempt.
            self._storage.retry_later(self.key, self._cleanup)
            raise

    async def _cleanup(self) -> None:
        if self._create is not None:
            # Every upload of the key: ours, and any a retried or abandoned creation made.
            await self._storage.abort_uploads_of(self.key)
        if self._object_may_exist:
            await self._ignoring_missing(
                self._client.delete_object, Bucket=self._storage.bucket, Key=self.key
            )

    async def _ignoring_missing(self, fn: Callable[..., Any], /, **kwargs: Any) -> None:
        try:
            await self._storage.call(fn, **kwargs)
        except StorageError as exc:
            if not _is_missing(exc):
                raise


def upload_part(*, client: Any, PartNumber: int, **kwargs: Any) -> dict[str, Any]:
    """One part (storage thread): its number, ETag and checksum, as completion lists them."""
    response = client.upload_part(PartNumber=PartNumber, ChecksumAlgorithm="CRC32", **kwargs)
    part = {"PartNumber": PartNumber, "ETag": response["ETag"]}
    # An upload created with a checksum algorithm must list each part's checksum on completion.
    if "ChecksumCRC32" in response:
        part["ChecksumCRC32"] = response["ChecksumCRC32"]
    return part


class S3ResumableUpload:
    """A resumable upload (interface.py: `ResumableUpload`) as one S3 multipart upload, as
    tusd's s3store maps tus onto S3: `send_part` is UploadPart, `exists` ListParts, `complete`
    CompleteMultipartUpload, `abort` AbortMultipartUpload. Each call runs on the storage's
    threads, bounded as every S3 call is."""

    def __init__(self, storage: S3Storage, key: str, upload_id: str) -> None:
        self._storage = storage
        self.key = key
        self.upload_id = upload_id

    async def send_part(self, number: int, data: bytes | bytearray) -> dict[str, Any]:
        storage = self._storage
        return await storage.call(
            upload_part,
            client=storage.client,
            Bucket=storage.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
        )

    async def exists(self) -> bool:
        # ListParts: its NoSuchUpload is the answer every S3 gives reliably.
        storage = self._storage
        try:
            await storage.call(
                storage.client.list_parts,
                Bucket=storage.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MaxParts=1,
            )
        except StorageError as exc:
            if _is_missing(exc, UPLOAD_OR_KEY_MISSING):
                return False
            raise
        return True

    async def complete(self, parts: Sequence[Mapping[str, Any]]) -> None:
        storage = self._storage
        await storage.call(
            storage.client.complete_multipart_upload,
            Bucket=storage.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": list(parts)},
        )

    async def abort(self) -> None:
        storage = self._storage
        try:
            await storage.call(
                storage.client.abort_multipart_upload,
                Bucket=storage.bucket,
                Key=self.key,
                UploadId=self.upload_id,
            )
        except StorageError as exc:
            if not _is_missing(exc, UPLOAD_OR_KEY_MISSING):  # else: aborted, or completed
                raise
