"""Hostile programs against the local sandbox.

Each program attacks the executor in one way.  Every attack must end as a failure with the
right status, leave nothing behind (no file outside the work dir, no process), and leave the
evaluator and its zygotes alive: everything runs in ONE executor, whose zygotes must be the
same processes at the end, and which must still pass a normal program afterwards.

The executor runs in a module-scoped fixture, in three phases:
  batch  - most attacks, all at once (they must not disturb each other);
  spawn  - attacks that start processes, one at a time, each followed by a scan of /proc
           for processes of the sandbox uids (so a leftover is pinned on its program);
  alone  - a big (correct) result with nothing else in flight, then a newline-free flood
           of the result channel with correct neighbours in flight that must still pass
           (a fault in the evaluator's reading hits every job sharing the zygote).

Cases marked with `bug=` are known sandbox bugs: the test asserts the correct behaviour and
is a strict xfail until the bug is fixed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from codeloop.execution.local import LocalExecutor
from codeloop.types import (
    ExecRequest,
    ExecResult,
    Limits,
    Status,
    TestCase,
    TestKind,
    TestSuite,
)

from .isolation_gate import missing_isolation

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux-only")

IS_ROOT = os.geteuid() == 0
# A uid range of its own (away from the default 61000, and per test process), so that the
# /proc scan and RLIMIT_NPROC never mix this executor's children with another's.
UID_BASE = 62000 + 256 * (os.getpid() % 16)
UID_COUNT = 256
WORKERS = 2
# Generous time for attacks that must end otherwise (dozens run at once on a few cores);
# a short limit where a timeout is the expected end.
LIMITS = Limits(time_s=10.0, memory_bytes=256 * 1024**2)
SHORT = Limits(time_s=1.0, memory_bytes=256 * 1024**2)
GRACE_S = 2.0  # how long SIGKILL delivery and reaping may take before a process "remains"
SECRET_VAR = "CODELOOP_TEST_SECRET"

F = frozenset  # shorthand for expected statuses
FAILURES = F(s for s in Status if s.is_failure)


def _program(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@dataclass(frozen=True)
class Hostile:
    name: str
    program: str
    expect: frozenset[Status]
    exception: str = ""  # the exception type the first failing test must report
    needs: tuple[str, ...] = ()  # isolation layers that must be in force
    args: str = ""  # a key of Site.args: one test with those args, expecting Site.hidden
    suite: TestSuite | None = None  # else this suite (default: ADD)
    phase: str = "batch"
    limits: Limits | None = None  # None: SHORT where a timeout is expected, else LIMITS
    bug: str = ""  # a known sandbox bug: asserted correct behaviour, strict xfail

    @property
    def run_limits(self) -> Limits:
        if self.limits is not None:
            return self.limits
        return SHORT if Status.TIMEOUT in self.expect else LIMITS


# ------------------------------------------------------------------------------ attacks
# Programs define `f`.  Unless `args` says otherwise they run against ADD: f(1, 2) == 3 and
# f(2, 2) == 4.  Paths and ports the test sets up arrive as arguments.

ADD = TestSuite(
    tests=(
        TestCase(TestKind.CALL, args=(1, 2), expected=3),
        TestCase(TestKind.CALL, args=(2, 2), expected=4),
    ),
    entry_point="f",
)
CODE = TestSuite(
    tests=(
        TestCase(TestKind.CODE, code="def check(candidate):\n    assert candidate(1, 2) == 3\n"),
    ),
    entry_point="f",
)
LARGE = TestSuite(
    tests=(TestCase(TestKind.CALL, args=(0, 0), expected=list(range(100_000))),), entry_point="f"
)
NORMAL = "def f(a, b):\n    return a + b\n"
WRITE_TO_PATH = "def f(path):\n    open(path, 'w').write('pwned')\n"
REMOVE_PATH = "import os\ndef f(path):\n    os.remove(path)\n"


def _refused(name: str, program: str, needs: tuple[str, ...], args: str = "") -> Hostile:
    """An attack that the isolation layers `needs` refuse: it ends in an error, a
    PermissionError."""
    return Hostile(
        name, program, F({Status.ERROR}), exception="PermissionError", needs=needs, args=args
    )


CASES: tuple[Hostile, ...] = (
    # --- time
    Hostile("infinite_loop", "def f(a, b):\n    while True:\n        pass\n", F({Status.TIMEOUT})),
    Hostile(
        "sleep_forever", "import time\ndef f(a, b):\n    time.sleep(1000)\n", F({Status.TIMEOUT})
    ),
    Hostile(
        "ignore_signals",
        _program("""
            import signal
            def f(a, b):
                for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                            signal.SIGXCPU, signal.SIGVTALRM, signal.SIGPROF):
                    signal.signal(sig, signal.SIG_IGN)
                while True:
                    pass
        """),
        F({Status.TIMEOUT}),
    ),
    Hostile(
        "cpu_threads",  # burns CPU faster than wall time, SIGXCPU ignored
        _program("""
            import signal, threading
            def spin():
                while True:
                    pass
            def f(a, b):
                signal.signal(signal.SIGXCPU, signal.SIG_IGN)
                for _ in range(4):
                    threading.Thread(target=spin, daemon=True).start()
                spin()
        """),
        F({Status.TIMEOUT}),
    ),
    # --- memory
    Hostile(
        "memory_bomb",
        "def f(a, b):\n    hoard = []\n    while True:\n        hoard.append(bytearray(10**7))\n",
        F({Status.MEMORY}),
    ),
    Hostile(
        "huge_allocation",
        "def f(a, b):\n    return len(bytearray(64 * 1024**3))\n",
        F({Status.MEMORY}),
    ),
    # --- output
    Hostile(
        "print_forever",
        "def f(a, b):\n    while True:\n        print('spam' * 64)\n",
        F({Status.OUTPUT_LIMIT}),
    ),
    Hostile(
        "print_forever_swallowing_errors",
        _program("""
            def f(a, b):
                while True:
                    try:
                        print('spam' * 64, flush=True)
                    except BaseException:
                        pass
        """),
        F({Status.OUTPUT_LIMIT, Status.TIMEOUT}),
    ),
    Hostile(
        "write_past_fsize_with_sigxfsz_default",
        _program("""
            import os, signal
            def f(a, b):
                signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
                while True:
                    os.write(1, b'x' * 65536)
        """),
        F({Status.OUTPUT_LIMIT}),
    ),
    Hostile(
        "huge_file_in_work_dir",
        "def f(a, b):\n    with open('big', 'wb') as h:\n        h.write(b'x' * (64 << 20))\n",
        F({Status.OUTPUT_LIMIT, Status.ERROR}),
    ),
    Hostile(
        "fill_work_dir_with_many_files",  # each file stays under RLIMIT_FSIZE
        _program("""
            def f(a, b):
                chunk = b'x' * ((1 << 20) - 4096)
                total = 0
                for i in range(320):  # 320 MiB: more than the run's whole memory limit
                    with open(f'fill{i}', 'wb') as handle:
                        handle.write(chunk)
                    total += len(chunk)
                return total
        """),
        F({Status.OUTPUT_LIMIT, Status.MEMORY, Status.ERROR}),
    ),
    Hostile(
        "huge_return_value",
        "def f(a, b):\n    return [0] * 3_000_000\n",
        F({Status.OUTPUT_LIMIT}),
    ),
    Hostile(
        "deeply_nested_return_value",
        _program("""
            def f(a, b):
                value = []
                for _ in range(100_000):
                    value = [value]
                return value
        """),
        F({Status.OUTPUT_LIMIT}),
    ),
    # --- crashes
    Hostile(
        "python_recursion",
        "def f(a, b):\n    return f(a, b) + 1\n",
        F({Status.ERROR}),
        exception="RecursionError",
    ),
    Hostile(
        "c_stack_overflow",  # each level goes through C (map), so the C stack overflows
        _program("""
            import sys
            sys.setrecursionlimit(10**7)
            def down(n):
                return list(map(down, [n + 1]))
            def f(a, b):
                return down(0)
        """),
        F({Status.SIGNAL}),
    ),
    Hostile(
        "c_stack_overflow_in_json",
        _program("""
            import json, sys
            sys.setrecursionlimit(10**7)
            def f(a, b):
                return json.loads('[' * 1_000_000 + ']' * 1_000_000)
        """),
        F({Status.SIGNAL}),
    ),
    Hostile(
        "ctypes_segfault",
        "import ctypes\ndef f(a, b):\n    return ctypes.string_at(0)\n",
        F({Status.SIGNAL}),
    ),
    Hostile("abort", "import os\ndef f(a, b):\n    os.abort()\n", F({Status.SIGNAL})),
    Hostile(
        "sigterm_self",
        "import os, signal\ndef f(a, b):\n    os.kill(os.getpid(), signal.SIGTERM)\n",
        F({Status.SIGNAL}),
    ),
    # --- leaving early
    Hostile("os_exit", "import os\ndef f(a, b):\n    os._exit(0)\n", F({Status.EXITED_EARLY})),
    Hostile("sys_exit", "import sys\ndef f(a, b):\n    sys.exit(0)\n", F({Status.EXITED_EARLY})),
    Hostile(
        "os_exit_while_loading",
        "import os\nos._exit(0)\ndef f(a, b):\n    return a + b\n",
        F({Status.EXITED_EARLY}),
    ),
    Hostile(
        "close_result_channel",
        "import os\ndef f(a, b):\n    os.closerange(3, 1024)\n    return a + b\n",
        F({Status.EXITED_EARLY}),
    ),
    # --- lying values
    Hostile(
        "eq_always_true",
        _program("""
            class Anything:
                def __eq__(self, other):
                    return True
                def __ne__(self, other):
                    return False
                __hash__ = object.__hash__
            def f(a, b):
                return Anything()
        """),
        F({Status.FAILED}),
    ),
    Hostile(
        "int_subclass_eq_always_true",
        _program("""
            class Liar(int):
                def __eq__(self, other):
                    return True
                __hash__ = int.__hash__
            def f(a, b):
                return Liar(0)
        """),
        F({Status.FAILED}),
    ),
    Hostile(
        "fake_class_attribute",
        _program("""
            class Fake:
                __class__ = int  # isinstance(Fake(), int) is True
                def __eq__(self, other):
                    return True
                __hash__ = object.__hash__
            def f(a, b):
                return Fake()
        """),
        F({Status.FAILED}),
    ),
    # --- memory of the trusted side
    Hostile(
        "gc_hunt_for_expected_value",
        _program("""
            import gc, sys
            def f(probe):
                prefix = 'zq' + '-hidden-'
                seen = []
                def look(value):
                    if isinstance(value, str):
                        if value.startswith(prefix) and len(value) > len(prefix):
                            seen.append(value)
                    elif isinstance(value, (bytes, bytearray)):
                        at = bytes(value).find(prefix.encode())
                        if at >= 0:
                            seen.append(bytes(value[at:at + 64]).decode('latin-1'))
                for obj in gc.get_objects():
                    try:
                        if isinstance(obj, dict):
                            for k, v in list(obj.items()):
                                look(k)
                                look(v)
                        elif isinstance(obj, (list, tuple, set, frozenset)):
                            for v in list(obj):
                                look(v)
                        else:
                            for v in list(getattr(obj, '__dict__', {}).values()):
                                look(v)
                            for name in getattr(type(obj), '__slots__', ()):
                                look(getattr(obj, name, None))
                    except Exception:
                        pass
                frame = sys._getframe()
                while frame is not None:
                    for v in [*frame.f_locals.values(), *frame.f_globals.values()]:
                        look(v)
                    frame = frame.f_back
                return seen[0] if seen else 'not found'
        """),
        F({Status.FAILED}),
        args="probe",
    ),
    Hostile(
        "environment_secrets",
        _program("""
            import os
            def f(evaluator_pid):
                found = [repr(os.environ.get('CODELOOP_TEST_SECRET')), repr(dict(os.environ))]
                for pid in (1, os.getppid(), evaluator_pid, 'self'):
                    for leaf in ('environ', 'cmdline'):
                        try:
                            with open(f'/proc/{pid}/{leaf}', 'rb') as handle:
                                found.append(handle.read().decode('latin-1'))
                        except OSError as exc:
                            found.append(type(exc).__name__)
                print(found)
                return found
        """),
        F({Status.FAILED}),
        needs=("uid", "landlock"),
        args="evaluator_pid",
    ),
    # --- files outside the work dir
    _refused(
        "read_etc_passwd",
        "def f(a, b):\n    return open('/etc/passwd').read()\n",
        needs=("landlock",),
    ),
    _refused("delete_root_owned_file", REMOVE_PATH, needs=("uid", "landlock"), args="sentinel"),
    _refused(
        "overwrite_root_owned_file", WRITE_TO_PATH, needs=("uid", "landlock"), args="sentinel"
    ),
    # mode 0666 in a 0777 dir: only Landlock stops it
    _refused(
        "overwrite_world_writable_file", WRITE_TO_PATH, needs=("uid", "landlock"), args="victim"
    ),
    _refused("delete_world_writable_file", REMOVE_PATH, needs=("uid", "landlock"), args="victim"),
    _refused(
        "create_file_in_world_writable_dir",
        "import os\ndef f(path):\n    open(os.path.join(os.path.dirname(path), 'new'), 'w')\n",
        needs=("uid", "landlock"),
        args="victim",
    ),
    _refused("write_tmp", WRITE_TO_PATH, needs=("uid", "landlock"), args="pwned"),
    # where the work dirs live
    _refused("write_dev_shm", WRITE_TO_PATH, needs=("uid", "landlock"), args="shm_pwned"),
    _refused(
        "chdir_root_and_write",
        "import os\ndef f(a, b):\n    os.chdir('/')\n    open('codeloop-pwned', 'w').write('x')\n",
        needs=("uid", "landlock"),
    ),
    Hostile(
        "swap_stdout_file_for_symlink",  # the zygote must read back its own file, not this
        _program("""
            import os
            def f(path):
                print('before')
                os.remove('.output')
                os.symlink(path, '.output')
                print('after')
                return None
        """),
        F({Status.FAILED}),
        needs=("uid", "landlock"),
        args="root_only",
    ),
    # --- network
    _refused(
        "tcp_to_localhost",
        _program("""
            import socket
            def f(port):
                socket.create_connection(('127.0.0.1', port), timeout=0.5).sendall(b'pwned')
        """),
        needs=("seccomp",),
        args="tcp_port",
    ),
    _refused(
        "udp_to_localhost",
        _program("""
            import socket
            def f(port):
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', port))
        """),
        needs=("seccomp",),
        args="tcp_port",
    ),
    Hostile(
        "unix_socket_outside_work_dir",
        _program("""
            import socket
            def f(path):
                client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                client.connect(path)
                client.sendall(b'pwned')
                return None
        """),
        F({Status.ERROR}),
        needs=("uid", "landlock", "seccomp"),
        args="unix_path",
    ),
    Hostile(
        "abstract_unix_socket",
        _program("""
            import socket
            def f(name):
                client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                client.connect(name)
                client.sendall(b'pwned')
                return None
        """),
        F({Status.ERROR}),
        needs=("netns",),
        args="abstract_name",
    ),
    # --- signals to the trusted side
    _refused(
        "kill_parent",
        "import os, signal\ndef f(a, b):\n    os.kill(os.getppid(), signal.SIGKILL)\n",
        needs=("uid",),
    ),
    _refused(
        "kill_evaluator",
        "import os, signal\ndef f(pid):\n    os.kill(pid, signal.SIGKILL)\n",
        needs=("uid",),
        args="evaluator_pid",
    ),
    _refused(
        "killpg_parent_group",
        _program("""
            import os, signal
            def f(a, b):
                os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)
        """),
        needs=("uid",),
    ),
    Hostile(
        "kill_everyone",  # kill(-1): everything this uid may signal
        "import os, signal\ndef f(a, b):\n    os.kill(-1, signal.SIGKILL)\n    return None\n",
        F({Status.FAILED, Status.ERROR}),
        needs=("uid",),
    ),
    Hostile(
        "killpg_own_group",
        "import os, signal\ndef f(a, b):\n    os.killpg(os.getpgid(0), signal.SIGKILL)\n",
        F({Status.SIGNAL}),
    ),
    _refused(
        "setsid",
        "import os\ndef f(a, b):\n    os.setsid()\n    return a + b\n",
        needs=("seccomp",),
    ),
    _refused(
        "setpgid",
        "import os\ndef f(a, b):\n    os.setpgid(0, 0)\n    return a + b\n",
        needs=("seccomp",),
    ),
    # --- forged verdicts through the inherited result channel
    Hostile(
        "forge_one_result_line",
        _program("""
            import os
            for fd in range(3, 256):
                try:
                    os.write(fd, b'[{"i": 0, "v": 3}, {"done": 1}]\\n')
                except OSError:
                    pass
            def f(a, b):
                return a - b
        """),
        FAILURES,
    ),
    Hostile(
        "forge_every_result_line",
        _program("""
            import os
            for fd in range(3, 256):
                try:
                    os.write(fd, b'[{"i": 0, "v": 3}, {"i": 1, "v": 4}, {"done": 1}]\\n')
                except OSError:
                    pass
            def f(a, b):
                return a - b
        """),
        FAILURES,
    ),
    Hostile(
        "forge_code_test_and_exit",
        _program("""
            import os
            for fd in range(3, 256):
                try:
                    os.write(fd, b'[{"i": 0, "ok": 1}, {"done": 1}]\\n')
                except OSError:
                    pass
            os._exit(0)
            def f(a, b):
                return a - b
        """),
        FAILURES,
        suite=CODE,
    ),
    Hostile(
        "forge_junk_duration",
        _program("""
            import os
            def f(a, b):
                for fd in range(3, 256):
                    try:
                        os.write(fd, b'[{"i": 0, "s": "error", "d": "x"}]\\n')
                    except OSError:
                        pass
                return a - b
        """),
        FAILURES,
    ),
    Hostile(
        "forge_deeply_nested_json",
        _program("""
            import os
            def f(a, b):
                line = b'[' * 5000 + b']' * 5000 + b'\\n'
                for fd in range(3, 256):
                    try:
                        os.write(fd, line)
                    except OSError:
                        pass
                return a - b
        """),
        FAILURES,
    ),
    # --- processes that try to outlive the run (one at a time, each followed by a scan)
    Hostile(
        "fork_bomb",
        "import os\ndef f(a, b):\n    while True:\n        os.fork()\n",
        F({Status.ERROR, Status.TIMEOUT, Status.EXITED_EARLY}),
        needs=("uid", "rlimits"),
        phase="spawn",
    ),
    Hostile(
        "fork_bomb_ignoring_errors",
        _program("""
            import os
            def f(a, b):
                while True:
                    try:
                        os.fork()
                    except OSError:
                        pass
        """),
        F({Status.TIMEOUT}),
        needs=("uid", "rlimits"),
        phase="spawn",
    ),
    Hostile(
        "daemon_child",  # double fork and setsid; the run itself returns the right value
        _program("""
            import os, time
            def f(a, b):
                if os.fork() == 0:
                    try:
                        os.setsid()
                    except OSError:
                        pass
                    if os.fork() == 0:
                        time.sleep(60)
                    os._exit(0)
                return a + b
        """),
        F({Status.PASSED}),
        needs=("uid", "seccomp"),
        phase="spawn",
    ),
    Hostile(
        "thread_outliving_the_test",  # non-daemon: the harness must not wait for it
        _program("""
            import threading, time
            def f(a, b):
                threading.Thread(target=time.sleep, args=(60,)).start()
                return a + b
        """),
        F({Status.PASSED}),
        needs=("uid",),
        phase="spawn",
    ),
    Hostile(
        "shell_subprocess",
        _program("""
            import subprocess, time
            def f(path):
                subprocess.Popen(['/bin/sh', '-c', f'echo pwned > {path}; sleep 60 & sleep 60'])
                time.sleep(0.2)
                return None
        """),
        F({Status.FAILED}),
        needs=("uid", "landlock"),
        args="pwned",
        phase="spawn",
    ),
    # --- the evaluator's side of the channel (alone: a failure here hits every job on
    # the same zygote)
    Hostile(
        "large_correct_result",  # not hostile at all: a 100 000-element list
        "def f(a, b):\n    return list(range(100_000))\n",
        F({Status.PASSED}),
        suite=LARGE,
        phase="alone",
    ),
)
CASE_BY_NAME = {case.name: case for case in CASES}


# -------------------------------------------------------------------------------- setup
@dataclass
class Site:
    """What the test sets up outside the sandbox for the programs to attack."""

    base: str
    sentinel: str
    victim: str
    root_only: str
    pwned: str
    unix_path: str
    hidden: str
    secret: str
    marker: str
    tcp: socket.socket
    unix: socket.socket
    abstract: socket.socket
    abstract_name: str
    args: dict[str, tuple[Any, ...]] = field(default_factory=dict)


@contextlib.contextmanager
def _site() -> Iterator[Site]:
    base = tempfile.mkdtemp(prefix="codeloop-hostile-")
    os.chmod(base, 0o755)  # noqa: S103 - the sandbox uid must be able to reach the targets
    token = uuid.uuid4().hex
    sentinel = os.path.join(base, "sentinel.txt")
    with open(sentinel, "w") as handle:
        handle.write("original")
    os.chmod(sentinel, 0o644)
    open_dir = os.path.join(base, "open")
    os.mkdir(open_dir)
    os.chmod(open_dir, 0o777)  # noqa: S103 - only Landlock may stop writes here
    victim = os.path.join(open_dir, "victim.txt")
    with open(victim, "w") as handle:
        handle.write("original")
    os.chmod(victim, 0o666)  # noqa: S103
    marker = f"root-only-{token}"
    root_only = os.path.join(base, "root-only.txt")
    with open(root_only, "w") as handle:
        handle.write(marker)
    os.chmod(root_only, 0o600)
    tcp = socket.create_server(("127.0.0.1", 0))
    tcp.setblocking(False)
    unix_path = os.path.join(base, "service.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(unix_path)
    os.chmod(unix_path, 0o777)  # noqa: S103 - like /run/dbus or /tmp/.X11-unix sockets
    unix.listen()
    unix.setblocking(False)
    abstract_name = f"\0codeloop-hostile-{token}"
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(abstract_name)
    abstract.listen()
    abstract.setblocking(False)
    site = Site(
        base=base,
        sentinel=sentinel,
        victim=victim,
        root_only=root_only,
        pwned=f"/tmp/codeloop-pwned-{token}",
        unix_path=unix_path,
        hidden=f"zq-hidden-{token}",
        secret=f"cl-secret-{token}",
        marker=marker,
        tcp=tcp,
        unix=unix,
        abstract=abstract,
        abstract_name=abstract_name,
    )
    site.args = {
        "probe": ("probe",),
        "evaluator_pid": (os.getpid(),),
        "sentinel": (sentinel,),
        "victim": (victim,),
        "root_only": (root_only,),
        "pwned": (site.pwned,),
        "shm_pwned": (f"/dev/shm/codeloop-pwned-{token}",),
        "tcp_port": (tcp.getsockname()[1],),
        "unix_path": (unix_path,),
        "abstract_name": (abstract_name,),
    }
    try:
        yield site
    finally:
        for sock in (tcp, unix, abstract):
            sock.close()
        shutil.rmtree(base, ignore_errors=True)
        for path in (site.pwned, site.args["shm_pwned"][0], "/codeloop-pwned"):
            with contextlib.suppress(OSError):
                os.remove(path)


def _suite(case: Hostile, site: Site) -> TestSuite:
    if case.suite is not None:
        return case.suite
    if case.args:
        test = TestCase(TestKind.CALL, args=site.args[case.args], expected=site.hidden)
        return TestSuite(tests=(test,), entry_point="f")
    return ADD


def _missing_layer(case: Hostile, report: dict[str, Any]) -> str:
    layers = {layer["name"]: layer for layer in report.get("layers", [])}
    for name in case.needs:
        layer = layers.get(name)
        if layer is None or not layer["active"]:
            why = layer["detail"] if layer else "not reported"
            hint = "" if IS_ROOT else "; the uid drop and netns need root"
            return f"isolation layer {name!r} is not in force ({why}){hint}"
    return ""


# ----------------------------------------------------------------------- process scans
def _proc_stat(pid: str) -> tuple[str, int] | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])  # state, ppid


def sandbox_processes() -> list[str]:
    """Processes of this executor's sandbox uids that descend from its zygotes, or were
    orphaned to init (escaped every subreaper); another executor's children are not ours.
    """
    parents: dict[int, int] = {}
    candidates: list[tuple[int, str]] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as handle:
                status = dict(
                    line.split(":", 1) for line in handle.read().splitlines() if ":" in line
                )
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")
            pid, ppid, uid = int(entry.name), int(status["PPid"]), int(status["Uid"].split()[0])
        except (OSError, KeyError, ValueError):
            continue
        parents[pid] = ppid
        if UID_BASE <= uid < UID_BASE + UID_COUNT:
            state = status.get("State", "?").split()[0] if status.get("State") else "?"
            candidates.append((pid, f"pid {pid} uid {uid} state {state}: {command.strip()[:80]}"))
    me = os.getpid()
    ours = {pid for pid, _ in candidates}
    found = []
    for pid, description in candidates:
        # climb past sandbox processes: the first other ancestor is the zygote that forked
        # the run (a child of this process), or init if the run escaped every subreaper
        ancestor, hops = parents.get(pid, 0), 0
        while ancestor in ours and hops < 4096:
            ancestor, hops = parents.get(ancestor, 0), hops + 1
        if ancestor in (1, me) or parents.get(ancestor) == me:
            found.append(description)
    return found


async def _leftovers() -> list[str]:
    deadline = time.monotonic() + GRACE_S
    while True:
        found = sandbox_processes()
        if not found or time.monotonic() > deadline:
            return found
        await anyio.sleep(0.05)


def zygote_pids() -> set[int]:
    """Live zygote processes of this (evaluator) process."""
    me = os.getpid()
    pids = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        stat = _proc_stat(entry.name)
        if stat is None or stat[1] != me or stat[0] == "Z":
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                command = handle.read()
        except OSError:
            continue
        if b"codeloop.execution.zygote" in command:
            pids.add(int(entry.name))
    return pids


def _accepted(server: socket.socket) -> list[bytes]:
    got: list[bytes] = []
    while True:
        try:
            conn, _ = server.accept()
        except (BlockingIOError, OSError):
            return got
        with conn:
            conn.settimeout(0.2)
            try:
                got.append(conn.recv(100) or b"<connected>")
            except OSError:
                got.append(b"<connected>")


# ------------------------------------------------------------------------------ the run
@dataclass
class Findings:
    site: Site
    report: dict[str, Any] = field(default_factory=dict)
    results: dict[str, ExecResult] = field(default_factory=dict)
    wall_s: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    leftovers: dict[str, list[str]] = field(default_factory=dict)
    seen_while_running: list[str] = field(default_factory=list)
    zygotes_at_start: set[int] = field(default_factory=set)
    zygotes_after_attacks: set[int] = field(default_factory=set)
    flood: dict[str, Any] = field(default_factory=dict)
    final: ExecResult | None = None
    outside: dict[str, Any] = field(default_factory=dict)
    total_s: float = 0.0


FLOOD_BYTES = 96 << 20
FLOOD_LIMITS = Limits(time_s=3.0, memory_bytes=256 * 1024**2)
FLOOD = _program(f"""
    import os, stat, fcntl
    def f(a, b):
        for fd in range(3, 256):
            try:
                st = os.fstat(fd)
            except OSError:
                continue
            if stat.S_ISFIFO(st.st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE:
                chunk = b'x' * (1 << 20)
                for _ in range({FLOOD_BYTES >> 20}):
                    os.write(fd, chunk)
        return a - b
""")
NEIGHBOUR = "import time\ndef f(a, b):\n    time.sleep(0.3)\n    return a + b\n"
SLEEPER = "import time\ndef f(a, b):\n    time.sleep(0.8)\n    return a + b\n"


async def _exercise(site: Site, findings: Findings) -> None:
    async with LocalExecutor(
        workers=WORKERS, max_inflight=WORKERS * 32, uid_base=UID_BASE
    ) as executor:
        findings.report = executor.report
        findings.zygotes_at_start = zygote_pids()

        async def run(case: Hostile) -> None:
            request = ExecRequest(case.program, _suite(case, site), limits=case.run_limits)
            started = time.monotonic()
            findings.results[case.name] = await executor.run(request)
            findings.wall_s[case.name] = time.monotonic() - started

        runnable = []
        for case in CASES:
            reason = _missing_layer(case, findings.report)
            if reason:
                findings.skipped[case.name] = reason
            else:
                runnable.append(case)

        async with anyio.create_task_group() as group:
            for case in runnable:
                if case.phase == "batch":
                    group.start_soon(run, case)
        if IS_ROOT:
            findings.leftovers["batch"] = await _leftovers()

        # The scan must see a sandbox process while one runs, or "nothing left" means nothing.
        async with anyio.create_task_group() as group:
            group.start_soon(executor.run, ExecRequest(SLEEPER, ADD, limits=LIMITS))
            await anyio.sleep(0.3)
            findings.seen_while_running = sandbox_processes()

        for case in runnable:
            if case.phase == "spawn":
                await run(case)
                findings.leftovers[case.name] = await _leftovers()

        findings.zygotes_after_attacks = zygote_pids()

        for case in runnable:
            if case.phase == "alone":
                await run(case)

        # A newline-free flood of the result channel, with correct neighbours in flight.
        neighbours: list[ExecResult] = []

        async def neighbour() -> None:
            neighbours.append(await executor.run(ExecRequest(NEIGHBOUR, ADD, limits=LIMITS)))

        async def flood() -> None:
            started = time.monotonic()
            findings.flood["result"] = await executor.run(
                ExecRequest(FLOOD, ADD, limits=FLOOD_LIMITS)
            )
            findings.flood["wall_s"] = time.monotonic() - started

        async with anyio.create_task_group() as group:
            group.start_soon(flood)
            for _ in range(2 * WORKERS):
                group.start_soon(neighbour)
        findings.flood["neighbours"] = neighbours

        findings.final = await executor.run(ExecRequest(NORMAL, ADD, limits=LIMITS))
        if IS_ROOT:
            findings.leftovers["end"] = await _leftovers()


@pytest.fixture(scope="module")
def findings() -> Iterator[Findings]:
    started = time.monotonic()
    with _site() as site, pytest.MonkeyPatch.context() as patch:
        # set before the executor starts: the zygotes must not inherit it
        patch.setenv(SECRET_VAR, site.secret)
        result = Findings(site=site)
        anyio.run(_exercise, site, result)
        result.total_s = time.monotonic() - started
        with open(site.sentinel) as handle:
            result.outside["sentinel"] = handle.read()
        with open(site.victim) as handle:
            result.outside["victim"] = handle.read()
        result.outside["open_dir"] = sorted(os.listdir(os.path.dirname(site.victim)))
        result.outside["pwned"] = [
            path
            for path in (site.pwned, site.args["shm_pwned"][0], "/codeloop-pwned")
            if os.path.lexists(path)
        ]
        result.outside["tcp"] = _accepted(site.tcp)
        result.outside["unix"] = _accepted(site.unix)
        result.outside["abstract"] = _accepted(site.abstract)
        yield result


# -------------------------------------------------------------------------------- tests
def _describe(result: ExecResult) -> str:
    failure = result.first_failure()
    parts = [f"status={result.status.value}"]
    if failure is not None:
        parts.append(
            f"first failure: {failure.status.value} {failure.exception} {failure.message[:200]!r}"
            f" actual={failure.actual[:80]!r}"
        )
    if result.infra_error:
        parts.append(f"infra_error={result.infra_error[:200]!r}")
    return "; ".join(parts)


def _result(findings: Findings, name: str) -> ExecResult:
    if name in findings.skipped:
        missing_isolation(findings.skipped[name])
    return findings.results[name]


def _param(case: Hostile) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=case.bug)] if case.bug else []
    return pytest.param(case.name, marks=marks, id=case.name)


@pytest.mark.parametrize("name", [_param(case) for case in CASES])
def test_hostile_program_ends_with_the_right_status(findings: Findings, name: str) -> None:
    case = CASE_BY_NAME[name]
    result = _result(findings, name)
    assert result.status in case.expect, _describe(result)
    assert not result.infra_error, _describe(result)
    if case.exception:
        failure = result.first_failure()
        assert failure is not None and failure.exception == case.exception, _describe(result)


def test_no_process_is_left_behind(findings: Findings) -> None:
    if not IS_ROOT:
        missing_isolation("needs root: without the uid drop, sandbox processes are not told apart")
    assert findings.seen_while_running, "the /proc scan does not see sandbox processes"
    remaining = {where: found for where, found in findings.leftovers.items() if found}
    assert not remaining


def test_evaluator_and_zygotes_survive(findings: Findings) -> None:
    # the zygotes that started are the ones still serving after every attack in the batch
    # and spawn phases (a killed one would have been replaced silently)
    assert len(findings.zygotes_at_start) == WORKERS
    assert findings.zygotes_after_attacks == findings.zygotes_at_start
    assert findings.final is not None and findings.final.status is Status.PASSED, _describe(
        findings.final
    )


def test_nothing_changes_outside_the_work_dir(findings: Findings) -> None:
    assert findings.outside["sentinel"] == "original"
    assert findings.outside["victim"] == "original"
    assert findings.outside["open_dir"] == ["victim.txt"]
    assert findings.outside["pwned"] == []


def test_no_connection_reaches_the_host(findings: Findings) -> None:
    assert findings.outside["tcp"] == []
    assert findings.outside["abstract"] == []


def test_no_connection_reaches_a_host_unix_socket(findings: Findings) -> None:
    _result(findings, "unix_socket_outside_work_dir")
    assert findings.outside["unix"] == []


def test_secrets_stay_out_of_the_result(findings: Findings) -> None:
    secret = findings.site.secret
    for name, result in findings.results.items():
        texts = [result.stdout, result.stderr, result.infra_error]
        for outcome in result.outcomes:
            texts += [outcome.actual, outcome.message, outcome.traceback]
        assert not any(secret in text for text in texts), name
    assert _result(findings, "environment_secrets").status is Status.FAILED


def test_expected_values_cannot_be_found_in_the_sandbox(findings: Findings) -> None:
    result = _result(findings, "gc_hunt_for_expected_value")
    assert result.status is Status.FAILED, _describe(result)
    assert result.outcomes[0].actual == repr("not found")


def test_stdout_is_read_back_from_the_runs_own_file(findings: Findings) -> None:
    result = _result(findings, "swap_stdout_file_for_symlink")
    assert "before" in result.stdout and "after" in result.stdout
    assert findings.site.marker not in result.stdout


@pytest.mark.parametrize("name", ["thread_outliving_the_test", "daemon_child"])
def test_lingering_threads_and_daemons_do_not_delay_the_verdict(
    findings: Findings, name: str
) -> None:
    result = _result(findings, name)
    assert result.status is Status.PASSED, _describe(result)
    # far less than the time limit: the run did not wait for what it left behind
    assert result.duration_s < 0.8, (name, result.duration_s)


@pytest.mark.parametrize("name", ["fork_bomb", "fork_bomb_ignoring_errors"])
def test_fork_bomb_is_contained(findings: Findings, name: str) -> None:
    result = _result(findings, name)
    assert result.status.is_failure, _describe(result)
    assert findings.leftovers.get(name) == [], findings.leftovers.get(name)


def test_result_channel_flood_hurts_neither_the_evaluator_nor_neighbours(
    findings: Findings,
) -> None:
    flood: ExecResult = findings.flood["result"]
    assert flood.status.is_failure, _describe(flood)
    neighbours: list[ExecResult] = findings.flood["neighbours"]
    assert [n.status for n in neighbours] == [Status.PASSED] * len(neighbours), [
        _describe(n) for n in neighbours
    ]
    # ended by its own limit (or earlier, as a corrupt channel), not held up by the flood
    assert findings.flood["wall_s"] < FLOOD_LIMITS.time_s + 2.0


def test_the_whole_attack_takes_little_time(findings: Findings) -> None:
    # every attack is bounded by its own limits, not by what it tried to leave running
    assert findings.total_s < 60, findings.total_s


# ------------------------------------------------------------- the zygote's other suites
# Looks for strings starting with `prefix` in every object the collector tracks and in the
# locals and globals of every frame up the stack (the zygote's own frames included).
_HUNTER = textwrap.dedent("""
    import gc, sys
    def f(prefix):
        seen = set()
        def look(value):
            if isinstance(value, str) and value.startswith(prefix) and value != prefix:
                seen.add(value)
            elif isinstance(value, (list, tuple, set, frozenset)):
                for item in value:
                    look(item)
        def look_inside(obj):
            try:
                if isinstance(obj, dict):
                    for key, value in list(obj.items()):
                        look(key)
                        look(value)
                elif isinstance(obj, (list, tuple, set, frozenset)):
                    look(obj)
                else:
                    for value in list(getattr(obj, '__dict__', {}).values()):
                        look(value)
            except Exception:
                pass
        for obj in gc.get_objects():
            look_inside(obj)
        frame = sys._getframe()
        depth = 0
        while frame is not None and depth < 100:
            for value in [*frame.f_locals.values(), *frame.f_globals.values()]:
                look_inside(value)
                look(value)
                for attr in ('suites', 'jobs', 'runs', 'runs_by_fd', 'pending'):
                    look_inside(getattr(value, attr, None))
                    for item in list(getattr(getattr(value, attr, None), 'values', list)()):
                        look_inside(item)
                        look_inside(getattr(item, 'suite', None))
                        look_inside(getattr(getattr(item, 'job', None), 'suite', None))
            frame = frame.f_back
            depth += 1
        return sorted(seen)
""")


def test_a_program_cannot_reach_the_zygotes_other_suites() -> None:
    """The zygote holds the suites of other jobs (sent earlier, or running now): inputs of
    other tasks' hidden tests.  The child takes them out of the program's reach before the
    program loads; the program still finds its own suite's inputs (the hunt works)."""
    token = uuid.uuid4().hex[:8]
    prefix = f"zq-other-{token}-"
    other = TestSuite(
        tests=(TestCase(TestKind.CALL, args=(prefix + "hidden",), expected=0),),
        entry_point="f",
    )
    own = TestSuite(
        tests=(
            TestCase(TestKind.CALL, args=(prefix,), expected=[]),
            TestCase(TestKind.CALL, args=(prefix + "own",), expected=[]),
        ),
        entry_point="f",
    )
    sleeper = "import time\ndef f(x):\n    time.sleep(1.5)\n    return 0\n"

    async def main() -> tuple[ExecResult, ExecResult, ExecResult]:
        async with LocalExecutor(workers=1) as executor:
            earlier = await executor.run(ExecRequest("def f(x):\n    return 0\n", other, SHORT))
            async with anyio.create_task_group() as tg:
                running: list[ExecResult] = []

                async def sleep_run() -> None:
                    running.append(await executor.run(ExecRequest(sleeper, other, LIMITS)))

                tg.start_soon(sleep_run)
                await anyio.sleep(0.3)  # the sleeper's run is in the zygote's tables now
                hunt = await executor.run(
                    ExecRequest(_HUNTER, own, LIMITS, record_only=True, fail_fast=False)
                )
            return earlier, running[0], hunt

    earlier, sleeping, hunt = anyio.run(main)
    assert earlier.passed and sleeping.passed, (earlier, sleeping)
    assert hunt.actual_values, hunt
    found = hunt.actual_values[0]
    assert prefix + "own" in found, found  # its own job's next test: the hunt reaches it
    assert prefix + "hidden" not in found, found
