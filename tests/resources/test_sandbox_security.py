"""Hostile candidates against the real sandbox.

Each case must end as a failure of the expected class, and afterwards: this test process is alive,
the sandbox's servers are the same processes and still pass an honest candidate, no process of a
candidate uid is left on the host, no temp dir is left behind, the sentinel file outside the
sandbox is untouched, nothing connected to the host's loopback listener, and the secret set in
this process's environment appears nowhere.

The sandbox uses the strongest isolation available ("auto"); set SYNTH_SANDBOX_ISOLATION to
bwrap, unshare or rlimits to run the same cases against one mode.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

import pytest

from resources.sandbox import Outcome, Sandbox, SandboxLimits

SECRET_NAME = "SYNTH_TEST_SECRET"
SECRET_VALUE = "synth-secret-7f3a9c"
LIMITS = SandboxLimits(cpu_seconds=1, wall_seconds=2, memory_mb=256, max_processes=16, max_file_mb=4,
                       max_output_kb=16)
WRONG_ADD = "def add(a, b):\n    return 0\n"
ADD_TESTS = "assert add(1, 2) == 3\n"
GOOD = ("def add(a, b):\n    return a + b\n", ADD_TESTS)

F, T, M, TO, C = Outcome.FORBIDDEN, Outcome.TEST_FAILURE, Outcome.MEMORY, Outcome.TIMEOUT, Outcome.CRASH

# (id, candidate code, tests, expected outcome or outcomes). {sentinel}, {sentinel_dir} and {port} are
# filled in. The class is best effort for a candidate that fails two ways at once (which the sandbox
# sees first is a race); the pass/fail line is not.
CASES = [
    # --- processes and CPU ---
    ("fork_bomb", "import os\nwhile True:\n    os.fork()\n", ADD_TESTS, F),
    ("threading_bomb",
     "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(30,)).start()\n",
     ADD_TESTS, F),
    ("infinite_loop", "def add(a, b):\n    while True:\n        pass\n", ADD_TESTS, TO),
    ("c_level_busy_loop", "def add(a, b):\n    return sum(range(10 ** 12))\n", ADD_TESTS, TO),
    ("sleep_past_the_wall_clock", "import time\ndef add(a, b):\n    time.sleep(60)\n", ADD_TESTS, TO),
    ("ignore_sigterm_and_sigxcpu",
     ("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"
     "def add(a, b):\n    while True:\n        pass\n"), ADD_TESTS, TO),
    ("double_fork_sleeper",
     ("import os, time\ndef add(a, b):\n    if os.fork() == 0:\n        if os.fork() == 0:\n"
     "            time.sleep(60)\n        os._exit(0)\n    return a + b\n"), ADD_TESTS, F),
    ("setsid_escape",
     ("import os, time\ndef add(a, b):\n    if os.fork() == 0:\n        os.setsid()\n        time.sleep(60)\n"
     "    return a + b\n"), ADD_TESTS, F),
    # --- memory ---
    ("memory_bomb", "def add(a, b):\n    return len(bytearray(10 ** 10))\n", ADD_TESTS, M),
    ("memory_bomb_at_import", "blob = 'x' * (10 ** 10)\n", ADD_TESTS, M),
    ("huge_return_value", "def add(a, b):\n    return 'x' * (20 << 20)\n", ADD_TESTS, M),
    ("deep_recursion", "def add(a, b):\n    return add(a, b)\n", ADD_TESTS, T),
    ("recursion_past_the_c_stack",
     "import sys, json\nsys.setrecursionlimit(10 ** 8)\njson.loads('[' * 10 ** 6 + ']' * 10 ** 6)\n", ADD_TESTS, C),
    # --- files ---
    ("write_outside_temp_dir", "open({sentinel!r}, 'w').write('owned')\n" + WRONG_ADD, ADD_TESTS, F),
    ("delete_outside_temp_dir", "import os\nos.remove({sentinel!r})\n" + WRONG_ADD, ADD_TESTS, F),
    ("new_file_next_to_sentinel", "open({sentinel_dir!r} + '/planted.py', 'w').write('x')\n", ADD_TESTS, F),
    ("symlink_escape",
     "import os\nos.symlink({sentinel_dir!r}, 'out')\nopen('out/planted.py', 'w').write('x')\n", ADD_TESTS, F),
    ("overwrite_the_sandbox_runtime",
     "import _runtime.runner as r\nopen(r.__file__, 'a').write('\\n# owned\\n')\n", ADD_TESTS, F),
    ("huge_file_in_temp_dir", "def add(a, b):\n    open('big', 'wb').write(b'0' * (64 << 20))\n", ADD_TESTS, F),
    # --- environment and secrets ---
    ("read_os_environ", "import os\ndef leak():\n    return os.environ.get('SYNTH_TEST_SECRET')\n",
     "assert leak() is not None\n", T),
    ("read_parent_environ_via_proc",
     "import os\ndef leak():\n    return open(f'/proc/{{os.getppid()}}/environ').read()\n",
     "assert 'SYNTH_TEST_SECRET' in leak()\n", F),
    ("scan_every_proc_environ",
     ("import os\ndef leak():\n    for pid in os.listdir('/proc'):\n        try:\n"
     "            data = open(f'/proc/{{pid}}/environ', 'rb').read()\n        except OSError:\n            continue\n"
     "        if b'SYNTH_TEST_SECRET' in data:\n            return data\n"),
     "assert leak() is not None\n", F),
    # --- network ---
    ("connect_to_host_loopback",
     ("import socket\ndef add(a, b):\n    s = socket.socket()\n    s.settimeout(0.5)\n"
     "    s.connect(('127.0.0.1', {port}))\n    return 3\n"), ADD_TESTS, F),
    ("connect_to_external_address",
     ("import socket\ndef add(a, b):\n    s = socket.socket()\n    s.settimeout(0.5)\n"
     "    s.connect(('192.0.2.1', 80))\n    return 3\n"), ADD_TESTS, F),
    ("dns_lookup", "import socket\ndef add(a, b):\n    return socket.gethostbyname('example.com')\n", ADD_TESTS, F),
    ("udp_datagram", "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('192.0.2.1', 53))\n",
     ADD_TESTS, F),
    # --- signals ---
    ("kill_the_parent", "import os\nos.kill(os.getppid(), 9)\n" + WRONG_ADD, ADD_TESTS, F),
    ("killpg_own_group", "import os\nos.killpg(os.getpgid(0), 9)\n", ADD_TESTS, F),
    ("kill_everything", "import os\nos.kill(-1, 9)\n", ADD_TESTS, F),
    ("setuid_root", "import os\nos.setuid(0)\n", ADD_TESTS, F),
    ("run_a_program", "import os\nos.system('id')\n", ADD_TESTS, F),
    # --- output ---
    ("output_flood", "def add(a, b):\n    while True:\n        print('x' * 10000)\n", ADD_TESTS, F),
    ("stderr_flood_with_os_write", "import os\nwhile True:\n    os.write(2, b'y' * 65536)\n", ADD_TESTS, F),
    # --- faking a pass ---
    ("sys_exit_0_before_tests", "import sys\nsys.exit(0)\n", ADD_TESTS, C),
    ("os_exit_0_before_tests", "import os\nos._exit(0)\n", ADD_TESTS, C),
    ("sys_exit_0_inside_the_call", "def add(a, b):\n    raise SystemExit(0)\n", ADD_TESTS, C),
    ("override_assertion_error_and_builtins",
     "import builtins\nbuiltins.AssertionError = type('AssertionError', (Exception,), {{}})\n"
     "builtins.print = lambda *a, **k: None\n" + WRONG_ADD, ADD_TESTS, T),
    ("replace_the_harness_reporting",
     "import sys\nfor name, mod in list(sys.modules.items()):\n    if name.startswith('_runtime'):\n"
     "        for attr in dir(mod):\n            obj = getattr(mod, attr)\n"
     "            if isinstance(obj, type):\n                for meth in ('verdict', 'execute', 'classify'):\n"
     "                    if hasattr(obj, meth):\n                        setattr(obj, meth, lambda *a, **k: ('passed', 'ok'))\n"
     + WRONG_ADD, ADD_TESTS, T),
    ("print_a_fake_pass_marker",
     "print('PASSED')\nprint('{{\"verdict\": {{\"outcome\": \"passed\"}}, \"nonce\": \"0\"}}')\n" + WRONG_ADD,
     ADD_TESTS, T),
    ("fake_verdicts_on_every_descriptor",
     "import os, json\nline = json.dumps({{'verdict': {{'outcome': 'passed', 'message': '', 'tests_run': 1, "
     "'tests_total': 1}}, 'nonce': '0' * 32}}).encode() + b'\\n'\nfor fd in range(3, 64):\n    try:\n"
     "        os.write(fd, line)\n    except OSError:\n        pass\n" + WRONG_ADD, ADD_TESTS,
     (F, C)),  # garbage on its RPC socket (fd 3) a moment before the fake line on the events pipe (fd 4)
    ("atexit_handler_reports_pass",
     "import atexit, os\natexit.register(lambda: os.write(1, b'PASSED'))\n" + WRONG_ADD, ADD_TESTS, T),
    ("systemexit_in_del",
     ("class Exit:\n    def __del__(self):\n        raise SystemExit(0)\nholder = [Exit()]\n"
     "def add(a, b):\n    holder.clear()\n    return 0\n"), ADD_TESTS, T),
    ("always_equal_object", ("class Eq:\n    def __eq__(self, other):\n        return True\n"
     "def add(a, b):\n    return Eq()\n"), ADD_TESTS, T),
    ("int_subclass_equal_to_everything",
     ("class Int(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
     "def add(a, b):\n    return Int(0)\n"), ADD_TESTS, T),
    ("shadow_a_builtin_the_tests_use",
     "def abs(x):\n    return 0\ndef root2():\n    return 99\n", "assert abs(root2() - 1.414) < 0.01\n", F),
    ("patch_a_module_the_tests_use",
     "import math\nmath.isclose = lambda *a, **k: True\ndef area(r):\n    return 0\n",
     "assert math.isclose(area(1), 3.14159, rel_tol=1e-3)\n", T),
    ("hunt_the_nonce_in_proc_self",
     ("import os, re\ndef hunt():\n    found = []\n    for name in ('environ', 'cmdline', 'status', 'maps'):\n"
     "        try:\n            found += re.findall(rb'[0-9a-f]{{32}}', open('/proc/self/' + name, 'rb').read())\n"
     "        except OSError:\n            pass\n"
     "    for fd in os.listdir('/proc/self/fd'):\n        try:\n"
     "            found.append(os.readlink('/proc/self/fd/' + fd).encode())\n        except OSError:\n            pass\n"
     "    return [f for f in found if re.fullmatch(rb'[0-9a-f]{{32}}', f)]\n"),
     "assert hunt() != []\n", T),
    ("hunt_the_tests_in_own_memory",
     ("def peek():\n    data = b''\n    for line in open('/proc/self/maps'):\n        parts = line.split()\n"
     "        if 'rw' in parts[1] and len(parts) < 6:\n            lo, hi = (int(x, 16) for x in parts[0].split('-'))\n"
     "            if hi - lo < (64 << 20):\n                with open('/proc/self/mem', 'rb') as mem:\n"
     "                    mem.seek(lo)\n                    try:\n                        data += mem.read(hi - lo)\n"
     "                    except OSError:\n                        pass\n"
     "    return b'SECRET_EXPECTED_4242' in data\n"),
     "assert peek() == 'SECRET_EXPECTED_4242'\n", F),  # the kernel refuses: the candidate is not dumpable
    ("gc_walk_for_the_nonce", "import gc\ndef add(a, b):\n    return len(gc.get_objects())\n", ADD_TESTS, F),
    ("ctypes_segfault", "import ctypes\nctypes.string_at(0)\n", ADD_TESTS, F),
    ("segfault_without_ctypes", "import faulthandler\nfaulthandler._sigsegv()\n", ADD_TESTS, C),
    ("garbage_on_the_rpc_socket", "import os\nos.write(3, b'\\xff' * 64)\n" + WRONG_ADD, ADD_TESTS, C),
    ("close_the_socket_and_hang", "import os\nos.close(3)\nwhile True:\n    pass\n", ADD_TESTS, C),
]


def _outcomes(expected: Outcome | tuple[Outcome, ...]) -> tuple[Outcome, ...]:
    return expected if isinstance(expected, tuple) else (expected,)


def _candidate_processes(uids: set[int]) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        uid_line = next((line for line in status.splitlines() if line.startswith("Uid:")), "")
        if uid_line and int(uid_line.split()[1]) in uids:
            found.append(entry)
    return found


def _stray_temp_dirs(uids: set[int], own_root: str | None) -> list[str]:
    """Temp dirs a candidate left: anything in /tmp owned by a candidate uid, and anything inside
    the sandbox's own host root (which exists, empty, while an rlimits-mode sandbox is open).
    Other sandboxes on a shared machine have other uids and roots."""
    stray = os.listdir(own_root) if own_root else []
    for entry in os.scandir("/tmp"):
        try:
            if entry.stat(follow_symlinks=False).st_uid in uids:
                stray.append(entry.name)
        except OSError:
            continue
    return stray


@pytest.fixture(scope="module")
def secret():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SECRET_NAME, SECRET_VALUE)
        yield SECRET_VALUE


@pytest.fixture(scope="module")
def sandbox(secret):
    """Created after the secret is in this process's environment, so a leak would show."""
    mode = os.environ.get("SYNTH_SANDBOX_ISOLATION", "auto")
    with Sandbox(LIMITS, workers=2, isolation=mode, allow_no_namespaces=mode == "rlimits") as sb:
        yield sb


@pytest.fixture(scope="module")
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.05)
    yield sock
    sock.close()


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    """A file any uid could change if it could reach it (world-writable file and directory)."""
    tmp_path.chmod(0o777)
    path = tmp_path / "sentinel.txt"
    path.write_text("original")
    path.chmod(0o666)
    return path


def _server_pids(sb: Sandbox) -> list[int]:
    return [srv.proc.pid for w in sb._workers for srv in (w.candidate, w.runner) if srv is not None]


@pytest.mark.parametrize("code,tests,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_candidate_fails_and_the_host_is_unchanged(
    sandbox: Sandbox, listener: socket.socket, sentinel: Path, secret: str, code: str, tests: str,
    expected: Outcome | tuple[Outcome, ...],
) -> None:
    info = sandbox.describe()
    uids = set(info["candidate_uids"])
    servers_before = _server_pids(sandbox)
    dir_before = sorted(p.name for p in sentinel.parent.iterdir())
    code = code.format(sentinel=str(sentinel), sentinel_dir=str(sentinel.parent), port=listener.getsockname()[1])

    result = sandbox.run_tests(code, tests)

    assert not result.passed
    assert result.outcome in _outcomes(expected), result.message
    assert result.duration_s < LIMITS.wall_seconds + 3
    assert secret not in result.message
    # The host is unchanged.
    assert sentinel.read_text() == "original"
    assert sorted(p.name for p in sentinel.parent.iterdir()) == dir_before
    assert _candidate_processes(uids) == []
    assert _stray_temp_dirs(uids, info["host_temp_root"]) == []
    with pytest.raises(socket.timeout):
        listener.accept()
    # This process and the sandbox's servers survived and keep working.
    assert os.environ[SECRET_NAME] == secret
    assert _server_pids(sandbox) == servers_before
    assert all(srv.proc.poll() is None for w in sandbox._workers for srv in (w.candidate, w.runner))
    assert sandbox.run_tests(*GOOD).passed


def test_hostile_candidates_sharing_a_test_runner_leave_their_neighbours_verdicts_alone(
    sandbox: Sandbox, listener: socket.socket, sentinel: Path, secret: str
) -> None:
    """Every hostile case with the common tests, each between two honest candidates, in one batch:
    candidates with the same tests share a runner process four at a time, so each hostile one
    shares it with honest ones. Every honest candidate still passes, every hostile one still
    fails as expected, and the host is unchanged."""
    info = sandbox.describe()
    assert info["candidates_per_runner"] > 1
    cases = [c for c in CASES if c[2] == ADD_TESTS]
    jobs, expected = [], []
    for _name, code, tests, outcome in cases:
        code = code.format(sentinel=str(sentinel), sentinel_dir=str(sentinel.parent), port=listener.getsockname()[1])
        jobs += [GOOD, (code, tests)]
        expected += [(Outcome.PASSED,), _outcomes(outcome)]
    jobs.append(GOOD)
    expected.append((Outcome.PASSED,))

    results = sandbox.run_many(jobs)

    names = ["honest"] + [n for c in cases for n in (c[0], "honest")]
    got = {(i, names[i]): r.outcome for i, r in enumerate(results) if r.outcome not in expected[i]}
    assert got == {}, {k: (v, results[k[0]].message) for k, v in got.items()}
    assert sentinel.read_text() == "original"
    assert _candidate_processes(set(info["candidate_uids"])) == []
    assert _stray_temp_dirs(set(info["candidate_uids"]), info["host_temp_root"]) == []
    with pytest.raises(socket.timeout):
        listener.accept()
    assert os.environ[SECRET_NAME] == secret


# --- escapes: defeat the audit hook, then go for the host ------------------------------------------
#
# An audit hook is not a security boundary: code in the same process can switch it off. Each
# candidate below gets past it (or tries to) one way, then tries to write to the host's
# world-writable directories, to leave a process running and to connect to the host's loopback
# listener and to an outside address. In bwrap and unshare modes the kernel's namespaces stop all of
# it; in rlimits mode (opt-in only) they succeed, as docs/sandbox.md says, and this test checks only
# what that mode does contain (no pass, no process left, the verifier unharmed).

ESCAPE_PAYLOAD = """
import os, socket
def _go_for_the_host():
    for d in ('/tmp', '/var/tmp', '/dev/shm'):
        try:
            with open(d + '/{marker}', 'w') as fh:
                fh.write('escaped')
        except OSError:
            pass
    try:
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                if os.fork() == 0:
                    os.execv('/bin/sleep', ['sleep', '{linger}'])
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
    except OSError:
        pass
    for address in (('127.0.0.1', {port}), ('192.0.2.1', 80)):
        try:
            socket.create_connection(address, timeout=0.3).sendall(b'escaped')
        except OSError:
            pass
_go_for_the_host()
def add(a, b):
    return a + b
"""

ESCAPES = [
    ("clear_the_hook_through_a_closure",  # the thread wrapper's closure holds the policy
     "import _thread\nfor cell in _thread.start_new_thread.__closure__:\n"
     "    if hasattr(cell.cell_contents, 'handlers'):\n        cell.cell_contents.handlers.clear()\n"),
    ("clear_the_hook_through_the_stack",  # the fork server's frames are the candidate's callers
     "import sys\nframe = sys._getframe()\nwhile frame is not None:\n"
     "    owner = frame.f_locals.get('self')\n    if hasattr(owner, 'policy'):\n        owner.policy.handlers.clear()\n"
     "    frame = frame.f_back\n"),
    ("patch_the_policy_class_in_sys_modules",
     "import sys\nfor name, module in list(sys.modules.items()):\n"
     "    if hasattr(module, 'Policy'):\n        module.Policy.refuse = lambda *a, **k: None\n"),
    ("find_the_hook_with_gc_get_objects",
     "import gc\ntry:\n    for obj in gc.get_objects():\n"
     "        if isinstance(getattr(obj, 'handlers', None), dict):\n            obj.handlers.clear()\n"
     "except Exception:\n    pass\n"),
    ("replace_sys_audit_then_start_a_program",
     "import sys\nsys.audit = lambda *a: None\nimport subprocess\ntry:\n"
     "    subprocess.Popen(['/bin/sleep', '{linger}'], start_new_session=True)\nexcept Exception:\n    pass\n"),
    ("write_through_inherited_directory_fds",  # the hook checks a relative path against the cwd
     "import os\nfor fd in range(3, 256):\n    for name in ('{marker}', '../{marker}', '../../../../../../tmp/{marker}'):\n"
     "        try:\n            os.close(os.open(name, os.O_CREAT | os.O_WRONLY, 0o666, dir_fd=fd))\n"
     "        except OSError:\n            pass\n"),
    ("race_the_path_check_with_a_symlink",  # checked path and opened path differ by a thread's swap
     "import os, threading\ndef swap(n):\n    os.rename(f'd{{n}}', f'gone{{n}}')\n    os.symlink('/tmp', f'd{{n}}')\n"
     "for n in range(20):\n    os.mkdir(f'd{{n}}')\n    t = threading.Thread(target=swap, args=(n,))\n    t.start()\n"
     "    for _ in range(200):\n        try:\n            with open(f'd{{n}}/{marker}', 'w') as fh:\n"
     "                fh.write('raced')\n        except OSError:\n            pass\n    t.join()\n"),
]


def _processes_with(text: str) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and text.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(entry)
        except OSError:
            continue
    return found


@pytest.mark.parametrize("disable", [e[1] for e in ESCAPES], ids=[e[0] for e in ESCAPES])
def test_getting_past_the_audit_hook_does_not_reach_the_host(
    sandbox: Sandbox, listener: socket.socket, secret: str, disable: str
) -> None:
    marker = f"synth-escape-{secrets.token_hex(6)}"
    linger = f"{secrets.randbelow(10 ** 6)}.{secrets.randbelow(10 ** 6)}"  # sleep's argument: findable
    code = (disable + ESCAPE_PAYLOAD).format(marker=marker, linger=linger, port=listener.getsockname()[1])
    servers_before = _server_pids(sandbox)

    result = sandbox.run_tests(code, "assert add(1, 2) == 4\n")

    written = [f"{d}/{marker}" for d in ("/tmp", "/var/tmp", "/dev/shm") if os.path.exists(f"{d}/{marker}")]
    try:
        listener.accept()[0].close()
        connected = True
    except TimeoutError:
        connected = False
    for path in written:
        os.remove(path)
    assert not result.passed
    assert _processes_with(linger) == []
    assert _candidate_processes(set(sandbox.describe()["candidate_uids"])) == []
    assert _server_pids(sandbox) == servers_before and sandbox.run_tests(*GOOD).passed
    assert os.environ[SECRET_NAME] == secret
    if sandbox.isolation in ("bwrap", "unshare"):
        assert written == [] and not connected, "a candidate reached the host"


def test_secret_is_invisible_to_an_honest_reader(sandbox: Sandbox, secret: str) -> None:
    """The candidate's whole environment, sent back as a value, holds no trace of the secret."""
    result = sandbox.run_tests(
        "import os\ndef env():\n    return dict(os.environ)\n",
        "e = env()\nassert 'SYNTH_TEST_SECRET' not in e\nassert set(e) <= {'PATH', 'LANG', 'HOME', 'TMPDIR', "
        "'OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'PYTHONDONTWRITEBYTECODE'}\n",
    )
    assert result.passed, result.message


def test_network_refusal_is_fast(sandbox: Sandbox) -> None:
    result = sandbox.run_tests(
        "import socket\ndef add(a, b):\n    socket.create_connection(('192.0.2.1', 80), timeout=5)\n", ADD_TESTS
    )
    assert result.outcome is Outcome.FORBIDDEN
    assert result.duration_s < 1.0


def test_at_least_25_hostile_cases() -> None:
    assert len(CASES) >= 25
    assert len({c[0] for c in CASES}) == len(CASES)
