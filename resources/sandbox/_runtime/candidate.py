"""Process B: loads the candidate and answers the runner's requests about its objects.

B never sees the tests, the expected values or the nonce, and holds no channel on which a pass
could be reported: whatever the candidate does to this process (patching builtins, exiting,
printing, reading /proc/self) can only change the values it hands back.
"""

from __future__ import annotations

import builtins
import errno
import operator
import os
import sys
import types

from . import wire

_BINOPS = frozenset(
    ["round", "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "lshift", "rshift", "and_", "or_", "xor", "matmul", "iadd", "isub", "imul", "itruediv", "ifloordiv", "imod", "ipow", "ilshift", "irshift", "iand", "ior", "ixor", "imatmul"]
)
_COMPARE = frozenset(["eq", "ne", "lt", "le", "gt", "ge"])
_UNOPS = {
    "neg": operator.neg,
    "pos": operator.pos,
    "abs": abs,
    "invert": operator.invert,
    "index": operator.index,
    "int": int,
    "float": float,
    "complex": complex,
    "round": round,
    "reversed": reversed,
    "len": len,
    "iter": iter,
    "next": next,
    "bool": bool,
    "str": str,
    "repr": repr,
    "hash": hash,
    "dir": lambda o: sorted(dir(o)),
    "enter": lambda o: o.__enter__(),
    "exit": lambda o: o.__exit__(None, None, None),
}
EXIT_RUNTIME_MEMORY = 72


class Local:
    """A callable that lives in the runner (a test's lambda, say): calling it asks the runner."""

    __slots__ = ("_sbx_id", "_sbx_server")

    def __init__(self, server: Server, lid: int) -> None:
        self._sbx_server = server
        self._sbx_id = lid

    def __call__(self, *args, **kwargs):
        return self._sbx_server.callback(self._sbx_id, args, kwargs)

    def __repr__(self) -> str:
        return f"<test callable {self._sbx_id}>"


class Server:
    def __init__(self, chan: wire.Channel, report) -> None:
        self.chan = chan
        self.report = report
        self.objects: list = []
        self.ids: dict[int, int] = {}
        self.encoder = wire.Encoder(self._fallback)
        self.decoder = wire.Decoder({"R": self._dec_ref, "Q": self._dec_local, "N": self._dec_builtin})

    # --- codec ------------------------------------------------------------------------------

    def ref(self, obj) -> int:
        key = id(obj)
        rid = self.ids.get(key)
        if rid is None or self.objects[rid] is not obj:
            rid = len(self.objects)
            self.objects.append(obj)
            self.ids[key] = rid
        return rid

    def _fallback(self, v, depth):
        if type(v) is Local:
            return ["Q", v._sbx_id]
        out = self.encoder.subclass(v, depth)
        if out is None:
            out = wire.numpy_value(v, self.encoder, depth)
        if out is None:
            out = ["R", self.ref(v), type(v).__name__]
        return out

    def _dec_ref(self, x, depth):
        rid = x[1]
        if type(rid) is not int or not 0 <= rid < len(self.objects):
            raise wire.ProtocolError("unknown ref")
        return self.objects[rid]

    def _dec_local(self, x, depth):
        if type(x[1]) is not int:
            raise wire.ProtocolError("bad local ref")
        return Local(self, x[1])

    def _dec_builtin(self, x, depth):
        name = x[1]
        if type(name) is not str or not hasattr(builtins, name):
            raise wire.ProtocolError("unknown builtin")
        return getattr(builtins, name)

    def enc_exc(self, exc: BaseException) -> list:
        self._note_exception(exc)
        return wire.encode_exception(exc, self.encoder)

    def _note_exception(self, exc: BaseException) -> None:
        """Turn kernel refusals that reached Python into reported violations."""
        if isinstance(exc, OSError):
            if exc.errno == errno.EFBIG:
                self.report("file size", "file size limit exceeded")
            elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                self.report("permission", str(exc)[:200])
            elif exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN):
                self.report("network", str(exc)[:200])
            elif exc.errno == errno.EAGAIN:
                self.report("processes", "process limit reached")
        elif isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
            self.report("processes", "thread limit reached")

    # --- requests -----------------------------------------------------------------------------

    def callback(self, lid: int, args, kwargs):
        self.chan.send(["call", lid, self.encoder.enc(list(args)), self.encoder.enc(dict(kwargs))])
        return self.wait_reply()

    def wait_reply(self):
        while True:
            msg = self.chan.recv()
            kind = msg[0]
            if kind == "r":
                return self.decoder.dec(msg[1])
            if kind == "e":
                raise _runner_exception(msg[1])
            self.handle(msg)

    def serve(self) -> None:
        while True:
            try:
                msg = self.chan.recv()
            except wire.PeerLost:
                return
            self.handle(msg)

    def handle(self, msg: list) -> None:
        try:
            value, writeback = self.dispatch(msg)
        except BaseException as exc:  # noqa: BLE001 - everything the candidate raises goes back
            _leave_if_forked()
            reply = ["e", self.enc_exc(exc)]
        else:
            _leave_if_forked()
            try:
                reply = ["r", self.encoder.enc(value), writeback]
            except BaseException as exc:  # noqa: BLE001
                reply = ["e", self.enc_exc(exc)]
        try:
            self.chan.send(reply)
        except OverflowError as exc:
            self.chan.send(["e", ["E", "MemoryError", "builtins", "MemoryError", str(exc), None]])

    def dispatch(self, msg: list):
        op = msg[0]
        dec = self.decoder.dec
        obj = self._dec_ref(["R", msg[1]], 0) if op != "isinstance" else None
        if op == "call":
            raw_args, raw_kwargs = msg[2], msg[3]
            args = dec(raw_args)
            kwargs = dec(raw_kwargs)
            if type(args) is not list or type(kwargs) is not dict:
                raise wire.ProtocolError("bad call")
            result = obj(*args, **kwargs)
            return result, self._writeback(raw_args, args, raw_kwargs, kwargs)
        if op == "getattr":
            return getattr(obj, msg[2]), None
        if op == "setattr":
            setattr(obj, msg[2], dec(msg[3]))
            return None, None
        if op == "delattr":
            delattr(obj, msg[2])
            return None, None
        if op == "getitem":
            return obj[dec(msg[2])], None
        if op == "setitem":
            obj[dec(msg[2])] = dec(msg[3])
            return None, None
        if op == "delitem":
            del obj[dec(msg[2])]
            return None, None
        if op == "contains":
            return dec(msg[2]) in obj, None
        if op == "format":
            return format(obj, msg[2]), None
        if op == "unop" and msg[2] in _UNOPS:
            return _UNOPS[msg[2]](obj), None
        if op == "binop" and msg[2] in _BINOPS:
            fn = round if msg[2] == "round" else getattr(operator, msg[2])
            other = dec(msg[3])
            return (fn(other, obj) if msg[4] else fn(obj, other)), None
        if op == "compare" and msg[2] in _COMPARE:
            return getattr(operator, msg[2])(obj, dec(msg[3])), None
        if op == "isinstance":
            return isinstance(dec(msg[1]), dec(msg[2])), None
        if op == "issubclass":
            return issubclass(dec(msg[2]), obj), None
        raise wire.ProtocolError(f"unknown request {op!r}")

    def _writeback(self, raw_args, args, raw_kwargs, kwargs):
        """Mutable arguments the call changed in place travel back, so `sort_in_place(xs)`
        followed by `assert xs == [...]` sees the change."""
        changed = {}
        for i, (raw, value) in enumerate(zip(raw_args[1], args, strict=False)):
            if type(value) in (list, dict, set, bytearray):
                new = self.encoder.enc(value)
                if new != raw:
                    changed[str(i)] = new
        for pair in raw_kwargs[1]:
            key = pair[0]
            value = kwargs.get(key)
            if type(value) in (list, dict, set, bytearray):
                new = self.encoder.enc(value)
                if new != pair[1]:
                    changed[key] = new
        return changed or None


_MAIN_PID = os.getpid()


def _leave_if_forked() -> None:
    """A child the candidate forked must not come back into the runtime and talk on the
    channel it shares with its parent."""
    if os.getpid() != _MAIN_PID:
        os._exit(0)


def _runner_exception(x) -> BaseException:
    """An exception raised by a test callable, rebuilt as a builtin type in this process."""
    try:
        name, base, message = x[1], x[3], x[4]
        cls = getattr(builtins, name, None) or getattr(builtins, base, None)
        if isinstance(cls, type) and issubclass(cls, Exception):
            return cls(message)
    except Exception:  # noqa: BLE001, S110 - an unreadable error becomes RuntimeError below
        pass
    return RuntimeError("test callable raised")


def load(code: str, server: Server) -> Server:
    """Compile and run the candidate as module `solution`; tell the runner its globals."""
    global _MAIN_PID
    _MAIN_PID = os.getpid()
    chan = server.chan
    try:
        compiled = compile(code, "<candidate>", "exec", dont_inherit=True, optimize=0)
    except BaseException as exc:  # noqa: BLE001 - SyntaxError, ValueError (NUL), MemoryError...
        chan.send(["fail", "compile", server.enc_exc(exc)])
        return server
    module = types.ModuleType("solution")
    sys.modules["solution"] = module
    try:
        exec(compiled, module.__dict__)  # noqa: S102 - running the candidate is the point
    except BaseException as exc:  # noqa: BLE001 - SystemExit included: it is the candidate's
        _leave_if_forked()
        chan.send(["fail", "import", server.enc_exc(exc)])
        return server
    _leave_if_forked()
    names = {}
    for name, value in list(module.__dict__.items()):
        if name.startswith("__") and name.endswith("__"):
            continue
        try:
            names[name] = _describe(server, value)
        except BaseException as exc:  # noqa: BLE001
            chan.send(["fail", "import", server.enc_exc(exc)])
            return server
    # Big plain globals (a precomputed table) go as refs: the tests reach into them on demand.
    budget = wire.MAX_FRAME // 2
    try:
        try:
            message = wire.frame(["init", names])
        except OverflowError:
            message = b""
        if not message or len(message) > budget:
            message = wire.frame(["init", _big_as_refs(server, module, names, budget)])
    except BaseException as exc:  # noqa: BLE001
        chan.send(["fail", "import", server.enc_exc(exc)])
        return server
    chan.write(message)
    return server


def _big_as_refs(server: Server, module: types.ModuleType, names: dict, budget: int) -> dict:
    """`names` with the biggest values replaced by refs until the rest fits in `budget`."""
    sizes = {n: len(wire.dumps(v)) for n, v in names.items()}
    for name in sorted(sizes, key=sizes.get, reverse=True):
        if sum(sizes.values()) <= budget:
            break
        value = module.__dict__[name]
        names[name] = ["R", server.ref(value), type(value).__name__]
        sizes[name] = 0
    return names


def _describe(server: Server, value):
    if isinstance(value, types.ModuleType):
        return ["M", str(value.__name__), server.ref(value)]
    if isinstance(value, type) and issubclass(value, BaseException):
        base = "Exception"
        for klass in value.__mro__:
            if klass.__module__ == "builtins":
                base = klass.__name__
                break
        return ["X", value.__name__, base, server.ref(value)]
    return server.encoder.enc(value)


_WARM_CODE = "def add(a, b):\n    return a + b\n\ndef first(xs):\n    return xs[0]\n"
_WARM_REQUESTS = [
    ["call", 0, ["L", [1, 2]], ["D", []]],
    ["call", 1, ["L", [["L", ["a", "b"]]]], ["D", []]],
    ["call", 0, ["L", [1.5, 2]], ["D", []]],
    ["call", 0, ["L", ["x", 1]], ["D", []]],
]


def warm_up(rounds: int = 20) -> None:
    """Run a small trusted job in the fork server itself, before any child is forked, so that
    every child starts with this code already specialized by the interpreter and its type
    caches filled: a child that writes less to the memory it shares copies fewer pages."""
    import socket

    for _ in range(rounds):
        ours, theirs = socket.socketpair()
        try:
            theirs.sendall(b"".join(wire.frame(msg) for msg in _WARM_REQUESTS))
            theirs.shutdown(socket.SHUT_WR)
            load(_WARM_CODE, Server(wire.Channel(ours.fileno()), lambda kind, detail: None)).serve()
        finally:
            sys.modules.pop("solution", None)
            ours.close()
            theirs.close()


def prepare(report) -> Server:
    """Built by the fork server before it forks: every child starts with its own copy."""
    return Server(wire.Channel(3), report)


def main(code: str, server: Server) -> None:
    """Run as process B with `server` from `prepare`; fd 3 is the socket to the runner. Never
    returns."""
    try:
        server = load(code, server)
        server.serve()
    except wire.PeerLost:
        pass
    except MemoryError:
        os._exit(EXIT_RUNTIME_MEMORY)
    os._exit(0)
