"""How the zygote reads a run's CPU time and its wait for a CPU: the kernel's clocks and
/proc, for the run's process and every process it started."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codeloop.execution.zygote.state import Run


def process_cpu_ns(pid: int) -> int | None:
    """CPU time process `pid` has used so far, all its threads (not its children), in ns.

    The kernel's own accounting, read through the process's CPU clock (CPUCLOCK_SCHED of
    the thread group: `((~pid) << 3) | 2`), which any process may read for any other on
    Linux: ~0.45 us of CPU against ~9 us to open and read /proc/PID/stat.  None once the
    process is gone."""
    try:
        return time.clock_gettime_ns(((~pid) << 3) | 2)
    except OSError:
        return None


_CLOCK_TICK_NS = 1e9 / os.sysconf("SC_CLK_TCK")
# A process tree larger than this is not walked further (RLIMIT_NPROC caps a run at 64
# processes where the uid is dropped; this only bounds the walk where it is not).
TREE_LIMIT = 1024


def reaped_children_cpu_ns(pid: int) -> int:
    """CPU time of the children `pid` has waited for (cutime + cstime, /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rpartition(b")")[2].split()
        return round((int(fields[13]) + int(fields[14])) * _CLOCK_TICK_NS)
    except (OSError, ValueError, IndexError):
        return 0


def child_pids(pid: int) -> list[int]:
    """The live children of every thread of `pid`."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as handle:
                found.extend(int(child) for child in handle.read().split())
        except (OSError, ValueError):
            continue
    return found


def _tree(root: int, seen: set[int]) -> Iterator[int]:
    """`root` and its live descendants, each once (pids in `seen` are skipped, and added)."""
    stack = [root]
    while stack and len(seen) < TREE_LIMIT:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        yield pid
        stack.extend(child_pids(pid))


def tree_cpu_ns(root: int, seen: set[int]) -> int:
    """CPU time of `root` and its descendants, live and waited for (pids in `seen` are
    skipped, and added)."""
    total = 0
    for pid in _tree(root, seen):
        cpu = process_cpu_ns(pid)
        if cpu is not None:  # else gone: its time is its parent's now (or lost)
            total += cpu + reaped_children_cpu_ns(pid)
    return total


def longest_wait_ns(root: int) -> int:
    """The longest any thread of `root` or of its live descendants has waited for a CPU."""
    longest = 0
    for pid in _tree(root, set()):
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in threads:
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as handle:
                    longest = max(longest, int(handle.read().split()[1]))
    return longest


def has_threads(pid: int) -> bool:
    try:
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except OSError:
        return False


def kept_fd_read(run: Run, name: str, path: str) -> bytes | None:
    """Read a /proc file of the run's through a descriptor kept for it: opened when first
    needed (most runs end before), a pread then costs ~1 us.  None if unreadable."""
    fd = getattr(run, name)
    if fd == -1:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            fd = -2
        setattr(run, name, fd)
    if fd < 0:
        return None
    try:
        return os.pread(fd, 256, 0)
    except OSError:
        return None


def run_queue_wait_ns(run: Run) -> int:
    """Nanoseconds the run's process has spent runnable but waiting for a CPU since it was
    forked (its main thread, /proc/PID/schedstat); 0 when the kernel does not say."""
    data = kept_fd_read(run, "schedstat_fd", f"/proc/{run.pid}/schedstat")
    try:
        return int(data.split()[1]) if data else 0
    except (ValueError, IndexError):
        return 0
