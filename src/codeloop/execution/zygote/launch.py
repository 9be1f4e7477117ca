"""Launch: fork a run into a slot's work dir, and what the child does before the harness
takes over (descriptors, rlimits, isolation, the zygote's state out of reach)."""

from __future__ import annotations

import contextlib
import fcntl
import gc
import math
import mmap
import os
import resource
import selectors
import signal
import struct
import sys
import time
import traceback
from collections import deque
from typing import Any

from codeloop.execution import child as child_harness
from codeloop.execution.protocol import FrameReader, write_all
from codeloop.execution.zygote.state import Job, Run, Workdir
from codeloop.execution.zygote.supervise import RUN_CPUS, WRITE_OUT_AFTER_S
from codeloop.execution.zygote.workroot import WorkRoot

# The zygote's own handlers, back to the defaults in a child (as plain numbers).
_RESET_IN_CHILD = tuple(int(sig) for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT))


class Launcher(WorkRoot):
    """Start pending jobs: one fork per run, into a free slot."""

    def _start_pending(self) -> None:
        while self.pending and self.free_slots:
            job = self.pending.popleft()
            if job.cancelled:
                self._finish_job(job)
                continue
            try:
                self._launch(job)
            except Exception:
                self.send(("error", job.job_id, "launch failed: " + traceback.format_exc(limit=3)))
                self.jobs.pop(job.job_id, None)

    def _launch(self, job: Job) -> None:
        suite = job.suite
        stdio = suite.kind == "stdio"
        order = job.order
        if stdio:
            indices = [job.next_test if order is None else order[job.next_test]]
            job.next_test += 1
        else:
            indices = suite.indices if order is None else order
        slot = self.free_slots.pop()  # LIFO: few slots (and their tmpfs) stay in use
        global_slot = self.slot_base + slot
        place = self._workdir(slot)
        uid = None
        if self.isolation is not None and self.isolation.drops_uid:
            uid = self.isolation.uid_for(global_slot)
        new_file = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        out_fd = os.open(".output", new_file, 0o600, dir_fd=place.fd)
        if uid is not None:
            os.fchown(out_fd, uid, uid)
        if stdio:
            in_fd = os.open(".input", new_file, 0o600, dir_fd=place.fd)
            write_all(in_fd, suite.stdin[indices[0]].encode("utf-8", errors="replace"))
            os.lseek(in_fd, 0, os.SEEK_SET)
        else:
            in_fd = os.dup(self.devnull)
        chan_r, chan_w = os.pipe2(os.O_CLOEXEC)
        gate_r = gate_w = -1
        if job.gate and not stdio and not suite.driven and len(indices) > 1:
            gate_r, gate_w = os.pipe2(os.O_CLOEXEC)
        shm = self.shms.get(slot)
        if shm is None:
            shm = mmap.mmap(-1, 64)
            self.shms[slot] = shm
        struct.pack_into(child_harness.SHM_FORMAT, shm, 0, -2, 0)

        per_test: list[float | None] | None = None
        if stdio:
            total = suite.limits[indices[0]] or job.time_s
        elif suite.per_test is not None:
            per_test = suite.per_test  # tests without a limit of their own: the total caps them
            if order is None:
                total = job.time_s + suite.per_test_total
            else:
                total = job.time_s + sum(limit for i in order if (limit := per_test[i]) is not None)
        else:
            total = job.time_s

        child_job = child_harness.ChildJob(
            program=job.program,
            image=job.image,
            entry_point=suite.entry_point,
            preamble=suite.preamble,
            tests=[]
            if stdio
            else suite.tests
            if order is None
            else [suite.tests[i] for i in order],
            test_indices=indices,
            stdio=stdio,
            flush_each=job.flush_each,
            details=job.details,
            chan_fd=chan_w,
            shm=shm,
            driven=suite.driven,
            gate_fd=gate_r,
        )
        if self.env_home != place.path:
            # The child inherits them.  Set here, and only when the slot's dir is not the
            # last one set (runs mostly reuse a slot): in each child it cost ~0.14 ms.
            os.environ["HOME"] = place.path
            os.environ["TMPDIR"] = place.path
            self.env_home = place.path
        now = time.monotonic()
        now_ns = time.monotonic_ns()
        # Objects that exist now go to the collector's permanent generation in the child:
        # its collections then never walk (and write to, so copy) the zygote's heap, such
        # as a suite's inputs, which are young.  The zygote takes them back after the fork.
        gc.freeze()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            self._become_child(child_job, job, place, global_slot, in_fd, out_fd, chan_w, total)
        gc.unfreeze()
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        os.close(chan_w)
        os.close(in_fd)
        if gate_r >= 0:
            os.close(gate_r)
        os.set_blocking(chan_r, False)
        run = Run(
            job=job,
            pid=pid,
            chan_fd=chan_r,
            slot=slot,
            out_fd=out_fd,
            shm=shm,
            started=now,
            started_ns=now_ns,
            cpu_limit_s=total,
            gate_fd=gate_w,
            test_indices=indices,
            per_test=per_test,
            # its budget cannot run out sooner (nor its backstop, at twice the budget)
            check_at=now + total / RUN_CPUS,
            seen=(now_ns, 0, 0),
            review_at=now + WRITE_OUT_AFTER_S if job.fail_fast else math.inf,
        )
        self.runs[pid] = run
        self.runs_by_fd[chan_r] = run
        self.selector.register(chan_r, selectors.EVENT_READ, "chan")

    def _become_child(
        self,
        child_job: child_harness.ChildJob,
        job: Job,
        workdir: Workdir,
        slot: int,
        in_fd: int,
        out_fd: int,
        chan_fd: int,
        total_s: float,
    ) -> None:
        try:
            os.setpgid(0, 0)
            signal.set_wakeup_fd(-1)
            for sig in _RESET_IN_CHILD:
                child_harness.set_handler(sig, child_harness.SIG_DFL)
            os.dup2(in_fd, 0)
            os.dup2(out_fd, 1)
            os.dup2(out_fd, 2)
            os.fchdir(workdir.fd)
            cpu = max(1, math.ceil(total_s)) + 1
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
            memory = job.memory + self.as_allowance
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            resource.setrlimit(resource.RLIMIT_FSIZE, (job.output, job.output))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
            resource.setrlimit(resource.RLIMIT_NPROC, (job.nproc, job.nproc))
            if self.isolation is not None:
                self.isolation.apply_in_child(workdir.path, slot, workdir.ruleset)
            keep = sorted({0, 1, 2, chan_fd} | ({child_job.gate_fd} - {-1}))
            low = 3
            for fd in keep[3:]:
                os.closerange(low, fd)
                low = fd + 1
            os.closerange(low, 1 << 20)
            flags = fcntl.fcntl(chan_fd, fcntl.F_GETFD)
            fcntl.fcntl(chan_fd, fcntl.F_SETFD, flags | fcntl.FD_CLOEXEC)
            # sys.stdin/stdout/stderr already wrap fds 0-2 (the zygote never used them, so
            # their buffers are empty): after the dup2 above they read and write this run's
            # files, and making new wrappers would cost a fork-fresh process ~0.2 ms.
            sys.argv = ["program"]
            self._hide_state()
        except BaseException:
            with contextlib.suppress(BaseException):
                os.write(2, traceback.format_exc().encode())
            os._exit(child_harness.EXIT_HARNESS_BROKEN)
        try:
            child_harness.run(child_job)
        except BaseException:
            pass
        os._exit(0)

    def _hide_state(self) -> None:
        """In the child: take the zygote's other suites, jobs and runs out of the program's
        reach (it can walk up its frames to this object), without freeing them.

        Freeing them would walk every object they hold and write to (so copy) every page
        those sit on: about 1 ms of a child's CPU in a CodeT run.  So they go into a list
        that holds itself, and `gc.freeze()` moves that new cycle (with every other
        object of the child so far) to the collector's permanent generation: never
        collected, so never freed, and like everything frozen before the fork, not in
        `gc.get_objects()` or `gc.get_referrers()`.  The child exits without freeing
        anything.  (A program that reads raw memory with ctypes finds them, as it would
        find freed objects: the zygote never holds an expected value.)  Through ctypes
        (Py_IncRef on each) this cost a fresh fork ~0.1 ms more."""
        hidden: list[Any] = [self.suites, self.jobs, self.runs, self.runs_by_fd, self.pending]
        hidden.append(hidden)
        gc.freeze()
        self.suites = {}
        self.jobs = {}
        self.runs = {}
        self.runs_by_fd = {}
        self.pending = deque()
        self.reader = FrameReader()  # may hold part of an incoming suite
