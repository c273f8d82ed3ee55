"""A real VNC client for tests: a socket through the RFB 3.8 handshake, so
QEMU counts it as a connected client (query-vnc lists it)."""

from __future__ import annotations

import socket
import struct
import xml.etree.ElementTree as ET

RFB_VERSION = b"RFB 003.008\n"
SECURITY_NONE = 1


def read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise AssertionError(f"the VNC server closed after {data!r}")
        data += chunk
    return data


def rfb_connect(port: int) -> socket.socket:
    """A VNC client through the RFB 3.8 handshake, up to ServerInit (RFC 6143 7.1-7.3)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert read_exactly(sock, 12) == RFB_VERSION
    sock.sendall(RFB_VERSION)
    (count,) = struct.unpack("!B", read_exactly(sock, 1))
    assert SECURITY_NONE in read_exactly(sock, count)
    sock.sendall(struct.pack("!B", SECURITY_NONE))
    assert struct.unpack("!I", read_exactly(sock, 4)) == (0,)   # SecurityResult: OK
    sock.sendall(struct.pack("!B", 1))                           # ClientInit: shared
    _width, _height = struct.unpack("!HH", read_exactly(sock, 4))
    read_exactly(sock, 16)                                       # pixel format
    (name_length,) = struct.unpack("!I", read_exactly(sock, 4))
    read_exactly(sock, name_length)
    return sock


def vnc_port(conn, name: str) -> int:
    root = ET.fromstring(conn.lookupByName(name).XMLDesc(0))
    return int(root.find("devices/graphics[@type='vnc']").get("port"))
