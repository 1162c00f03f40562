"""The scanner engines against the real thing: clamd (over its unix socket and TCP) and the
local S3 the object is streamed from; clamd's answers as the verdicts they become."""

from __future__ import annotations

import pytest

from service.scanning.engines import (
    CLEAN,
    FAILED,
    INFECTED,
    OVERSIZE,
    ClamdScanner,
    GuardDutyScanner,
    ScanError,
    ScannerUnavailable,
    Verdict,
    _clamd_verdict,
    parse_clamd_address,
)
from service.storage import ObjectMissing, S3Storage
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


@pytest.mark.parametrize("address", ["clamd:3310", "tcp://clamd", "unix://rel", "http://x:1"])
def test_bad_addresses(address):
    with pytest.raises(ValueError):
        parse_clamd_address(address)


def test_tagging_a_stored_object_keeps_guardduty_s_verdict(s3, bucket):
    """GuardDuty may tag a multipart object before the service writes its own tags (after
    CompleteMultipartUpload, or after a tus upload's read-back): its verdict must survive."""
    import asyncio

    storage = S3Storage(bucket=bucket, region=s3.region, endpoint_url=s3.endpoint_url,
                        client=s3.client())  # fmt: skip
    verdict = {"Key": "GuardDutyMalwareScanStatus", "Value": "NO_THREATS_FOUND"}
    s3.client().put_object(Bucket=bucket, Key="files/y", Body=b"%PDF-1.4 ...")
    s3.client().put_object_tagging(Bucket=bucket, Key="files/y", Tagging={"TagSet": [verdict]})
    asyncio.run(storage.tag_stored("files/y", sha256="ab" * 32, size=12))
    assert storage.read_tags("files/y") == {
        "GuardDutyMalwareScanStatus": "NO_THREATS_FOUND",
        "sha256": "ab" * 32,
        "size": "12",
    }


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
