"""Which isolation the sandbox runs with, wherever it is installed, and that it is never silently
weaker: no namespaces only with the explicit opt-in; a checkout and venv under /tmp or $HOME, the
system's interpreter, a user who is not root; leftovers of a killed sandbox cleaned at the next
start. Every test starts real sandboxes, most in a subprocess of their own (another PATH, another
interpreter, another user)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from resources.sandbox import Sandbox, SandboxError, SandboxLimits
from resources.sandbox._isolation import ALLOW_NO_NAMESPACES_ENV, unavailable
from resources.sandbox._sandbox import HOST_TEMP_PREFIX, reap_host_temp_dirs
from tests.resources.sandbox_modes import MODES, start_or_skip

REPO = Path(__file__).resolve().parents[2]
LIMITS = SandboxLimits(cpu_seconds=2, wall_seconds=5)
# A candidate and tests that use the standard library on both sides, as real ones do.
CODE = ("import heapq, random, tempfile\nfrom collections import Counter\n"
        "def top(xs):\n    with tempfile.TemporaryFile() as fh:\n        fh.write(b'x')\n"
        "    return Counter(xs).most_common(1)[0][0], heapq.nsmallest(2, xs)\n")
TESTS = "import random\nxs = random.Random(3).choices('abc', k=50)\nassert top(xs) == (max('abc', key=xs.count), ['a', 'a'])\n"
NAMESPACE_MODES = [m for m in ("bwrap", "unshare") if unavailable(m) is None]


@pytest.fixture(autouse=True)
def no_opt_in(monkeypatch):
    monkeypatch.delenv(ALLOW_NO_NAMESPACES_ENV, raising=False)


def _run(python: str, script: str, cwd: Path, env: dict | None = None, user: int | None = None) -> dict:
    """Run `script` with `python` in `cwd`; it prints one JSON line, returned here."""
    command = [python, "-I", "-c", f"import sys; sys.path.insert(0, {str(cwd)!r})\n{script}"]
    if user is not None:
        command = ["setpriv", "--reuid", str(user), "--regid", str(user), "--clear-groups", *command]
    proc = subprocess.run(command, cwd=cwd, env=env if env is not None else {"PATH": os.environ["PATH"]},
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- no silent downgrade --------------------------------------------------------------------------


def test_rlimits_needs_the_explicit_opt_in(monkeypatch) -> None:
    with pytest.raises(SandboxError) as error:
        Sandbox(LIMITS, workers=1, isolation="rlimits")
    message = str(error.value)
    for needed in ("allow_no_namespaces", ALLOW_NO_NAMESPACES_ENV, "apt-get install bubblewrap",
                   "dnf install bubblewrap", "synth doctor"):
        assert needed in message
    monkeypatch.setenv(ALLOW_NO_NAMESPACES_ENV, "1")
    with Sandbox(LIMITS, workers=1, isolation="rlimits") as sandbox:
        info = sandbox.describe()
        assert sandbox.run_tests(CODE, TESTS).passed
    assert info["isolation"] == "rlimits" and info["namespaces"] is False
    assert "WITHOUT namespace isolation" in info["warning"]


@pytest.mark.skipif(not NAMESPACE_MODES, reason="no namespace isolation on this machine")
def test_auto_runs_with_namespaces_and_no_warning_when_bwrap_starts() -> None:
    with Sandbox(LIMITS, workers=1) as sandbox:
        info = sandbox.describe()
    assert info["isolation"] == NAMESPACE_MODES[0] and info["namespaces"] is True
    if info["isolation"] == "bwrap":
        assert info["warning"] is None and info["not_started"] == {}


SANDBOX_START = """
import json
from resources.sandbox import Sandbox, SandboxError, SandboxLimits
try:
    with Sandbox(SandboxLimits(cpu_seconds=2, wall_seconds=5), workers=1) as sb:
        print(json.dumps({"isolation": sb.isolation, "warning": sb.warning,
                          "passed": sb.run_tests("def add(a, b):\\n    return a + b\\n", "assert add(1, 2) == 3").passed}))
except SandboxError as exc:
    print(json.dumps({"error": str(exc)}))
"""


def test_without_bwrap_or_unshare_auto_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    """A machine without bubblewrap and util-linux (here: a PATH without them): the sandbox does
    not start, and says how to install bubblewrap and how to opt out knowingly; with the opt-in it
    runs in rlimits mode, and says so."""
    empty = tmp_path / "bin"
    empty.mkdir()
    out = _run(sys.executable, SANDBOX_START, REPO, env={"PATH": str(empty)})
    assert "error" in out, out
    assert "bubblewrap is not installed" in out["error"] and "apt-get install bubblewrap" in out["error"]
    assert f"{ALLOW_NO_NAMESPACES_ENV}=1" in out["error"]
    allowed = _run(sys.executable, SANDBOX_START, REPO, env={"PATH": str(empty), ALLOW_NO_NAMESPACES_ENV: "1"})
    assert allowed["isolation"] == "rlimits" and allowed["passed"], allowed
    assert "WITHOUT namespace isolation" in allowed["warning"] and "bubblewrap is not installed" in allowed["warning"]


# --- wherever the project lives -------------------------------------------------------------------

EVERY_MODE = """
import json
from resources.sandbox import Sandbox, SandboxLimits
out = {}
for mode in %r:
    with Sandbox(SandboxLimits(cpu_seconds=2, wall_seconds=5), workers=1, isolation=mode,
                 allow_no_namespaces=mode == "rlimits") as sb:
        result = sb.run_tests(%r, %r)
        out[mode] = [sb.isolation, result.outcome.value, result.message]
print(json.dumps(out))
"""


def _install_copy(root: Path, python: str) -> str:
    """The sandbox package copied under `root`, with a venv of `python` next to it; returns the
    venv's interpreter."""
    shutil.copytree(REPO / "resources" / "sandbox", root / "resources" / "sandbox",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / "resources" / "__init__.py").write_text("")
    subprocess.run([python, "-m", "venv", "--without-pip", str(root / ".venv")], check=True, timeout=120)
    return str(root / ".venv" / "bin" / "python")


def _system_python() -> str | None:
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate):
            version = subprocess.run([candidate, "-c", "import sys; print(sys.version_info >= (3, 11))"],
                                     capture_output=True, text=True, check=False).stdout.strip()
            if version == "True":
                return candidate
    return None


@pytest.fixture(params=["tmp", "home"])
def location(request, tmp_path: Path):
    """A directory under /tmp (where the private tmpfs of bwrap and unshare is mounted), or under
    $HOME (for root, /root: other users may not enter it)."""
    if request.param == "tmp":
        assert str(tmp_path).startswith(tempfile.gettempdir())
        yield tmp_path
    else:
        home = Path(tempfile.mkdtemp(prefix=".synth-sandbox-test-", dir=Path.home()))
        yield home
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.parametrize("interpreter", ["base", "system"])
def test_every_mode_runs_from_a_copy_and_venv_there(location: Path, interpreter: str) -> None:
    """The sandbox package and a venv under /tmp or $HOME, the venv made from this interpreter's
    base (pyenv here) or from the system's python3: every mode starts and a candidate using the
    standard library passes."""
    base = _system_python() if interpreter == "system" else getattr(sys, "_base_executable", sys.executable)
    if base is None:
        pytest.skip("no system python3 of 3.11 or later")
    python = _install_copy(location, base)
    out = _run(python, EVERY_MODE % ([*NAMESPACE_MODES, "rlimits"], CODE, TESTS), location)
    for mode, (isolation, outcome, message) in out.items():
        assert (isolation, outcome) == (mode, "passed"), (mode, message)


NON_ROOT = """
import json
from resources.sandbox import Sandbox, SandboxLimits
escape = '''
import _thread
for cell in _thread.start_new_thread.__closure__:
    if hasattr(cell.cell_contents, 'handlers'):
        cell.cell_contents.handlers.clear()
def pokes():
    out = []
    for path in ('/proc/1/mem', '/proc/2/mem'):
        try:
            open(path, 'r+b').close()
            out.append(path)
        except OSError:
            pass
    return out
'''
with Sandbox(SandboxLimits(cpu_seconds=2, wall_seconds=5, max_processes=16), workers=1) as sb:
    print(json.dumps({
        "isolation": sb.isolation, "warning": sb.warning,
        "honest": sb.run_tests(%r, %r).outcome.value,
        "fork_bomb": sb.run_tests("import os\\nwhile True:\\n    os.fork()\\n", "assert f()").outcome.value,
        "server_memory": sb.run_tests(escape, "assert pokes() == []").outcome.value,
    }))
"""


@pytest.fixture
def shared_dir():
    """A directory other users may read (pytest's tmp_path sits under a directory only we may enter)."""
    path = Path(tempfile.mkdtemp(prefix="synth-sandbox-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_user_who_is_not_root_gets_bwrap_in_a_user_namespace(shared_dir: Path) -> None:
    """Run as `nobody` with the system's interpreter: bwrap starts in an unprivileged user
    namespace; a fork bomb hits the process limit; a candidate that defeats the audit hook cannot
    open its fork server's or zygote's memory (they share its uid but are not dumpable)."""
    python = _system_python()
    if os.geteuid() != 0 or python is None or shutil.which("setpriv") is None or unavailable("bwrap"):
        pytest.skip("needs root (to become nobody), setpriv, bwrap and a system python3 of 3.11 or later")
    probe = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "bwrap",
                            "--unshare-user", "--ro-bind", "/", "/", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"unprivileged user namespaces are not allowed here: {probe.stderr.decode()[-300:]}")
    shutil.copytree(REPO / "resources" / "sandbox", shared_dir / "resources" / "sandbox",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (shared_dir / "resources" / "__init__.py").write_text("")
    for path in shared_dir.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    out = _run(python, NON_ROOT % (CODE, TESTS), shared_dir, user=65534)
    assert out == {"isolation": "bwrap", "warning": None, "honest": "passed", "fork_bomb": "forbidden",
                   "server_memory": "passed"}, out


# --- leftovers of a killed sandbox ----------------------------------------------------------------

HOLD = """
import json, time
from resources.sandbox import Sandbox, SandboxLimits
sb = Sandbox(SandboxLimits(cpu_seconds=2, wall_seconds=5), workers=1, isolation="rlimits", allow_no_namespaces=True)
sb.run_tests("def add(a, b):\\n    return a + b\\n", "assert add(1, 2) == 3")
print(json.dumps({"temp": sb.describe()["host_temp_root"]}), flush=True)
time.sleep(600)
"""


def test_the_next_start_removes_the_temp_dir_of_a_sandbox_killed_with_sigkill() -> None:
    """rlimits mode keeps its candidates' temp dirs on the host. A verifier killed with SIGKILL
    cannot remove its own; the next sandbox to start does, and leaves a live sandbox's alone."""
    with Sandbox(LIMITS, workers=1, isolation="rlimits", allow_no_namespaces=True) as alive:
        mine = alive.describe()["host_temp_root"]
        proc = subprocess.Popen([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(REPO)!r})\n{HOLD}"],
                                stdout=subprocess.PIPE, text=True)
        try:
            leftover = json.loads(proc.stdout.readline())["temp"]
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
        assert Path(leftover).name.startswith(HOST_TEMP_PREFIX) and os.path.isdir(leftover)
        with Sandbox(LIMITS, workers=1):
            assert not os.path.exists(leftover)
            assert os.path.isdir(mine)
        assert reap_host_temp_dirs() == []  # nothing left to reap: the live one is not touched
        assert os.path.isdir(mine)


# --- the standard library -------------------------------------------------------------------------

# Public modules of the standard library, minus two with side effects (antigravity opens a web
# browser, this prints a poem).
STDLIB = sorted(n for n in sys.stdlib_module_names if not n.startswith("_") and n not in ("antigravity", "this"))
# What the sandbox refuses on purpose (docs/sandbox.md, "What a candidate may import").
REFUSED = {"ctypes"}
IMPORT_ALL = (
    "import importlib\n"
    "def failures(names):\n    bad = []\n    for name in names:\n        try:\n"
    "            importlib.import_module(name)\n        except BaseException:\n            bad.append(name)\n"
    "    return bad\n"
)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_the_standard_library_is_importable_by_candidates_and_tests(mode: str) -> None:
    """Every public module a plain `python3 -I` imports, the candidate and the tests import too,
    in every mode, but for those refused on purpose."""
    plain = subprocess.run([sys.executable, "-I", "-c", IMPORT_ALL + f"print(','.join(failures({STDLIB!r})))"],
                           capture_output=True, text=True, timeout=300, check=True).stdout.strip()
    expected = sorted(set(filter(None, plain.split(","))) | REFUSED)
    tests = (f"assert failures({STDLIB!r}) == {expected!r}\n"
             f"{IMPORT_ALL}assert failures({STDLIB!r}) == {expected!r}\n")
    limits = SandboxLimits(cpu_seconds=30, wall_seconds=60, memory_mb=2048, max_processes=64)
    with start_or_skip(mode, limits, workers=1) as sandbox:
        result = sandbox.run_tests(IMPORT_ALL, tests)
    assert result.passed, result.message
