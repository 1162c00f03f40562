"""The malware-scanner seam: `Scanner` (what the scan worker codes against) and its engines
beside it, one per SILO_SCAN value, each turning its engine's answer into the same `Verdict`.

- `ClamdScanner` (`clamav`): the object streamed from S3 to clamd (`zINSTREAM`); its
  signature database (`Signatures`, from `zVERSION`) asked with the health check
- `GuardDutyScanner` (`guardduty`): reads GuardDuty's `GuardDutyMalwareScanStatus` tag
- `NoScanner` (`off`): every file clean
- `ScannerUnavailable` (the scanner unreachable), `ScanError` (this file, this time)

Design: docs/design/scanning.md
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

CLEAN, INFECTED, FAILED, PENDING = "clean", "infected", "failed", "pending"
# Too large for the engine (SILO_SCAN_MAX_BYTES, or clamd's StreamMaxLength): not scanned, and
# held or served by the tenant's policy (SILO_SCAN_OVERSIZE).
OVERSIZE = "oversize"
# Every scan status (the `scan_status` column, the file object, `GET /files?scan=`).
STATUSES = (PENDING, CLEAN, INFECTED, FAILED, OVERSIZE)

# Bytes per INSTREAM chunk: S3 is read in pieces of this size and each is sent as one chunk.
INSTREAM_CHUNK = 256 * 1024
CLAMD_CONNECT_TIMEOUT = 5.0
# The health check: clamd answers PING at once unless it hangs (stopped, swapping, deadlocked).
CLAMD_PING_TIMEOUT = 2.0
# How long one chunk may wait to be taken by clamd.
CLAMD_SEND_TIMEOUT = 30.0
# How long clamd may take to answer once the last byte is sent (it scans the stream then): this
# long, plus the stream's size at the rate below (a large archive takes a while). A scan that
# runs out of it counts against the file only if clamd still answers PING.
CLAMD_REPLY_SECONDS = 30.0
CLAMD_SCAN_BYTES_PER_SECOND = 4 * 1024 * 1024
MAX_REPLY = 4096
# clamd is asked its VERSION (the signature database's) with a health check, at most this often.
SIGNATURES_EVERY_SECONDS = 60.0

GUARDDUTY_TAG = "GuardDutyMalwareScanStatus"
# GuardDuty's tag values (Malware Protection for S3) and what each means here.
GUARDDUTY_STATUSES: Mapping[str, str] = {
    "NO_THREATS_FOUND": CLEAN,
    "THREATS_FOUND": INFECTED,
    "UNSUPPORTED": FAILED,
    "ACCESS_DENIED": FAILED,
    "FAILED": FAILED,
}


@dataclass(frozen=True)
class Verdict:
    status: str  # clean, infected, failed or oversize
    # The signature found, or why the scan failed.
    detail: str | None = None


@dataclass(frozen=True)
class Signatures:
    """The engine's signature database as clamd's `VERSION` tells it: `ClamAV 1.0.7/27480/Sat
    Dec  5 09:00:00 2026` is engine `ClamAV 1.0.7`, daily version 27480, built then (clamd
    formats it in its own time zone, UTC in the sidecar). Without the official daily database
    (a database of its own, as `silo dev`'s EICAR-only one) clamd says only `ClamAV 1.4.6`:
    version 0, no date."""

    engine: str
    version: int = 0
    built: datetime | None = None


def parse_clamd_version(reply: str) -> Signatures:
    """clamd's `VERSION` answer as `Signatures`; what does not parse is unknown (0, None)."""
    engine, _, rest = reply.strip().partition("/")
    number, _, date = rest.partition("/")
    if not number.strip().isdigit():
        return Signatures(engine)
    try:
        built = datetime.strptime(" ".join(date.split()), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return Signatures(engine, int(number))
    return Signatures(engine, int(number), built.replace(tzinfo=UTC))


class ScannerUnavailable(Exception):
    """The scanner cannot be reached: the file stays pending until it can."""


class ScanError(Exception):
    """This file could not be scanned this time (a stall mid-scan, an unexpected answer)."""


class Scanner(Protocol):
    # The engine named in the verdicts (`scan.engine`): clamav, guardduty, none.
    engine: str
    # Its signature database, as last asked (clamd); None for engines without one here.
    signatures: Signatures | None

    def scan(self, key: str, size: int = 0) -> Verdict | None:
        """The verdict on the object at `key` (`size` bytes), or None when the engine has none
        yet. Raises ScannerUnavailable when the engine cannot be reached or hangs (nothing
        counts against the file), ScanError when this file could not be scanned this time."""
        ...

    def check(self) -> None:
        """Raise ScannerUnavailable unless the scanner answers."""
        ...


class NoScanner:
    """SILO_SCAN=off: nothing is scanned and every file is served."""

    engine = "none"
    signatures = None

    def scan(self, key: str, size: int = 0) -> Verdict:
        return Verdict(CLEAN)

    def check(self) -> None:
        return None


def parse_clamd_address(address: str) -> tuple[int, str | tuple[str, int]]:
    """`tcp://host:port` or `unix:///path` -> (socket family, connect argument); ValueError."""
    if address.startswith("unix://"):
        path = address[len("unix://") :]
        if not path.startswith("/"):
            raise ValueError("expected unix:///absolute/path")
        return socket.AF_UNIX, path
    if address.startswith("tcp://"):
        host, sep, port = address[len("tcp://") :].rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected tcp://host:port")
        return socket.AF_INET, (host.strip("[]"), int(port))
    raise ValueError("expected tcp://host:port or unix:///path")


class ClamdScanner:
    """clamd over its socket protocol (`z`-prefixed, NUL-terminated commands and replies).

    Every wait is bounded: a PING gets `CLAMD_PING_TIMEOUT`, a chunk `CLAMD_SEND_TIMEOUT`, the
    verdict `reply_seconds` plus the size at `CLAMD_SCAN_BYTES_PER_SECOND`. A scan that runs
    out of time asks clamd for a PING: no answer is a hung engine (ScannerUnavailable), an
    answer means the file itself was the trouble (ScanError). A health check that got its PONG
    also asks `VERSION` (at most every `SIGNATURES_EVERY_SECONDS`): `signatures`."""

    engine = "clamav"

    def __init__(
        self,
        address: str,
        read_object: Callable[[str, int], Iterable[bytes]],
        *,
        reply_seconds: float = CLAMD_REPLY_SECONDS,
    ) -> None:
        self.address = address
        self._family, self._target = parse_clamd_address(address)
        # key, chunk size -> the object's bytes in chunks (ObjectStorage.read_chunks)
        self._read_object = read_object
        self.reply_seconds = reply_seconds
        # The signature database as last asked: None until clamd has answered VERSION.
        self.signatures: Signatures | None = None
        self._signatures_asked = -SIGNATURES_EVERY_SECONDS

    def reply_deadline(self, size: int) -> float:
        """Seconds clamd gets to answer once a stream of `size` bytes is sent."""
        return self.reply_seconds + size / CLAMD_SCAN_BYTES_PER_SECOND

    def _connect(self, timeout: float = CLAMD_CONNECT_TIMEOUT) -> socket.socket:
        try:
            if self._family == socket.AF_UNIX:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                try:
                    sock.connect(self._target)
                except OSError:
                    sock.close()
                    raise
            else:
                sock = socket.create_connection(self._target, timeout=timeout)  # type: ignore[arg-type]
        except OSError as exc:
            raise ScannerUnavailable(f"clamd at {self.address} unreachable: {exc}") from exc
        return sock

    def check(self) -> None:
        with self._connect(CLAMD_PING_TIMEOUT) as sock:
            try:
                sock.sendall(b"zPING\0")
                reply = _read_reply(sock, time.monotonic() + CLAMD_PING_TIMEOUT)
            except TimeoutError as exc:
                raise ScannerUnavailable(
                    f"clamd at {self.address} did not answer PING within {CLAMD_PING_TIMEOUT:.0f} s"
                ) from exc
            except OSError as exc:
                raise ScannerUnavailable(f"clamd at {self.address}: {exc}") from exc
        if reply != "PONG":
            raise ScannerUnavailable(f"clamd at {self.address} answered PING with {reply!r}")
        if time.monotonic() - self._signatures_asked >= SIGNATURES_EVERY_SECONDS:
            self._signatures_asked = time.monotonic()
            self.signatures = self.version() or self.signatures

    def version(self) -> Signatures | None:
        """clamd's signature database (`zVERSION`, within the PING deadline); None when it did
        not answer (the health check, not this, says whether clamd is up)."""
        try:
            with self._connect(CLAMD_PING_TIMEOUT) as sock:
                sock.sendall(b"zVERSION\0")
                reply = _read_reply(sock, time.monotonic() + CLAMD_PING_TIMEOUT)
        except (ScannerUnavailable, OSError):
            return None
        return parse_clamd_version(reply) if reply.startswith("ClamAV") else None

    def scan(self, key: str, size: int = 0) -> Verdict:
        with self._connect() as sock:
            sock.settimeout(CLAMD_SEND_TIMEOUT)
            sent = 0
            try:
                sock.sendall(b"zINSTREAM\0")
                for chunk in self._read_object(key, INSTREAM_CHUNK):
                    sock.sendall(struct.pack(">I", len(chunk)) + chunk)
                    sent += len(chunk)
                sock.sendall(struct.pack(">I", 0))
            except (BrokenPipeError, ConnectionResetError):
                # clamd stops reading and closes past StreamMaxLength, having written why:
                # the reply below says so.
                pass
            except TimeoutError as exc:
                raise self._stalled(f"clamd stopped reading after {sent} bytes") from exc
            except OSError as exc:
                raise ScannerUnavailable(f"clamd at {self.address}: {exc}") from exc
            deadline = self.reply_deadline(max(size, sent))
            try:
                reply = _read_reply(sock, time.monotonic() + deadline)
            except TimeoutError as exc:
                raise self._stalled(f"clamd gave no verdict within {deadline:.0f} s") from exc
            except OSError as exc:
                raise ScannerUnavailable(f"clamd at {self.address}: {exc}") from exc
        return _clamd_verdict(reply, sent)

    def _stalled(self, what: str) -> ScanError | ScannerUnavailable:
        """A scan that ran out of time: a hung clamd (no attempt counts against the file), or,
        when clamd still answers PING, this file's trouble."""
        try:
            self.check()
        except ScannerUnavailable as exc:
            return ScannerUnavailable(f"{what}; {exc}")
        return ScanError(what)


def _read_reply(sock: socket.socket, deadline: float) -> str:
    """clamd's NUL-terminated reply; TimeoutError when it has not come by `deadline`
    (time.monotonic())."""
    reply = b""
    while not reply.endswith(b"\0") and len(reply) < MAX_REPLY:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no reply in time")
        sock.settimeout(left)
        data = sock.recv(MAX_REPLY)
        if not data:
            break
        reply += data
    return reply.rstrip(b"\0").decode("utf-8", "replace").strip()


def _clamd_verdict(reply: str, sent: int) -> Verdict:
    if reply == "":
        # Closed without a word: clamd went away mid-scan (a restart).
        raise ScannerUnavailable("clamd closed the connection without a verdict")
    if reply.startswith("stream: ") and reply.endswith(" FOUND"):
        return Verdict(INFECTED, reply[len("stream: ") : -len(" FOUND")])
    if reply == "stream: OK":
        return Verdict(CLEAN)
    if "size limit exceeded" in reply:
        return Verdict(
            OVERSIZE,
            f"larger than clamd's StreamMaxLength: clamd stopped the stream after {sent} bytes, "
            "so the rest was never scanned",
        )
    if reply.endswith("ERROR"):
        return Verdict(FAILED, f"clamd: {reply}")
    raise ScanError(f"unexpected clamd reply {reply!r}")


class GuardDutyScanner:
    """GuardDuty's verdict, read from the tag it puts on the object."""

    engine = "guardduty"
    signatures = None

    def __init__(self, read_tags: Callable[[str], Mapping[str, str]]) -> None:
        # key -> the object's tags (ObjectStorage.read_tags)
        self._read_tags = read_tags

    def check(self) -> None:
        # GuardDuty is not called: it is reached through the bucket, which /readyz watches.
        return None

    def scan(self, key: str, size: int = 0) -> Verdict | None:
        value = self._read_tags(key).get(GUARDDUTY_TAG)
        if value is None:
            return None
        status = GUARDDUTY_STATUSES.get(value)
        if status is None:
            return Verdict(FAILED, f"GuardDuty: unknown {GUARDDUTY_TAG} {value!r}")
        return Verdict(status, None if status == CLEAN else f"GuardDuty: {value}")
