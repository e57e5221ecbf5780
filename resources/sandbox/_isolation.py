"""How a fork server is started: inside bubblewrap, inside unshare(1), or bare with rlimits.

The namespaces are created once per server, not once per candidate; every candidate forked by
the server inherits them, and gets its own session, uid, rlimits and temp dir on top.

Only bwrap and unshare isolate with namespaces. rlimits mode (an audit hook, rlimits and another
uid) is not a security boundary: it runs only when asked for by name and opted into explicitly
(`allowed_without_namespaces`), never as a fallback.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

MODES = ("auto", "bwrap", "unshare", "rlimits")
NAMESPACE_MODES = ("bwrap", "unshare")
# The explicit opt-in to running candidates without namespace isolation, besides the
# `allow_no_namespaces` argument (the CodeSandbox field of the same name). Declared here only.
ALLOW_NO_NAMESPACES_ENV = "SYNTH_SANDBOX_ALLOW_NO_NAMESPACES"
_TRUE = ("1", "true", "yes")
# Host directories every user may write to: unshare mode covers each with an empty private tmpfs
# (the first with the candidates' size-limited scratch space).
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
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
# Never preload `threading` or `random`: their after-fork hooks run Python code in every forked
# child (about 0.4 ms and 0.1 ms each on the reference machine), and few candidates use them.


def allowed_without_namespaces(explicit: bool) -> bool:
    """Whether the user opted into running candidates without namespace isolation: the
    `allow_no_namespaces` argument, or the environment variable ALLOW_NO_NAMESPACES_ENV."""
    return bool(explicit) or os.environ.get(ALLOW_NO_NAMESPACES_ENV, "").strip().lower() in _TRUE


def _executable_dirs() -> set[str]:
    """The directory of the interpreter and of every symlink on the way to the real binary (a
    venv's python links to pyenv's, or conda's, or /usr/bin's): each must exist in the sandbox."""
    dirs = set()
    path = sys.executable
    for _ in range(40):
        dirs.add(os.path.dirname(path))
        if not os.path.islink(path):
            break
        path = os.path.join(os.path.dirname(path), os.readlink(path))
    return dirs


def python_paths() -> list[str]:
    """Directories the sandboxed interpreter needs to read: its prefixes, the directories of the
    interpreter and its symlinks, and our runtime."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, str(RUNTIME_DIR)}
    paths |= _executable_dirs()
    resolved = {os.path.realpath(p) for p in paths} | {os.path.abspath(p) for p in paths}
    return sorted(p for p in resolved if os.path.isdir(p))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


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


@functools.lru_cache(maxsize=4)
def _version_of(exe: str) -> str | None:
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def bwrap_version() -> str | None:
    exe = shutil.which("bwrap")
    return None if exe is None else _version_of(exe)


def _kernel_at_least(major: int, minor: int) -> bool:
    release = os.uname().release.split("-")[0].split(".")
    try:
        return (int(release[0]), int(release[1])) >= (major, minor)
    except (ValueError, IndexError):
        return False


def _bwrap_at_least(major: int, minor: int) -> bool:
    parts = (bwrap_version() or "").rpartition(" ")[2].split(".")
    try:
        return (int(parts[0]), int(parts[1])) >= (major, minor)
    except (ValueError, IndexError):
        return False


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

    @property
    def userns_nproc(self) -> bool:
        """Whether the servers run in a user namespace of their own as a user other than root, on
        a kernel that counts RLIMIT_NPROC per user namespace (5.14 and later), so that the limit
        covers the candidate's processes and not all of the user's."""
        return self.mode == "bwrap" and not self.root and _kernel_at_least(5, 14)

    def command(self, ctl_fd: int) -> list[str]:
        boot = _boot_args(ctl_fd)
        if self.mode == "bwrap":
            return self._bwrap(boot)
        if self.mode == "unshare":
            return self._unshare(boot)
        return self._setpriv(boot)

    def _bwrap(self, boot: list[str]) -> list[str]:
        cmd = [
            shutil.which("bwrap") or "bwrap",  # found on the user's PATH, not the servers' fixed one
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
        else:
            # Not root: an unprivileged user namespace (no capabilities in it, and none to gain:
            # the candidates may not create user namespaces of their own).
            cmd += ["--unshare-user"]
            if _bwrap_at_least(0, 8):
                cmd += ["--disable-userns"]
        cmd += ["--ro-bind", "/usr", "/usr"]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                cmd += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                cmd += ["--ro-bind", top, top]
        for path in ("/etc/ld.so.cache", "/etc/localtime"):
            cmd += ["--ro-bind-try", path, path]
        cmd += ["--proc", "/proc", "--dev", "/dev"]
        # The private /tmp first, then the interpreter and the runtime: a checkout or a venv under
        # /tmp is bound on top of the tmpfs instead of being hidden by it.
        cmd += ["--size", str(self.scratch_bytes), "--perms", "0711", "--tmpfs", "/tmp"]
        made = {"/", "/tmp"}
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
        cmd += ["--chdir", "/"]
        return cmd + boot

    def _unshare(self, boot: list[str]) -> list[str]:
        """A shell script run in the new mount namespace covers the world-writable directories
        with private tmpfs mounts, and directories other users may not enter (the interpreter
        under /root, say) with an empty one; the interpreter and the runtime, when under either,
        are bound back read-only from the covered directory (the shell's working directory,
        which still reaches it) on top of the new tmpfs."""
        covers: dict[str, list[str]] = {d: [] for d in WORLD_WRITABLE if os.path.isdir(d) and not os.path.islink(d)}
        for path in _bind_roots(python_paths()):
            cover = next((d for d in covers if _inside(path, d) and path != d), None) or _closed_ancestor(path)
            if cover:
                covers.setdefault(cover, []).append(path)
        lines = ["set -e", "umask 022"]
        for cover, paths in covers.items():
            if cover == "/tmp":
                options = f"size={self.scratch_bytes},mode=0711"
            else:
                options = "size=64k,mode=0755"
            lines += [f"cd {shlex.quote(cover)}", f"mount -t tmpfs -o {options} sandbox-tmp {shlex.quote(cover)}"]
            for path in paths:
                q = shlex.quote(path)
                here = shlex.quote("./" + os.path.relpath(path, cover))
                lines += [
                    f"mkdir -p {q}",
                    f"mount --no-canonicalize --bind {here} {q}",
                    f"mount --no-canonicalize -o remount,bind,ro {q}",
                ]
        lines += ["cd /", 'exec "$@"']
        script = "\n".join(lines)
        return [shutil.which("unshare") or "unshare", "--net", "--pid", "--fork", "--kill-child", "--mount", "--ipc", "--uts", "--mount-proc", "--propagation", "private", "/bin/sh", "-c", script, "sandbox-setup", *self._setpriv(boot)]

    def _setpriv(self, boot: list[str]) -> list[str]:
        if self.mode == "rlimits":
            boot = _subreaper(boot)
        setpriv = shutil.which("setpriv")
        if not self.root or setpriv is None:
            return boot
        caps = ",".join(["-all"] + [f"+{c}" for c in _SERVER_CAPS])
        return [setpriv, "--no-new-privs", "--pdeathsig", "KILL", "--bounding-set", caps, "--", *boot]

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
    return [sys.executable, "-I", "-S", "-c", launch, *boot]


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


def candidates_for(requested: str, allow_no_namespaces: bool) -> list[str]:
    """Modes to try, strongest first. rlimits only when asked for: by name, or under "auto" with
    the explicit opt-in (then only after both namespace modes failed)."""
    if requested != "auto":
        return [requested]
    return list(NAMESPACE_MODES) + (["rlimits"] if allow_no_namespaces else [])


def unavailable(mode: str) -> str | None:
    """Why `mode` cannot even be tried here (a tool missing, not root), or None."""
    if mode == "bwrap" and shutil.which("bwrap") is None:
        return "bubblewrap is not installed (no `bwrap` on PATH)"
    if mode == "unshare":
        if os.geteuid() != 0:
            return "needs root (it mounts private directories in a new mount namespace)"
        missing = [tool for tool in ("unshare", "mount") if shutil.which(tool) is None]
        if missing:
            return f"{' and '.join(missing)} not found (util-linux)"
    return None


def _read_sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", *name.split(".")).read_text().strip()
    except OSError:
        return None


def userns_settings() -> dict[str, str]:
    """The kernel settings that decide whether a user who is not root may create user
    namespaces (what bwrap needs then); only those this kernel has."""
    names = ("kernel.unprivileged_userns_clone", "kernel.apparmor_restrict_unprivileged_userns",
             "user.max_user_namespaces")
    return {name: value for name in names if (value := _read_sysctl(name)) is not None}


def no_namespaces_help(tried: dict[str, str]) -> str:
    """The error for a sandbox that cannot have namespace isolation (or was asked for rlimits by
    name) and was not allowed to run without it: what was tried, how to get namespaces, how to opt
    out knowingly."""
    if "rlimits" in tried:
        lines = ["isolation: rlimits runs model-written code WITHOUT namespace isolation, and does so only "
                 "with the explicit opt-in below. To get namespace isolation instead (isolation: auto):"]
    else:
        lines = ["The code sandbox cannot start with namespace isolation on this machine, and will not run "
                 "model-written code without it."]
        lines += [f"  {mode}: {why}" for mode, why in tried.items()]
        lines.append("To fix it, do one of:")
    lines.append("  - install bubblewrap: `apt-get install bubblewrap` (Debian, Ubuntu), `dnf install bubblewrap` "
                 "(Fedora, RHEL), `apk add bubblewrap` (Alpine), `pacman -S bubblewrap` (Arch), "
                 "`zypper install bubblewrap` (openSUSE);")
    if os.geteuid() != 0:
        settings = ", ".join(f"{k}={v}" for k, v in userns_settings().items()) or "unknown"
        lines.append("  - as a user other than root, bwrap needs unprivileged user namespaces (now: "
                     f"{settings}): `sysctl -w kernel.unprivileged_userns_clone=1` (Debian), "
                     "`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` (Ubuntu 23.10 and later), "
                     "`sysctl -w user.max_user_namespaces=15000`; in a container, allow user namespaces "
                     "(or run as root inside it);")
        lines.append("  - or run as root (unshare mode needs root and util-linux's unshare and mount).")
    else:
        lines.append("  - in a container, allow namespaces (e.g. `docker run --security-opt seccomp=unconfined "
                     "--security-opt apparmor=unconfined`, or `--privileged`).")
    lines.append("`synth doctor` shows what this machine supports and why.")
    lines.append("To run candidates WITHOUT namespace isolation anyway (rlimits and an audit hook only, NOT a "
                 "security boundary: see docs/sandbox.md), opt in explicitly: `isolation: rlimits` with "
                 f"`allow_no_namespaces: true` on the sandbox resource, or set {ALLOW_NO_NAMESPACES_ENV}=1.")
    return "\n".join(lines)


def downgrade_warning(mode: str, tried: dict[str, str]) -> str | None:
    """The warning for a sandbox running weaker than bwrap, or None."""
    if mode == "bwrap":
        return None
    why = "; ".join(f"{m}: {reason}" for m, reason in tried.items()) or "requested by name"
    if mode == "unshare":
        return (f"code sandbox: isolation unshare, not bwrap ({why}): namespaces for network, PIDs and "
                "mounts, but candidates can read host files that any user may read. Install bubblewrap "
                "for the full isolation (docs/sandbox.md).")
    return (f"code sandbox: isolation rlimits, WITHOUT namespace isolation ({why}); allowed by the explicit "
            f"opt-in (allow_no_namespaces / {ALLOW_NO_NAMESPACES_ENV}). Only an audit hook stands between "
            "the candidates and the network and world-writable host directories: it is not a security "
            "boundary (docs/sandbox.md). `synth doctor` says how to get namespace isolation here.")


def enforcement(mode: str, root: bool) -> tuple[dict[str, str], list[str]]:
    """What enforces each guarantee in `mode`, and what is not enforced (docs/sandbox.md has the
    same as a table)."""
    userns = mode == "bwrap" and not root
    if root:
        uid = "a uid of its own per worker (random, unprivileged, no capabilities)"
    elif userns:
        uid = ("the user's own uid inside a user namespace of its own, no capabilities; the fork "
               "servers that share it are not dumpable, so their memory is out of reach")
    else:
        uid = "none: candidates run as the verifier's own uid"
    if root:
        nproc = "RLIMIT_NPROC on the worker's own uid"
    elif userns and _kernel_at_least(5, 14):
        nproc = "RLIMIT_NPROC, counted in the worker's own user namespace"
    else:
        nproc = "audit hook only"
    enforced = {
        "cpu_seconds": "RLIMIT_CPU (SIGXCPU, then SIGKILL one second later)",
        "wall_seconds": "the fork server kills the child's process group at the deadline",
        "memory_mb": "RLIMIT_AS",
        "max_file_mb": "RLIMIT_FSIZE",
        "max_output_kb": "the fork server counts stdout+stderr and kills the child past the cap",
        "max_processes": nproc,
        "separate_uid": uid,
        "verdict": "written by a separate test-runner process on a pipe the candidate never holds, "
        "with a per-run nonce the candidate never sees",
        "environment": "cleared: children get PATH, LANG, HOME/TMPDIR and thread-count variables only",
        "leftovers": "the fork server is the reaper of every orphan (PID 1, or a child subreaper): "
        "after each job whatever the candidate left is frozen, reported (FORBIDDEN) and killed"
        + (" by uid" if root else "") + ", and its temp dir removed",
        "audit_hook": "refuses network, writes outside the temp dir, reads outside the Python "
        "install, running programs, signals, ctypes and gc introspection, and reports them "
        "(a second line: code in the same process can switch it off)",
    }
    missing: list[str] = []
    if mode == "bwrap":
        enforced["network"] = "bubblewrap network namespace (loopback only)"
        enforced["filesystem"] = ("bubblewrap mount namespace: read-only /usr and Python install, "
                                  "a private size-limited tmpfs /tmp, nothing else of the host")
        enforced["processes"] = "bubblewrap PID namespace: the host's processes are invisible"
        if userns and not _kernel_at_least(5, 14):
            missing.append("max_processes: this kernel counts RLIMIT_NPROC over all of the user's processes, "
                           "so it is not set; only the audit hook counts forks and threads")
    elif mode == "unshare":
        enforced["network"] = "unshare(1) network namespace (loopback down)"
        enforced["filesystem"] = ("unshare(1) mount namespace: private size-limited tmpfs over /tmp, "
                                  "/var/tmp, /dev/shm, /run/lock; the rest of the host is visible "
                                  "read-only through file permissions")
        enforced["processes"] = "unshare(1) PID namespace"
        missing.append("host files readable by any user are readable by the candidate (kernel); "
                       "only the audit hook refuses them")
    else:
        missing += [
            "NO namespaces: the audit hook is the only barrier below, and a candidate can switch it "
            "off (through closures, its callers' frames, patched modules) or outrun it (a symlink "
            "swapped between its path check and the open); the hostile suite does all of these",
            "network: not contained once the hook is off (any address, the host's loopback included)",
            ("filesystem: not contained once the hook is off: the candidate reads whatever its uid may "
             "read and writes where its uid may write, world-writable host directories such as /tmp, "
             "/var/tmp and /dev/shm included (nothing removes what it leaves there)"),
            "programs: not contained once the hook is off (anything under /usr/bin, as the candidate's uid)",
            "processes: the host's processes are visible (no PID namespace)",
        ]
        if root:
            missing.append("contained by the kernel even so: the limits above, the separate uid (no "
                           "signals to, or memory of, other users' processes), leftovers killed by uid, "
                           "the verdict")
        else:
            missing.append("not root: candidates run as the verifier's own uid, so a candidate that "
                           "switches the hook off can signal the verifier or write to its memory "
                           "(and so forge verdicts), and read or change the user's files; RLIMIT_NPROC "
                           "is not set (it would count all of the user's processes)")
    missing.append("no seccomp filter: every system call is available to the candidate")
    missing.append("CPU time and memory of the whole worker are not capped by a cgroup")
    return enforced, missing
