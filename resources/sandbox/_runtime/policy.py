"""An audit hook (PEP 578) that refuses what a candidate has no business doing, and says so.

This is the second line, not the first: the kernel (namespaces, a read-only filesystem view,
another uid, rlimits) is what enforces the sandbox. The hook makes a blocked operation fail fast
with a PermissionError and records it, so the verdict can say FORBIDDEN and why. Code in the same
process can get around an audit hook (that is why ctypes, gc.get_objects and friends are blocked
here too), so nothing here is trusted for a pass.
"""

from __future__ import annotations

import _thread
import os
import socket
import sys

BLOCKED_MODULES = frozenset(
    {
        "ctypes",
        "_ctypes",
        "cffi",
        "_cffi_backend",
        "_posixsubprocess",
        "_testcapi",
        "_testinternalcapi",
        "_xxsubinterpreters",
        "_xxinterpchannels",
    }
)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_READ_FILES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/etc/localtime")
_READ_DIRS = ("/usr/share/zoneinfo", "/sys/devices/system/cpu")


class Violation(PermissionError):
    """Raised into the code that tried a blocked operation."""


class BlockedImport(ImportError):
    """A blocked module: libraries that try it optionally (numpy tries ctypes) carry on."""


def _importer_file() -> str:
    """The file of the code that executed the import statement (outside importlib)."""
    frame = sys._getframe(1)
    while frame is not None and (
        frame.f_code.co_filename.startswith("<frozen importlib") or frame.f_code.co_filename == __file__
    ):
        frame = frame.f_back
    return frame.f_code.co_filename if frame is not None else ""


class Policy:
    """What the current process may touch; `report(kind, detail)` is called on every refusal."""

    def __init__(self, write_root, read_roots, max_tasks: int, report) -> None:
        self.write_root = os.path.realpath(write_root) if write_root else None
        roots = [os.path.realpath(r) for r in read_roots if r]
        if self.write_root:
            roots.append(self.write_root)
        self.read_roots = tuple(sorted(set(roots)))
        self.max_tasks = max_tasks
        self.tasks = 1
        self.report = report
        self.pid = os.getpid()
        self._busy = False
        self.handlers = {
            "open": self._open,
            "os.listdir": self._read_path,
            "os.scandir": self._read_path,
            "os.chdir": lambda a: None,
            "os.remove": self._write_path,
            "os.rmdir": self._write_path,
            "os.mkdir": self._write_path,
            "os.mkfifo": self._write_path,
            "os.mknod": self._write_path,
            "os.chmod": self._write_path,
            "os.chown": self._write_path,
            "os.chflags": self._write_path,
            "os.lchflags": self._write_path,
            "os.utime": self._write_path,
            "os.truncate": self._write_path,
            "os.setxattr": self._write_path,
            "os.removexattr": self._write_path,
            "os.rename": self._write_two,
            "os.link": self._write_two,
            "os.symlink": self._symlink,
            "shutil.rmtree": self._write_path,
            "shutil.chown": self._write_path,
            "socket.__new__": self._socket_new,
            "socket.bind": self._socket_addr,
            "socket.connect": self._socket_addr,
            "socket.sendto": self._socket_addr,
            "socket.sendmsg": self._socket_addr,
            "socket.getaddrinfo": self._dns,
            "socket.gethostbyname": self._dns,
            "socket.gethostbyaddr": self._dns,
            "socket.gethostname": lambda a: None,
            "os.kill": self._kill,
            "os.killpg": lambda a: self.refuse("signal", f"os.killpg{tuple(a)}"),
            "os.fork": self._fork,
            "os.forkpty": self._fork,
            "os.system": lambda a: self.refuse("program", "os.system"),
            "os.exec": lambda a: self.refuse("program", f"exec {a[0]!r}"),
            "os.posix_spawn": lambda a: self.refuse("program", f"posix_spawn {a[0]!r}"),
            "os.spawn": lambda a: self.refuse("program", f"spawn {a[1]!r}"),
            "subprocess.Popen": lambda a: self.refuse("program", f"subprocess {a[0]!r}"),
            "pty.spawn": lambda a: self.refuse("program", "pty.spawn"),
            "import": self._import,
            "gc.get_objects": lambda a: self.refuse("introspection", "gc.get_objects"),
            "gc.get_referrers": lambda a: self.refuse("introspection", "gc.get_referrers"),
            "gc.get_referents": lambda a: self.refuse("introspection", "gc.get_referents"),
            "sys._current_frames": lambda a: self.refuse("introspection", "sys._current_frames"),
        }

    # --- installation -----------------------------------------------------------------------

    def bind(self, write_root, canonical: bool = False) -> Policy:
        """Point a policy built before the fork at this child's temp dir and pid (`canonical`:
        the caller built the path from a resolved root and a plain name, no need to resolve)."""
        self.write_root = (write_root if canonical else os.path.realpath(write_root)) if write_root else None
        if self.write_root:
            self.read_roots = (*self.read_roots, self.write_root)
        self.pid = os.getpid()
        return self

    def install(self) -> None:
        hook, start_new_thread = self._prepared()
        sys.addaudithook(hook)
        # Threads count against max_processes, as RLIMIT_NPROC counts them. `threading` takes
        # `_thread.start_new_thread` when it is first imported, which is after this.
        _thread.start_new_thread = start_new_thread
        threading = sys.modules.get("threading")
        if threading is not None:
            threading._start_new_thread = start_new_thread

    def _prepared(self):
        """The audit hook and the thread wrapper, built once in the fork server (every child
        inherits them ready, and only installs them). `_posixsubprocess` is loaded here with its
        one function replaced by a refusal: `import subprocess` (and asyncio, which imports it)
        works in a child, and starting a program through it is refused even by code that got
        past the "subprocess.Popen" event (sys.audit replaced, say). A fresh copy of the module
        cannot be loaded: it is a blocked import."""
        prepared = self.__dict__.get("_prepared_pair")
        if prepared is not None:
            return prepared
        import _posixsubprocess

        _posixsubprocess.fork_exec = lambda *args: self.refuse("program", "_posixsubprocess.fork_exec")
        handlers = self.handlers

        def hook(event, args, _get=handlers.get):
            handler = _get(event)
            if handler is not None:
                handler(args)

        original = _thread.start_new_thread
        policy = self

        def start_new_thread(function, args, kwargs=None):
            policy.tasks += 1
            if policy.tasks > policy.max_tasks:
                policy.refuse("processes", f"more than {policy.max_tasks} processes/threads")
            if kwargs is None:
                return original(function, args)
            return original(function, args, kwargs)

        self._prepared_pair = (hook, start_new_thread)
        return self._prepared_pair

    # --- decisions ----------------------------------------------------------------------------

    def refuse(self, kind: str, detail: str):
        try:
            self.report(kind, detail)
        finally:
            raise Violation(f"sandbox: {kind} is not allowed ({detail})")

    def _path(self, path):
        if isinstance(path, int) or path is None:
            return None
        try:
            path = os.fsdecode(os.fspath(path))
        except (TypeError, ValueError):
            return None
        if self._busy:
            return None
        self._busy = True
        try:
            return os.path.realpath(path)
        finally:
            self._busy = False

    def _inside(self, path: str, root: str | None) -> bool:
        return root is not None and (path == root or path.startswith(root.rstrip("/") + "/"))

    def _readable(self, path: str) -> bool:
        if path in _READ_FILES or any(self._inside(path, r) for r in self.read_roots + _READ_DIRS):
            return True
        if path.startswith("/proc/"):
            head = path.split("/")[2]
            return head in ("self", "thread-self", str(os.getpid()))
        return False

    def _open(self, args) -> None:
        if isinstance(args[0], str) and args[0].startswith("<") and args[0].endswith(">"):
            return  # a pseudo-file such as "<tests>": CPython looks for source lines there
        path = self._path(args[0])
        if path is None:
            return
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        mode = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
        writing = bool(flags & _WRITE_FLAGS) or any(c in mode for c in "wax+")
        if writing:
            if path != "/dev/null" and not self._inside(path, self.write_root):
                self.refuse("filesystem", f"writing {path}")
        elif not self._readable(path):
            self.refuse("filesystem", f"reading {path}")

    def _read_path(self, args) -> None:
        path = self._path(args[0] if args else None)
        if path is not None and not self._readable(path):
            self.refuse("filesystem", f"listing {path}")

    def _write_path(self, args) -> None:
        path = self._path(args[0])
        if path is not None and not self._inside(path, self.write_root):
            self.refuse("filesystem", f"changing {path}")

    def _write_two(self, args) -> None:
        self._write_path(args[:1])
        self._write_path(args[1:2])

    def _symlink(self, args) -> None:
        self._write_path(args[1:2])

    def _socket_new(self, args) -> None:
        family = args[1] if len(args) > 1 else None
        if family not in (socket.AF_UNIX, -1, None):
            self.refuse("network", f"socket family {family}")

    def _socket_addr(self, args) -> None:
        sock, addr = args[0], args[1] if len(args) > 1 else None
        if getattr(sock, "family", None) == socket.AF_UNIX and isinstance(addr, (str, bytes)):
            path = self._path(addr) if addr and addr[:1] not in ("\0", b"\0") else None
            if path is not None and self._inside(path, self.write_root):
                return
        self.refuse("network", f"address {addr!r}")

    def _dns(self, args) -> None:
        self.refuse("network", f"name lookup {args[0]!r}")

    def _kill(self, args) -> None:
        pid = args[0]
        if pid != os.getpid():
            self.refuse("signal", f"os.kill({pid}, {args[1]})")

    def _fork(self, args) -> None:
        self.tasks += 1
        if self.tasks > self.max_tasks:
            self.refuse("processes", f"more than {self.max_tasks} processes/threads")

    def _import(self, args) -> None:
        name = args[0]
        if not (isinstance(name, str) and name.partition(".")[0] in BLOCKED_MODULES):
            return
        if _importer_file() == "<candidate>":
            self.report("module", f"import {name}")
        raise BlockedImport(f"sandbox: module {name!r} is blocked", name=name)
