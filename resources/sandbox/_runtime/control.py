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


def _unencodable(value):
    raise TypeError(f"a {type(value).__name__} is not JSON")


# The C encoder and scanner behind json.dumps and json.loads, built once: the Python-level
# wrappers around them cost every message time (and every child a fork server forks, pages).
_encode = json.encoder.c_make_encoder(
    None, _unencodable, json.encoder.c_encode_basestring_ascii, None, ":", ",", False, False, True)
_scan = json.scanner.c_make_scanner(json.JSONDecoder())


def dumps(obj: object) -> str:
    """Compact JSON."""
    return "".join(_encode(obj, 0))


def loads(data: bytes) -> object:
    """JSON from UTF-8 bytes; ValueError for anything else, trailing data included."""
    text = data.decode()
    try:
        obj, end = _scan(text, 0)
    except StopIteration as exc:
        raise ValueError(f"no JSON value at {exc.value}") from None
    if end != len(text):
        raise ValueError(f"extra data at {end}")
    return obj


class ControlClosed(EOFError):
    """The other end of a control socket went away."""


def send(sock: socket.socket, obj: object, fds: tuple[int, ...] = ()) -> None:
    payload = dumps(obj).encode()
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
    return loads(_exact(sock, size)), fds


def received_fds(ancdata) -> list[int]:
    """The file descriptors passed with SCM_RIGHTS in a `recvmsg` result's ancillary data."""
    fds: list[int] = []
    for level, kind, blob in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            arr = array.array("i")
            arr.frombytes(blob[: len(blob) - len(blob) % arr.itemsize])
            fds.extend(arr)
    return fds
