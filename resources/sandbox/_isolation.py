"""How a fork server is started: inside bubblewrap, inside unshare(1), or bare with rlimits.

The namespaces are created once per server, not once per candidate; every candidate forked by
the server inherits them, and gets its own session, uid, rlimits and temp dir on top.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

MODES = ("auto", "bwrap", "unshare", "rlimits")
RUNTIME_DIR = Path(__file__).resolve().parent / "_runtime"
_SERVER_CAPS = ("setuid", "setgid", "kill", "chown", "dac_override", "fowner")
_SAFE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
# The servers resolve every symbol of the interpreter and its extension modules when they load
# them: lazily bound symbols are resolved by the first call in every forked child, each one
# copying a page.
_SERVER_ENV = {**_SAFE_ENV, "LD_BIND_NOW": "1"}
CHILD_ENV = {
    **_SAFE_ENV,
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}
# Imported once by the candidate server so that every forked candidate starts with them loaded
# (a module that is not preloaded is imported by the candidate itself, at its own cost). The
# runner server only needs what the runner uses: a smaller heap makes every fork cheaper.
PRELOAD_CANDIDATE = ["bisect", "cmath", "collections", "copy", "dataclasses", "decimal", "enum", "fractions", "functools", "heapq", "itertools", "json", "math", "operator", "re", "string", "typing"]
PRELOAD_RUNNER = ["ast"]
# rlimits mode cannot show candidates a standard library that sits under a directory other users
# cannot enter (/root/.pyenv, say): what they may import has to be loaded already.
PRELOAD_RLIMITS = ["abc", "array", "base64", "calendar", "collections.abc", "contextlib", "datetime", "encodings.idna", "hashlib", "io", "numbers", "pprint", "queue", "random", "statistics", "struct", "textwrap", "threading", "time", "unicodedata", "weakref"]
# Otherwise never preload `threading` or `random`: their after-fork hooks run Python code in every
# forked child (about 0.4 ms and 0.1 ms each on the reference machine), and few candidates use them.


def python_paths() -> list[str]:
    """Directories the sandboxed interpreter needs to read: its prefixes and our runtime."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, str(RUNTIME_DIR)}
    resolved = {os.path.realpath(p) for p in paths} | paths
    return sorted(p for p in resolved if os.path.isdir(p))


def _bind_roots(paths: list[str]) -> list[str]:
    """Drop paths that sit inside another path of the list, and anything under /usr."""
    roots: list[str] = []
    for p in sorted(set(paths), key=len):
        if p == "/usr" or p.startswith("/usr/"):
            continue
        if not any(p == r or p.startswith(r + "/") for r in roots):
            roots.append(p)
    return roots


def _boot_args(ctl_fd: int) -> list[str]:
    """Load `_runtime` by location (nothing of ours goes on sys.path, where resource.py would
    shadow the standard library's `resource`) and run the server on the control socket."""
    init = str(RUNTIME_DIR / "__init__.py")
    boot = (
        "import sys, importlib.util as u; "
        f"s = u.spec_from_file_location('_runtime', {init!r}, submodule_search_locations=[{str(RUNTIME_DIR)!r}]); "
        "m = u.module_from_spec(s); sys.modules['_runtime'] = m; s.loader.exec_module(m); "
        f"from _runtime.server import main; main({ctl_fd})"
    )
    return [sys.executable, "-I", "-B", "-c", boot]


def bwrap_version() -> str | None:
    exe = shutil.which("bwrap")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


@dataclass(frozen=True)
class Plan:
    """One isolation mode: how to start a server, and what it enforces."""

    mode: str
    root: bool
    scratch_bytes: int
    host_tmp_root: str | None = None  # rlimits mode: where candidate temp dirs live on the host
    notes: tuple[str, ...] = field(default=())

    @property
    def tmp_root(self) -> str:
        return self.host_tmp_root or "/tmp"

    def command(self, ctl_fd: int) -> list[str]:
        boot = _boot_args(ctl_fd)
        if self.mode == "bwrap":
            return self._bwrap(boot)
        if self.mode == "unshare":
            return self._unshare(boot)
        return self._setpriv(boot)

    def _bwrap(self, boot: list[str]) -> list[str]:
        cmd = [
            "bwrap",
            "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--clearenv",
            # The server itself is PID 1: every orphan a candidate leaves comes to it.
            "--as-pid-1",
        ]
        for key, value in _SERVER_ENV.items():
            cmd += ["--setenv", key, value]
        if self.root:
            cmd += ["--cap-drop", "ALL"]
            for cap in _SERVER_CAPS:
                cmd += ["--cap-add", f"CAP_{cap.upper()}"]
        cmd += ["--ro-bind", "/usr", "/usr"]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                cmd += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                cmd += ["--ro-bind", top, top]
        for path in ("/etc/ld.so.cache", "/etc/localtime"):
            cmd += ["--ro-bind-try", path, path]
        made = {"/"}
        for root in _bind_roots(python_paths()):
            parents = []
            parent = os.path.dirname(root)
            while parent not in made:
                parents.append(parent)
                parent = os.path.dirname(parent)
            for d in reversed(parents):
                cmd += ["--perms", "0755", "--dir", d]
                made.add(d)
            cmd += ["--ro-bind", root, root]
        cmd += ["--proc", "/proc", "--dev", "/dev"]
        cmd += ["--size", str(self.scratch_bytes), "--perms", "0711", "--tmpfs", "/tmp", "--chdir", "/"]
        return cmd + boot

    def _unshare(self, boot: list[str]) -> list[str]:
        lines = [
            "set -e",
            f"mount -t tmpfs -o size={self.scratch_bytes},mode=0711 sandbox-tmp /tmp",
            ("for d in /var/tmp /dev/shm /run/lock; do "
            "if [ -d $d ]; then mount -t tmpfs -o size=64k,mode=0755 sandbox-empty $d; fi; done"),
        ]
        # Paths under a directory other users cannot enter (the interpreter under /root, say):
        # stage them, cover the directory with an empty tmpfs, bind them back read-only.
        hidden: dict[str, list[str]] = {}
        for path in _bind_roots(python_paths()):
            blocker = _closed_ancestor(path)
            if blocker:
                hidden.setdefault(blocker, []).append(path)
        if hidden:
            lines.append("mkdir -m 0700 /tmp/.stage")
        n = 0
        for blocker, paths in hidden.items():
            staged = []
            for path in paths:
                lines += [f"mkdir /tmp/.stage/{n}", f"mount --bind {shlex.quote(path)} /tmp/.stage/{n}"]
                staged.append((n, path))
                n += 1
            lines.append(f"mount -t tmpfs -o size=64k,mode=0755 sandbox-hide {shlex.quote(blocker)}")
            for i, path in staged:
                q = shlex.quote(path)
                lines += [
                    f"mkdir -p {q}",
                    f"mount --bind /tmp/.stage/{i} {q}",
                    f"mount -o remount,bind,ro {q}",
                    f"umount /tmp/.stage/{i}",
                    f"rmdir /tmp/.stage/{i}",
                ]
        if hidden:
            lines.append("rmdir /tmp/.stage")
        lines.append('exec "$@"')
        script = "\n".join(lines)
        return [
            "unshare", "--net", "--pid", "--fork", "--kill-child", "--mount", "--ipc", "--uts",
            "--mount-proc", "--propagation", "private",
            "/bin/sh", "-c", script, "sandbox-setup",
        ] + self._setpriv(boot)

    def _setpriv(self, boot: list[str]) -> list[str]:
        if self.mode == "rlimits":
            boot = _subreaper(boot)
        if not self.root or shutil.which("setpriv") is None:
            return boot
        caps = ",".join(["-all"] + [f"+{c}" for c in _SERVER_CAPS])
        return ["setpriv", "--no-new-privs", "--pdeathsig", "KILL", "--bounding-set", caps, "--"] + boot

    def server_env(self) -> dict[str, str]:
        return dict(_SERVER_ENV)

    def read_roots(self) -> list[str]:
        return python_paths()


def _subreaper(boot: list[str]) -> list[str]:
    """Without a PID namespace, orphans of a candidate go to the host's init, which may never reap
    them. A launcher makes the server a child subreaper (PR_SET_CHILD_SUBREAPER survives execve)
    and execs it, so ctypes is never loaded in the server that candidates are forked from."""
    launch = (
        "import ctypes, os, sys; "
        "ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0 or sys.exit('prctl failed'); "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    return [sys.executable, "-I", "-S", "-c", launch] + boot


def _closed_ancestor(path: str) -> str | None:
    """The highest directory on the way to `path` that others may not traverse, if any."""
    parts = Path(path).parts
    for i in range(2, len(parts) + 1):
        d = os.path.join(*parts[:i])
        try:
            mode = os.stat(d).st_mode
        except OSError:
            return None
        if not mode & stat.S_IXOTH:
            return d
    return None


def candidates_for(requested: str) -> list[str]:
    """Modes to try, strongest first."""
    root = os.geteuid() == 0
    if requested != "auto":
        return [requested]
    order = []
    if root and shutil.which("bwrap"):
        order.append("bwrap")
    if root and shutil.which("unshare") and shutil.which("mount"):
        order.append("unshare")
    order.append("rlimits")
    return order


def enforcement(mode: str, root: bool) -> tuple[dict[str, str], list[str]]:
    """What enforces each guarantee in `mode`, and what is not enforced."""
    uid = "a uid of its own per worker (random, unprivileged, no capabilities)" if root else "none"
    enforced = {
        "cpu_seconds": "RLIMIT_CPU (SIGXCPU, then SIGKILL one second later)",
        "wall_seconds": "the fork server kills the child's process group at the deadline",
        "memory_mb": "RLIMIT_AS",
        "max_file_mb": "RLIMIT_FSIZE",
        "max_output_kb": "the fork server counts stdout+stderr and kills the child past the cap",
        "max_processes": "RLIMIT_NPROC on the worker's own uid" if root else "audit hook only",
        "separate_uid": uid,
        "verdict": "written by a separate test-runner process (its own uid) on a pipe the "
        "candidate never holds, with a per-run nonce the candidate never sees",
        "environment": "cleared: children get PATH, LANG, HOME/TMPDIR and thread-count variables only",
        "leftovers": "the fork server is the reaper of every orphan (PID 1, or a child subreaper): "
        "after each job whatever the candidate left is frozen, reported (FORBIDDEN) and killed"
        + (" by uid" if root else "") + ", and its temp dir removed",
        "audit_hook": "refuses network, writes outside the temp dir, reads outside the Python "
        "install, running programs, signals, ctypes and gc introspection, and reports them",
    }
    missing: list[str] = []
    if mode == "bwrap":
        enforced["network"] = "bubblewrap network namespace (loopback only)"
        enforced["filesystem"] = ("bubblewrap mount namespace: read-only /usr and Python install, "
                                  "a private size-limited tmpfs /tmp, nothing else of the host")
        enforced["processes"] = "bubblewrap PID namespace: the host's processes are invisible"
    elif mode == "unshare":
        enforced["network"] = "unshare(1) network namespace (loopback down)"
        enforced["filesystem"] = ("unshare(1) mount namespace: private size-limited tmpfs over /tmp, "
                                  "/var/tmp, /dev/shm; the rest of the host is visible read-only "
                                  "through file permissions")
        enforced["processes"] = "unshare(1) PID namespace"
        missing.append("host files readable by any user are readable by the candidate (kernel); "
                       "only the audit hook refuses them")
    else:
        missing += [
            ("no network namespace: only the audit hook refuses sockets (code that defeats the "
            "hook could reach the network)"),
            ("no mount namespace: candidates see the host filesystem; writes are limited by the "
            "uid's permissions (world-writable dirs such as /tmp are writable) and the audit hook"),
            "no PID namespace: host processes are visible (not signalable from another uid)",
            "stdlib modules under a directory others cannot enter must be preloaded",
        ]
        if not root:
            missing += [
                ("not root: candidates run as the verifier's own uid, so a candidate that defeats "
                "the audit hook can signal or read the verifier's processes; RLIMIT_NPROC is not "
                "set (it would count all of the user's processes)"),
            ]
    missing.append("no seccomp filter: every system call is available to the candidate")
    missing.append("CPU time and memory of the whole worker are not capped by a cgroup")
    return enforced, missing
