"""The scanner engines against the real thing: clamd (over its unix socket and TCP) and the
local S3 the object is streamed from; clamd's answers as the verdicts they become."""

from __future__ import annotations

import hashlib
import os
import socket
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from service.scanning.engines import (
    CLEAN,
    FAILED,
    GUARDDUTY_TAG,
    INFECTED,
    OVERSIZE,
    ClamdScanner,
    GuardDutyScanner,
    ScanError,
    ScannerUnavailable,
    Signatures,
    Verdict,
    _clamd_verdict,
    parse_clamd_address,
    parse_clamd_version,
)
from service.storage import MIN_PART_SIZE, ObjectMissing, S3Storage
from tests.infra import clamd_server, eicar


def test_eicar_split_across_chunks_is_found_over_the_unix_socket():
    data = eicar()
    sizes: list[int] = []

    def chunks(key: str, size: int):
        # The object arrives in pieces; the signature spans two of them.
        for piece in (data[:30], data[30:]):
            sizes.append(len(piece))
            yield piece

    with clamd_server(unix_socket=True) as clamd:
        scanner = ClamdScanner(clamd.socket_address, chunks)
        scanner.check()
        assert scanner.scan("k") == Verdict(INFECTED, "Eicar-Test-Signature.UNOFFICIAL")
        assert sizes == [30, 38]
        clamd.halt()
        with pytest.raises(ScannerUnavailable):
            scanner.check()
        with pytest.raises(ScannerUnavailable):
            scanner.scan("k")


def test_objects_are_read_in_chunks_never_whole(s3, bucket):
    storage = S3Storage(bucket=bucket, region=s3.region, endpoint_url=s3.endpoint_url,
                        client=s3.client())  # fmt: skip
    data = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit
    s3.client().put_object(Bucket=bucket, Key="files/x", Body=data)
    chunks = list(storage.read_chunks("files/x", 64 * 1024))
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= 64 * 1024 and len(chunks) > 16
    with pytest.raises(ObjectMissing):
        list(storage.read_chunks("files/none", 1024))
    s3.client().put_object_tagging(
        Bucket=bucket,
        Key="files/x",
        Tagging={"TagSet": [{"Key": "GuardDutyMalwareScanStatus", "Value": "THREATS_FOUND"}]},
    )
    scanner = GuardDutyScanner(storage.read_tags)
    assert scanner.scan("files/x") == Verdict(INFECTED, "GuardDuty: THREATS_FOUND")


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("stream: OK", Verdict(CLEAN)),
        ("stream: Win.Test.EICAR_HDB-1 FOUND", Verdict(INFECTED, "Win.Test.EICAR_HDB-1")),
        ("INSTREAM size limit exceeded. ERROR", OVERSIZE),
        ("Can't allocate memory ERROR", Verdict(FAILED, "clamd: Can't allocate memory ERROR")),
    ],
)
def test_clamd_replies(reply, verdict):
    found = _clamd_verdict(reply, 1024)
    if isinstance(verdict, str):
        assert found.status == verdict and "StreamMaxLength" in (found.detail or "")
    else:
        assert found == verdict


def test_clamd_silence_and_nonsense():
    with pytest.raises(ScannerUnavailable):
        _clamd_verdict("", 0)
    with pytest.raises(ScanError):
        _clamd_verdict("what?", 0)


@pytest.mark.parametrize(
    ("reply", "signatures"),
    [
        (
            "ClamAV 1.0.7/27480/Sat Dec  5 09:00:00 2026",
            Signatures("ClamAV 1.0.7", 27480, datetime(2026, 12, 5, 9, 0, tzinfo=UTC)),
        ),
        ("ClamAV 1.0.7/27480/not a date", Signatures("ClamAV 1.0.7", 27480)),
        ("ClamAV 1.4.6", Signatures("ClamAV 1.4.6")),  # no official daily database
        ("ClamAV 1.4.6/x/y", Signatures("ClamAV 1.4.6")),
    ],
)
def test_clamd_version_replies(reply, signatures):
    assert parse_clamd_version(reply) == signatures


def test_the_health_check_asks_clamd_for_its_signatures():
    """What the real clamd with the tests' EICAR-only .hdb database answers VERSION (the
    engine alone: no daily version, no date) is what the scanner reports after a health
    check, asked once a minute at most, and kept while clamd is down."""
    with clamd_server() as clamd:
        with socket.create_connection(("127.0.0.1", clamd.port), timeout=5) as sock:
            sock.sendall(b"zVERSION\0")
            raw = sock.recv(4096).rstrip(b"\0").decode()
        assert raw.startswith("ClamAV ") and "/" not in raw, raw
        scanner = ClamdScanner(clamd.address, lambda key, size: iter(()))
        assert scanner.signatures is None
        scanner.check()
        assert scanner.signatures == Signatures(raw, 0, None)
        asked = []
        scanner.version = lambda: asked.append(1)  # type: ignore[method-assign]
        scanner.check()
        assert asked == []  # not again within the minute
        clamd.halt()
        with pytest.raises(ScannerUnavailable):
            scanner.check()
        assert scanner.signatures == Signatures(raw, 0, None)


@pytest.mark.parametrize("address", ["clamd:3310", "tcp://clamd", "unix://rel", "http://x:1"])
def test_bad_addresses(address):
    with pytest.raises(ValueError):
        parse_clamd_address(address)


class GuardDutyRace:
    """GuardDuty racing the service, installed on the service's boto3 client with botocore's
    events: its verdict tag lands on an object the moment the object exists (right after
    CompleteMultipartUpload answers, before the service's next call), and the bucket refuses
    a tag write naming GuardDuty's key from anyone else (the tag-based bucket policy,
    provisioning/aws/policies.py `bucket_policy`). `tag_writes`: the keys the service tagged."""

    def __init__(self, guardduty_client, verdict: str = "NO_THREATS_FOUND") -> None:
        self.guardduty = guardduty_client  # GuardDuty's own role
        self.verdict = verdict
        self.tagged: list[str] = []
        self.tag_writes: list[str] = []

    def install(self, client):
        events = client.meta.events
        events.register("before-parameter-build.s3.CompleteMultipartUpload", self._remember)
        events.register("after-call.s3.CompleteMultipartUpload", self._tag)
        events.register("before-parameter-build.s3.PutObjectTagging", self._policy)
        return client

    def _remember(self, params, context, **kwargs) -> None:
        context["race_object"] = (params["Bucket"], params["Key"])

    def _tag(self, http_response, context, **kwargs) -> None:
        if http_response.status_code != 200:
            return
        bucket, key = context["race_object"]
        tags = self.guardduty.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
        tags.append({"Key": GUARDDUTY_TAG, "Value": self.verdict})
        self.guardduty.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": tags})
        self.tagged.append(key)

    def _policy(self, params, **kwargs) -> None:
        self.tag_writes.append(params["Key"])
        if any(tag["Key"] == GUARDDUTY_TAG for tag in params["Tagging"]["TagSet"]):
            error = {"Code": "AccessDenied", "Message": "explicit deny in a resource-based policy"}
            raise ClientError({"Error": error}, "PutObjectTagging")


@pytest.mark.parametrize("path", ["multipart", "resumable"])
def test_guardduty_s_verdict_written_while_an_upload_completes_is_kept(s3, bucket, path):
    """A multipart object (a form upload past one part, a tus upload) is never tagged after it
    exists: GuardDuty's verdict, written as the upload completes, stays, and is the verdict."""
    import asyncio

    race = GuardDutyRace(s3.client())
    storage = S3Storage(bucket=bucket, region=s3.region, endpoint_url=s3.endpoint_url,
                        part_size=MIN_PART_SIZE, client=race.install(s3.client()))  # fmt: skip
    data = os.urandom(MIN_PART_SIZE + 1000)
    key = f"files/{path}"

    async def store() -> None:
        if path == "multipart":
            upload = await storage.begin_upload(key, "application/pdf")
            await upload.write(data)
            await upload.complete(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        else:
            upload = await storage.begin_resumable(key, "application/pdf")
            halves = (data[:MIN_PART_SIZE], data[MIN_PART_SIZE:])
            await upload.complete([await upload.send_part(n, p) for n, p in enumerate(halves, 1)])
            # What settling a tus upload asks of storage next (service/uploads/tus.py).
            assert await storage.sha256_of(key) == hashlib.sha256(data).hexdigest()
        await storage.aclose()

    asyncio.run(store())
    assert race.tagged == [key]
    assert race.tag_writes == []
    assert storage.read_tags(key) == {GUARDDUTY_TAG: "NO_THREATS_FOUND"}
    assert GuardDutyScanner(storage.read_tags).scan(key) == Verdict(CLEAN)


def test_moving_a_missing_object_says_it_is_missing(s3, bucket):
    """Two scans of one infected file race to quarantine it: the one that finds it gone knows."""
    import asyncio

    storage = S3Storage(bucket=bucket, region=s3.region, endpoint_url=s3.endpoint_url,
                        client=s3.client())  # fmt: skip
    s3.client().put_object(Bucket=bucket, Key="files/z", Body=b"bad")
    asyncio.run(storage.move("files/z", "quarantine/files/z"))
    with pytest.raises(ObjectMissing):
        asyncio.run(storage.move("files/z", "quarantine/files/z"))
    assert storage.read_tags("quarantine/files/z") == {}


def test_a_hung_clamd_is_unavailable_not_the_file_s_fault():
    """clamd stopped (SIGSTOP) still accepts connections and answers nothing: its health check
    fails within the PING deadline, and a scan that runs out of time blames the engine
    (ScannerUnavailable: no attempt counts against the file), not the file."""
    import time

    from service.scanning.engines import CLAMD_PING_TIMEOUT

    with clamd_server() as clamd:
        scanner = ClamdScanner(clamd.address, lambda key, size: iter([b"%PDF-1.4 hello"]),
                               reply_seconds=1.0)  # fmt: skip
        assert scanner.scan("k", 14) == Verdict(CLEAN)
        assert scanner.reply_deadline(8 * 1024 * 1024) == 3.0
        clamd.pause()
        try:
            started = time.monotonic()
            with pytest.raises(ScannerUnavailable, match="PING"):
                scanner.check()
            assert time.monotonic() - started < CLAMD_PING_TIMEOUT + 1
            started = time.monotonic()
            with pytest.raises(ScannerUnavailable, match="no verdict within 1 s"):
                scanner.scan("k", 14)
            assert time.monotonic() - started < 1 + CLAMD_PING_TIMEOUT + 1
        finally:
            clamd.resume()
        scanner.check()
        assert scanner.scan("k", 14) == Verdict(CLEAN)
