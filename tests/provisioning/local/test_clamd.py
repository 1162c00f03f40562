"""The throwaway clamd: it loads only the signatures it is given, and comes back after a halt."""

from __future__ import annotations

import socket
import struct

from provisioning.local.clamd import LocalClamd, ping
from tests.infra import eicar


def instream(address: str, data: bytes) -> bytes:
    host, _, port = address.removeprefix("tcp://").rpartition(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"zINSTREAM\0" + struct.pack(">I", len(data)) + data + struct.pack(">I", 0))
        return sock.recv(256).rstrip(b"\0")


def test_detects_eicar_from_its_hdb_line_and_nothing_else() -> None:
    with LocalClamd(unix_socket=True) as clamd:
        assert instream(clamd.address, eicar()) == b"stream: Eicar-Test-Signature.UNOFFICIAL FOUND"
        assert instream(clamd.address, b"just some text\n") == b"stream: OK"
        assert ping(clamd.socket_address)


def test_halt_then_start_answers_on_the_same_address() -> None:
    with LocalClamd() as clamd:
        address = clamd.address
        clamd.halt()
        assert not ping(address)
        clamd.start()
        assert clamd.address == address
        assert ping(address)
