"""Frames and the value codec spoken between the test runner and the candidate.

Only plain data crosses the boundary as values: None, bool, int, float, complex, str, bytes,
bytearray, list, tuple, dict, set, frozenset, range, slice, Fraction, Decimal, the common
`collections` containers, datetimes and numeric numpy arrays. Anything else stays in the process
that owns it and is referred to by an id (a "ref"). The decoder builds nothing but those types and
refs, so a hostile peer can send wrong values but never objects with behaviour of its own (an
`__eq__` that always says True, for one).

Encoded form (JSON): scalars are themselves; everything else is a list whose first item is a tag.
"""

from __future__ import annotations

import base64
import collections
import datetime
import decimal
import fractions
import math
import os
import socket
import struct

from .control import dumps, loads

MAX_FRAME = 16 * 1024 * 1024
MAX_DEPTH = 200
_HDR = struct.Struct("!I")
_SMALL = 1 << 62

# Modules the runner may import itself when the candidate's globals name them (never the
# candidate's copy: the candidate could have patched it).
SAFE_MODULES = frozenset(
    ["math", "cmath", "re", "collections", "itertools", "functools", "heapq", "bisect", "string", "statistics", "fractions", "decimal", "operator", "random", "datetime", "json", "typing", "dataclasses", "copy", "enum", "array", "struct", "textwrap", "unicodedata", "time", "calendar", "numbers", "abc", "types", "collections.abc", "itertools", "os.path", "sys"]
)


class ProtocolError(Exception):
    """The peer sent something that is not a valid frame or value."""


class PeerLost(Exception):
    """The peer closed the connection (it exited, crashed or was killed)."""


def frame(msg: object) -> bytes:
    """One message as it goes on the wire."""
    data = dumps(msg).encode()
    if len(data) > MAX_FRAME:
        raise OverflowError(f"message of {len(data)} bytes is larger than {MAX_FRAME}")
    return _HDR.pack(len(data)) + data


class Channel:
    """Length-prefixed JSON frames over a connected stream socket, read and written on the raw
    descriptor (a socket object and a buffered reader cost a forked child more page faults than
    the whole exchange)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""

    def send(self, msg: object) -> None:
        self.write(frame(msg))

    def write(self, data: bytes) -> None:
        """Send a message already made into a frame."""
        try:
            sent = os.write(self.fd, data)
            if sent < len(data):
                view = memoryview(data)
                while sent < len(data):
                    sent += os.write(self.fd, view[sent:])
        except OSError as exc:
            raise PeerLost(str(exc)) from exc

    def _fill(self, need: int) -> None:
        """Read until the buffer holds `need` bytes; PeerLost at end of stream."""
        chunks = [self.buf]
        have = len(self.buf)
        try:
            while have < need:
                data = os.read(self.fd, max(need - have, 8192))
                if not data:
                    self.buf = b"".join(chunks)
                    raise PeerLost("connection closed")
                chunks.append(data)
                have += len(data)
        except OSError as exc:
            raise PeerLost(str(exc)) from exc
        self.buf = b"".join(chunks)

    def recv(self) -> list:
        if len(self.buf) < 4:
            self._fill(4)
        (size,) = _HDR.unpack_from(self.buf)
        if size > MAX_FRAME:
            raise ProtocolError(f"frame of {size} bytes is larger than {MAX_FRAME}")
        end = 4 + size
        if len(self.buf) < end:
            try:
                self._fill(end)
            except PeerLost:
                raise PeerLost("connection closed mid-frame") from None
        data = self.buf[4:end]
        self.buf = self.buf[end:]
        try:
            msg = loads(data)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise ProtocolError(f"bad frame: {exc!r}") from exc
        if type(msg) is not list or not msg or type(msg[0]) is not str:
            raise ProtocolError("frame is not a tagged list")
        return msg

    def close(self) -> None:
        # shutdown, not just close: a process the other side forked may hold a copy of this end.
        try:
            sock = socket.socket(fileno=self.fd)
        except OSError:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


# --- encoding -----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Encoder:
    """Turns values into the JSON form. `fallback(obj)` encodes what is not plain data."""

    def __init__(self, fallback) -> None:
        self.fallback = fallback

    def enc(self, v, depth: int = 0):
        if depth > MAX_DEPTH:
            raise RecursionError("value nested too deeply to send")
        t = type(v)
        if v is None or t is bool or t is str:
            return v
        if t is int:
            return v if -_SMALL < v < _SMALL else ["I", format(v, "x")]
        if t is float:
            return v if math.isfinite(v) else ["Fl", repr(v)]
        d = depth + 1
        if t is list:
            return ["L", [self.enc(x, d) for x in v]]
        if t is tuple:
            return ["T", [self.enc(x, d) for x in v]]
        if t is dict:
            return ["D", [[self.enc(k, d), self.enc(x, d)] for k, x in v.items()]]
        if t is set:
            return ["S", [self.enc(x, d) for x in v]]
        if t is frozenset:
            return ["F", [self.enc(x, d) for x in v]]
        if t is bytes:
            return ["B", _b64(v)]
        if t is bytearray:
            return ["BA", _b64(bytes(v))]
        if t is complex:
            return ["C", repr(v.real), repr(v.imag)]
        if t is range:
            return ["Ra", self.enc(v.start, d), self.enc(v.stop, d), self.enc(v.step, d)]
        if t is slice:
            return ["Sl", self.enc(v.start, d), self.enc(v.stop, d), self.enc(v.step, d)]
        if v is Ellipsis:
            return ["El"]
        if t is fractions.Fraction:
            return ["Fr", self.enc(v.numerator, d), self.enc(v.denominator, d)]
        if t is decimal.Decimal:
            return ["De", str(v)]
        if t is collections.Counter:
            return ["Cn", [[self.enc(k, d), self.enc(x, d)] for k, x in v.items()]]
        if t is collections.OrderedDict:
            return ["OD", [[self.enc(k, d), self.enc(x, d)] for k, x in v.items()]]
        if t is collections.defaultdict:
            return ["D", [[self.enc(k, d), self.enc(x, d)] for k, x in v.items()]]
        if t is collections.deque:
            return ["DQ", [self.enc(x, d) for x in v], v.maxlen]
        if t is datetime.datetime:
            return ["DT", v.isoformat()]
        if t is datetime.date:
            return ["Da", v.isoformat()]
        if t is datetime.time:
            return ["Ti", v.isoformat()]
        if t is datetime.timedelta:
            return ["TD", v.days, v.seconds, v.microseconds]
        return self.fallback(v, d)

    def subclass(self, v, depth: int):
        """Subclasses of plain types travel as their base value, dropping any overridden
        behaviour (`class Int(int): __eq__ = lambda *a: True` arrives as a plain int)."""
        for base, conv in _BASES:
            if isinstance(v, base):
                return self.enc(conv(v), depth)
        return None


def _tuple(v):
    return tuple.__iter__(v)


_BASES = (
    (bool, lambda v: bool(int.__int__(v))),
    (int, lambda v: int.__int__(v)),
    (float, lambda v: float.__float__(v)),
    (str, lambda v: str.__str__(v)),
    (bytes, lambda v: bytes(memoryview(v))),
    (tuple, lambda v: tuple(_tuple(v))),
    (list, lambda v: list(list.__iter__(v))),
    (dict, lambda v: dict(dict.items(v))),
    (frozenset, lambda v: frozenset(frozenset.__iter__(v))),
    (set, lambda v: set(set.__iter__(v))),
)


def numpy_value(v, enc: Encoder, depth: int):
    """Numeric numpy arrays and scalars, or None for anything else."""
    mod = type(v).__module__
    if not mod.startswith("numpy"):
        return None
    import numpy as np

    if isinstance(v, np.ndarray) and v.dtype.kind in "biufc":
        arr = np.ascontiguousarray(v)
        return ["NA", arr.dtype.str, list(arr.shape), _b64(arr.tobytes())]
    if isinstance(v, np.generic) and v.dtype.kind in "biufc":
        return ["NS", v.dtype.str, _b64(v.tobytes())]
    return None


# --- decoding -----------------------------------------------------------------------------------


def _int(x) -> int:
    if type(x) is not int:
        raise ProtocolError("expected an int")
    return x


def _str(x) -> str:
    if type(x) is not str:
        raise ProtocolError("expected a string")
    return x


def _items(x) -> list:
    if type(x) is not list:
        raise ProtocolError("expected a list")
    return x


def _float_of(s) -> float:
    if _str(s) not in ("nan", "inf", "-inf"):
        raise ProtocolError("bad float")
    return float(s)


class Decoder:
    """Builds values from the JSON form. `refs` maps the tags this side owns to callables."""

    def __init__(self, refs: dict) -> None:
        self.refs = refs

    def dec(self, x, depth: int = 0):
        if x is None or type(x) in (bool, int, float, str):
            return x
        if depth > MAX_DEPTH:
            raise ProtocolError("value nested too deeply")
        if type(x) is not list or not x or type(x[0]) is not str:
            raise ProtocolError("untagged value")
        tag = x[0]
        d = depth + 1
        try:
            if tag == "L":
                return [self.dec(i, d) for i in _items(x[1])]
            if tag == "T":
                return tuple(self.dec(i, d) for i in _items(x[1]))
            if tag in ("D", "OD", "Cn"):
                pairs = []
                for p in _items(x[1]):
                    if type(p) is not list or len(p) != 2:
                        raise ProtocolError("bad dict item")
                    pairs.append((self.dec(p[0], d), self.dec(p[1], d)))
                kind = {"D": dict, "OD": collections.OrderedDict, "Cn": collections.Counter}[tag]
                return kind(pairs) if tag != "Cn" else collections.Counter(dict(pairs))
            if tag == "S":
                return {self.dec(i, d) for i in _items(x[1])}
            if tag == "F":
                return frozenset(self.dec(i, d) for i in _items(x[1]))
            if tag == "I":
                return int(_str(x[1]), 16)
            if tag == "Fl":
                return _float_of(x[1])
            if tag == "B":
                return base64.b64decode(_str(x[1]), validate=True)
            if tag == "BA":
                return bytearray(base64.b64decode(_str(x[1]), validate=True))
            if tag == "C":
                return complex(float(_str(x[1])), float(_str(x[2])))
            if tag == "Ra":
                return range(_int(self.dec(x[1], d)), _int(self.dec(x[2], d)), _int(self.dec(x[3], d)))
            if tag == "Sl":
                return slice(self.dec(x[1], d), self.dec(x[2], d), self.dec(x[3], d))
            if tag == "El":
                return Ellipsis
            if tag == "Fr":
                return fractions.Fraction(_int(self.dec(x[1], d)), _int(self.dec(x[2], d)))
            if tag == "De":
                return decimal.Decimal(_str(x[1]))
            if tag == "DQ":
                maxlen = x[2]
                if maxlen is not None:
                    _int(maxlen)
                return collections.deque((self.dec(i, d) for i in _items(x[1])), maxlen)
            if tag == "DT":
                return datetime.datetime.fromisoformat(_str(x[1]))
            if tag == "Da":
                return datetime.date.fromisoformat(_str(x[1]))
            if tag == "Ti":
                return datetime.time.fromisoformat(_str(x[1]))
            if tag == "TD":
                return datetime.timedelta(_int(x[1]), _int(x[2]), _int(x[3]))
            if tag == "NA":
                return _numpy_array(x)
            if tag == "NS":
                return _numpy_array(["NA", x[1], [], x[2]])[()]
            handler = self.refs.get(tag)
            if handler is None:
                raise ProtocolError(f"unknown tag {tag!r}")
            return handler(x, d)
        except ProtocolError:
            raise
        except (IndexError, TypeError, ValueError, ArithmeticError, decimal.InvalidOperation) as exc:
            raise ProtocolError(f"bad {tag!r} value: {type(exc).__name__}") from exc


def _numpy_array(x):
    import numpy as np

    dtype = np.dtype(_str(x[1]))
    if dtype.kind not in "biufc":
        raise ProtocolError("numpy dtype not allowed")
    shape = tuple(_int(n) for n in _items(x[2]))
    data = base64.b64decode(_str(x[3]), validate=True)
    if any(n < 0 for n in shape) or math.prod(shape) * dtype.itemsize != len(data):
        raise ProtocolError("numpy shape does not match data")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


# --- exceptions -----------------------------------------------------------------------------------


def encode_exception(exc: BaseException, enc: Encoder) -> list:
    """["E", type name, module, nearest builtin base, message, args or None]."""
    cls = type(exc)
    base = "Exception"
    for klass in cls.__mro__:
        if getattr(klass, "__module__", None) == "builtins":
            base = klass.__name__
            break
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__ must not take the server down
        message = "<unprintable>"
    try:
        args = enc.enc(tuple(exc.args)) if all(_plain_scalar(a) for a in exc.args) else None
    except BaseException:  # noqa: BLE001
        args = None
    return ["E", str(cls.__name__), str(getattr(cls, "__module__", "")), base, message[:2000], args]


def _plain_scalar(v) -> bool:
    return v is None or type(v) in (bool, int, float, str, bytes)
