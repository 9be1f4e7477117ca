"""Supervision: each run's CPU budget and backstop (the run's and its running test's),
timeouts with a grace to flush, its channel, and its end (reaped, reported, slot freed)."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import struct
import time
from typing import Any

from codeloop.execution import child as child_harness
from codeloop.execution.zygote.procfs import (
    child_pids,
    has_threads,
    kept_fd_read,
    longest_wait_ns,
    process_cpu_ns,
    reaped_children_cpu_ns,
    run_queue_wait_ns,
    tree_cpu_ns,
)
from codeloop.execution.zygote.state import Run, close_gate
from codeloop.execution.zygote.workroot import WorkRoot

POLL_INTERVAL_S = 0.005
# A run that timed out is killed once its harness says it flushed its results, or once it
# has spent this long off the run queue after it was asked to (a program stuck in C code,
# or one that ignores SIGUSR1).  Off the run queue, not wall clock: waiting for a CPU on a
# busy machine can take a while (at 20 ms of wall clock, a child waiting behind three
# others was killed before it wrote what it had: HumanEval+ base verdicts lost under load).
FLUSH_GRACE_S = 0.25
# A fail-fast run in one test for this long is asked to write out its batched results
# (child.FLUSH_SIGNAL, again every WRITE_OUT_POLL_S while it stays there): a test it failed
# before may be among them, and the evaluator then stops the run instead of waiting for
# this test's limit (a second, on 13 scoring runs of a CodeT HumanEval run).
WRITE_OUT_AFTER_S = 0.05
WRITE_OUT_POLL_S = 0.05
# A time limit is a budget of the program's own CPU time (see docs/sandbox.md).  A program
# that sleeps or blocks uses none, so each limit also has a backstop: the run (or test) ends
# once its time off the run queue -- wall clock less the time it waited for a CPU, so what
# it ran, slept and blocked -- reaches this many times the limit.  At 2, a program that
# would finish within its limit on a quiet machine with a CPU to itself (CPU + blocked <=
# limit) always does, with as much again for blocking the machine adds (page faults, result
# writes to a busy evaluator); one that sleeps forever ends after twice its limit.  Waiting
# for a CPU never counts, so neither clock depends on what else the machine runs.
BACKSTOP_FACTOR = 2.0
# The CPUs a run can use at once: a run's budget cannot run out sooner than its CPU time
# left divided by this (threads), so the zygote looks at it no later than that.
RUN_CPUS = max(1, len(os.sched_getaffinity(0)))
# The least time between two looks at a run's budget (its CPU clock steps by scheduler
# ticks while RLIMIT_CPU is armed: looking more often than this only spins).
MIN_CHECK_S = 0.001
CHANNEL_READ = 1 << 16
FUNCTION_OUTPUT_KEEP = 16 * 1024  # what a function task's prints are kept for feedback


class Supervisor(WorkRoot):
    """Watch the runs: read their channels, enforce their limits, reap and report them."""

    def _kill(self, run: Run) -> None:
        try:
            os.killpg(run.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(run.pid, signal.SIGKILL)

    def _on_channel(self, fd: int) -> None:
        run = self.runs_by_fd.get(fd)
        if run is None:
            return
        self._drain(run)

    def _drain(self, run: Run) -> None:
        chunks: list[bytes] = []
        while run.chan_open:
            try:
                data = os.read(run.chan_fd, CHANNEL_READ)
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            if not data:
                self._close_channel(run)
                break
            run.channel_bytes += len(data)
            if run.channel_bytes > run.job.channel_cap:
                run.reason = run.reason or "output_limit"
                self._kill(run)
                self._close_channel(run)
                break
            chunks.append(data)
        if chunks:
            data = b"".join(chunks)
            self.send(("data", run.job.job_id, data))
            if run.kill_at and data.endswith(child_harness.FLUSHED_LINE_END):
                run.kill_at = 0.0  # its results are out: no need to wait for the grace
                self._kill(run)

    def _close_channel(self, run: Run) -> None:
        if run.chan_open:
            run.chan_open = False
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(run.chan_fd)
            self.runs_by_fd.pop(run.chan_fd, None)
            os.close(run.chan_fd)

    def _check_deadlines(self) -> None:
        """End the runs whose CPU budget or backstop ran out (a run's, or its test's).

        A run with per-test limits is looked at every poll: its CPU clock, its run-queue
        wait and whether it has children (~4.5 us in all, against ~10 us for each new test
        of the wait credit this replaced).  Any other run only when its budget or backstop
        could first have run out."""
        if not self.runs:
            return
        now = time.monotonic()
        now_ns = time.monotonic_ns()
        for run in list(self.runs.values()):
            if run.exited:
                continue
            if run.reason:
                if run.kill_at and now >= run.kill_at:
                    self._end_grace(run, now, now_ns)
                continue
            if now >= run.review_at:
                self._ask_write_out(run, now, now_ns)
            if run.per_test is not None and self._check_test(run, now, now_ns):
                continue
            if now >= run.check_at:
                self._check_run(run, now, now_ns)

    def _run_cpu_ns(self, run: Run, now_ns: int, *, whole_tree: bool = False) -> int | None:
        """CPU time the run has used: its process's, and its own processes' once it has
        been seen with any (every look at the whole run looks for them).  None once the
        run's process is gone (its reap comes next).

        A run's processes stay in its process group (seccomp forbids leaving it): they
        are its process's descendants, or, when their parent ended first, orphans
        reparented to the zygote, found by their process group."""
        cpu = process_cpu_ns(run.pid)
        if cpu is None:
            return None
        if not (whole_tree or run.forked):
            # ~1 us: the main thread's children.  A process forked by another thread, or
            # forked and gone between two looks, is found by the next whole-tree look.
            path = f"/proc/{run.pid}/task/{run.pid}/children"
            children = kept_fd_read(run, "children_fd", path)
            if not children or not children.strip():
                return cpu
            run.forked = True
        self._find_orphans(now_ns)
        seen = {run.pid}
        extra = reaped_children_cpu_ns(run.pid) + run.orphans_cpu_ns
        for child in child_pids(run.pid):
            extra += tree_cpu_ns(child, seen)
        for orphan, owner in list(self.orphans.items()):
            if owner == run.pid:
                extra += tree_cpu_ns(orphan, seen)
        if extra or len(seen) > 1:
            run.forked = True
        return cpu + extra

    def _find_orphans(self, now_ns: int) -> None:
        """Note which run each process reparented to the zygote belongs to (once a pass)."""
        if self.orphans_seen_at == now_ns:
            return
        self.orphans_seen_at = now_ns
        for pid in child_pids(os.getpid()):
            if pid in self.runs or pid in self.orphans:
                continue
            with contextlib.suppress(OSError):
                group = os.getpgid(pid)
                if group in self.runs:
                    self.orphans[pid] = group

    def _check_run(self, run: Run, now: float, now_ns: int) -> None:
        """The whole program's CPU budget (all its processes), and its backstop."""
        cpu = self._run_cpu_ns(run, now_ns, whole_tree=True)
        if cpu is None:
            return
        limit_ns = run.cpu_limit_s * 1e9
        if cpu >= limit_ns:
            self._time_out(run, self._current_test(run), now, now_ns, "cpu", cpu, limit_ns)
            return
        backstop_ns = BACKSTOP_FACTOR * limit_ns
        # time off the run queue is at most the wall clock: read the wait only once that
        # could have reached the backstop
        backstop_left = backstop_ns - (now_ns - run.started_ns)
        if backstop_left <= 0:
            off_queue = now_ns - run.started_ns - run_queue_wait_ns(run)
            if off_queue >= backstop_ns and (run.forked or has_threads(run.pid)):
                # its main thread may be waiting on threads or processes that wait for a
                # CPU: the run is off the run queue only as long as the one that waited
                # longest is
                off_queue = now_ns - run.started_ns - longest_wait_ns(run.pid)
            if off_queue >= backstop_ns:
                stuck = self._current_test(run)
                self._time_out(run, stuck, now, now_ns, "backstop", off_queue, limit_ns)
                return
            backstop_left = backstop_ns - off_queue
        soonest = min((limit_ns - cpu) / RUN_CPUS, backstop_left) / 1e9
        run.check_at = now + max(soonest, MIN_CHECK_S)

    def _check_test(self, run: Run, now: float, now_ns: int) -> bool:
        """The running test's CPU budget, and its backstop; True if the run timed out.

        The child marks a test's start (monotonic ns) in the shared page; the zygote sees
        it at its next look.  The CPU and run-queue wait at the start are those of the
        last look and this one, in proportion to when between them the test started (the
        error is a share of one poll interval, ~5 ms, against limits of 0.1 s or more)."""
        assert run.per_test is not None
        then_ns, then_cpu, then_wait = run.seen
        cpu = self._run_cpu_ns(run, now_ns)
        if cpu is None:
            return False
        wait = run_queue_wait_ns(run)
        run.seen = (now_ns, cpu, wait)
        index, started_ns = struct.unpack_from(child_harness.SHM_FORMAT, run.shm, 0)
        if not (0 <= index < len(run.per_test) and started_ns):
            run.test_due = math.inf  # between tests, or loading
            return False
        if (index, started_ns) != run.test_seen:
            run.test_seen = (index, started_ns)
            span = now_ns - then_ns
            share = min(max((started_ns - then_ns) / span, 0.0), 1.0) if span > 0 else 1.0
            run.test_base = (
                then_cpu + round(share * (cpu - then_cpu)),
                then_wait + round(share * (wait - then_wait)),
            )
        limit = run.per_test[index]
        if limit is None:
            run.test_due = math.inf  # the run's budget caps it
            return False
        limit_ns = limit * 1e9
        used = cpu - run.test_base[0]
        if used >= limit_ns:
            self._time_out(run, index, now, now_ns, "cpu", used, limit_ns, per_test=True)
            return True
        off_queue = now_ns - started_ns - (wait - run.test_base[1])
        backstop_ns = BACKSTOP_FACTOR * limit_ns
        if off_queue >= backstop_ns:
            self._time_out(run, index, now, now_ns, "backstop", off_queue, limit_ns, per_test=True)
            return True
        run.test_due = now + min((limit_ns - used) / RUN_CPUS, backstop_ns - off_queue) / 1e9
        return False

    def _time_out(
        self,
        run: Run,
        stuck_test: int | None,
        now: float,
        now_ns: int,
        clock: str,
        used_ns: float,
        limit_ns: float,
        *,
        per_test: bool = False,
    ) -> None:
        """End a run that ran out of time, after letting its harness flush.

        `clock` says what ran out: "cpu" (the CPU budget) or "backstop" (time off the run
        queue: the program slept or blocked).  The harness batches results; tests that
        passed just before the one that hangs may still be in its buffer.  SIGUSR1 asks
        it to write them out (a Python-level handler, so a program stuck in C code does
        not answer), and the process group is killed as soon as it has written them (the
        flush ends with a marker), or once it has had FLUSH_GRACE_S off the run queue or
        of CPU, whichever comes first (its own processes may keep it from the CPU)."""
        run.reason = "timeout"
        run.stuck_test = stuck_test
        run.timeout = {
            "clock": clock,
            "used_s": used_ns / 1e9,
            "limit_s": limit_ns / 1e9,
            "per_test": per_test,
            "backstop_factor": BACKSTOP_FACTOR,
        }
        try:
            os.kill(run.pid, signal.SIGUSR1)
        except OSError:
            self._kill(run)
            return
        cpu = self._run_cpu_ns(run, now_ns) or 0
        run.grace_from = (now_ns, run_queue_wait_ns(run), cpu)
        run.kill_at = now + FLUSH_GRACE_S

    def _end_grace(self, run: Run, now: float, now_ns: int) -> None:
        """Kill a timed-out run that has had its grace and has not flushed; otherwise
        look again when it could have had it."""
        since_ns, wait_then, cpu_then = run.grace_from
        off_queue = now_ns - since_ns - (run_queue_wait_ns(run) - wait_then)
        cpu = self._run_cpu_ns(run, now_ns)
        used = max(off_queue, (cpu or cpu_then) - cpu_then)
        left = FLUSH_GRACE_S - used / 1e9
        if left > 0:
            run.kill_at = now + max(left / RUN_CPUS, MIN_CHECK_S)
            return
        run.kill_at = 0.0
        self._kill(run)

    def _ask_write_out(self, run: Run, now: float, now_ns: int) -> None:
        """A fail-fast run in one test for WRITE_OUT_AFTER_S is asked to write out its
        batched results, again every WRITE_OUT_POLL_S while it stays in that test."""
        index, started_ns = struct.unpack_from(child_harness.SHM_FORMAT, run.shm, 0)
        if index >= 0 and started_ns:
            in_test = (now_ns - started_ns) / 1e9
            if in_test >= WRITE_OUT_AFTER_S:
                with contextlib.suppress(OSError):
                    os.kill(run.pid, child_harness.FLUSH_SIGNAL)
            else:
                run.review_at = now + max(WRITE_OUT_AFTER_S - in_test, WRITE_OUT_POLL_S)
                return
        run.review_at = now + WRITE_OUT_POLL_S

    @staticmethod
    def _current_test(run: Run) -> int | None:
        index, _ = struct.unpack_from(child_harness.SHM_FORMAT, run.shm, 0)
        return index if index >= 0 else None

    def _reap(self) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if pid == 0:
                return
            run = self.runs.get(pid)
            if run is None:
                # an orphaned descendant of a run, reparented to us (we are a subreaper):
                # its time still counts for its run
                owner = self.runs.get(self.orphans.pop(pid, 0))
                if owner is not None:
                    owner.orphans_cpu_ns += round((usage.ru_utime + usage.ru_stime) * 1e9)
                continue
            self._finish_run(run, status, usage)

    def _finish_run(self, run: Run, status: int, usage: Any) -> None:
        run.exited = True
        close_gate(run)
        # Kill whatever the program left behind in its process group (threads died with it).
        self._kill(run)
        self._drain(run)
        self._close_channel(run)
        del self.runs[run.pid]
        for fd in (run.schedstat_fd, run.children_fd):
            if fd >= 0:
                os.close(fd)
        shm_index = struct.unpack_from(child_harness.SHM_FORMAT, run.shm, 0)[0]
        info: dict[str, Any] = {
            "tests": run.test_indices,
            "duration": time.monotonic() - run.started,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "maxrss_kb": usage.ru_maxrss,
            "reason": run.reason,
            "stuck_test": run.stuck_test
            if run.stuck_test is not None
            else (shm_index if shm_index >= 0 else None),
            "harness_started": shm_index != -2,
        }
        if run.timeout:
            info["timeout"] = run.timeout
        if os.WIFSIGNALED(status):
            info["signal"] = os.WTERMSIG(status)
        else:
            info["exit_code"] = os.WEXITSTATUS(status)
        keep = run.job.output if run.job.suite.kind == "stdio" else FUNCTION_OUTPUT_KEEP
        output, truncated, size = self._read_output(run.out_fd, keep)
        os.close(run.out_fd)
        info["output"] = output
        info["output_truncated"] = truncated
        if size >= run.job.output and not info["reason"]:
            info["reason"] = "output_limit"
        self._clear_workdir(run.slot)
        self.free_slots.append(run.slot)
        job = run.job
        self.send(("run", job.job_id, info))
        stdio_more = (
            job.suite.kind == "stdio"
            and job.next_test < len(job.suite.tests if job.order is None else job.order)
            and not job.cancelled
        )
        if stdio_more:
            self.pending.appendleft(job)
        else:
            self._finish_job(job)

    @staticmethod
    def _read_output(fd: int, cap: int) -> tuple[str, bool, int]:
        # Read through the descriptor opened before the fork: the program may have replaced
        # the file in its directory (say, by a symlink to a secret); this fd is still ours.
        try:
            size = os.fstat(fd).st_size
            data = os.pread(fd, min(size, cap), 0) if size else b""
        except OSError:
            return "", False, 0
        return data.decode("utf-8", errors="replace"), size > len(data), size
