"""Frames between the verifier process and a fork server: an 8-byte header (payload length, number
of file descriptors) sent with the descriptors attached (SCM_RIGHTS), then a JSON payload."""

from __future__ import annotations

import array
import json
import socket
import struct

_HDR = struct.Struct("!II")
MAX_PAYLOAD = 64 * 1024 * 1024
# Candidates one test-runner process serves in turn (a runner job carries one socket each).
MAX_GROUP = 16
MAX_FDS = MAX_GROUP


class ControlClosed(EOFError):
    """The other end of a control socket went away."""


def send(sock: socket.socket, obj: object, fds: tuple[int, ...] = ()) -> None:
    payload = json.dumps(obj, separators=(",", ":")).encode()
    header = _HDR.pack(len(payload), len(fds))
    if fds:
        sock.sendmsg([header], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
        sock.sendall(payload)
    else:
        sock.sendall(header + payload)


def _exact(sock: socket.socket, size: int) -> bytes:
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            raise ControlClosed("control socket closed")
        got += n
    return bytes(buf)


def recv(sock: socket.socket) -> tuple[dict, list[int]]:
    data, ancdata, _flags, _addr = sock.recvmsg(_HDR.size, socket.CMSG_SPACE(4 * MAX_FDS))
    if not data:
        raise ControlClosed("control socket closed")
    fds = received_fds(ancdata)
    if len(data) < _HDR.size:
        data += _exact(sock, _HDR.size - len(data))
    size, _nfds = _HDR.unpack(data)
    if size > MAX_PAYLOAD:
        raise ValueError(f"control frame of {size} bytes")
    return json.loads(_exact(sock, size)), fds


def received_fds(ancdata) -> list[int]:
    """The file descriptors passed with SCM_RIGHTS in a `recvmsg` result's ancillary data."""
    fds: list[int] = []
    for level, kind, blob in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            arr = array.array("i")
            arr.frombytes(blob[: len(blob) - len(blob) % arr.itemsize])
            fds.extend(arr)
    return fds
