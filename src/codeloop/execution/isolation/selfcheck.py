"""`probe`: verify every layer empirically, in a throwaway zygote and its child."""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from codeloop.execution.isolation.config import (
    IsolationConfig,
    IsolationError,
    IsolationReport,
    Layer,
)
from codeloop.execution.isolation.core import Isolation
from codeloop.execution.isolation.kernel import describe, in_child, no_new_privs, unshare

_FRESH_IMPORT = "fractions"  # a stdlib module, imported anew to prove the stdlib is readable


@dataclass(frozen=True)
class _ProbeSite:
    workdir: str
    outside: str  # writable by the child's uid, outside its work dir
    secret: str  # root-only file inside the work dir
    zygote_pid: int


def _expect_denied(action: Callable[[], object], what: str) -> str | None:
    """None when `action` fails with a permission error, else the complaint."""
    try:
        action()
    except PermissionError:
        return None
    except OSError as exc:
        return f"{what}: {describe(exc)}, expected EPERM/EACCES"
    return f"{what}: allowed"


def _check_landlock(site: _ProbeSite) -> list[str]:
    problems = [
        _expect_denied(lambda: open("/etc/passwd", "rb").close(), "read /etc/passwd"),
        _expect_denied(
            lambda: open(os.path.join(site.outside, "x"), "wb").close(),
            "write outside the work dir",
        ),
        _expect_denied(
            lambda: open(f"/proc/{site.zygote_pid}/environ", "rb").close(),
            "read the zygote's /proc entry",
        ),
    ]
    try:
        with open(os.path.join(site.workdir, "probe.txt"), "w") as handle:
            handle.write("ok")
        with open("/dev/null", "w") as handle:
            handle.write("ok")
        sys.modules.pop(_FRESH_IMPORT, None)
        importlib.import_module(_FRESH_IMPORT)
    except Exception as exc:
        problems.append(f"allowed access failed: {describe(exc)}")
    return [p for p in problems if p]


def _check_seccomp() -> list[str]:
    problems = [
        _expect_denied(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM), "AF_INET"),
        _expect_denied(lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM), "AF_INET6"),
        _expect_denied(lambda: os.setpgid(0, 0), "setpgid"),
        _expect_denied(os.setsid, "setsid"),
        _expect_denied(lambda: unshare(0x10000000), "unshare(CLONE_NEWUSER)"),
    ]
    try:
        left, right = socket.socketpair(socket.AF_UNIX)
        left.sendall(b"x")
        if right.recv(1) != b"x":
            problems.append("AF_UNIX socketpair lost data")
        left.close()
        right.close()
        import threading  # not at the top: see subprocess above

        seen: list[int] = []
        worker = threading.Thread(target=lambda: seen.append(1))
        worker.start()
        worker.join()
        if seen != [1]:
            problems.append("thread did not run")
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 7:
            problems.append(f"forked child ended with status {status}")
    except Exception as exc:
        problems.append(f"allowed call failed: {describe(exc)}")
    return [p for p in problems if p]


def _check_uid(expected: int, site: _ProbeSite) -> list[str]:
    problems: list[str | None] = []
    if os.getresuid() != (expected,) * 3 or os.getresgid() != (expected,) * 3:
        problems.append(f"ids are {os.getresuid()}/{os.getresgid()}, expected {expected}")
    if os.getgroups():
        problems.append(f"supplementary groups {os.getgroups()}")
    problems.append(_expect_denied(lambda: os.setuid(0), "setuid(0)"))
    problems.append(
        _expect_denied(lambda: open(site.secret, "rb").close(), "read a root-only file")
    )
    return [p for p in problems if p]


def _check_rlimits() -> list[str]:
    import resource

    problems: list[str] = []
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 64), 64))
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 65))
        problems.append("raised a hard limit")
    except (ValueError, PermissionError):
        pass
    resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))
    try:
        pid = os.fork()
    except BlockingIOError:
        return problems
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    problems.append("fork succeeded past RLIMIT_NPROC=1")
    return problems


def _verify_child(isolation: Isolation, site: _ProbeSite, slot: int) -> dict[str, Any]:
    """In a fresh child of the probe zygote: apply, then test each layer."""
    report = isolation.report
    assert report is not None
    os.chdir(site.workdir)
    started = time.perf_counter_ns()
    isolation.apply_in_child(site.workdir, slot)
    cost_us = (time.perf_counter_ns() - started) / 1000
    active = {layer.name for layer in report.layers if layer.active}
    found: dict[str, list[str]] = {}
    if "uid" in active:
        found["uid"] = _check_uid(isolation.uid_for(slot), site)
    if "no_new_privs" in active:
        found["no_new_privs"] = [] if no_new_privs() else ["not set"]
    if "landlock" in active:
        found["landlock"] = _check_landlock(site)
    if "seccomp" in active:
        found["seccomp"] = _check_seccomp()
    if "rlimits" in active:  # last: it leaves the child unable to fork
        found["rlimits"] = _check_rlimits()
    return {"cost_us": cost_us, "problems": found}


def _check_netns(caller_netns: str | None) -> list[str]:
    problems: list[str] = []
    try:
        if caller_netns is not None and os.readlink("/proc/self/ns/net") == caller_netns:
            problems.append("still in the caller's network namespace")
    except OSError:
        pass
    probe_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe_socket.settimeout(1.0)
        probe_socket.connect(("127.0.0.1", 9))
        problems.append("connected to 127.0.0.1")
    except ConnectionRefusedError:
        problems.append("127.0.0.1 reachable (connection refused)")
    except OSError:
        pass
    finally:
        probe_socket.close()
    return problems


def _probe_zygote(
    config: IsolationConfig, site: _ProbeSite, slot: int, caller_netns: str | None
) -> dict[str, Any]:
    isolation = Isolation(config)
    started = time.perf_counter()
    report = isolation.prepare_zygote()
    prepare_ms = (time.perf_counter() - started) * 1000
    site = replace(site, zygote_pid=os.getpid())
    problems: dict[str, list[str]] = {}
    if report.layer("netns").active:
        problems["netns"] = _check_netns(caller_netns)
    cost_us: float | None = None
    try:
        child = in_child(lambda: _verify_child(isolation, site, slot), timeout=20.0)
        cost_us = float(child["cost_us"])
        problems.update(child["problems"])
    except IsolationError as exc:
        for name in ("uid", "no_new_privs", "landlock", "seccomp", "rlimits"):
            problems.setdefault(name, [f"verification child failed: {exc}"])
    return {
        "report": report.to_dict(),
        "problems": problems,
        "cost_us": cost_us,
        "prepare_ms": prepare_ms,
    }


def _make_site(config: IsolationConfig, slot: int) -> tuple[str, _ProbeSite]:
    base = tempfile.mkdtemp(prefix="codeloop-probe-")
    os.chmod(base, 0o711)  # noqa: S103 - the child's uid must traverse it to its work dir
    workdir = os.path.join(base, "work")
    outside = os.path.join(base, "outside")
    os.mkdir(workdir, 0o700)
    os.mkdir(outside, 0o700)
    secret = os.path.join(workdir, "root-only")
    with open(secret, "w") as handle:
        handle.write("secret")
    os.chmod(secret, 0o600)
    if os.geteuid() == 0 and config.drop_uid:
        ident = config.uid_base + slot
        os.chown(workdir, ident, ident)
        os.chown(outside, ident, ident)
    return base, _ProbeSite(workdir, outside, secret, zygote_pid=0)


def probe(
    config: IsolationConfig | None = None, slot: int = 0, timeout: float = 60.0
) -> IsolationReport:
    """Prepare a throwaway zygote in a forked child (this process keeps its network), apply
    the isolation in its child, and test every layer there. A layer is reported active
    only when the test confirmed it; the report carries apply_in_child's measured cost."""
    config = config or IsolationConfig()
    if not 0 <= slot < config.uid_count:
        raise IsolationError(f"slot {slot} outside 0..{config.uid_count - 1}")
    try:
        caller_netns: str | None = os.readlink("/proc/self/ns/net")
    except OSError:
        caller_netns = None
    base, site = _make_site(config, slot)
    try:
        outcome = in_child(
            lambda: _probe_zygote(config, site, slot, caller_netns), timeout, new_group=True
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    prepared = IsolationReport.from_dict(outcome["report"])
    problems: dict[str, list[str]] = outcome["problems"]
    layers = []
    for layer in prepared.layers:
        if not layer.active:
            layers.append(layer)
        elif layer.name not in problems:
            layers.append(Layer(layer.name, False, f"{layer.detail}; NOT verified"))
        elif problems[layer.name]:
            failed = "; ".join(problems[layer.name])
            layers.append(Layer(layer.name, False, f"verification failed: {failed}"))
        else:
            layers.append(Layer(layer.name, True, f"{layer.detail}; verified"))
    cost = outcome["cost_us"]
    return IsolationReport(tuple(layers), None if cost is None else float(cost))
