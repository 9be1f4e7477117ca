"""The uid layer (each child as an unprivileged per-slot uid, once that uid can read the
interpreter) and the rlimits layer, whose limits bind only an unprivileged child."""

from __future__ import annotations

import os
import stat
import sys
import sysconfig
from collections.abc import Iterable

from codeloop.execution.isolation.config import (
    READ_WRITE_FILES,
    IsolationConfig,
    Layer,
    is_beneath,
)
from codeloop.execution.isolation.kernel import in_child


def _may(st: os.stat_result, uid: int, gid: int, want: int) -> bool:
    if st.st_uid == uid:
        bits = st.st_mode >> 6
    elif st.st_gid == gid:
        bits = st.st_mode >> 3
    else:
        bits = st.st_mode
    return bits & want == want


def _explain_denial(path: str, uid: int, gid: int) -> str:
    """Which directory on the way to `path` stops uid (as seen by root)."""
    real = os.path.realpath(path)
    current = "/"
    for part in [p for p in real.split("/") if p][:-1]:
        current = os.path.join(current, part)
        try:
            st = os.stat(current)
        except OSError:
            continue
        if not _may(st, uid, gid, 0o1):
            return f"{current} is mode {stat.S_IMODE(st.st_mode):04o}, owner uid {st.st_uid}"
    try:
        st = os.stat(real)
    except OSError as exc:
        return exc.strerror or str(exc)
    return f"{real} is mode {stat.S_IMODE(st.st_mode):04o}, owner uid {st.st_uid}"


def _essential_paths(read_only: Iterable[str]) -> list[str]:
    """What the interpreter must read: its stdlib, extension modules, granted sys.path dirs."""
    granted = list(read_only)
    paths = [os.path.dirname(os.__file__), sysconfig.get_path("platstdlib"), os.__file__]
    dynload = os.path.join(sysconfig.get_path("platstdlib"), "lib-dynload")
    paths.append(dynload)
    for entry in sys.path:
        if entry and os.path.isdir(entry):
            real = os.path.realpath(entry)
            if any(is_beneath(real, g) for g in granted):
                paths.append(real)
    return [p for p in dict.fromkeys(paths) if os.path.exists(p)]


def _access_check(read_only: list[str], essential: list[str]) -> dict[str, dict[str, str]]:
    """Run in the identity children will have: what they cannot reach or read."""
    unreachable: dict[str, str] = {}
    unreadable: dict[str, str] = {}
    for path in read_only:
        try:
            os.close(os.open(path, os.O_PATH | os.O_CLOEXEC))
        except OSError as exc:
            unreachable[path] = exc.strerror or str(exc)
    for path in [*read_only, *essential]:
        want = os.R_OK | (os.X_OK if os.path.isdir(path) else 0)
        if path in READ_WRITE_FILES:
            want |= os.W_OK
        if not os.access(path, want):
            unreadable[path] = "no access"
    return {"unreachable": unreachable, "unreadable": unreadable}


def drop_to(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def prepare_uid(config: IsolationConfig, read_only: list[str]) -> tuple[bool, Layer, list[str]]:
    """(drop the uid?, its layer, the read-only paths children can reach)."""
    euid = os.geteuid()
    first, last = config.uid_base, config.uid_base + config.uid_count - 1
    if not config.drop_uid:
        reason = f"disabled by config: children keep uid {euid}"
    elif euid != 0:
        reason = f"unavailable: the zygote is not root (euid {euid}); children keep uid {euid}"
    else:
        reason = ""
    essential = _essential_paths(read_only)
    if reason:
        found = _access_check(read_only, essential)
        reachable = [p for p in read_only if p not in found["unreachable"]]
        return False, Layer("uid", False, reason), reachable

    def check() -> dict[str, dict[str, str]]:
        drop_to(first, first)
        return _access_check(read_only, essential)

    try:
        found = in_child(check, timeout=30.0)
    except Exception as exc:
        layer = Layer("uid", False, f"unavailable: cannot test uid {first}: {exc}")
        return False, layer, read_only
    blocked = {
        path: _explain_denial(path, first, first)
        for path in essential
        if path in found["unreadable"]
    }
    if blocked:
        worst = "; ".join(f"{path} ({why})" for path, why in blocked.items())
        detail = (
            f"unavailable: uid {first} cannot read the interpreter: {worst}; children "
            f"keep uid 0 - start the zygote with a world-readable interpreter (the system "
            f"python, or a venv outside /root)"
        )
        return False, Layer("uid", False, detail), read_only
    detail = f"uid/gid {first}-{last} (uid_base + slot), no supplementary groups"
    skipped = sorted(set(found["unreachable"]) | set(found["unreadable"]))
    if skipped:
        detail += "; not readable by that uid, so left out: " + ", ".join(
            f"{path} ({_explain_denial(path, first, first)})" for path in skipped
        )
    reachable = [p for p in read_only if p not in found["unreachable"]]
    return True, Layer("uid", True, detail), reachable


def rlimits_layer(drop_uid: bool) -> Layer:
    euid = os.geteuid()
    if drop_uid:
        return Layer(
            "rlimits",
            True,
            "limits the child harness sets are binding: children are unprivileged "
            "(cannot raise hard limits) and RLIMIT_NPROC counts each slot's uid",
        )
    if euid != 0:
        return Layer(
            "rlimits",
            True,
            f"binding (children are unprivileged), but RLIMIT_NPROC counts every "
            f"process of uid {euid}, the zygote's included",
        )
    return Layer(
        "rlimits",
        False,
        "children keep uid 0: CAP_SYS_RESOURCE lets them raise their limits and "
        "RLIMIT_NPROC does not bind root",
    )
