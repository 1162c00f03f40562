"""A throwaway ClamAV daemon (`clamd`) from the machine's own binary, for tests and `silo dev`.

It loads only the signature database it is given (this machine may not be able to download the
official one, and a test must know exactly what is detected), listens on a free loopback TCP port
and, when asked, on a unix socket too, and runs in the foreground as a child process. Like
PostgreSQL in `postgres.py`, it is run as the `postgres` system user when we are root, in a
temporary directory handed over to that user: clamd would otherwise keep root's privileges while
it parses hostile input.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from provisioning.local.net import free_port

HOW_TO_PROVIDE = (
    "install the ClamAV daemon (`clamd`; e.g. `apt-get install clamav-daemon`, no signature "
    "download needed: the tests bring their own)"
)

# The EICAR test file by its md5 and size (an `.hdb` line). It names the test file without
# containing it, so it can live in the code; it is the default database, which makes a local
# clamd detect exactly the file every anti-virus treats as a test virus.
EICAR_HDB = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature"


class ClamdUnavailable(RuntimeError):
    """No local clamd could be started; the message says how to provide one."""


def find_clamd() -> str | None:
    found = shutil.which("clamd")
    if found:
        return found
    # Debian installs it in /usr/sbin, which a non-root PATH often leaves out.
    for candidate in ("/usr/sbin/clamd", "/usr/local/sbin/clamd"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for user in ("postgres", "clamav", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return user
    raise ClamdUnavailable("running as root and there is no unprivileged user to run clamd as")


def ping(address: str, timeout: float = 1.0) -> bool:
    """True when a clamd answers PING at `tcp://host:port` or `unix:///path`."""
    try:
        with _connect(address, timeout) as sock:
            sock.sendall(b"zPING\0")
            return sock.recv(16).rstrip(b"\0") == b"PONG"
    except OSError:
        return False


def _connect(address: str, timeout: float) -> socket.socket:
    if address.startswith("unix://"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(address[len("unix://") :])
        except OSError:
            sock.close()
            raise
        return sock
    host, _, port = address.removeprefix("tcp://").rpartition(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


@dataclass
class LocalClamd:
    """Start with `start()`, stop with `stop()` (or use as a context manager).

    `halt()` stops the daemon but keeps its directory and port, and `start()` brings it back on
    the same address: the tests use that for "the scanner is down, then back".
    """

    signatures: str = EICAR_HDB
    port: int | None = None
    unix_socket: bool = False
    stream_max_length: str = "100M"
    startup_timeout: float = 60.0
    _dir: str | None = field(default=None, init=False)
    _user: str | None = field(default=None, init=False)
    _process: subprocess.Popen | None = field(default=None, init=False)

    @property
    def address(self) -> str:
        """The TCP address, as `SILO_CLAMD_ADDRESS` takes it."""
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def socket_address(self) -> str:
        """The unix socket's address (only with `unix_socket=True`)."""
        assert self._dir is not None and self.unix_socket
        return f"unix://{os.path.join(self._dir, 'clamd.sock')}"

    @property
    def stream_max_bytes(self) -> int:
        """`stream_max_length` in bytes (clamd's K and M are 1024 and 1024 * 1024)."""
        text = self.stream_max_length.strip().upper()
        factor = {"K": 1024, "M": 1024 * 1024}.get(text[-1:], 1)
        return int(text.rstrip("KM")) * factor

    @property
    def log_path(self) -> str | None:
        return os.path.join(self._dir, "clamd.log") if self._dir else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _prepare(self) -> None:
        self._user = _run_as()
        self._dir = tempfile.mkdtemp(prefix="silo-clamd-")
        database = os.path.join(self._dir, "db")
        os.mkdir(database)
        with open(os.path.join(database, "silo.hdb"), "w") as fh:
            fh.write(self.signatures.strip() + "\n")
        if self.port is None:
            self.port = free_port()
        lines = [
            "Foreground yes",
            f"TCPSocket {self.port}",
            "TCPAddr 127.0.0.1",
            f"DatabaseDirectory {database}",
            f"TemporaryDirectory {self._dir}",
            f"LogFile {self.log_path}",
            "LogTime yes",
            f"StreamMaxLength {self.stream_max_length}",
            # Nothing else updates this database: checking it for changes is wasted work.
            "SelfCheck 0",
        ]
        if self.unix_socket:
            lines.append(f"LocalSocket {os.path.join(self._dir, 'clamd.sock')}")
        with open(os.path.join(self._dir, "clamd.conf"), "w") as fh:
            fh.write("\n".join(lines) + "\n")
        if self._user:
            entry = pwd.getpwnam(self._user)
            for root, dirs, files in os.walk(self._dir):
                for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                    os.chown(name, entry.pw_uid, entry.pw_gid)

    def start(self) -> LocalClamd:
        binary = find_clamd()
        if binary is None:
            raise ClamdUnavailable("clamd not found; " + HOW_TO_PROVIDE)
        if self.running:
            return self
        if self._dir is None:
            self._prepare()
        assert self._dir is not None
        self._process = subprocess.Popen(
            [binary, f"--config-file={os.path.join(self._dir, 'clamd.conf')}"],
            user=self._user,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if ping(self.address):
                return self
            if self._process.poll() is not None:
                break
            time.sleep(0.05)
        detail = self._log_tail()
        self.stop()
        raise ClamdUnavailable(f"clamd did not answer PING: {detail}; " + HOW_TO_PROVIDE)

    def _log_tail(self) -> str:
        try:
            with open(self.log_path or "") as fh:
                return fh.read()[-2000:].strip()
        except OSError:
            return "no log"

    def halt(self) -> None:
        """Stop the daemon; `start()` brings it back on the same port with the same database."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self.resume()  # a stopped daemon does not act on SIGTERM
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def pause(self) -> None:
        """SIGSTOP: the daemon keeps its sockets (connections are accepted by the kernel) and
        answers nothing, as a hung clamd does; `resume()` (SIGCONT) lets it go on."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGCONT)

    def stop(self) -> None:
        self.halt()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> LocalClamd:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
