"""The few system calls every layer needs (prctl, unshare), error text, and `in_child`: run a
check in a forked process and bring back its JSON-able result."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any

from codeloop.execution.isolation.config import IsolationError

PR_SET_NO_NEW_PRIVS = 38
_PR_GET_NO_NEW_PRIVS = 39

_LIBC = ctypes.CDLL(None, use_errno=True)
_prctl = _LIBC.prctl
_prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
_prctl.restype = ctypes.c_int


def checked_prctl(option: int, arg2: int, arg3: int = 0) -> int:
    ctypes.set_errno(0)
    result = int(_prctl(option, arg2, arg3, 0, 0))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def no_new_privs() -> bool:
    """Whether PR_SET_NO_NEW_PRIVS is set on this thread."""
    return checked_prctl(_PR_GET_NO_NEW_PRIVS, 0) == 1


def unshare(flags: int) -> None:
    native = getattr(os, "unshare", None)  # Python 3.12+
    if native is not None:
        native(flags)
        return
    ctypes.set_errno(0)
    if _LIBC.unshare(ctypes.c_int(flags)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, str(exc.errno))
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{name} {exc.strerror}{where}"
    return f"{type(exc).__name__}: {exc}"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_until_eof(fd: int, deadline: float) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def in_child(task: Callable[[], Any], timeout: float, *, new_group: bool = False) -> Any:
    """Run `task` in a forked child and return its JSON-able result (None if it died)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(read_fd)
            if new_group:
                os.setpgid(0, 0)
            payload: dict[str, Any] = {"result": task()}
        except BaseException as exc:  # report everything; a child must never return
            payload = {"error": f"{type(exc).__name__}: {exc}"}
            code = 1
        try:
            _write_all(write_fd, json.dumps(payload).encode())
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        data = _read_until_eof(read_fd, time.monotonic() + timeout)
    finally:
        os.close(read_fd)
    if data is None:
        with contextlib.suppress(ProcessLookupError):
            if new_group:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if not data:
        how = (
            f"killed by signal {os.WTERMSIG(status)}"
            if os.WIFSIGNALED(status)
            else f"exited {os.waitstatus_to_exitcode(status)} without a result"
        )
        raise IsolationError(f"check process {'timed out' if data is None else how}")
    payload = json.loads(data)
    if "error" in payload:
        raise IsolationError(f"check process failed: {payload['error']}")
    return payload["result"]
