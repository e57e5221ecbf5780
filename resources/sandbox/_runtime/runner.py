"""Process A: runs the tests, in its own process, against proxies of the candidate's objects.

The tests execute here; every name the candidate defined is a `Remote` whose operations are
requests to process B. Only plain data comes back (see `wire`), comparisons between a candidate
object and a plain value are never delegated to the candidate, and the verdict, with the run's
nonce, is written by this process alone on a pipe process B never holds.

One process A may serve, in turn, several candidates that have the same tests (the k samples of
one task): each gets a fresh namespace, connection and nonce, and A stops taking more after a run
that left it in doubt (see `main`); the candidates it leaves go to a fresh A.
"""

from __future__ import annotations

import _thread
import ast
import builtins
import importlib
import json
import math
import os
import resource
import traceback
import weakref

from . import wire
from .policy import Violation

_conn: Conn | None = None
_MUTABLE = (list, dict, set, bytearray)
# After these outcomes A is as it was (a verdict on the candidate, or its process B ended): it
# may serve the next candidate. After any other (the tests broke a limit or a rule, A ran out
# of memory, the protocol broke) the candidates left go to a fresh A.
_REUSABLE_AFTER = frozenset({"passed", "test_failure", "syntax_error", "lost"})
_REUSE_MAX_GROWTH_KB = 64 * 1024  # peak memory A may have grown by and still serve another


class CandidateExit(Exception):
    """The candidate raised SystemExit, KeyboardInterrupt or GeneratorExit during a call."""


class Conn:
    def __init__(self, chan: wire.Channel) -> None:
        self.chan = chan
        self.locals: list = []
        self.local_ids: dict[int, int] = {}
        self.handles: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self.mirrors: dict[tuple[str, str], type] = {}
        self.encoder = wire.Encoder(self._fallback)
        self.decoder = wire.Decoder({"R": self._dec_ref, "Q": self._dec_local})

    # --- codec ------------------------------------------------------------------------------

    def enc(self, value):
        return self.encoder.enc(value)

    def _fallback(self, v, depth):
        if type(v) is Remote:
            return ["R", v._sbx_id]
        out = self.encoder.subclass(v, depth)
        if out is None:
            out = wire.numpy_value(v, self.encoder, depth)
        if out is not None:
            return out
        if callable(v):
            name = getattr(v, "__name__", None)
            if isinstance(name, str) and getattr(builtins, name, None) is v:
                return ["N", name]
            lid = self.local_ids.get(id(v))
            if lid is None or self.locals[lid] is not v:
                lid = len(self.locals)
                self.locals.append(v)
                self.local_ids[id(v)] = lid
            return ["Q", lid]
        raise TypeError(f"a {type(v).__name__} cannot be passed to the candidate")

    def _dec_ref(self, x, depth):
        rid = x[1]
        if type(rid) is not int:
            raise wire.ProtocolError("bad ref")
        handle = self.handles.get(rid)
        if handle is None:
            handle = Remote(rid, str(x[2]) if len(x) > 2 else "object")
            self.handles[rid] = handle
        return handle

    def _dec_local(self, x, depth):
        lid = x[1]
        if type(lid) is not int or not 0 <= lid < len(self.locals):
            raise wire.ProtocolError("bad local ref")
        return self.locals[lid]

    def exception(self, x) -> BaseException:
        if type(x) is not list or len(x) != 6 or x[0] != "E":
            raise wire.ProtocolError("bad exception")
        name, module, base, message = (str(v) for v in x[1:5])
        args = x[5]
        cls = getattr(builtins, name, None) if module == "builtins" else None
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            cls = self.mirror(module, name, base)
        if not issubclass(cls, Exception):
            return CandidateExit(f"{name}({message})" if message else name)
        if args is not None:
            try:
                decoded = self.decoder.dec(args)
                if type(decoded) is tuple:
                    return cls(*decoded)
            except Exception:  # noqa: BLE001, S110 - fall back to the message
                pass
        try:
            return cls(message)
        except Exception:  # noqa: BLE001 - e.g. UnicodeDecodeError needs five arguments
            return self.mirror(module, name, "Exception")(message)

    def mirror(self, module: str, name: str, base: str) -> type:
        """A local stand-in for an exception class the candidate defined, so that
        `except InvalidInput:` in the tests catches what the candidate raises."""
        key = (module, name)
        cls = self.mirrors.get(key)
        if cls is None:
            base_cls = getattr(builtins, base, None)
            if not (isinstance(base_cls, type) and issubclass(base_cls, BaseException)):
                base_cls = Exception
            if not name.isidentifier():
                name = "CandidateError"
            cls = type(name, (base_cls,), {"__module__": module})
            self.mirrors[key] = cls
        return cls

    # --- requests -----------------------------------------------------------------------------

    def request(self, op, *args):
        return self._request([op, *args])[0]

    def _request(self, msg):
        self.chan.send(msg)
        while True:
            reply = self.chan.recv()
            kind = reply[0]
            if kind == "r" and len(reply) == 3:
                return self.decoder.dec(reply[1]), reply[2]
            if kind == "e" and len(reply) == 2:
                raise self.exception(reply[1])
            if kind == "call" and len(reply) == 4:
                self._serve_callback(reply)
                continue
            raise wire.ProtocolError(f"unexpected message {kind!r}")

    def _serve_callback(self, msg) -> None:
        fn = self._dec_local(["Q", msg[1]], 0)
        args = self.decoder.dec(msg[2])
        kwargs = self.decoder.dec(msg[3])
        if type(args) is not list or type(kwargs) is not dict:
            raise wire.ProtocolError("bad callback")
        try:
            result = fn(*args, **kwargs)
            reply = ["r", self.enc(result), None]
        except Exception as exc:  # noqa: BLE001 - the test callable's error goes to the candidate
            reply = ["e", wire.encode_exception(exc, self.encoder)]
        self.chan.send(reply)

    def call(self, rid: int, args: tuple, kwargs: dict):
        value, writeback = self._request(["call", rid, self.enc(list(args)), self.enc(dict(kwargs))])
        if writeback:
            if type(writeback) is not dict:
                raise wire.ProtocolError("bad writeback")
            for key, new in writeback.items():
                if key.isdigit() and int(key) < len(args):
                    _update(args[int(key)], self.decoder.dec(new))
                elif key in kwargs:
                    _update(kwargs[key], self.decoder.dec(new))
        return value


def _update(target, new) -> None:
    """Apply an in-place change the candidate made to a mutable argument."""
    if type(target) is not type(new) or type(target) not in _MUTABLE:
        return
    if isinstance(target, (list, bytearray)):
        target[:] = new
    else:
        target.clear()
        target.update(new)


def _r(self, op, *args):
    return _conn.request(op, self._sbx_id, *args)


def _unop(name):
    def method(self):
        return _conn.request("unop", self._sbx_id, name)

    method.__name__ = f"__{name}__"
    return method


def _binop(name, reflected=False):
    def method(self, other):
        try:
            encoded = _conn.enc(other)
        except TypeError:
            return NotImplemented
        return _conn.request("binop", self._sbx_id, name, encoded, reflected)

    return method


def _compare(name):
    def method(self, other):
        # Only candidate-vs-candidate comparisons are delegated: a candidate object is never
        # asked whether it equals a value the test wrote.
        if type(other) is not Remote:
            return NotImplemented
        return _conn.request("compare", self._sbx_id, name, ["R", other._sbx_id])

    return method


class Remote:
    """An object living in the candidate's process."""

    __slots__ = ("__weakref__", "_sbx_id", "_sbx_type")

    def __init__(self, rid: int, type_name: str) -> None:
        object.__setattr__(self, "_sbx_id", rid)
        object.__setattr__(self, "_sbx_type", type_name)

    def __getattr__(self, name):
        if name.startswith("_sbx"):
            raise AttributeError(name)
        return _conn.request("getattr", self._sbx_id, name)

    def __setattr__(self, name, value):
        _conn.request("setattr", self._sbx_id, name, _conn.enc(value))

    def __delattr__(self, name):
        _conn.request("delattr", self._sbx_id, name)

    def __call__(self, *args, **kwargs):
        return _conn.call(self._sbx_id, args, kwargs)

    def __getitem__(self, key):
        return _r(self, "getitem", _conn.enc(key))

    def __setitem__(self, key, value):
        _r(self, "setitem", _conn.enc(key), _conn.enc(value))

    def __delitem__(self, key):
        _r(self, "delitem", _conn.enc(key))

    def __contains__(self, item):
        return _r(self, "contains", _conn.enc(item))

    def __format__(self, spec):
        return _r(self, "format", str(spec))

    def __repr__(self):
        try:
            return _conn.request("unop", self._sbx_id, "repr")
        except Exception:  # noqa: BLE001 - repr is used in messages; never fail there
            return f"<candidate {self._sbx_type} object>"

    def __exit__(self, *exc_info):
        return _conn.request("unop", self._sbx_id, "exit")

    def __round__(self, ndigits=None):
        if ndigits is not None:
            return _conn.request("binop", self._sbx_id, "round", ndigits, False)
        return _conn.request("unop", self._sbx_id, "round")

    def __instancecheck__(self, instance):
        try:
            encoded = _conn.enc(instance)
        except TypeError:
            return False
        return _conn.request("isinstance", encoded, ["R", self._sbx_id])

    def __subclasscheck__(self, cls):
        return _r(self, "issubclass", _conn.enc(cls))


for _name in ["neg", "pos", "abs", "invert", "index", "int", "float", "complex", "reversed", "len", "iter", "next", "bool", "str", "hash", "enter"]:
    setattr(Remote, f"__{_name}__", _unop(_name))
for _name in ["eq", "ne", "lt", "le", "gt", "ge"]:
    setattr(Remote, f"__{_name}__", _compare(_name))
for _name in ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "lshift", "rshift", "and", "or", "xor", "matmul"]:
    _op = _name + "_" if _name in ("and", "or") else _name
    setattr(Remote, f"__{_name}__", _binop(_op))
    setattr(Remote, f"__r{_name}__", _binop(_op, reflected=True))
    setattr(Remote, f"__i{_name}__", _binop("i" + _op))
Remote.__dir__ = _unop("dir")


# --- the test run -----------------------------------------------------------------------------


class Reporter:
    """Progress and the verdict, as JSON lines on fd 4 (read by the server, never by B); with a
    turn pipe, a byte there when the candidate is up ("s") and after the verdict (".")."""

    def __init__(self, fd: int, nonce: str, turn_fd: int | None = None) -> None:
        self.fd = fd
        self.nonce = nonce
        self.turn_fd = turn_fd
        self.total = 0
        self.ran = 0

    def turn(self, mark: bytes) -> None:
        if self.turn_fd is not None:
            os.write(self.turn_fd, mark)

    def _write(self, obj) -> None:
        os.write(self.fd, (json.dumps(obj) + "\n").encode())

    def progress(self) -> None:
        os.write(self.fd, b'{"total": %d, "ran": %d}\n' % (self.total, self.ran))

    def verdict(self, outcome: str, message: str) -> None:
        verdict = {"outcome": outcome, "message": message[:400], "tests_run": self.ran,
                   "tests_total": self.total}
        self._write({"verdict": verdict, "nonce": self.nonce})


_NOT_TESTS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _own_module(name: str):
    """This process's copy of a module the candidate imported, if it is one of the safe ones and
    can be imported here (rlimits mode cannot read the standard library); else None, and the
    tests reach the candidate's copy by proxy."""
    if name not in wire.SAFE_MODULES:
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _contains_assert(node: ast.AST) -> bool:
    return any(type(n) is ast.Assert for n in ast.walk(node))


def _names(tree: ast.AST) -> set[str]:
    """Every name the tests use."""
    return {n.id for n in ast.walk(tree) if type(n) is ast.Name}


def _line(lines: list[str], exc: BaseException, default: int) -> tuple[int, str]:
    lineno = default
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<tests>":
            lineno = tb.tb_lineno
        tb = tb.tb_next
    text = lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
    return lineno, text[:200]


def _exc_text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001
        text = ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _load_failure(phase: str, exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, MemoryError):
        return "memory", f"candidate ran out of memory while loading: {_exc_text(exc)}"
    if phase == "compile" and isinstance(exc, (SyntaxError, ValueError, RecursionError)):
        return "syntax_error", _exc_text(exc)
    if isinstance(exc, CandidateExit):
        return "crash", f"candidate exited while loading: {exc}"
    return "crash", f"candidate raised while loading: {_exc_text(exc)}"


class Run:
    def __init__(self, tests: str, reporter: Reporter) -> None:
        self.tests = tests
        self.lines = tests.splitlines()
        self.reporter = reporter

    def execute(self, conn: Conn) -> tuple[str, str]:
        """The verdict as (outcome, message)."""
        try:
            tree, steps = _parsed(self.tests)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            return "syntax_error", f"tests do not compile: {_exc_text(exc)}"
        # Which statements are tests, and whether there is any assert at all. A top-level assert
        # (the common case) needs no walk; the names the tests use are only looked up if the
        # candidate defines a builtin's name.
        is_test = []
        any_assert = False
        for stmt in tree.body:
            if type(stmt) is ast.Assert:
                any_assert = True
                is_test.append(True)
            elif isinstance(stmt, _NOT_TESTS):
                is_test.append(False)
            else:
                has_assert = _contains_assert(stmt)
                any_assert = any_assert or has_assert
                is_test.append(isinstance(stmt, ast.Expr) or has_assert)
        if not any_assert and not any(_contains_assert(stmt) for stmt in tree.body if isinstance(stmt, _NOT_TESTS)):
            return "test_failure", "tests contain no assert statement"
        self.reporter.total = sum(is_test)
        self.reporter.progress()

        try:
            first = conn.chan.recv()
            self.reporter.turn(b"s")  # the candidate's process is up: its wall clock starts now
            if first[0] == "fail" and len(first) == 3:
                return _load_failure(str(first[1]), conn.exception(first[2]))
            if first[0] != "init" or len(first) != 2 or type(first[1]) is not dict:
                raise wire.ProtocolError("expected the candidate's globals")
            namespace = self.namespace(conn, first[1], tree)
        except BaseException as exc:  # noqa: BLE001
            return self.classify(exc, None)
        if isinstance(namespace, tuple):
            return namespace

        for (stmt, code), counts in zip(steps, is_test, strict=False):
            try:
                exec(code, namespace)  # noqa: S102 - running the tests is the point
            except BaseException as exc:  # noqa: BLE001 - every way a test can end is a verdict
                return self.classify(exc, stmt)
            if counts:
                self.reporter.ran += 1
                self.reporter.progress()
        return "passed", f"{self.reporter.ran} of {self.reporter.total} tests passed"

    def namespace(self, conn: Conn, names: dict, tree: ast.Module):
        namespace = {"__name__": "__tests__", "__builtins__": builtins}
        used = None
        for name, encoded in names.items():
            if not name.isidentifier():
                raise wire.ProtocolError("bad global name")
            if name in builtins.__dict__:  # hasattr would raise and catch for every other name
                if used is None:
                    used = _names(tree)
                if name in used:
                    return "forbidden", f"candidate redefines the builtin {name!r} that the tests use"
                continue
            tag = encoded[0] if type(encoded) is list and encoded else None
            if tag == "M" and len(encoded) == 3:
                own = _own_module(str(encoded[1]))
                namespace[name] = own if own is not None else conn._dec_ref(["R", encoded[2], "module"], 0)
            elif tag == "X" and len(encoded) == 4:
                namespace[name] = conn.mirror("solution", str(encoded[1]), str(encoded[2]))
            else:
                namespace[name] = conn.decoder.dec(encoded)
        return namespace

    def classify(self, exc: BaseException, stmt) -> tuple[str, str]:
        default = stmt.lineno if stmt is not None else 0
        lineno, text = _line(self.lines, exc, default)
        where = f"line {lineno}: {text}" if stmt is not None else "loading the candidate"
        if isinstance(exc, wire.PeerLost):
            return "lost", f"candidate process ended during {where}"
        if isinstance(exc, wire.ProtocolError):
            return "crash", f"candidate broke the protocol during {where}: {exc}"
        if isinstance(exc, CandidateExit):
            return "crash", f"candidate exited ({exc}) during {where}"
        if isinstance(exc, MemoryError):
            return "memory", f"{where} -> {_exc_text(exc)}"
        if isinstance(exc, Violation):
            return "forbidden", f"tests: {exc}"
        if isinstance(exc, AssertionError):
            detail = _exc_text(exc)
            return "test_failure", where if detail == "AssertionError" else f"{where} ({detail})"
        if isinstance(exc, Exception):
            return "test_failure", f"{where} -> {_exc_text(exc)}"
        return "crash", f"tests raised {_exc_text(exc)} at {where}"


_last_parsed: list = [None, None]


def _parsed(tests: str) -> tuple[ast.Module, list]:
    """The tests' tree and a code object per statement. A runner serving several candidates gets
    the same tests for each, and parses them once (code objects are immutable; every candidate
    still runs them in a fresh namespace)."""
    if _last_parsed[0] is not tests:
        tree = ast.parse(tests, "<tests>")
        steps = [
            (stmt, compile(ast.Module([stmt], []), "<tests>", "exec", dont_inherit=True, optimize=0))
            for stmt in tree.body
        ]
        _last_parsed[:] = [tests, (tree, steps)]
    return _last_parsed[1]


_WARM_TESTS = (
    ("assert add(1, 2) == 3\nassert first(['a', 'b']) == 'a'\nx = [add(i, 1) for i in range(2)]\n"
     "assert x == [1, 2]\n"),
    "assert add(1, 2) == 4\n",
)
_WARM_REPLIES = [["init", {"add": ["R", 0, "function"], "first": ["R", 1, "function"]}],
                 ["r", 3, None], ["r", "a", None], ["r", 1, None], ["r", 2, None]]


def warm_up(rounds: int = 20) -> None:
    """Run a small trusted job in the fork server itself, before any child is forked (see
    candidate.warm_up): the candidate's side is a script of replies."""
    import socket

    global _conn
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for i in range(rounds):
            ours, theirs = socket.socketpair()
            try:
                theirs.sendall(b"".join(wire.frame(msg) for msg in _WARM_REPLIES))
                theirs.shutdown(socket.SHUT_WR)
                _conn = Conn(wire.Channel(ours.fileno()))
                reporter = Reporter(devnull, "warm-up")
                reporter.verdict(*Run(_WARM_TESTS[i % 2], reporter).execute(_conn))
            finally:
                ours.close()
                theirs.close()
    finally:
        _conn = None
        os.close(devnull)


def prepare() -> Conn:
    """Built by the fork server before it forks: every child starts with its own copy."""
    return Conn(wire.Channel(3))


def main(tests: str, nonces: list[str], conn: Conn, cpu_seconds: int, policy) -> None:
    """Run as process A with `conn` from `prepare`, for one candidate per nonce, in turn: fd 3 is
    the socket to the first one's process B, fds 6, 7, ... those of the others, fd 4 the verdict
    pipe, fd 5 the turn pipe (a byte when B is up and after each verdict wakes the server). Never
    returns."""
    start_kb = _peak_memory_kb()
    for i, nonce in enumerate(nonces):
        if i:
            os.dup2(5 + i, 3)
            os.close(5 + i)
            _restart_cpu_clock(cpu_seconds)
            conn = Conn(wire.Channel(3))
        outcome = _run_one(tests, nonce, conn)
        # Another candidate only in an A that is as it was: no thread or process was started
        # (they could act during the next run) and its memory has not grown much.
        if (outcome not in _REUSABLE_AFTER or policy.tasks != 1 or _thread._count()
                or _peak_memory_kb() - start_kb > _REUSE_MAX_GROWTH_KB):
            break
    os._exit(0)


def _run_one(tests: str, nonce: str, conn: Conn) -> str:
    """Run the tests against one candidate, then close its connection and write the verdict."""
    global _conn
    reporter = Reporter(4, nonce, turn_fd=5)
    _conn = conn
    try:
        outcome, message = Run(tests, reporter).execute(conn)
    except BaseException as exc:  # noqa: BLE001 - a bug here must still end in a verdict
        outcome, message = "crash", f"test runner failed: {''.join(traceback.format_exception_only(exc)).strip()}"
    conn.chan.close()
    try:
        reporter.verdict(outcome, message)
        reporter.turn(b".")
    except BaseException:  # noqa: BLE001 - no verdict can be written: end, the server reports it
        os._exit(0)
    return outcome


def _restart_cpu_clock(cpu_seconds: int) -> None:
    """RLIMIT_CPU counts the whole process: give the next candidate its own `cpu_seconds`."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(usage.ru_utime + usage.ru_stime) + cpu_seconds
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def _peak_memory_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
