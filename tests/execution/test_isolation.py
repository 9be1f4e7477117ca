"""The isolation layers, each checked from inside a real forked child.

Every sandboxed check runs in a process tree like the executor's: a forked "zygote" calls
prepare_zygote (so the test process keeps its network), forks a child that calls
apply_in_child, and the child reports what it saw through a pipe as JSON.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import importlib
import json
import os
import resource
import select
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from codeloop.execution import isolation
from codeloop.execution.isolation import (
    Isolation,
    IsolationConfig,
    IsolationError,
    IsolationReport,
    Layer,
    core,
    credentials,
    default_read_only_paths,
    no_new_privs,
    probe,
)

from .isolation_gate import requires

IS_ROOT = os.geteuid() == 0
needs_root = requires(IS_ROOT, "drops uids and creates network namespaces: run the suite as root")

UID_BASE = 61000
LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long

X86_64 = os.uname().machine == "x86_64"
CLONE_FS, CLONE_NEWNS, CLONE_NEWUSER = 0x200, 0x20000, 0x10000000
PTRACE_TRACEME = 0


# Imported here, in the test process: checks that resolve syscall numbers run in forked
# children under seccomp and Landlock, where importing it (ctypes.util runs ldconfig) fails.
with contextlib.suppress(ImportError):
    import pyseccomp  # noqa: F401


def nr(name: str) -> int:
    import pyseccomp

    return int(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name))


def raw_syscall(number: int, *args: int) -> tuple[int, int]:
    """(result, errno) of a raw syscall."""
    ctypes.set_errno(0)
    result = LIBC.syscall(ctypes.c_long(number), *[ctypes.c_long(a) for a in args])
    return int(result), ctypes.get_errno()


def outcome(action: Callable[[], object]) -> str:
    """'ok', or the errno name the action failed with."""
    try:
        action()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    except ValueError:  # resource.setrlimit's answer to EPERM
        return "ValueError"
    return "ok"


@dataclass(frozen=True)
class Site:
    base: str
    workdir: str
    outside: str  # owned by the child's uid, outside its work dir
    secret: str  # root-only file inside the work dir


def make_site(owner: int | None) -> Site:
    base = tempfile.mkdtemp(prefix="codeloop-isolation-test-")
    os.chmod(base, 0o711)
    workdir, outside = os.path.join(base, "work"), os.path.join(base, "outside")
    os.mkdir(workdir, 0o700)
    os.mkdir(outside, 0o700)
    secret = os.path.join(workdir, "secret")
    with open(secret, "w") as handle:
        handle.write("hidden")
    os.chmod(secret, 0o600)
    if owner is not None and IS_ROOT:
        os.chown(workdir, owner, owner)
        os.chown(outside, owner, owner)
    return Site(base, workdir, outside, secret)


@pytest.fixture
def site() -> Iterator[Site]:
    made = make_site(UID_BASE)
    yield made
    shutil.rmtree(made.base, ignore_errors=True)


def _read_all(fd: int, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError("sandboxed check did not finish")
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _fork_json(body: Callable[[], Any], timeout: float = 20.0) -> tuple[Any, int]:
    """Run body() in a forked child; (its JSON result, its wait status)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            payload = {"value": body()}
        except BaseException:
            payload = {"error": traceback.format_exc()}
        try:
            os.write(write_fd, json.dumps(payload).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    try:
        data = _read_all(read_fd, timeout)
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)
        raise
    finally:
        os.close(read_fd)
        _, status = os.waitpid(pid, 0)
    if not data:
        return None, status
    payload = json.loads(data)
    if "error" in payload:
        pytest.fail(f"forked check raised:\n{payload['error']}")
    return payload["value"], status


@dataclass(frozen=True)
class Run:
    report: IsolationReport
    result: Any  # what the check returned inside the sandboxed child
    zygote: dict[str, Any]


def run_isolated(
    site: Site,
    check: Callable[[Site], Any],
    config: IsolationConfig | None = None,
    slot: int = 0,
    zygote_setup: Callable[[], None] | None = None,
) -> Run:
    """Zygote (prepare_zygote) -> child (apply_in_child, then check) -> result."""
    config = config or IsolationConfig(uid_base=UID_BASE)

    def zygote() -> dict[str, Any]:
        if zygote_setup is not None:
            zygote_setup()
        iso = Isolation(config)
        report = iso.prepare_zygote()

        def child() -> Any:
            os.chdir(site.workdir)
            iso.apply_in_child(site.workdir, slot)
            return check(site)

        result, status = _fork_json(child)
        try:
            netns = os.readlink("/proc/self/ns/net")
        except OSError:
            netns = None
        return {"report": report.to_dict(), "result": result, "status": status, "netns": netns}

    value, _ = _fork_json(zygote)
    assert value["status"] == 0, f"sandboxed child died: wait status {value['status']}"
    return Run(IsolationReport.from_dict(value["report"]), value["result"], value)


# --- pure functions -----------------------------------------------------------------


def test_default_read_only_paths_cover_the_interpreter_and_nothing_private() -> None:
    paths = default_read_only_paths()

    def covered(target: str) -> bool:
        real = os.path.realpath(target)
        return any(real == p or real.startswith(p.rstrip("/") + "/") for p in paths)

    assert covered(os.__file__)  # the stdlib
    assert covered(sys.executable)
    assert covered(os.path.dirname(pytest.__file__))  # site-packages
    assert covered(isolation.__file__)  # codeloop itself, for the child harness
    for private in ("/etc", "/etc/passwd", "/home", "/root", "/tmp", "/proc", "/var/tmp"):
        assert not covered(private), private
    assert "/" not in paths
    assert {"/dev/null", "/dev/zero", "/dev/urandom"} <= set(paths)
    assert all(os.path.exists(p) for p in paths)
    # Nested paths are folded into their parent: no path lies beneath another.
    dirs = [p for p in paths if os.path.isdir(p)]
    assert not [(a, b) for a in dirs for b in dirs if a != b and b.startswith(a + "/")]


def test_default_read_only_paths_leave_out_script_and_current_dirs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    scripts = tmp_path / "project"
    scripts.mkdir()
    monkeypatch.setattr(sys, "path", ["", str(scripts), "/", "/etc", *sys.path])
    paths = default_read_only_paths()
    assert str(scripts) not in paths
    assert not any(p in ("/", "/etc", os.getcwd()) for p in paths)


def test_default_read_only_paths_for_another_interpreter() -> None:
    system_python = "/usr/bin/python3.11"
    if not os.path.exists(system_python) or os.path.realpath(sys.prefix) == "/usr":
        pytest.skip("needs a system python distinct from the running venv")
    paths = default_read_only_paths(system_python)
    assert "/usr" in paths
    assert not any(p.startswith(os.path.realpath(sys.prefix)) for p in paths)


def test_report_helpers_and_round_trip() -> None:
    report = IsolationReport(
        (Layer("uid", True, "uid 61000"), Layer("netns", False, "unavailable: EPERM")),
        apply_cost_us=512.0,
    )
    assert report.missing() == ["netns"]
    assert not report.fully_isolated()
    data = json.loads(json.dumps(report.to_dict()))
    assert data["missing"] == ["netns"] and data["fully_isolated"] is False
    assert IsolationReport.from_dict(data) == report
    assert IsolationReport((Layer("uid", True, "x"),)).fully_isolated()


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError):
        IsolationConfig(uid_base=0)
    with pytest.raises(ValueError):
        IsolationConfig(read_only_paths=("usr",))


def test_apply_before_prepare_is_an_isolation_error() -> None:
    iso = Isolation(IsolationConfig())
    assert not iso.drops_uid and iso.report is None
    with pytest.raises(IsolationError, match="prepare_zygote"):
        iso.apply_in_child("/nonexistent", 0)


# --- each layer, from inside a sandboxed child ----------------------------------------


@needs_root
def test_prepare_reports_every_layer_in_force(site: Site) -> None:
    def zygote() -> list[Any]:
        before = no_new_privs()
        iso = Isolation(IsolationConfig(uid_base=UID_BASE))
        iso.prepare_zygote()
        # set once in the zygote, so every child has it without a prctl of its own
        return [iso.drops_uid, iso.uid_for(5), before, no_new_privs()]

    assert _fork_json(zygote)[0] == [True, UID_BASE + 5, False, True]
    run = run_isolated(site, lambda s: None)
    names = [layer.name for layer in run.report.layers]
    assert names == ["rlimits", "uid", "no_new_privs", "landlock", "seccomp", "netns"]
    assert run.report.fully_isolated(), run.report.to_dict()
    assert "ABI" in run.report.layer("landlock").detail
    assert "61000-61255" in run.report.layer("uid").detail


@needs_root
def test_filesystem_is_read_only_outside_the_work_dir(site: Site) -> None:
    escape = f"/tmp/codeloop-escape-{os.getpid()}-{os.path.basename(site.base)}"

    def check(s: Site) -> dict[str, str]:
        def work_dir_round_trip() -> None:
            os.mkdir("a")
            os.mkdir("b")
            with open("a/f", "w") as handle:
                handle.write("one")
            with open("a/f", "w") as handle:  # O_TRUNC on an existing file
                handle.write("two")
            os.rename("a/f", "b/f")  # across directories: needs REFER
            with open(os.path.join(s.workdir, "b/f")) as handle:
                assert handle.read() == "two"
            os.unlink("b/f")

        def write_dev_null() -> None:
            with open("/dev/null", "w") as handle:
                handle.write("x")

        return {
            "work_dir": outcome(work_dir_round_trip),
            "dev_null": outcome(write_dev_null),
            "read_etc_passwd": outcome(lambda: open("/etc/passwd", "rb").close()),
            "list_root": outcome(lambda: os.listdir("/")),
            "write_outside": outcome(lambda: open(os.path.join(s.outside, "x"), "w").close()),
            "write_tmp": outcome(lambda: open(escape, "w").close()),
            "zygote_proc": outcome(lambda: open(f"/proc/{os.getppid()}/environ", "rb").close()),
            "write_stdlib": outcome(lambda: open(os.__file__, "ab").close()),
        }

    try:
        result = run_isolated(site, check).result
        assert not os.path.exists(escape)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(escape)
    assert result["work_dir"] == "ok"
    assert result["dev_null"] == "ok"
    for denied in ("read_etc_passwd", "list_root", "write_outside", "write_tmp"):
        assert result[denied] == "EACCES", (denied, result)
    assert result["zygote_proc"] == "EACCES"
    assert result["write_stdlib"] in ("EACCES", "EPERM")
    assert os.listdir(site.outside) == []


@needs_root
def test_stdlib_and_extension_modules_import_afresh(site: Site) -> None:
    def check(s: Site) -> list[str]:
        loaded = []
        for name in ("fractions", "lzma", "colorsys"):
            sys.modules.pop(name, None)  # force a read from disk as the dropped uid
            loaded.append(importlib.import_module(name).__name__)
        return loaded

    assert run_isolated(site, check).result == ["fractions", "lzma", "colorsys"]


@needs_root
def test_only_unix_sockets(site: Site) -> None:
    def check(s: Site) -> dict[str, str]:
        def unix_pair() -> None:
            left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            left.sendall(b"ping")
            assert right.recv(4) == b"ping"

        def unix_socket() -> None:
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

        def addressed_datagram() -> None:
            left, _ = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            left.sendto(b"x", "/dev/log")

        return {
            "inet": outcome(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
            "inet_udp": outcome(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)),
            "inet6": outcome(lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM)),
            "netlink": outcome(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)),
            "inet_pair": outcome(lambda: socket.socketpair(socket.AF_INET)),
            "unix_pair": outcome(unix_pair),
            "unix_socket": outcome(unix_socket),
            "addressed_datagram": outcome(addressed_datagram),
        }

    result = run_isolated(site, check).result
    # every socket() is denied: named UNIX sockets on the host are reachable by path
    for denied in ("inet", "inet_udp", "inet6", "netlink", "unix_socket", "addressed_datagram"):
        assert result[denied] == "EPERM", (denied, result)
    assert result["inet_pair"] != "ok"
    assert result["unix_pair"] == "ok"


@needs_root
def test_zygote_lives_in_an_empty_network_namespace(site: Site) -> None:
    before = os.readlink("/proc/self/ns/net")
    run = run_isolated(site, lambda s: None)
    assert run.zygote["netns"] != before
    assert os.readlink("/proc/self/ns/net") == before  # the test process kept its network

    def connect_after_prepare() -> str:
        Isolation(IsolationConfig(uid_base=UID_BASE)).prepare_zygote()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(2)
        return outcome(lambda: sock.connect(("127.0.0.1", 9)))

    reached, _ = _fork_json(connect_after_prepare)
    assert reached == "ENETUNREACH"


@needs_root
def test_process_control_calls_are_denied(site: Site) -> None:
    def check(s: Site) -> dict[str, Any]:
        def in_grandchild(call: Callable[[], str]) -> str:
            # setsid/setpgid as a process that is not a group leader, where they would work.
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.write(write_fd, call().encode())
                os._exit(0)
            os.close(write_fd)
            os.waitpid(pid, 0)
            return os.read(read_fd, 100).decode()

        return {
            "setsid": in_grandchild(lambda: outcome(os.setsid)),
            "setpgid": in_grandchild(lambda: outcome(lambda: os.setpgid(0, 0))),
            "ptrace": raw_syscall(nr("ptrace"), PTRACE_TRACEME, 0, 0, 0),
            # Each would fail with EINVAL in the kernel; the filter answers first.
            "clone_newuser": raw_syscall(nr("clone"), CLONE_NEWUSER | CLONE_FS, 0, 0, 0, 0),
            "clone_newns": raw_syscall(nr("clone"), CLONE_NEWNS | CLONE_FS, 0, 0, 0, 0),
            "clone3": raw_syscall(nr("clone3"), 0, 0),
            "unshare_user": raw_syscall(nr("unshare"), CLONE_NEWUSER),
        }

    result = run_isolated(site, check).result
    assert result["setsid"] == "EPERM"
    assert result["setpgid"] == "EPERM"
    for name in ("ptrace", "clone_newuser", "clone_newns", "unshare_user"):
        assert result[name] == [-1, errno.EPERM], (name, result)
    assert result["clone3"] == [-1, errno.ENOSYS]


@needs_root
def test_threads_fork_and_exec_still_work(site: Site) -> None:
    def check(s: Site) -> dict[str, Any]:
        seen: list[int] = []
        workers = [threading.Thread(target=seen.append, args=(i,)) for i in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        statuses = []
        for program in (None, "/bin/true"):
            pid = os.fork()
            if pid == 0:
                if program is None:
                    os._exit(7)
                os.execv(program, [program])
            statuses.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        return {"threads": sorted(seen), "exit_codes": statuses}

    result = run_isolated(site, check).result
    assert result == {"threads": [0, 1, 2, 3], "exit_codes": [7, 0]}


@needs_root
def test_child_runs_as_the_slot_uid_and_cannot_regain_root(site: Site) -> None:
    slot = 3
    owner = UID_BASE + slot
    os.chown(site.workdir, owner, owner)

    def check(s: Site) -> dict[str, Any]:
        return {
            "uids": list(os.getresuid()),
            "gids": list(os.getresgid()),
            "groups": os.getgroups(),
            "setuid_root": outcome(lambda: os.setuid(0)),
            "read_root_only": outcome(lambda: open(s.secret, "rb").close()),
            "signal_zygote": outcome(lambda: os.kill(os.getppid(), 0)),
            "no_new_privs": no_new_privs(),
        }

    result = run_isolated(site, check, slot=slot).result
    assert result["uids"] == [owner] * 3
    assert result["gids"] == [owner] * 3
    assert result["groups"] == []
    assert result["setuid_root"] == "EPERM"
    assert result["read_root_only"] == "EACCES"
    assert result["signal_zygote"] == "EPERM"
    assert result["no_new_privs"] is True


@needs_root
def test_rlimits_bind_the_dropped_uid(site: Site) -> None:
    def check(s: Site) -> dict[str, str]:
        resource.setrlimit(resource.RLIMIT_CPU, (30, 30))
        raise_hard = outcome(lambda: resource.setrlimit(resource.RLIMIT_CPU, (30, 31)))
        resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))

        def fork_once() -> None:
            if os.fork() == 0:
                os._exit(0)
            os.wait()

        return {"raise_hard": raise_hard, "fork": outcome(fork_once)}

    assert run_isolated(site, check).result == {"raise_hard": "ValueError", "fork": "EAGAIN"}


@needs_root
@pytest.mark.skipif(not X86_64, reason="x32 syscall numbers exist on x86_64 only")
def test_foreign_abi_syscall_kills_the_process(site: Site) -> None:
    def check(s: Site) -> int:
        pid = os.fork()
        if pid == 0:
            raw_syscall(0x40000000 | nr("getpid"))  # an x32 syscall number
            os._exit(0)
        status = os.waitpid(pid, 0)[1]
        return os.WTERMSIG(status) if os.WIFSIGNALED(status) else -1

    assert run_isolated(site, check).result == signal.SIGSYS


@needs_root
def test_root_child_without_uid_drop_is_still_contained(site: Site) -> None:
    config = IsolationConfig(uid_base=UID_BASE, drop_uid=False)

    def check(s: Site) -> dict[str, Any]:
        return {
            "uid": os.getuid(),
            "read_etc_passwd": outcome(lambda: open("/etc/passwd", "rb").close()),
            # Landlock's signal scope (ABI 6), as root and same uid as the zygote.
            "signal_zygote": outcome(lambda: os.kill(os.getppid(), 0)),
            "make_device": outcome(
                lambda: os.mknod(os.path.join(s.workdir, "mem"), 0o600 | 0o020000, os.makedev(1, 1))
            ),
            "make_fifo": outcome(lambda: os.mkfifo(os.path.join(s.workdir, "fifo"))),
            "prlimit_zygote": raw_syscall(
                nr("prlimit64"), os.getppid(), resource.RLIMIT_NOFILE, 0, 0
            ),
        }

    run = run_isolated(site, check, config=config)
    assert run.report.missing() == ["rlimits", "uid"]
    assert "disabled by config" in run.report.layer("uid").detail
    result = run.result
    assert result["uid"] == 0
    assert result["read_etc_passwd"] == "EACCES"
    if isolation_abi() >= 6:
        assert result["signal_zygote"] == "EPERM"
    assert result["make_device"] in ("EPERM", "EACCES")
    assert result["make_fifo"] == "ok"
    assert result["prlimit_zygote"] == [-1, errno.EPERM]


def isolation_abi() -> int:
    from landlock import landlock_abi_version

    return int(landlock_abi_version())


@needs_root
def test_unprivileged_zygote_reports_what_it_cannot_do(site: Site) -> None:
    nobody = 65534
    os.chown(site.workdir, nobody, nobody)
    os.chown(site.outside, nobody, nobody)

    def become_nobody() -> None:
        os.setgroups([])
        os.setresgid(nobody, nobody, nobody)
        os.setresuid(nobody, nobody, nobody)

    def check(s: Site) -> dict[str, Any]:
        return {
            "uid": os.getuid(),
            "read_etc_passwd": outcome(lambda: open("/etc/passwd", "rb").close()),
            "write_outside": outcome(lambda: open(os.path.join(s.outside, "x"), "w").close()),
            "write_work_dir": outcome(lambda: open(os.path.join(s.workdir, "x"), "w").close()),
            "inet": outcome(lambda: socket.socket(socket.AF_INET)),
        }

    run = run_isolated(site, check, zygote_setup=become_nobody)
    report = run.report
    assert report.missing() == ["uid", "netns"]
    assert "not root" in report.layer("uid").detail
    assert "EPERM" in report.layer("netns").detail
    assert report.layer("rlimits").active and "65534" in report.layer("rlimits").detail
    assert run.result == {
        "uid": nobody,
        "read_etc_passwd": "EACCES",
        "write_outside": "EACCES",
        "write_work_dir": "ok",
        "inet": "EPERM",
    }


@needs_root
def test_interpreter_unreadable_by_the_uid_keeps_children_root(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Like pyenv under /root (mode 0700): the interpreter's files are out of the uid's reach.
    private = os.path.join(site.base, "private")
    os.mkdir(private, 0o700)
    stdlib_file = os.path.join(private, "os.py")
    open(stdlib_file, "w").close()
    monkeypatch.setattr(credentials, "_essential_paths", lambda read_only: [stdlib_file])

    run = run_isolated(site, lambda s: os.getuid())
    uid_layer = run.report.layer("uid")
    assert not uid_layer.active
    assert f"{private} is mode 0700" in uid_layer.detail
    assert "children keep uid 0" in uid_layer.detail
    assert run.result == 0
    assert not run.report.layer("rlimits").active


@needs_root
def test_unreachable_read_only_path_is_left_out(site: Site) -> None:
    private = os.path.join(site.base, "private")
    hidden = os.path.join(private, "lib")
    os.makedirs(hidden)
    os.chmod(private, 0o700)
    config = IsolationConfig(
        read_only_paths=(*default_read_only_paths(), hidden), uid_base=UID_BASE
    )
    run = run_isolated(site, lambda s: os.getuid(), config=config)
    uid_layer = run.report.layer("uid")
    assert uid_layer.active
    assert f"left out: {hidden} ({private} is mode 0700" in uid_layer.detail
    assert run.result == UID_BASE


@needs_root
def test_apply_failures_are_isolation_errors(site: Site) -> None:
    def zygote() -> dict[str, str]:
        iso = Isolation(IsolationConfig(uid_base=UID_BASE))
        iso.prepare_zygote()
        found = {}
        for label, workdir, slot in (
            ("bad_slot", site.workdir, 256),
            ("missing_workdir", os.path.join(site.base, "nope"), 0),
        ):

            def child(workdir: str = workdir, slot: int = slot) -> str:
                try:
                    iso.apply_in_child(workdir, slot)
                except IsolationError as exc:
                    return str(exc)
                return "no error"

            found[label] = _fork_json(child)[0]
        return found

    found, _ = _fork_json(zygote)
    assert "slot 256" in found["bad_slot"]
    assert found["missing_workdir"].startswith("landlock: ENOENT")


@needs_root
def test_apply_in_child_is_fast(site: Site) -> None:
    def zygote() -> list[float]:
        iso = Isolation(IsolationConfig(uid_base=UID_BASE))
        iso.prepare_zygote()
        costs = []
        for _ in range(9):

            def child() -> float:
                os.chdir(site.workdir)
                started = time.perf_counter_ns()
                iso.apply_in_child(site.workdir, 0)
                return (time.perf_counter_ns() - started) / 1000

            costs.append(_fork_json(child)[0])
        return costs

    costs, _ = _fork_json(zygote)
    median = statistics.median(costs)
    print(f"apply_in_child in a fresh fork: median {median:.0f} us, max {max(costs):.0f} us")
    assert median < 3000  # target < 1000 us; headroom for a loaded CI machine


# --- probe ------------------------------------------------------------------------------


@needs_root
def test_probe_verifies_every_layer() -> None:
    netns = os.readlink("/proc/self/ns/net")
    report = probe(IsolationConfig(uid_base=UID_BASE))
    assert report.fully_isolated(), report.to_dict()
    for layer in report.layers:
        assert layer.detail.endswith("; verified"), layer
    assert report.apply_cost_us is not None and report.apply_cost_us > 0
    assert os.readlink("/proc/self/ns/net") == netns


@needs_root
def test_probe_reports_disabled_layers() -> None:
    report = probe(IsolationConfig(uid_base=UID_BASE, use_seccomp=False, use_netns=False))
    assert report.missing() == ["seccomp", "netns"]
    assert report.layer("netns").detail == "disabled by config"
    assert report.layer("landlock").active


@needs_root
def test_probe_catches_a_layer_that_does_not_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    # A Landlock plan that grants the whole filesystem must fail verification.
    real_plan = core.plan_landlock

    def too_generous(read_only: Any) -> Any:
        return real_plan(["/", *read_only])

    monkeypatch.setattr(core, "plan_landlock", too_generous)
    report = probe(IsolationConfig(uid_base=UID_BASE))
    landlock = report.layer("landlock")
    assert not landlock.active
    assert "verification failed" in landlock.detail and "/etc/passwd" in landlock.detail
    assert report.layer("seccomp").active
