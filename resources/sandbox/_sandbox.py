"""`Sandbox`: a pool of pre-warmed workers that run candidates against tests, in parallel.

Each worker is a pair of fork servers started once inside the isolation (see `_isolation`): one
forks the candidate (process B), the other forks the test runner (process A). Per candidate this
process only hands each server one end of a fresh socketpair, waits for their reports and merges
them (`_verdict.decide`). Candidates with the same tests go to the runner server together (up to
`candidates_per_runner`), and one process A serves them in turn.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import os
import queue
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Self

from . import _isolation
from ._config import Outcome, SandboxError, SandboxLimits, SandboxResult
from ._runtime import control
from ._verdict import decide

__all__ = ["Sandbox"]

MAX_CODE_BYTES = 1 << 20
MAX_TESTS_BYTES = 4 << 20
STARTUP_TIMEOUT_S = 60.0
REPORT_GRACE_S = 15.0
PIPELINE_DEPTH = 2  # runner jobs in flight per worker in run_many
_UID_LOW, _UID_HIGH = 1 << 20, (1 << 31) - 1


class _Server:
    """One fork server process and its control socket."""

    def __init__(self, plan: _isolation.Plan, config: dict) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
        self.last_log = ""
        try:
            self.proc = subprocess.Popen(
                plan.command(child.fileno()),
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self.log,
                env=plan.server_env(),
                start_new_session=True,
            )
        except OSError as exc:
            parent.close()
            raise SandboxError(f"could not start a {plan.mode} server: {exc}") from exc
        finally:
            child.close()
        self.sock = parent
        self.sock.settimeout(STARTUP_TIMEOUT_S)
        try:
            control.send(self.sock, config)
            hello, _ = control.recv(self.sock)
        except (OSError, EOFError, ValueError) as exc:
            self.close()  # waits for the process: its error output is complete after this
            raise SandboxError(f"{plan.mode} server did not start: {exc}; {self.log_tail() or 'no output'}") from exc
        if not hello.get("ready"):
            self.close()
            raise SandboxError(f"{plan.mode} server failed: {hello.get('error', '')[-500:]}")
        self.hello = hello

    def log_tail(self) -> str:
        try:
            self.log.seek(0)
            return self.log.read()[-500:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return self.last_log

    def close(self) -> None:
        try:
            self.sock.close()
        except (OSError, AttributeError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait(timeout=5)
        self.last_log = self.log_tail()  # a failed start is reported from it after the close
        self.log.close()

    def send(self, obj: dict, fds: tuple[int, ...] = ()) -> None:
        control.send(self.sock, obj, fds)

    def has_message(self) -> bool:
        """Whether a message is already waiting on the control socket."""
        return bool(select.select([self.sock], [], [], 0)[0])

    def report(self, job_id: int, timeout: float) -> dict:
        if self.sock.gettimeout() != timeout:
            self.sock.settimeout(timeout)
        while True:
            msg, fds = control.recv(self.sock)
            for fd in fds:
                os.close(fd)
            if msg.get("id") == job_id:
                return msg



class _Worker:
    """A candidate server and a runner server, used by one thread at a time."""

    def __init__(self, plan: _isolation.Plan, limits: SandboxLimits, uids: tuple[int | None, int | None]) -> None:
        self.plan = plan
        self.limits = limits
        self.uids = uids
        self.ids = itertools.count()
        self.generation = 0  # bumped at every start: tickets of an earlier one cannot be collected
        self.candidate: _Server | None = None
        self.runner: _Server | None = None
        self.start()

    def _config(self, role: str, uid: int | None) -> dict:
        return {
            "role": role,
            "uid": uid,
            "limits": dataclasses.asdict(self.limits),
            "tmp_root": self.plan.tmp_root,
            "read_roots": self.plan.read_roots(),
            "env": _isolation.CHILD_ENV,
            "preload": self._preload(role),
            "userns_nproc": self.plan.userns_nproc,
        }

    def _preload(self, role: str) -> list[str]:
        return _isolation.PRELOAD_RUNNER if role == "runner" else _isolation.PRELOAD_CANDIDATE

    def start(self) -> None:
        self.generation += 1
        self.candidate = _Server(self.plan, self._config("candidate", self.uids[0]))
        try:
            self.runner = _Server(self.plan, self._config("runner", self.uids[1]))
        except SandboxError:
            self.candidate.close()
            self.candidate = None
            raise

    def stop(self) -> None:
        for server in (self.candidate, self.runner):
            if server is not None:
                server.close()
        self.candidate = self.runner = None
        if self.plan.mode == "rlimits" and self.plan.root:
            _kill_uids([u for u in self.uids if u is not None])

    def submit(self, codes: Sequence[str], tests: str) -> list[_Ticket]:
        """Hand the candidates (all with these tests) to both servers without waiting: one job
        per candidate to the candidate server, one job for them all to the runner server. A
        server that finishes a job finds the next one already queued on its control socket."""
        tickets = [_Ticket(next(self.ids), secrets.token_hex(16), time.perf_counter(), self.generation)
                   for _ in codes]
        try:
            if self.candidate is None or self.runner is None:
                self.start()
                for ticket in tickets:
                    ticket.generation = self.generation
            pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in codes]
            try:
                for ticket, code, (_a_end, b_end) in zip(tickets, codes, pairs, strict=True):
                    self.candidate.send({"op": "job", "id": ticket.id, "code": code}, (b_end.fileno(),))
                self.runner.send({"op": "job", "ids": [t.id for t in tickets], "tests": tests,
                                  "nonces": [t.nonce for t in tickets]}, tuple(a.fileno() for a, _ in pairs))
            finally:
                for pair in pairs:
                    for end in pair:
                        end.close()
        except (OSError, EOFError, ValueError, SandboxError) as exc:
            failure = self._fail(exc)
            for ticket in tickets:
                ticket.failure = failure
        return tickets

    def collect(self, ticket: _Ticket) -> SandboxResult | None:
        """The result of a submitted candidate; tickets are collected in the order they were
        submitted. None when the candidate never ran (submit it again): the worker failed on an
        earlier job while this one was queued, or the process A it shared ended before its turn."""
        if ticket.failure is None and (ticket.generation != self.generation or self.runner is None
                                       or self.candidate is None):
            return None
        if ticket.failure is None:
            try:
                timeout = self.limits.wall_seconds + REPORT_GRACE_S
                runner_report = self.runner.report(ticket.id, timeout)
                # Process B normally ends on its own when A closes their connection, and its
                # report (the next on the socket: reports come in job order) is in by now;
                # otherwise it is told to stop.
                if not self.candidate.has_message():
                    self.candidate.send({"op": "stop", "id": ticket.id})
                candidate_report = self.candidate.report(ticket.id, timeout)
            except (OSError, EOFError, ValueError) as exc:
                ticket.failure = self._fail(exc)
            else:
                if runner_report.get("not_run"):
                    return None
        duration = time.perf_counter() - ticket.started
        if ticket.failure is not None:
            return SandboxResult(Outcome.CRASH, ticket.failure[:300], duration, 0, 0)
        return decide(runner_report, candidate_report, ticket.nonce, self.limits, duration)

    def _fail(self, exc: BaseException) -> str:
        detail = (self.candidate.log_tail() if self.candidate else "") or str(exc)
        self.stop()
        return f"sandbox worker failed: {detail}"

    def run(self, code: str, tests: str) -> SandboxResult:
        while (result := self.collect(self.submit([code], tests)[0])) is None:
            pass
        return result


@dataclasses.dataclass
class _Ticket:
    id: int
    nonce: str
    started: float
    generation: int
    failure: str | None = None


def default_workers() -> int:
    """One worker per CPU this process may run on (a container's CPU set, not the host's)."""
    return max(1, len(os.sched_getaffinity(0)))


def _groups(indices: list[int], jobs: Sequence[tuple[str, str]], size: int) -> list[list[int]]:
    """The jobs at `indices` grouped by identical tests, at most `size` a group, in the order each
    group's first job comes."""
    by_tests: dict[str, list[int]] = {}
    for i in indices:
        by_tests.setdefault(jobs[i][1], []).append(i)
    groups = [same[k:k + size] for same in by_tests.values() for k in range(0, len(same), size)]
    return sorted(groups, key=lambda group: group[0])


def _random_uids(n: int) -> list[int]:
    import pwd

    uids: set[int] = set()
    while len(uids) < n:
        uid = _UID_LOW + secrets.randbelow(_UID_HIGH - _UID_LOW)
        try:
            pwd.getpwuid(uid)
        except KeyError:
            uids.add(uid)
    return list(uids)


HOST_TEMP_PREFIX = "synth-sandbox-"


def _start_time(pid: int) -> str | None:
    """The start time of process `pid` (clock ticks since boot), or None if there is none."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _host_temp_prefix() -> str:
    """Names this process's host temp dirs: the owner's pid and start time, so that a later
    sandbox can tell a leftover of a dead process from the dir of a live one (pids are reused)."""
    return f"{HOST_TEMP_PREFIX}{os.getpid()}.{_start_time(os.getpid())}-"


def reap_host_temp_dirs(tmp: str | None = None) -> list[str]:
    """Remove the host temp dirs of earlier sandboxes whose owning process is dead (killed with
    SIGKILL, say, before it could clean up). Only dirs with our prefix, owned by this user, whose
    owner pid has no process or one started at another time (a reused pid). Returns their paths."""
    tmp = tmp or tempfile.gettempdir()
    removed = []
    try:
        entries = list(os.scandir(tmp))
    except OSError:
        return removed
    for entry in entries:
        owner, dot, started = entry.name.removeprefix(HOST_TEMP_PREFIX).partition("-")[0].partition(".")
        if not entry.name.startswith(HOST_TEMP_PREFIX) or not dot or not owner.isdigit():
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != os.geteuid():
                continue
        except OSError:
            continue
        if _start_time(int(owner)) == started:
            continue  # its owner is alive
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.path)
    return removed


def _kill_uids(uids: list[int]) -> None:
    """Kill every process of these uids (rlimits mode, where no namespace dies with the server)."""
    for uid in uids:
        try:
            subprocess.run(["kill", "-KILL", "-1"], user=uid, group=uid, extra_groups=[],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            pass


class Sandbox:
    """Runs untrusted candidate code against assert-style tests.

    `workers` defaults to one per CPU this process may run on. `isolation` is "auto" (the
    strongest namespace isolation that starts here: bwrap, then unshare), or one of "bwrap",
    "unshare", "rlimits" by name; SandboxError if it cannot start, with what to do about it.
    rlimits mode has no namespaces (an audit hook is all that stands between a candidate and the
    network): it needs the explicit opt-in, `allow_no_namespaces=True` or the environment variable
    `SYNTH_SANDBOX_ALLOW_NO_NAMESPACES=1`, and then "auto" may end there too, with `warning` set.
    Workers start at construction.
    In `run_many`, up to `candidates_per_runner` candidates with identical tests share one test
    runner process, in turn; 1 gives every candidate a fresh one (docs/sandbox.md).
    """

    def __init__(
        self,
        limits: SandboxLimits = SandboxLimits(),  # noqa: B008 - frozen: one shared default is safe
        workers: int | None = None,
        isolation: str = "auto",
        candidates_per_runner: int = 4,
        allow_no_namespaces: bool = False,
    ) -> None:
        if not isinstance(limits, SandboxLimits):
            raise TypeError("limits must be a SandboxLimits")
        if workers is None:
            workers = default_workers()
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 256:
            raise ValueError(f"workers must be an integer in [1, 256], got {workers!r}")
        if (isinstance(candidates_per_runner, bool) or not isinstance(candidates_per_runner, int)
                or not 1 <= candidates_per_runner <= control.MAX_GROUP):
            raise ValueError(f"candidates_per_runner must be an integer in [1, {control.MAX_GROUP}], "
                             f"got {candidates_per_runner!r}")
        if isolation not in _isolation.MODES:
            raise ValueError(f"isolation must be one of {', '.join(_isolation.MODES)}, got {isolation!r}")
        self.limits = limits
        self.requested = isolation
        self.candidates_per_runner = candidates_per_runner
        self._closed = False
        self._lock = threading.Lock()
        self._root = os.geteuid() == 0
        self._host_tmp: str | None = None
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._workers: list[_Worker] = []
        self._uids = _random_uids(2 * workers) if self._root else [None] * (2 * workers)
        allowed = _isolation.allowed_without_namespaces(allow_no_namespaces)
        if isolation == "rlimits" and not allowed:
            raise SandboxError(_isolation.no_namespaces_help({"rlimits": "asked for by name, without the opt-in"}))
        reap_host_temp_dirs()
        self.tried: dict[str, str] = {}  # why each stronger mode than the one in force did not start
        for mode in _isolation.candidates_for(isolation, allowed):
            if (reason := _isolation.unavailable(mode)) is not None:
                self.tried[mode] = reason
                continue
            try:
                self._plan = self._make_plan(mode)
                self._workers.append(_Worker(self._plan, limits, (self._uids[0], self._uids[1])))
                break
            except SandboxError as exc:
                self.tried[mode] = str(exc)
                self._drop_host_tmp()
        else:
            if "rlimits" in self.tried:  # asked for with the opt-in, and it failed to start
                raise SandboxError("no isolation could start: " + " | ".join(f"{m}: {e}" for m, e in self.tried.items()))
            raise SandboxError(_isolation.no_namespaces_help(self.tried))
        self.warning = _isolation.downgrade_warning(self._plan.mode, self.tried)
        try:
            for i in range(1, workers):
                self._workers.append(_Worker(self._plan, limits, (self._uids[2 * i], self._uids[2 * i + 1])))
        except SandboxError:
            self.close()
            raise
        for worker in self._workers:
            self._idle.put(worker)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox")

    def _make_plan(self, mode: str) -> _isolation.Plan:
        host_tmp = None
        if mode == "rlimits":
            host_tmp = tempfile.mkdtemp(prefix=_host_temp_prefix())
            os.chmod(host_tmp, 0o711)
            self._host_tmp = host_tmp
        return _isolation.Plan(mode=mode, root=self._root, scratch_bytes=self.limits.scratch_mb << 20,
                               host_tmp_root=host_tmp)

    def _drop_host_tmp(self) -> None:
        if self._host_tmp:
            shutil.rmtree(self._host_tmp, ignore_errors=True)
            self._host_tmp = None

    @property
    def isolation(self) -> str:
        """The isolation mode in force."""
        return self._plan.mode

    def _refuse(self, code: str, tests: str) -> SandboxResult | None:
        """The result for a job that is not run at all (too big), else None."""
        if not isinstance(code, str) or not isinstance(tests, str):
            raise TypeError("code and tests must be str")
        if len(code.encode("utf-8", "surrogatepass")) > MAX_CODE_BYTES:
            return SandboxResult(Outcome.FORBIDDEN, f"candidate source is larger than {MAX_CODE_BYTES >> 20} MiB", 0.0, 0, 0)
        if len(tests.encode("utf-8", "surrogatepass")) > MAX_TESTS_BYTES:
            return SandboxResult(Outcome.FORBIDDEN, f"tests are larger than {MAX_TESTS_BYTES >> 20} MiB", 0.0, 0, 0)
        return None

    def run_tests(self, code: str, tests: str) -> SandboxResult:
        """Run one candidate against its tests."""
        if self._closed:
            raise SandboxError("sandbox is closed")
        refused = self._refuse(code, tests)
        if refused is not None:
            return refused
        worker = self._idle.get()
        try:
            return worker.run(code, tests)
        finally:
            self._idle.put(worker)

    def run_many(self, jobs: Sequence[tuple[str, str]]) -> list[SandboxResult]:
        """Run many (code, tests) pairs in parallel over the workers; results in input order.

        Jobs with identical tests go together, `candidates_per_runner` at a time, to one test
        runner process. Each worker keeps PIPELINE_DEPTH such groups queued at its servers, so
        that a server never waits for this process between two jobs."""
        jobs = list(jobs)
        if self._closed:
            raise SandboxError("sandbox is closed")
        results: list[SandboxResult | None] = [None] * len(jobs)
        for i, (code, tests) in enumerate(jobs):
            results[i] = self._refuse(code, tests)
        groups = iter(_groups([i for i, r in enumerate(results) if r is None], jobs, self.candidates_per_runner))
        lock = threading.Lock()

        def take() -> list[int] | None:
            with lock:
                return next(groups, None)

        def drive() -> None:
            worker = self._idle.get()
            try:
                inflight: collections.deque = collections.deque()  # (job index, ticket, last of its group)
                queued = 0

                def submit(group: list[int]) -> None:
                    nonlocal queued
                    tickets = worker.submit([jobs[i][0] for i in group], jobs[group[0]][1])
                    inflight.extend((i, t, t is tickets[-1]) for i, t in zip(group, tickets, strict=True))
                    queued += 1

                while True:
                    while queued < PIPELINE_DEPTH and (group := take()) is not None:
                        submit(group)
                    if not inflight:
                        return
                    i, ticket, last = inflight.popleft()
                    queued -= last
                    result = worker.collect(ticket)
                    if result is None:  # never ran: submitted again, after what is queued already
                        submit([i])
                    else:
                        results[i] = result
            finally:
                self._idle.put(worker)

        futures = [self._pool.submit(drive) for _ in range(min(len(self._workers), len(jobs)))]
        for future in futures:
            future.result()
        return results  # type: ignore[return-value]

    def describe(self) -> dict:
        """The isolation in force, every limit and what enforces it, for asset metadata."""
        enforced, missing = _isolation.enforcement(self._plan.mode, self._root)
        return {
            "isolation": self._plan.mode,
            "requested_isolation": self.requested,
            "namespaces": self._plan.mode in _isolation.NAMESPACE_MODES,
            "warning": self.warning,
            "not_started": dict(self.tried),  # stronger modes tried first, and why each did not start
            "fallback": self._plan.mode != "bwrap",
            "running_as_root": self._root,
            "workers": len(self._workers),
            "candidates_per_runner": self.candidates_per_runner,
            "limits": {**dataclasses.asdict(self.limits), "scratch_mb": self.limits.scratch_mb},
            "enforced_by": enforced,
            "not_enforced": missing,
            "bwrap": _isolation.bwrap_version() if self._plan.mode == "bwrap" else None,
            "candidate_uids": [u for u in self._uids if u is not None],
            "host_temp_root": self._plan.host_tmp_root,  # rlimits mode only: temp dirs on the host
            "python": os.path.realpath(sys.executable),
        }

    def close(self) -> None:
        """Stop every worker; nothing of the sandbox outlives this call."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=True)
        for worker in self._workers:
            worker.stop()
        self._drop_host_tmp()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - interpreter shutdown
            pass
