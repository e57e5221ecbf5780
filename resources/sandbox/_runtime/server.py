"""The fork server: runs inside the isolation, forks one child per job, supervises it, cleans up.

A worker is two servers: the candidate server forks process B (the candidate) and never sees a
test; the runner server forks process A (the tests) and never runs candidate code. Each child gets
its own session, its own uid (when the server runs as root), rlimits, a scrubbed environment and
(for B) a fresh temp dir. The server enforces the wall clock and the output cap, and after every
job kills every process left with the child's uid and removes the temp dir.
"""

from __future__ import annotations

import fcntl
import gc
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import sys
import time
import traceback

from . import control

MiB = 1024 * 1024
EXIT_SETUP_FAILED = 70
_EVENTS_CAP = 256 * 1024
_EVENTS_PIPE = 1024 * 1024
_TAIL = 2000


class Server:
    def __init__(self, ctl: socket.socket, config: dict) -> None:
        self.ctl = ctl
        self.role = config["role"]
        self.uid = config["uid"]
        self.limits = config["limits"]
        self.tmp_root = config["tmp_root"]
        self.read_roots = config["read_roots"]
        self.is_root = os.geteuid() == 0
        # The children's environment, set once here: a child only adds HOME and TMPDIR.
        os.environ.clear()
        os.environ.update(config["env"])
        if self.uid is not None and not self.is_root:
            raise RuntimeError("a uid was given but the server is not root")
        from . import candidate, policy, runner, wire  # noqa: F401 - loaded once, not per child

        self.policy = policy.Policy(None, self.read_roots, int(self.limits["max_processes"]), self.report)

        for name in config.get("preload", []):
            try:
                __import__(name)
            except Exception:  # noqa: BLE001, S110 - a missing optional module only costs speed
                pass
        # Children would otherwise run the collector over every inherited object, copying
        # each page they touch; frozen objects are never scanned.
        gc.collect()
        gc.freeze()

    # --- the loop -----------------------------------------------------------------------------

    def serve(self) -> None:
        while True:
            try:
                msg, fds = control.recv(self.ctl)
            except (control.ControlClosed, ConnectionError):
                return
            if msg.get("op") != "job":
                for fd in fds:
                    os.close(fd)
                continue  # a late "stop" for a job that already ended
            try:
                report = self.run_job(msg, fds)
            except Exception:  # noqa: BLE001 - report the server's own failure, keep serving
                report = {"id": msg.get("id"), "error": traceback.format_exc()[-_TAIL:]}
            control.send(self.ctl, report)

    def run_job(self, job: dict, fds: list[int]) -> dict:
        started = time.monotonic()
        if len(fds) != 1:
            raise ValueError(f"job came with {len(fds)} descriptors")
        peer = fds[0]
        cwd = "/"
        if self.role == "candidate":
            cwd = os.path.join(self.tmp_root, f"job-{job['id']}-{os.urandom(4).hex()}")
            os.mkdir(cwd, 0o700)
            if self.uid is not None:
                os.chown(cwd, self.uid, self.uid)
        out_r, out_w = os.pipe()
        ev_r, ev_w = os.pipe()
        # Events (progress, refusals, the verdict) are read once the child is gone: a big pipe
        # spares this server a wakeup, and the copy-on-write faults that come with it, per line.
        try:
            fcntl.fcntl(ev_w, fcntl.F_SETPIPE_SZ, _EVENTS_PIPE)
        except OSError:
            pass
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self.child(job, peer, out_w, ev_w, cwd)  # never returns
        os.close(out_w)
        os.close(ev_w)
        os.close(peer)
        try:
            report = self.supervise(job["id"], pid, out_r, ev_r, started)
        finally:
            os.close(out_r)
            os.close(ev_r)
            report_leftovers = self.clean_up(pid)
            if cwd != "/":
                shutil.rmtree(cwd, ignore_errors=True)
        report["leftovers"] = report_leftovers
        report["wall"] = time.monotonic() - started
        return report

    # --- the child ----------------------------------------------------------------------------

    def child(self, job: dict, peer: int, out_w: int, ev_w: int, cwd: str) -> None:
        try:
            os.setsid()
            self.ctl.detach()
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in (peer, out_w, ev_w)]
            devnull = os.open("/dev/null", os.O_RDWR)
            os.dup2(devnull, 0)
            os.dup2(high[1], 1)
            os.dup2(high[1], 2)
            os.dup2(high[0], 3)
            os.dup2(high[2], 4)
            os.closerange(5, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
            os.chdir(cwd)
            self.set_limits()
            if self.uid is not None:
                os.setgroups([])
                os.setresgid(self.uid, self.uid, self.uid)
                os.setresuid(self.uid, self.uid, self.uid)
            if self.role == "candidate":
                os.environ["HOME"] = os.environ["TMPDIR"] = cwd
            sys.argv = ["sandbox"]
            self.run_role(job, cwd)
        except BaseException:  # noqa: BLE001 - whatever happens, the child must not return
            try:
                os.write(2, traceback.format_exc().encode()[-_TAIL:])
            finally:
                os._exit(EXIT_SETUP_FAILED)
        os._exit(0)

    def set_limits(self) -> None:
        lim = self.limits
        cpu = int(lim["cpu_seconds"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        memory = int(lim["memory_mb"]) * MiB
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        size = int(lim["max_file_mb"]) * MiB
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        stack = resource.getrlimit(resource.RLIMIT_STACK)[0]
        if stack == resource.RLIM_INFINITY or stack > 8 * MiB:
            resource.setrlimit(resource.RLIMIT_STACK, (8 * MiB, 8 * MiB))
        if self.uid is not None:
            # RLIMIT_NPROC counts every task of the uid; the uid is this worker's alone.
            nproc = int(lim["max_processes"])
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))

    def report(self, kind: str, detail: str) -> None:
        """A refusal, written on fd 4: a tab-separated line from the candidate, a JSON line
        (beside progress and the verdict) from the runner."""
        if self.role == "candidate":
            line = f"{kind}\t{detail}".replace("\n", " ")[:300] + "\n"
        else:
            line = json.dumps({"violation": f"{kind}: {detail}"[:300]}) + "\n"
        try:
            os.write(4, line.encode("utf-8", "replace"))
        except OSError:
            pass

    def run_role(self, job: dict, cwd: str) -> None:
        if self.role == "candidate":
            from . import candidate

            self.policy.bind(cwd).install()
            code = job.pop("code")
            job.clear()
            candidate.main(code, self.report)
        else:
            from . import runner

            self.policy.bind(None).install()
            runner.main(job.pop("tests"), job.pop("nonce"))

    # --- supervision --------------------------------------------------------------------------

    def supervise(self, job_id, pid: int, out_r: int, ev_r: int, started: float) -> dict:
        deadline = started + float(self.limits["wall_seconds"])
        out_cap = int(self.limits["max_output_kb"]) * 1024
        pidfd = os.pidfd_open(pid)
        sel = selectors.DefaultSelector()
        sel.register(out_r, selectors.EVENT_READ, "out")
        sel.register(pidfd, selectors.EVENT_READ, "exit")
        sel.register(self.ctl, selectors.EVENT_READ, "ctl")
        out_bytes = 0
        tail = b""
        events = bytearray()
        killed = None
        parent_gone = False
        try:
            while True:
                timeout = deadline - time.monotonic() if killed is None else 1.0
                if timeout <= 0:
                    killed = self.kill(pid, "wall")
                    continue
                done = False
                for key, _ in sel.select(timeout):
                    what = key.data
                    if what == "exit":
                        done = True
                    elif what == "ctl":
                        try:
                            msg, fds = control.recv(self.ctl)
                        except (control.ControlClosed, ConnectionError):
                            sel.unregister(self.ctl)
                            parent_gone = True
                            killed = killed or self.kill(pid, "parent gone")
                            continue
                        for fd in fds:
                            os.close(fd)
                        if msg.get("op") == "stop" and msg.get("id") == job_id and killed is None:
                            killed = self.kill(pid, "stopped")
                    else:
                        data = os.read(key.fd, 65536)
                        if not data:
                            sel.unregister(key.fd)
                        elif what == "out":
                            out_bytes += len(data)
                            tail = (tail + data)[-_TAIL:]
                            if out_bytes > out_cap and killed is None:
                                killed = self.kill(pid, "output")
                        elif len(events) < _EVENTS_CAP:
                            events += data[: _EVENTS_CAP - len(events)]
                if done:
                    break
            _, status, usage = os.wait4(pid, 0)
            for fd, what in ((out_r, "out"), (ev_r, "ev")):
                data = _drain(fd)
                if what == "out":
                    out_bytes += len(data)
                    tail = (tail + data)[-_TAIL:]
                else:
                    events += data[: max(0, _EVENTS_CAP - len(events))]
        finally:
            sel.close()
            os.close(pidfd)
        if parent_gone:
            raise control.ControlClosed("parent went away")
        return {
            "id": job_id,
            "exit": os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "killed": killed,
            "cpu": usage.ru_utime + usage.ru_stime,
            "faults": usage.ru_minflt,
            "out_bytes": out_bytes,
            "out_tail": tail.decode("utf-8", "replace"),
            "events": events.decode("utf-8", "replace"),
        }

    def kill(self, pid: int, reason: str) -> str:
        """Kill the child (and, past a limit, its process group). On "stopped" the tests are over
        and only the child goes: whatever it left running is for clean_up to find and report."""
        targets = [lambda: os.kill(pid, signal.SIGKILL)]
        if reason != "stopped":
            targets.insert(0, lambda: os.killpg(pid, signal.SIGKILL))
        for target in targets:
            try:
                target()
            except OSError:
                pass
        return reason

    # --- cleanup ------------------------------------------------------------------------------

    def clean_up(self, pid: int) -> list[str]:
        """Kill everything the child left behind; return what was still alive.

        This server is the reaper of every orphan (PID 1 of its namespace, or a child subreaper),
        so whatever the child started and left running is a descendant of this process: with the
        child reaped, "nothing left" is exactly "no children left".
        """
        if not _reap_children():
            return []
        # A process already on its way out gets a moment to become a zombie...
        grace = time.monotonic() + 0.05
        while time.monotonic() < grace and _live(_descendants()):
            time.sleep(0.002)
            if not _reap_children():
                return []
        # ...then everything is frozen, so the decisive look cannot race a fork or an exit.
        self._signal_all(signal.SIGSTOP)
        self._signal_all(signal.SIGSTOP)
        left = _live(_descendants())
        for _ in range(500):
            self._signal_all(signal.SIGKILL)
            if not _reap_children():
                break
            time.sleep(0.002)
        return left

    def _signal_all(self, sig: int) -> None:
        """Signal everything the child left: by uid when this worker has a uid of its own (no
        process of it can hide), else every descendant of this server."""
        if self.uid is not None:
            self._signal_uid(sig)
        for child in _descendants():
            try:
                os.kill(child, sig)
            except OSError:
                pass

    def _signal_uid(self, sig: int) -> None:
        """kill(-1, sig) as the child's uid: reaches that uid's processes and nothing else. (Its
        return value says nothing: kill(-1) succeeds when any other process exists at all.)"""
        os.setresuid(self.uid, self.uid, 0)
        try:
            os.kill(-1, sig)
        except OSError:
            pass
        finally:
            os.setresuid(0, 0, 0)


def _drain(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks = []
    total = 0
    while total < 1 << 20:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not data:
            break
        chunks.append(data)
        total += len(data)
    return b"".join(chunks)


def _reap_children() -> bool:
    """Reap every child that has exited; True when children remain."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def _descendants() -> list[int]:
    """Every process below this one, from /proc/<pid>/task/<tid>/children."""
    found: list[int] = []
    todo = [os.getpid()]
    while todo:
        pid = todo.pop()
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as fh:
                    kids = [int(k) for k in fh.read().split()]
            except (OSError, ValueError):
                continue
            found += kids
            todo += kids
    return found


def _live(pids: list[int]) -> list[str]:
    """The processes among `pids` that are not zombies, as 'pid (name)'."""
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as fh:
                fields = dict(line.split(":\t", 1) for line in fh.read().splitlines() if ":\t" in line)
        except OSError:
            continue
        if not fields.get("State", "").startswith("Z"):
            out.append(f"{pid} ({fields.get('Name', '?').strip()})")
    return out


def main(ctl_fd: int) -> None:
    ctl = socket.socket(fileno=ctl_fd)
    try:
        config, _ = control.recv(ctl)
        server = Server(ctl, config)
    except Exception:  # noqa: BLE001
        control.send(ctl, {"ready": False, "error": traceback.format_exc()[-_TAIL:]})
        return
    control.send(ctl, {"ready": True, "pid": os.getpid(), "uid": os.geteuid(), "pid1": os.getpid() == 1})
    server.serve()
