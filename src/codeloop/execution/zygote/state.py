"""What a zygote holds: suites, jobs, slot work dirs and runs, and the state every part of
the zygote (work root, launch, supervision, serve loop) shares."""

from __future__ import annotations

import ctypes
import math
import mmap
import os
import selectors
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from codeloop.execution.protocol import FrameReader, encode_frame, write_all


def c_library() -> Any:
    return ctypes.CDLL(None, use_errno=True)


@dataclass
class Suite:
    kind: str
    entry_point: str | None
    preamble: str
    # what a child gets (child_harness.ChildJob.tests), made once: a run only refers to it
    tests: list[tuple[str, tuple[Any, ...], Any]]
    stdin: list[str]
    limits: list[float | None]
    indices: list[int]  # every test's index (never changed: runs share it)
    per_test: list[float | None] | None = None  # per-test limits, when any test has one
    per_test_total: float = 0.0
    driven: bool = False  # code tests among them: a driver process runs the job's tests


@dataclass
class Job:
    job_id: int
    suite: Suite
    program: str
    time_s: float
    memory: int
    output: int
    nproc: int
    channel_cap: int
    details: bool = True  # tracebacks of failing tests
    fail_fast: bool = False  # the evaluator stops the run at its first failing test
    image: bytes | None = None  # the program compiled by the evaluator (None: compile it)
    next_test: int = 0  # stdio: the next test to start (a position in `order`, if given)
    order: list[int] | None = None  # the tests to run, in this order (None: all, in order)
    gate: bool = False  # fail-fast: the child waits for the evaluator's word after its first test
    cancelled: bool = False

    @property
    def flush_each(self) -> bool:
        """Every result written as it comes (a crash loses none): for feedback that wants
        every failing test's texts; fail-fast and details-free runs batch theirs."""
        return self.details and not self.fail_fast


@dataclass
class Workdir:
    """A slot's work dir: the same directory run after run, emptied in between."""

    path: str
    fd: int  # the directory itself, opened when it was made: nothing renamed in its
    # place (by a program that outlived its run, without Landlock) is ever cleared or used
    ident: tuple[int, int]  # (st_dev, st_ino)
    ruleset: int | None  # its Landlock ruleset (None without Landlock), made with it


@dataclass
class Run:
    job: Job
    pid: int
    chan_fd: int
    slot: int
    out_fd: int
    shm: mmap.mmap
    started: float  # time.monotonic() at the fork
    started_ns: int  # the same, time.monotonic_ns()
    cpu_limit_s: float  # the run's CPU budget (the program's limit plus its tests' own)
    test_indices: list[int]
    per_test: list[float | None] | None = None
    check_at: float = 0.0  # next look at the run's CPU budget and backstop (monotonic)
    review_at: float = math.inf  # fail-fast: next look at its test (Zygote._ask_write_out)
    kill_at: float = 0.0  # timed out: next look at whether to kill it (flushed or not)
    channel_bytes: int = 0
    reason: str = ""
    stuck_test: int | None = None
    timeout: dict[str, Any] = field(default_factory=dict)  # what ran out, for the verdict
    exit_info: dict[str, Any] = field(default_factory=dict)
    exited: bool = False
    chan_open: bool = True
    # (time.monotonic_ns, CPU ns, run-queue wait ns) at the last look at a run with per-test
    # limits (at the fork: 0 and 0, a new process's counts)
    seen: tuple[int, int, int] = (0, 0, 0)
    test_seen: tuple[int, int] = (-3, 0)  # (test index, its start) at the last look
    test_base: tuple[int, int] = (0, 0)  # CPU and run-queue wait (ns) at that test's start
    # the running test's budget or backstop can run out then at the soonest (monotonic), as
    # of the last look: the zygote wakes for it, not at the next POLL_INTERVAL_S
    test_due: float = math.inf
    # at the timeout: (monotonic ns, run-queue wait ns, the run's CPU ns)
    grace_from: tuple[int, int, int] = (0, 0, 0)
    schedstat_fd: int = -1  # /proc/PID/schedstat, opened when first needed (-2: none)
    children_fd: int = -1  # /proc/PID/task/PID/children, the same
    # seen with processes of its own: its CPU time is then its whole tree's at every look
    forked: bool = False
    orphans_cpu_ns: int = 0  # of its processes the zygote reaped (orphans)
    gate_fd: int = -1  # the write end of its gate (Job.gate), until the word is given


class ZygoteState:
    """The zygote's state, and what every part of it does: send messages to the evaluator
    and say a job is done."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.ctrl_in = 0
        self.ctrl_out = 1
        self.slot_base = int(config["slot_base"])
        self.free_slots = deque(range(int(config["slot_count"])))
        self.config = config
        self.suites: dict[str, Suite] = {}
        self.jobs: dict[int, Job] = {}
        self.runs: dict[int, Run] = {}  # by pid
        self.orphans: dict[int, int] = {}  # a run's process reparented to us: its run's pid
        self.orphans_seen_at = 0  # time.monotonic_ns() of the last look for new ones
        self.runs_by_fd: dict[int, Run] = {}
        self.pending: deque[Job] = deque()
        self.selector = selectors.DefaultSelector()
        self.reader = FrameReader()
        self.isolation: Any = None
        self.seq = 0
        self.shms: dict[int, mmap.mmap] = {}
        self.running = True
        self.workroot = ""
        self.slot_mount_options = b""
        self.slot_dirs: set[int] = set()
        self.workdirs: dict[int, Workdir] = {}
        self.outbox: list[bytes] = []
        self.devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        self.as_allowance = 0
        self.env_home = ""  # the work dir HOME and TMPDIR name now (what a fork passes on)

    def send(self, message: Any) -> None:
        # Batched: one write per loop iteration, whatever number of runs ended in it.
        self.outbox.append(encode_frame(message))

    def flush(self) -> None:
        if self.outbox:
            data = b"".join(self.outbox)
            self.outbox.clear()
            write_all(self.ctrl_out, data)

    def _finish_job(self, job: Job) -> None:
        self.jobs.pop(job.job_id, None)
        self.send(("done", job.job_id))


def close_gate(run: Run) -> None:
    """Close a run's gate: a child still waiting at it reads end of file and stops."""
    if run.gate_fd >= 0:
        os.close(run.gate_fd)
        run.gate_fd = -1
