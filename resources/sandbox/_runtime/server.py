"""The fork server: runs inside the isolation, forks one child per job, supervises it, cleans up.

A worker is two servers: the candidate server forks process B (the candidate) and never sees a
test; the runner server forks process A (the tests) and never runs candidate code. Each child gets
its own session, its own uid (when the server runs as root), rlimits, a scrubbed environment and
(for B) a fresh temp dir. The server enforces the wall clock and the output cap, and after every
job kills every process left with the child's uid and removes the temp dir.

A runner job may carry several candidates that share the same tests: one process A serves them
in turn, with a fresh namespace, connection and nonce each, and the server reports each candidate
as soon as A has written its verdict (the output cap starts again for the next, and the wall
clock once A says the next candidate's process B is up).

The forking itself is done by the server's zygote: a copy of the server, made once after every
module is loaded, that does nothing but fork a child when asked, hand back its pidfd and reap it.
A process that forks has all its memory write-protected by every fork, so whatever it does next
costs a page fault per page it touches; the zygote touches a few dozen, and the server, which does
the bookkeeping (output, deadlines, clean-up, reports), never forks and so never pays for it.
"""

from __future__ import annotations

import array
import collections
import fcntl
import gc
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import time
import traceback

from . import control

MiB = 1024 * 1024
EXIT_SETUP_FAILED = 70
_EVENTS_CAP = 256 * 1024
_EVENTS_PIPE = 1024 * 1024
_TAIL = 2000
_PID = struct.Struct("=i")
_EXIT = struct.Struct("=iidq")  # pid, wait status, CPU seconds, minor faults
_READ = select.POLLIN | select.POLLHUP | select.POLLERR


class Server:
    def __init__(self, ctl: socket.socket, config: dict) -> None:
        self.ctl = ctl
        self.role = config["role"]
        self.uid = config["uid"]
        self.userns_nproc = bool(config.get("userns_nproc"))
        self.limits = config["limits"]
        self.tmp_root = os.path.realpath(config["tmp_root"])
        # One job at a time: every candidate gets a fresh, empty temp dir at the same path, so
        # HOME and TMPDIR are set here once instead of in every child.
        self.job_dir = os.path.join(self.tmp_root, f"job-{os.urandom(4).hex()}")
        self.read_roots = config["read_roots"]
        self.is_root = os.geteuid() == 0
        self.rlimits = self.child_rlimits()
        self.max_fd = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self.import_dirs = self.open_import_dirs()
        # The children's environment, set once here: a child only adds HOME and TMPDIR.
        os.environ.clear()
        os.environ.update(config["env"])
        if self.role == "candidate":
            os.environ["HOME"] = os.environ["TMPDIR"] = self.job_dir
        sys.argv = ["sandbox"]
        if self.uid is not None and not self.is_root:
            raise RuntimeError("a uid was given but the server is not root")
        # Loaded once, not per child; each server only what its children run.
        if self.role == "candidate":
            from . import candidate as role
            from . import policy, wire
        else:
            from . import policy, wire  # noqa: F401
            from . import runner as role
        for name in config.get("preload", []):
            try:
                __import__(name)
            except Exception:  # noqa: BLE001, S110 - a missing optional module only costs speed
                pass
        # A trusted job run here, and the objects every child needs built here: children inherit
        # specialized code, filled caches and ready objects instead of writing them (each page a
        # child writes is a page copied). Only an optimization: a failure is logged, not fatal.
        try:
            role.warm_up()
        except Exception:  # noqa: BLE001
            traceback.print_exc()
        self.role_module = role  # an import statement in the child would run importlib's code
        self.prepared = role.prepare(self.report) if self.role == "candidate" else role.prepare()
        self.policy = policy.Policy(None, self.read_roots, int(self.limits["max_processes"]), self.report)
        self.policy._prepared()
        # Children would otherwise run the collector over every inherited object, copying
        # each page they touch; frozen objects are never scanned.
        gc.collect()
        gc.freeze()
        self.pending: collections.deque = collections.deque()  # jobs that came during a job
        self.poll = select.poll()
        self.zygote_pid, self.zsock = self.start_zygote()
        self.poll.register(self.ctl, _READ)
        self.poll.register(self.zsock, _READ)

    # --- the zygote ---------------------------------------------------------------------------

    def start_zygote(self) -> tuple[int, socket.socket]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                ours.close()
                self.ctl.close()  # the verifier's end must close when the server goes
                self.zygote(theirs)
            finally:
                os._exit(0)
        theirs.close()
        return pid, ours

    def stop_zygote(self) -> None:
        """End the zygote and reap it, so that its CPU time and its children's count as ours."""
        self.zsock.close()
        deadline = time.monotonic() + 2.0
        while True:
            try:
                pid, _ = os.waitpid(self.zygote_pid, os.WNOHANG)
            except ChildProcessError:
                return
            if pid:
                return
            if time.monotonic() > deadline:
                os.kill(self.zygote_pid, signal.SIGKILL)
                os.waitpid(self.zygote_pid, 0)
                return
            time.sleep(0.005)

    def zygote(self, sock: socket.socket) -> None:
        """Fork a child per request (the request carries the child's descriptors: output, events,
        job, then its sockets and, for a runner, its turn pipe), send its pid and pidfd, reap it,
        send its exit status. Runs until the server goes away."""
        recvmsg, sendmsg, send = sock.recvmsg, sock.sendmsg, sock.send
        fork, close, wait4, pidfd_open = os.fork, os.close, os.wait4, os.pidfd_open
        space = socket.CMSG_SPACE(4 * (3 + control.MAX_GROUP))
        rights = (socket.SOL_SOCKET, socket.SCM_RIGHTS)
        while True:
            data, ancdata, _flags, _addr = recvmsg(16, space)
            if not data:
                return
            fds = control.received_fds(ancdata)
            if len(fds) < 4:
                for fd in fds:
                    close(fd)
                return
            pid = fork()
            if pid == 0:
                self.child(*fds)  # never returns
            for fd in fds:
                close(fd)
            pidfd = pidfd_open(pid)
            sendmsg([_PID.pack(pid)], [(*rights, array.array("i", (pidfd,)))])
            close(pidfd)
            _, status, usage = wait4(pid, 0)
            send(_EXIT.pack(pid, status, usage.ru_utime + usage.ru_stime, usage.ru_minflt))

    # --- the loop -----------------------------------------------------------------------------

    def serve(self) -> None:
        while True:
            if self.pending:
                msg, fds = self.pending.popleft()
            else:
                try:
                    msg, fds = control.recv(self.ctl)
                except (control.ControlClosed, ConnectionError):
                    return
            if msg.get("op") != "job":
                for fd in fds:
                    os.close(fd)
                continue  # a late "stop" for a job that already ended
            ids = msg.get("ids") if self.role == "runner" else [msg.get("id")]
            ids = list(ids) if isinstance(ids, list) else [None]
            self.unreported = list(ids)  # what an error report must still cover
            try:
                self.run_job(msg, ids, fds)
            except ZygoteLost:
                return  # children cannot be started any more: end, the verifier restarts the worker
            except Exception:  # noqa: BLE001 - report the server's own failure, keep serving
                error = traceback.format_exc()[-_TAIL:]
                for job_id in list(self.unreported):
                    self.send_report({"id": job_id, "error": error})

    def send_report(self, report: dict) -> None:
        if report["id"] in self.unreported:
            self.unreported.remove(report["id"])
        control.send(self.ctl, report)

    def run_job(self, job: dict, ids: list, fds: list[int]) -> None:
        started = time.monotonic()
        cwd = "/"
        try:
            if not 1 <= len(fds) == len(ids) <= control.MAX_GROUP:
                raise ValueError(f"job came with {len(fds)} descriptors for {len(ids)} candidates")
            if self.role == "candidate":
                cwd = self.job_dir
                os.mkdir(cwd, 0o700)
                if self.uid is not None:
                    os.chown(cwd, self.uid, self.uid)
                payload = cwd + "\0" + job["code"]
            else:
                nonces = job["nonces"]
                if len(nonces) != len(ids) or not all(isinstance(n, str) and n.isalnum() for n in nonces):
                    raise ValueError("a runner job needs one alphanumeric nonce per candidate")
                payload = ",".join(nonces) + "\0" + job["tests"]
            # The job travels to the child in a memfd: the zygote never holds it.
            job_fd = os.memfd_create("job")
            _write_all(job_fd, payload.encode("utf-8", "surrogatepass"))
        except BaseException:
            for fd in fds:
                os.close(fd)
            if cwd != "/":
                _rmtree(cwd)
            raise
        out_r, out_w = os.pipe()
        ev_r, ev_w = os.pipe()
        # Events (progress, refusals, the verdict) are read once the child is gone: a big pipe
        # spares this server a wakeup per line. A runner writes a byte on its "turn" pipe when a
        # candidate's process B is up and after its verdict, so that its wall clock starts then
        # and its events are read as soon as it is done.
        if self.role == "runner":  # a candidate writes a line only when it is refused something
            try:
                fcntl.fcntl(ev_w, fcntl.F_SETPIPE_SZ, _EVENTS_PIPE)
            except OSError:
                pass
        turn_r, turn_w = os.pipe() if self.role == "runner" else (-1, -1)
        channels = (fds[0], turn_w, *fds[1:]) if self.role == "runner" else tuple(fds)
        pidfd = -1
        try:
            try:
                self.zsock.sendmsg([b"J"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                             array.array("i", (out_w, ev_w, job_fd, *channels)))])
            finally:
                for fd in (out_w, ev_w, job_fd, *channels):
                    os.close(fd)
            pid, pidfd = self.zygote_started()
            reports = self.supervise(ids, pid, pidfd, out_r, ev_r, turn_r, started)
        finally:
            for fd in (out_r, ev_r, turn_r):
                if fd >= 0:
                    os.close(fd)
            if pidfd >= 0:
                os.close(pidfd)
            leftovers = self.clean_up()
            if cwd != "/":
                _rmtree(cwd)
        reports[0]["leftovers"] = leftovers
        for report in reports:
            self.send_report(report)

    def zygote_started(self) -> tuple[int, int]:
        try:
            data, ancdata, _flags, _addr = self.zsock.recvmsg(_PID.size, socket.CMSG_SPACE(4))
        except OSError as exc:
            raise ZygoteLost(str(exc)) from exc
        fds = control.received_fds(ancdata)
        if len(data) != _PID.size or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise ZygoteLost("zygote did not start the child")
        return _PID.unpack(data)[0], fds[0]

    # --- the child ----------------------------------------------------------------------------

    def child(self, out_w: int, ev_w: int, job_fd: int, *channels: int) -> None:
        """Runs in a process the zygote forked: becomes process A or B. fd 3 is the socket to the
        other process of the (first) candidate, fd 4 the events pipe; a runner also has its turn
        pipe on fd 5 and the sockets of the candidates after the first on fds 6, 7, ...; then
        the import directories (rlimits mode, see open_import_dirs)."""
        try:
            os.setsid()
            head, _, body = _read_all(job_fd).decode("utf-8", "surrogatepass").partition("\0")
            channels = tuple(fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in channels)
            dirs = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in self.import_dirs.values()]
            out_w = fcntl.fcntl(out_w, fcntl.F_DUPFD, 100)
            ev_w = fcntl.fcntl(ev_w, fcntl.F_DUPFD, 100)
            devnull = os.open("/dev/null", os.O_RDWR)
            os.dup2(devnull, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            os.dup2(channels[0], 3)
            os.dup2(ev_w, 4)
            for fd, channel in enumerate(channels[1:], start=5):
                os.dup2(channel, fd)
            first_dir = 4 + len(channels)
            for fd, dir_fd in enumerate(dirs, start=first_dir):
                os.dup2(dir_fd, fd)
            os.closerange(first_dir + len(dirs), self.max_fd)
            if dirs:
                _import_through(dict(zip(self.import_dirs, range(first_dir, first_dir + len(dirs)), strict=False)))
            cwd = head if self.role == "candidate" else "/"
            os.chdir(cwd)
            self.set_limits(len(channels) - (self.role == "runner"))
            if self.uid is not None:
                os.setgroups([])
                os.setresgid(self.uid, self.uid, self.uid)
                os.setresuid(self.uid, self.uid, self.uid)
            self.run_role(head, body)
        except BaseException:  # noqa: BLE001 - whatever happens, the child must not return
            try:
                os.write(2, traceback.format_exc().encode()[-_TAIL:])
            finally:
                os._exit(EXIT_SETUP_FAILED)
        os._exit(0)

    def open_import_dirs(self) -> dict[str, int]:
        """Directories on sys.path that the children's uid may not reach (the interpreter under
        /root, in rlimits mode: no mount namespace can show it to them), opened here, as root.
        A child keeps the descriptors and imports through /proc/self/fd/N, which reaches the
        directory without walking the path to it (a process may always use its own descriptors);
        the files in it are read with the child's own permissions."""
        if self.uid is None:
            return {}
        dirs = {}
        for path in dict.fromkeys(sys.path):
            if path and os.path.isdir(path) and not _open_to_others(path):
                dirs[path] = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        return dirs

    def child_rlimits(self) -> list[tuple[int, tuple[int, int]]]:
        """Every rlimit of a child but the CPU time, worked out once here rather than in each."""
        lim = self.limits
        memory = int(lim["memory_mb"]) * MiB
        size = int(lim["max_file_mb"]) * MiB
        out = [
            (resource.RLIMIT_AS, (memory, memory)),
            (resource.RLIMIT_FSIZE, (size, size)),
            (resource.RLIMIT_CORE, (0, 0)),
            (resource.RLIMIT_NOFILE, (256, 256)),
        ]
        stack = resource.getrlimit(resource.RLIMIT_STACK)[0]
        if stack == resource.RLIM_INFINITY or stack > 8 * MiB:
            out.append((resource.RLIMIT_STACK, (8 * MiB, 8 * MiB)))
        if self.uid is not None:
            # RLIMIT_NPROC counts every task of the uid; the uid is this worker's alone.
            nproc = int(lim["max_processes"])
            out.append((resource.RLIMIT_NPROC, (nproc, nproc)))
        elif self.userns_nproc:
            # Not root, in a user namespace of its own: the kernel counts the uid's tasks in this
            # namespace only (Linux 5.14 and later), which are this server, its zygote and the child's.
            nproc = int(lim["max_processes"]) + 2
            out.append((resource.RLIMIT_NPROC, (nproc, nproc)))
        return out

    def set_limits(self, candidates: int) -> None:
        cpu = int(self.limits["cpu_seconds"])
        # The soft limit is per candidate (a runner serving several moves it on before each, see
        # runner.main); the hard limit, a second past it per candidate, bounds the whole process.
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, candidates * (cpu + 1)))
        for which, value in self.rlimits:
            resource.setrlimit(which, value)

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

    def run_role(self, head: str, body: str) -> None:
        """`head` is the temp dir (candidate) or the nonces (runner); `body` the code or tests."""
        if self.role == "candidate":
            self.policy.bind(head, canonical=True).install()
            self.role_module.main(body, self.prepared)
        else:
            self.policy.bind(None).install()
            self.role_module.main(body, head.split(","), self.prepared, int(self.limits["cpu_seconds"]), self.policy)

    # --- supervision --------------------------------------------------------------------------

    def supervise(self, ids: list, pid: int, pidfd: int, out_r: int, ev_r: int, turn_r: int,
                  started: float) -> list[dict]:
        """Watch the child until it ends. Returns the reports still to send, the one that
        carries the child's fate (exit status, signal, kill, CPU) first.

        A runner serving several candidates writes a verdict line after each (and a byte on its
        turn pipe): the report of every candidate but the last goes out as soon as its verdict is
        in, so that the verifier can collect it (and let its process B go) while A goes on with
        the next, and the output cap starts again. Each candidate's wall clock starts when A says
        (another byte) that its process B is up: B may have waited for its server to clean up
        after the one before. Until then A has twice the wall time. Candidates that A ends before
        starting are reported "not_run", for the verifier to submit again."""
        wall = float(self.limits["wall_seconds"])
        watch_turns = len(ids) > 1
        up = not watch_turns  # whether the current candidate's process B is known to be up
        deadline = started + (wall if up else 2 * wall)
        out_cap = int(self.limits["max_output_kb"]) * 1024
        poll = self.poll
        ctl_fd, zfd = self.ctl.fileno(), self.zsock.fileno()
        poll.register(out_r, _READ)
        if watch_turns:
            poll.register(turn_r, _READ)
        current, since = 0, started  # the candidate in progress, and when it began
        out_open = True
        out_bytes = 0
        tail = b""
        events = bytearray()
        killed = None
        parent_gone = False
        exited = None

        def send_verdicts() -> None:
            nonlocal current, since, deadline, out_bytes, tail, up
            while current < len(ids) - 1 and (end := _verdict_end(events)) >= 0:
                self.send_report(_report(ids[current], events[:end], out_bytes, tail, since))
                del events[:end]
                current += 1
                since = time.monotonic()
                deadline = since + 2 * wall
                up = False
                out_bytes, tail = 0, b""

        try:
            while exited is None:
                timeout = deadline - time.monotonic() if killed is None else 1.0
                if timeout <= 0:
                    killed = self.kill(pid, pidfd, "wall")
                    continue
                for fd, _ in poll.poll(timeout * 1000):
                    if fd == zfd:
                        data = self.zsock.recv(64)
                        if len(data) != _EXIT.size:
                            raise ZygoteLost("zygote went away")
                        exited = _EXIT.unpack(data)
                    elif fd == ctl_fd:
                        try:
                            msg, fds = control.recv(self.ctl)
                        except (control.ControlClosed, ConnectionError):
                            poll.unregister(self.ctl)
                            parent_gone = True
                            killed = killed or self.kill(pid, pidfd, "parent gone")
                            continue
                        if msg.get("op") == "job":
                            self.pending.append((msg, fds))  # pipelined: the next job
                            continue
                        for fd2 in fds:
                            os.close(fd2)
                        if msg.get("op") == "stop" and msg.get("id") == ids[current] and killed is None:
                            killed = self.kill(pid, pidfd, "stopped")
                    elif fd == out_r and out_open:
                        data = os.read(out_r, 65536)
                        if not data:
                            poll.unregister(out_r)
                            out_open = False
                            continue
                        out_bytes += len(data)
                        tail = (tail + data)[-_TAIL:]
                        if out_bytes > out_cap and killed is None:
                            killed = self.kill(pid, pidfd, "output")
                    elif fd == turn_r and watch_turns:
                        marks = os.read(turn_r, 4096)
                        if not marks:
                            poll.unregister(turn_r)
                            watch_turns = False
                            continue
                        events += _drain(ev_r)
                        if killed is None:
                            send_verdicts()
                            if not up and marks.endswith(b"s"):
                                up = True
                                deadline = time.monotonic() + wall
                        del events[:-_EVENTS_CAP]
            data = _drain(out_r) if out_open else b""
            out_bytes += len(data)
            tail = (tail + data)[-_TAIL:]
            events += _drain(ev_r)[:_EVENTS_CAP]
        finally:
            if out_open:
                poll.unregister(out_r)
            if watch_turns:
                poll.unregister(turn_r)
        if parent_gone:
            raise control.ControlClosed("parent went away")
        if killed is None:
            send_verdicts()
        _pid, status, cpu, faults = exited
        fate = {
            "exit": os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "killed": killed,
            "cpu": cpu,
            "faults": faults,
        }
        not_run = [{"id": job_id, "not_run": True} for job_id in ids[current + 1:]]
        if current > 0 and not events.strip():
            # A ended after a verdict, before it began this candidate: nothing was run for it.
            return [{"id": ids[current], "not_run": True, **fate}, *not_run]
        return [{**_report(ids[current], events, out_bytes, tail, since), **fate}, *not_run]

    def kill(self, pid: int, pidfd: int, reason: str) -> str:
        """Kill the child (and, past a limit, its process group). On "stopped" the tests are over
        and only the child goes: whatever it left running is for clean_up to find and report.
        The child is the zygote's, so it is reached by its pidfd (its pid may be reaped by now);
        its process group outlives it while any member is left."""
        targets = [lambda: signal.pidfd_send_signal(pidfd, signal.SIGKILL)]
        if reason != "stopped":
            targets.insert(0, lambda: os.killpg(pid, signal.SIGKILL))
        for target in targets:
            try:
                target()
            except OSError:
                pass
        return reason

    # --- cleanup ------------------------------------------------------------------------------

    def clean_up(self) -> list[str]:
        """Kill everything the child left behind; return what was still alive.

        This server is the reaper of every orphan (PID 1 of its namespace, or a child subreaper),
        so whatever the child started and left running is a descendant of this process: with the
        child reaped by the zygote, "nothing left" is exactly "no children but the zygote".
        """
        if not self._others():
            return []
        # A process already on its way out gets a moment to become a zombie...
        grace = time.monotonic() + 0.05
        while time.monotonic() < grace and _live(self._descendants()):
            time.sleep(0.002)
            if not self._others():
                return []
        # ...then everything is frozen, so the decisive look cannot race a fork or an exit.
        self._signal_all(signal.SIGSTOP)
        self._signal_all(signal.SIGSTOP)
        left = _live(self._descendants())
        for _ in range(500):
            self._signal_all(signal.SIGKILL)
            if not self._others():
                break
            time.sleep(0.002)
        return left

    def _others(self) -> list[int]:
        """Reap every child that has exited; the children left, but for the zygote."""
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                raise ZygoteLost("zygote went away") from None
            if pid == 0:
                break
            if pid == self.zygote_pid:
                raise ZygoteLost("zygote went away")
        return [p for p in _children(os.getpid(), single_threaded=True) if p != self.zygote_pid]

    def _descendants(self) -> list[int]:
        """Every process below this one but the zygote (whose only child is reaped by now)."""
        found: list[int] = []
        todo = [p for p in _children(os.getpid()) if p != self.zygote_pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += _children(pid)
        return found

    def _signal_all(self, sig: int) -> None:
        """Signal everything the child left: by uid when this worker has a uid of its own (no
        process of it can hide), else every descendant of this server."""
        if self.uid is not None:
            self._signal_uid(sig)
        for child in self._descendants():
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


def _report(job_id, events: bytes, out_bytes: int, tail: bytes, since: float) -> dict:
    """A candidate's report; the fields of the process's fate are filled in by the last one."""
    return {
        "id": job_id,
        "exit": None,
        "signal": None,
        "killed": None,
        "cpu": 0.0,
        "faults": 0,
        "out_bytes": out_bytes,
        "out_tail": tail.decode("utf-8", "replace"),
        "events": bytes(events).decode("utf-8", "replace"),
        "wall": time.monotonic() - since,
    }


def _verdict_end(events: bytearray) -> int:
    """Where the first verdict line in `events` ends (just past its newline), or -1."""
    start = 0 if events.startswith(b'{"verdict"') else events.find(b'\n{"verdict"')
    if start < 0:
        return -1
    end = events.find(b"\n", start + 1)
    return -1 if end < 0 else end + 1


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


class ZygoteLost(RuntimeError):
    """The zygote is gone: no child can be started any more."""


def _rmtree(path: str) -> None:
    """Remove a job's temp dir; usually empty. `shutil` is imported only when it is not: it pulls
    in compression modules that would otherwise sit in every child's copy of this process."""
    try:
        os.rmdir(path)
    except OSError:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_all(fd: int) -> bytes:
    """A memfd's content, read at its size (a larger buffer costs the child fresh pages)."""
    chunks = []
    size = os.lseek(fd, 0, os.SEEK_END)
    done = 0
    while done < size and (data := os.pread(fd, size - done, done)):
        chunks.append(data)
        done += len(data)
    os.close(fd)
    return b"".join(chunks)


def _open_to_others(path: str) -> bool:
    """Whether a user other than the owner may enter every directory on the way to `path` and
    list `path` itself."""
    path = os.path.realpath(path)
    parts = path.split("/")
    for i in range(2, len(parts) + 1):
        try:
            mode = os.stat("/".join(parts[:i]) or "/").st_mode
        except OSError:
            return False
        if not mode & 0o001:
            return False
    return bool(mode & 0o004)


def _import_through(fds: dict[str, int]) -> None:
    """Point sys.path, and the search path of every package already loaded, at /proc/self/fd/N
    instead of the directories in `fds` (path -> descriptor) and below."""
    def moved(entry: str) -> str:
        for path, fd in fds.items():
            if entry == path or entry.startswith(path + "/"):
                return f"/proc/self/fd/{fd}" + entry[len(path):]
        return entry

    sys.path[:] = [moved(entry) for entry in sys.path]
    for module in list(sys.modules.values()):
        search = getattr(module, "__path__", None)
        if type(search) is list:
            search[:] = [moved(entry) if type(entry) is str else entry for entry in search]


def _children(pid: int, single_threaded: bool = False) -> list[int]:
    """The children of `pid`, from /proc/<pid>/task/<tid>/children (one thread: tid == pid)."""
    found: list[int] = []
    try:
        tids = [pid] if single_threaded else os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                found += [int(k) for k in fh.read().split()]
        except (OSError, ValueError):
            continue
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


def _not_dumpable() -> None:
    """A server that is not root shares its uid with the children it forks, and the kernel lets a
    process write to the memory of a dumpable process of its own uid (/proc/PID/mem, ptrace).
    Made non-dumpable (inherited by the zygote and every child), it is out of their reach. ctypes
    is used for this one call and dropped from sys.modules, so that no child finds it loaded."""
    import ctypes

    try:
        if ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")
    finally:
        for name in [n for n in sys.modules if n.partition(".")[0] in ("ctypes", "_ctypes")]:
            del sys.modules[name]


def main(ctl_fd: int) -> None:
    ctl = socket.socket(fileno=ctl_fd)
    try:
        if os.geteuid() != 0:
            _not_dumpable()
        config, _ = control.recv(ctl)
        server = Server(ctl, config)
    except Exception:  # noqa: BLE001
        control.send(ctl, {"ready": False, "error": traceback.format_exc()[-_TAIL:]})
        return
    control.send(ctl, {"ready": True, "pid": os.getpid(), "uid": os.geteuid(), "pid1": os.getpid() == 1})
    try:
        server.serve()
    finally:
        server.stop_zygote()
