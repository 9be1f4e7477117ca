"""The zygote process: start-up (pre-imports, isolation, work root), the serve loop over its
control pipe and its runs' channels, and `main`."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import selectors
import signal
import sys
import tempfile
import time
import traceback
import warnings
from typing import Any

from codeloop.execution import child as child_harness
from codeloop.execution.protocol import encode_frame, write_all
from codeloop.execution.zygote.launch import Launcher
from codeloop.execution.zygote.state import Job, Suite, c_library, close_gate
from codeloop.execution.zygote.supervise import POLL_INTERVAL_S, Supervisor

# Modules generated programs reach for most often: importing them here makes the import in
# every child free (already in sys.modules) and keeps working after the uid drop.
PRELOAD = (
    "abc array bisect builtins calendar cmath collections collections.abc copy dataclasses "
    "datetime decimal enum fractions functools hashlib heapq io itertools json math numbers "
    "operator random re statistics string struct sys textwrap time typing unicodedata "
    "string re functools"
).split()

# A run gets one core: numeric libraries should not start a thread per core (in the heavy
# zygote they would start them before the fork, and children would inherit none of them).
SINGLE_THREADED = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}


PR_SET_CHILD_SUBREAPER = 36


def _address_space() -> int:
    """This process's mapped address space in bytes (what RLIMIT_AS limits)."""
    with open("/proc/self/status", "rb") as handle:
        for line in handle:
            if line.startswith(b"VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _release_free_heap() -> None:
    """Hand the memory the C allocator holds free back to the kernel.

    A fork copies the page-table entries of every resident page of the zygote, and each
    child's exit drops them: about 45 us per MB for a fork and exit on a 2-core VM.  Free
    heap is still resident: compiling the sandbox's modules at start-up (when they have no
    .pyc) leaves about 2 MB of it (RSS of the anonymous memory 12.3 MB, then 10.5 MB),
    and a forgotten suite leaves what its inputs took."""
    with contextlib.suppress(AttributeError, OSError):
        c_library().malloc_trim(0)  # glibc only; elsewhere the memory simply stays


class Zygote(Launcher, Supervisor):
    """The zygote: start-up and the serve loop, over its launcher and supervisor."""

    # ----------------------------------------------------------------- setup
    def start(self) -> dict[str, Any]:
        for name in PRELOAD:
            with contextlib.suppress(ImportError):
                __import__(name)
        before = _address_space()
        preloaded = self._preload_heavy(self.config.get("preload") or ())
        # A child of this zygote starts with the preloaded modules already mapped; a program
        # should not lose address space to modules it did not import, so its memory limit
        # is raised by what preloading took (it still pays for whatever it imports itself).
        self.as_allowance = max(0, _address_space() - before) if preloaded else 0
        report: dict[str, Any] = {"layers": []}
        if self.config.get("isolation"):
            from codeloop.execution.isolation import Isolation, IsolationConfig

            iso_config = IsolationConfig(**self.config["isolation"])
            self.isolation = Isolation(iso_config)
            report = self.isolation.prepare_zygote().to_dict()
        self._set_subreaper()
        report.setdefault("layers", []).append(self._prepare_workroot())
        report["preloaded"] = preloaded
        report["address_space_allowance"] = self.as_allowance
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: self._stop())
        child_harness.warm_up()
        _release_free_heap()
        self.wake_r = wake_r
        self.selector.register(wake_r, selectors.EVENT_READ, "wake")
        self.selector.register(self.ctrl_in, selectors.EVENT_READ, "ctrl")
        # What every child's environment holds, set here once rather than rebuilt in every
        # child (~70 page faults a run); HOME and TMPDIR (the run's work dir) are set before
        # each fork (`_launch`).
        os.environ.clear()
        os.environ.update({"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **SINGLE_THREADED})
        # mkdtemp above made tempfile cache this process's temp dir; a child must find its
        # own (TMPDIR), as a fresh interpreter would, not a /tmp it cannot write to
        tempfile.tempdir = None
        return report

    @staticmethod
    def _preload_heavy(names: list[str] | tuple[str, ...]) -> list[str]:
        """Import the slow third-party modules this zygote is for; the names that loaded.

        Before any isolation, as trusted code: a module that fails to import (not
        installed, broken) is skipped, and children then import it themselves as usual."""
        loaded = []
        for name in names:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    __import__(name)
            except Exception:  # noqa: S112 - an optional speed-up, never a failure
                continue
            loaded.append(name)
        return loaded

    def _stop(self) -> None:
        self.running = False

    @staticmethod
    def _set_subreaper() -> None:
        try:
            c_library().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        except Exception:
            pass

    # ------------------------------------------------------------- main loop
    def serve(self) -> None:
        while self.running:
            timeout = self._next_timeout()
            for key, _ in self.selector.select(timeout):
                tag = key.data
                if tag == "ctrl":
                    self._on_control()
                elif tag == "wake":
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self.wake_r, 4096):
                            pass
                    self._reap()
                else:
                    self._on_channel(key.fd)
            self._reap()
            self._check_deadlines()
            self._start_pending()
            self.flush()
        self._shutdown()

    def _next_timeout(self) -> float | None:
        if not self.runs:
            return None
        now = time.monotonic()
        soonest = min(
            # a run being ended is due nothing but its kill (once killed, its exit wakes
            # us: waiting on its past deadlines instead spun this loop until it was reaped)
            (run.kill_at or math.inf)
            if run.reason
            else min(run.check_at, run.review_at, run.test_due)
            for run in self.runs.values()
        )
        timeout = None if soonest == math.inf else max(0.0, soonest - now)
        if any(run.per_test is not None for run in self.runs.values()):
            # a test that started since the last look is due a limit from its start
            timeout = POLL_INTERVAL_S if timeout is None else min(timeout, POLL_INTERVAL_S)
        return timeout

    def _on_control(self) -> None:
        try:
            data = os.read(self.ctrl_in, 1 << 20)
        except InterruptedError:
            return
        if not data:
            self.running = False
            return
        for message in self.reader.feed(data):
            kind = message[0]
            if kind == "job":
                self._accept_job(message)
            elif kind == "suite":
                _, key, payload = message
                self.suites[key] = self._make_suite(payload)
            elif kind == "kill":
                self._cancel(message[1])
            elif kind == "go":
                self._open_gate(message[1])
            elif kind == "forget":
                self.suites.pop(message[1], None)
                _release_free_heap()  # ~20 us
            elif kind == "stop":
                self.running = False

    @staticmethod
    def _make_suite(payload: dict[str, Any]) -> Suite:
        entry = payload["entry_point"]
        tests: list[tuple[str, tuple[Any, ...], Any]] = []
        stdin: list[str] = []
        limits: list[float | None] = []
        for kind, args, code, text, limit, context in payload["tests"]:
            args = tuple(args)
            extra: Any = None
            if kind == "code":
                # test code (run by the driver, never next to the program): compiled once
                # here, inherited by every fork
                check = compile(
                    f"{code}\n\ncheck({entry})\n",
                    child_harness.TEST_FILENAME,
                    "exec",
                    dont_inherit=True,
                )
                helpers = None
                if context:
                    helpers = compile(context, "<context>", "exec", dont_inherit=True)
                extra = (check, helpers)
                args = ()
            elif kind == "call":
                extra = child_harness.fresh_inputs(args)
                if isinstance(extra, bytes):
                    args = ()  # the image is all a child needs (and all this process keeps)
            tests.append((kind, args, extra))
            stdin.append(text)
            limits.append(limit)
        per_test = limits if any(v is not None for v in limits) else None
        return Suite(
            kind=payload["kind"],
            entry_point=entry,
            preamble=payload["preamble"],
            tests=tests,
            stdin=stdin,
            limits=limits,
            indices=list(range(len(tests))),
            per_test=per_test,
            per_test_total=sum(v for v in limits if v is not None),
            driven=any(test[0] == "code" for test in tests),
        )

    def _accept_job(self, message: tuple[Any, ...]) -> None:
        _, job_id, key, program, opts = message
        suite = self.suites.get(key)
        if suite is None:
            self.send(("error", job_id, f"unknown suite {key}"))
            return
        job = Job(job_id=job_id, suite=suite, program=program, **opts)
        self.jobs[job_id] = job
        self.pending.append(job)

    def _open_gate(self, job_id: int) -> None:
        """The evaluator judged the first test of a gated run right: let the child go on."""
        for run in self.runs.values():
            if run.job.job_id == job_id and run.gate_fd >= 0:
                with contextlib.suppress(OSError):
                    os.write(run.gate_fd, b"g")
                close_gate(run)

    def _cancel(self, job_id: int) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            return
        job.cancelled = True
        for run in list(self.runs.values()):
            if run.job is job and not run.exited:
                run.reason = run.reason or "requested"
                self._kill(run)

    def _shutdown(self) -> None:
        for run in list(self.runs.values()):
            self._kill(run)
        deadline = time.monotonic() + 2
        while self.runs and time.monotonic() < deadline:
            try:
                pid, status, usage = os.wait4(-1, 0)
            except ChildProcessError:
                break
            self.runs.pop(pid, None)  # its work dir goes with the work root below
        self._remove_workroot()


def interpreter_tag() -> str:
    """What code compiled by one interpreter must match to be loaded by another."""
    return f"{sys.implementation.cache_tag} {sys.version}"


def main() -> None:
    config = json.loads(sys.argv[1])
    # Our stdin/stdout are the control pipes; keep them away from print() and friends.
    ctrl_in = os.dup(0)
    ctrl_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    for fd in (ctrl_in, ctrl_out):
        os.set_inheritable(fd, False)
    zygote = Zygote(config)
    zygote.ctrl_in = ctrl_in
    zygote.ctrl_out = ctrl_out
    try:
        report = zygote.start()
    except Exception:
        write_all(ctrl_out, encode_frame(("fatal", traceback.format_exc())))
        sys.exit(1)
    report["workroot"] = zygote.workroot
    report["interpreter"] = interpreter_tag()  # the evaluator sends compiled code if it matches
    write_all(ctrl_out, encode_frame(("ready", report, os.getpid())))
    try:
        zygote.serve()
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
