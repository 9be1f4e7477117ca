"""The local sandbox executor: a pool of zygotes and the trusted side of every verdict.

    async with LocalExecutor() as executor:
        result = await executor.run(ExecRequest(program, suite))

The evaluator sends each test suite to a zygote once (inputs only: expected values never
leave this process), then one job per program.  Children's result lines come back as bytes;
they are parsed, decoded into builtins and compared here.  With `fail_fast`, the first
failing test makes the evaluator ask the zygote to kill the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from codeloop.execution.behaviour import program_image
from codeloop.execution.codec import decode, show
from codeloop.execution.compare import verdict
from codeloop.execution.isolation import required_by_environment
from codeloop.execution.protocol import FrameReader, encode_frame
from codeloop.execution.zygote import SINGLE_THREADED, interpreter_tag
from codeloop.types import (
    ExecRequest,
    ExecResult,
    Limits,
    Status,
    TaskKind,
    TestCase,
    TestKind,
    TestOutcome,
    TestSuite,
)

SLOTS_PER_ZYGOTE = 64
DEFAULT_UID_BASE = 61000  # children run as uid/gid DEFAULT_UID_BASE + slot
# Suites a zygote keeps (least recently used forgotten first, sent again when needed): a
# strategy makes new suites all run long (codet: a few per task), and each child's fork and
# exit cost grows with the zygote's memory.
SUITES_KEPT = 64
# Slow-to-import third-party modules.  A program that imports one runs in a child of a
# separate zygote that imported it once (``import torch`` costs ~1.6 s of CPU here, which
# every such program would otherwise pay again).  Only modules that import in that zygote
# count; a program's imports are read from its text, so a miss costs time, never a verdict.
HEAVY_MODULES = (
    "numpy",
    "pandas",
    "torch",
    "scipy",
    "sklearn",
    "matplotlib",
    "sympy",
    "networkx",
    "tensorflow",
)
_IMPORT_LINE = re.compile(r"^[ \t]*(?:from[ \t]+([A-Za-z_]\w*)|import[ \t]+([^#;\n]+))", re.M)
_STATUS = {s.value: s for s in Status}


class _JudgingError(Exception):
    """The evaluator failed while judging a well-formed line (an oracle bug, say)."""


class _ProtocolViolation(ValueError):
    """A result line that the harness could not have written: the program tampered."""


class SandboxError(RuntimeError):
    """The sandbox could not be started or broke: an infrastructure problem."""


@dataclass
class _Job:
    job_id: int
    request: ExecRequest
    zygote: _Zygote
    buffer: bytearray = field(default_factory=bytearray)
    outcomes: dict[int, TestOutcome] = field(default_factory=dict)
    values: dict[int, Any] = field(default_factory=dict)
    child_lines: dict[int, dict[str, Any]] = field(default_factory=dict)
    load_failure: dict[str, Any] | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    done_seen: bool = False
    kill_sent: bool = False
    stopped: bool = False  # fail-fast saw a failure: ignore what the child still sends
    # fail-fast: the child waits after its first test until we say its result was right
    # (a zygote may not gate a run: stdio, code tests, a single test; the word is then moot)
    gate_pending: bool = False
    protocol_error: str = ""
    infra_error: str = ""
    finished: anyio.Event = field(default_factory=anyio.Event)


class _Zygote:
    def __init__(self, index: int, process: subprocess.Popen[bytes]) -> None:
        self.index = index
        self.process = process
        assert process.stdin is not None and process.stdout is not None
        self.ctrl_w = process.stdin.fileno()
        self.ctrl_r = process.stdout.fileno()
        os.set_blocking(self.ctrl_w, False)
        os.set_blocking(self.ctrl_r, False)
        self.reader = FrameReader()
        self.suites: dict[str, None] = {}  # keys the zygote holds, least recently used first
        self.jobs: dict[int, _Job] = {}
        self.write_lock = anyio.Lock()
        self.alive = True
        self.report: dict[str, Any] = {}
        self.pid = process.pid
        self.loads_images = False  # runs the very interpreter this process runs


def imported_modules(program: str) -> frozenset[str]:
    """Top-level names of the modules a program's import statements name (from its text:
    imports inside strings or built at run time are not seen)."""
    names: set[str] = set()
    for source, plain in _IMPORT_LINE.findall(program):
        if source:
            names.add(source)
            continue
        for part in plain.replace("(", " ").replace(")", " ").split(","):
            words = part.split()
            if words:
                names.add(words[0].split(".")[0])
    return frozenset(names)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def _zygote_env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2])
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": src,
        **SINGLE_THREADED,
    }


class LocalExecutor:
    """Runs programs in forked, isolated children of pre-started zygote processes."""

    def __init__(
        self,
        *,
        workers: int | None = None,
        max_inflight: int | None = None,
        isolation: bool = True,
        require_isolation: bool | None = None,
        python: str | None = None,
        uid_base: int = DEFAULT_UID_BASE,
        preload: Sequence[str] = HEAVY_MODULES,
    ) -> None:
        self.workers = workers or default_workers()
        # Runs at once: most finish in milliseconds, but a stuck one holds its place until
        # its deadline.  At 4 per worker, the 75 stuck programs among HumanEval's 16,400
        # CodeGen samples held about half of the places; at 8 the fixed-limit evaluation
        # took 50 s instead of 64 s, with the same verdicts (at 16 one slow, correct
        # program was starved past 3 s).
        self.max_inflight = max_inflight or self.workers * 8
        if self.max_inflight > self.workers * SLOTS_PER_ZYGOTE:
            raise ValueError("max_inflight exceeds the sandbox slots available")
        self.isolation = isolation
        # None: as $CODELOOP_REQUIRE_ISOLATION says (CI sets it), else a missing layer is
        # reported in `report` and the run goes on
        self.require_isolation = (
            required_by_environment() if require_isolation is None else require_isolation
        )
        self.python = python or sys.executable
        self.uid_base = uid_base
        # No longer used: a run stuck in a test was lowered to nice 19 while its wall-clock
        # limit ran out.  Limits now count the program's own CPU time, so lowering it
        # changes no verdict, only when that comes, and side by side it saved no time
        # (docs/sandbox.md, "Deadlines and statuses").  Accepted so callers keep working.
        self._zygotes: list[_Zygote] = []
        self.preload = frozenset(preload)
        self._heavy: _Zygote | None = None
        self._heavy_loaded: frozenset[str] | None = None  # None: not started yet
        self._heavy_lock = anyio.Lock()
        self._next_job = 0
        self._limiter = anyio.Semaphore(self.max_inflight)
        self._tg: anyio.abc.TaskGroup | None = None
        self._exit_stack: contextlib.AsyncExitStack | None = None
        self.report: dict[str, Any] = {}

    # ------------------------------------------------------------ lifecycle
    @property
    def uid_span(self) -> int:
        """How many uids its children use from `uid_base` on: one per slot of every
        zygote, the heavy-module one (index `workers`) too."""
        return (self.workers + 1) * SLOTS_PER_ZYGOTE

    async def __aenter__(self) -> LocalExecutor:
        stack = contextlib.AsyncExitStack()
        self._tg = await stack.enter_async_context(anyio.create_task_group())
        self._exit_stack = stack
        self._zygotes = [None] * self.workers  # type: ignore[list-item]
        try:
            # start all workers at once: each pays interpreter start-up and isolation set-up
            async with anyio.create_task_group() as starting:
                for index in range(self.workers):
                    starting.start_soon(self._spawn, index)
        except BaseException as exc:
            await self.aclose()
            if isinstance(exc, BaseExceptionGroup):
                first = exc.exceptions[0]
                while isinstance(first, BaseExceptionGroup):
                    first = first.exceptions[0]
                raise first from exc
            raise
        self.report = self._zygotes[0].report
        missing = [layer["name"] for layer in self.report.get("layers", []) if not layer["active"]]
        if self.require_isolation and (missing or not self.isolation):
            await self.aclose()
            raise SandboxError(
                "isolation required but not fully in force; missing: "
                + (", ".join(missing) if missing else "all (isolation disabled)")
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for zygote in [*self._zygotes, self._heavy]:
            self._terminate(zygote)
        self._heavy = None
        if self._tg is not None:
            self._tg.cancel_scope.cancel()
        if self._exit_stack is not None:
            stack, self._exit_stack = self._exit_stack, None
            await stack.aclose()
        self._tg = None

    def _terminate(self, zygote: _Zygote | None) -> None:
        if zygote is None:
            return
        zygote.alive = False
        with contextlib.suppress(OSError):
            zygote.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(Exception):
            zygote.process.wait(timeout=3)
        if zygote.process.poll() is None:
            zygote.process.kill()
            zygote.process.wait()
        workroot = zygote.report.get("workroot")
        if workroot and os.path.basename(str(workroot)).startswith("codeloop-sbx-"):
            # normally the zygote removes it; after a crash, what it left is removed here
            shutil.rmtree(str(workroot), ignore_errors=True)
        for stream in (zygote.process.stdin, zygote.process.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        for job in list(zygote.jobs.values()):
            job.infra_error = job.infra_error or "sandbox worker stopped"
            job.finished.set()
        zygote.jobs.clear()

    def _zygote_config(self, index: int, preload: Sequence[str] = ()) -> dict[str, Any]:
        config: dict[str, Any] = {
            "slot_base": index * SLOTS_PER_ZYGOTE,
            "slot_count": SLOTS_PER_ZYGOTE,
            "preload": list(preload),
        }
        if self.isolation:
            config["isolation"] = {"uid_base": self.uid_base, "uid_count": self.uid_span}
        return config

    async def _spawn(self, index: int) -> _Zygote:
        zygote = await self._start_zygote(index)
        self._zygotes[index] = zygote
        return zygote

    async def _start_zygote(self, index: int, preload: Sequence[str] = ()) -> _Zygote:
        config = json.dumps(self._zygote_config(index, preload))
        process = subprocess.Popen(
            [self.python, "-s", "-m", "codeloop.execution.zygote", config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=_zygote_env(),
            close_fds=True,
            cwd="/",
            # Own session: a Ctrl-C or a kill of the caller's process group reaches only the
            # evaluator; a zygote then sees its control pipe close and cleans up after itself.
            start_new_session=True,
        )
        zygote = _Zygote(index, process)
        with anyio.fail_after(60):
            first = await self._read_frames(zygote)
        if not first or first[0][0] != "ready":
            detail = first[0][1] if first else "no answer"
            self._terminate(zygote)
            raise SandboxError(f"sandbox worker failed to start: {detail}")
        zygote.report = first[0][1]
        zygote.loads_images = zygote.report.get("interpreter") == interpreter_tag()
        assert self._tg is not None
        self._tg.start_soon(self._pump, zygote)
        return zygote

    async def _read_frames(self, zygote: _Zygote) -> list[Any] | None:
        """The next complete frames from a zygote, or None at end of file."""
        while True:
            await anyio.wait_readable(zygote.ctrl_r)
            try:
                data = os.read(zygote.ctrl_r, 1 << 20)
            except BlockingIOError:
                continue
            if not data:
                return None
            frames = zygote.reader.feed(data)
            if frames:
                return frames

    async def _pump(self, zygote: _Zygote) -> None:
        problem = ""
        try:
            while zygote.alive:
                frames = await self._read_frames(zygote)
                if frames is None:
                    break
                for frame in frames:
                    self._on_frame(zygote, frame)
        except Exception as exc:  # a fault of ours: report it on every job it strands
            problem = f"evaluator error reading from the sandbox worker: {exc!r}"
        finally:
            if zygote.alive:
                # The worker died under us: its jobs are infrastructure errors, not failures.
                zygote.alive = False
                code = zygote.process.poll()
                problem = problem or f"sandbox worker exited unexpectedly (code {code})"
                for job in list(zygote.jobs.values()):
                    job.infra_error = problem
                    job.finished.set()
                zygote.jobs.clear()

    # ------------------------------------------------------------------ api
    async def run(self, request: ExecRequest) -> ExecResult:
        if self._tg is None:
            raise SandboxError("executor is not started: use `async with LocalExecutor()`")
        async with self._limiter:
            zygote = await self._pick_zygote(request.program)
            self._next_job += 1
            job_id = self._next_job
            job = _Job(job_id=job_id, request=request, zygote=zygote, gate_pending=_gated(request))
            zygote.jobs[job_id] = job
            try:
                await self._submit(zygote, job_id, request)
            except OSError as exc:
                job.infra_error = f"could not reach sandbox worker: {exc}"
                job.finished.set()
            await job.finished.wait()
            zygote.jobs.pop(job_id, None)
            return self._result(job)

    async def map(self, requests: Iterable[ExecRequest]) -> AsyncIterator[tuple[int, ExecResult]]:
        """Run many requests concurrently; yields (index, result) as they complete."""
        send, receive = anyio.create_memory_object_stream[tuple[int, ExecResult]](self.max_inflight)

        # at most ~2x max_inflight tasks alive, so huge request lists stay cheap
        admitted = anyio.Semaphore(self.max_inflight * 2)

        async def one(index: int, request: ExecRequest) -> None:
            try:
                result = await self.run(request)
                await send.send((index, result))
            finally:
                admitted.release()

        async def feed() -> None:
            async with send, anyio.create_task_group() as tg:
                for index, request in enumerate(requests):
                    await admitted.acquire()
                    tg.start_soon(one, index, request)

        async with anyio.create_task_group() as tg:
            tg.start_soon(feed)
            async with receive:
                async for item in receive:
                    yield item

    async def _pick_zygote(self, program: str = "") -> _Zygote:
        if self.preload and self._wants_heavy(program):
            heavy = await self._heavy_zygote()
            if heavy is not None:
                return heavy
        for index, zygote in enumerate(self._zygotes):
            if not zygote.alive:
                self._terminate(zygote)
                await self._spawn(index)
        return min(self._zygotes, key=lambda z: len(z.jobs))

    def _wants_heavy(self, program: str) -> bool:
        if "import" not in program:
            return False
        wanted = imported_modules(program) & self.preload
        if self._heavy_loaded is not None:
            wanted &= self._heavy_loaded
        return bool(wanted)

    async def _heavy_zygote(self) -> _Zygote | None:
        """The zygote with HEAVY_MODULES imported, started on first need (None: no use)."""
        async with self._heavy_lock:
            heavy = self._heavy
            if heavy is not None and heavy.alive:
                return heavy
            if heavy is not None:
                self._terminate(heavy)
            elif self._heavy_loaded is not None:
                return None  # started once and none of the modules imported
            self._heavy = None
            heavy = await self._start_zygote(self.workers, sorted(self.preload))
            self._heavy_loaded = frozenset(heavy.report.get("preloaded", ()))
            if not self._heavy_loaded:
                self._terminate(heavy)
                return None
            self._heavy = heavy
            return heavy

    async def _submit(self, zygote: _Zygote, job_id: int, request: ExecRequest) -> None:
        suite = request.suite
        frames = []
        if suite.key in zygote.suites:
            del zygote.suites[suite.key]  # now the most recently used
        else:
            # in the same write as the job: the zygote reads them in this order (a job it
            # already holds keeps its suite)
            while len(zygote.suites) >= SUITES_KEPT:
                oldest = next(iter(zygote.suites))
                del zygote.suites[oldest]
                frames.append(encode_frame(("forget", oldest)))
            frames.append(encode_frame(("suite", suite.key, _suite_payload(suite))))
        zygote.suites[suite.key] = None
        limits = request.limits
        opts: dict[str, Any] = {
            # compiled here, where it is cheap (and mostly done already: behaviour keys
            # come from the same compile), when the zygote's interpreter can load it
            "image": program_image(request.program) if zygote.loads_images else None,
            "time_s": limits.time_s,
            "memory": limits.memory_bytes,
            "output": limits.output_bytes,
            "nproc": limits.max_processes,
            "channel_cap": limits.result_bytes,
            "details": request.details,
            "fail_fast": request.fail_fast,
        }
        if request.order is not None:
            opts["order"] = list(request.order)
        if _gated(request):
            opts["gate"] = True  # the child waits for our word after its first test
        frames.append(encode_frame(("job", job_id, suite.key, request.program, opts)))
        await self._write(zygote, b"".join(frames))

    async def _write(self, zygote: _Zygote, data: bytes) -> None:
        async with zygote.write_lock:
            view = memoryview(data)
            while view:
                try:
                    written = os.write(zygote.ctrl_w, view)
                except BlockingIOError:
                    await anyio.wait_writable(zygote.ctrl_w)
                    continue
                view = view[written:]

    def _send_nowait(self, zygote: _Zygote, message: Any) -> None:
        assert self._tg is not None
        self._tg.start_soon(self._write_quietly, zygote, encode_frame(message))

    async def _write_quietly(self, zygote: _Zygote, data: bytes) -> None:
        with contextlib.suppress(OSError):
            await self._write(zygote, data)

    # -------------------------------------------------------------- results
    def _on_frame(self, zygote: _Zygote, frame: Any) -> None:
        kind = frame[0]
        job = zygote.jobs.get(frame[1]) if len(frame) > 1 else None
        if job is None:
            return
        if kind == "data":
            self._on_data(job, frame[2])
        elif kind == "run":
            job.runs.append(frame[2])
        elif kind == "done":
            job.done_seen = True
            job.finished.set()
        elif kind == "error":
            job.infra_error = str(frame[2])
            job.finished.set()

    def _on_data(self, job: _Job, data: bytes) -> None:
        # Look for the line end only in what just arrived: a flood without newlines must not
        # cost a rescan of everything buffered on every read.
        cut = data.rfind(b"\n")
        if cut < 0:
            job.buffer += data
            return
        complete = bytes(job.buffer) + data[:cut]
        job.buffer = bytearray(data[cut + 1 :])
        for raw in complete.split(b"\n"):
            if job.protocol_error or job.infra_error:
                return
            try:
                message = self._parse_line(job, raw)
            except _JudgingError as exc:
                # a fault of ours while judging (an oracle, a comparison): never the program's
                job.infra_error = f"evaluator error while judging: {exc.__cause__!r}"[:300]
                self._kill(job)
            except Exception as exc:
                # Anything else wrong with a line means the program wrote on the channel.
                job.protocol_error = f"program corrupted the result channel: {exc!r}"[:300]
                self._kill(job)
            else:
                del message

    def _parse_line(self, job: _Job, raw: bytes) -> list[Any]:
        batch = json.loads(raw)
        if type(batch) is not list:
            raise _ProtocolViolation("not a batch")
        for message in batch:
            if job.stopped:
                break  # fail-fast: the run is being killed, later results change nothing
            if type(message) is not dict:
                raise _ProtocolViolation("not an object")
            self._on_message(job, message)
        return batch

    def _kill(self, job: _Job) -> None:
        if not job.kill_sent:
            job.kill_sent = True
            self._send_nowait(job.zygote, ("kill", job.job_id))

    def _on_message(self, job: _Job, message: dict[str, Any]) -> None:
        if "done" in message or "flushed" in message:
            return
        if "load" in message:
            if not isinstance(message["load"], dict):
                raise _ProtocolViolation("malformed load failure")
            job.load_failure = dict(message["load"])
            return
        index = message.get("i")
        tests = job.request.suite.tests
        if type(index) is not int or not 0 <= index < len(tests) or index in job.outcomes:
            raise _ProtocolViolation(f"bad test index {index!r}")
        test = tests[index]
        duration = message.get("d", 0.0)
        if type(duration) not in (int, float):
            raise _ProtocolViolation("malformed duration")
        if "s" in message:
            status = _STATUS.get(str(message["s"]), Status.ERROR)
            if status in (Status.PASSED, Status.INFRA_ERROR, Status.NOT_RUN):
                status = Status.ERROR
            outcome = TestOutcome(
                index=index,
                status=status,
                expected=_expected_text(test) if job.request.details else "",
                exception=str(message.get("e", ""))[:200],
                message=str(message.get("m", ""))[:2000],
                traceback=str(message.get("tb", ""))[:4000],
                duration_s=duration,
            )
        elif test.kind is TestKind.STDIO:
            job.child_lines[index] = message  # completed: judged when its stdout arrives
            return
        elif "v" in message:
            try:
                actual = decode(message["v"])
            except (ValueError, TypeError, RecursionError) as exc:
                raise _ProtocolViolation(f"undecodable value: {exc}") from exc
            if job.request.record_only:
                job.values[index] = actual
                outcome = TestOutcome(index=index, status=Status.PASSED, duration_s=duration)
            else:
                try:
                    passed = verdict(test, actual)
                except Exception as exc:
                    raise _JudgingError() from exc
                # texts only where someone will read them: a failure's expected and actual
                if passed:
                    outcome = TestOutcome(index=index, status=Status.PASSED, duration_s=duration)
                elif job.request.details:
                    outcome = TestOutcome(
                        index=index,
                        status=Status.FAILED,
                        expected=_expected_text(test),
                        actual=show(actual),
                        duration_s=duration,
                    )
                else:
                    outcome = TestOutcome(index=index, status=Status.FAILED, duration_s=duration)
        elif message.get("ok") == 1 and test.kind is TestKind.CODE:
            outcome = TestOutcome(index=index, status=Status.PASSED, duration_s=duration)
        else:
            raise _ProtocolViolation("unexpected message")
        job.outcomes[index] = outcome
        if outcome.status is not Status.PASSED and job.request.fail_fast:
            job.stopped = True
            self._kill(job)
        elif job.gate_pending:
            job.gate_pending = False
            self._send_nowait(job.zygote, ("go", job.job_id))

    def _result(self, job: _Job) -> ExecResult:
        request = job.request
        tests = request.suite.tests
        if job.infra_error:
            return ExecResult(
                status=Status.INFRA_ERROR,
                outcomes=tuple(not_run(i) for i in range(len(tests))),
                infra_error=job.infra_error,
            )
        if request.suite.kind is TaskKind.STDIO:
            self._judge_stdio(job)
            if job.infra_error:
                return self._result(job)
        outcomes = self._complete_outcomes(job)
        status = Status.PASSED
        run_order = request.run_order()
        for index in run_order:  # the first test that did not pass, in the order they ran
            if outcomes[index].status is not Status.PASSED:
                status = outcomes[index].status
                break
        if job.protocol_error and status is Status.PASSED:
            # Lines the harness never wrote were on the channel: nothing on it can be trusted.
            status = Status.EXITED_EARLY
            first = run_order[0] if run_order else 0
            outcomes = [
                TestOutcome(o.index, Status.EXITED_EARLY, message=job.protocol_error)
                if o.index == first
                else o
                for o in outcomes
            ]
        if not tests and job.load_failure:
            status = _STATUS.get(str(job.load_failure.get("s")), Status.ERROR)
        output = "".join(str(run.get("output", "")) for run in job.runs)
        duration = sum(float(run.get("duration", 0.0)) for run in job.runs)
        infra = ""
        if status is Status.INFRA_ERROR:
            infra = "the sandbox could not set up the run (see the worker's report)"
        values: tuple[Any, ...] = ()
        if request.record_only:
            values = tuple(job.values.get(i) for i in range(len(tests)))
        return ExecResult(
            status=status,
            outcomes=tuple(outcomes),
            duration_s=duration,
            stdout=output,
            infra_error=infra,
            actual_values=values,
        )

    def _judge_stdio(self, job: _Job) -> None:
        tests = job.request.suite.tests
        for run in job.runs:
            (index,) = run["tests"]
            if index in job.outcomes or index not in job.child_lines:
                continue
            if run.get("reason") or "signal" in run:
                continue  # the end-of-run classification below explains it
            test = tests[index]
            line = job.child_lines[index]
            actual = str(run.get("output", ""))
            duration = float(line.get("d", 0.0))
            if job.request.record_only:
                job.values[index] = actual
                passed = True
            else:
                try:
                    passed = verdict(test, actual)
                except Exception as exc:
                    job.infra_error = f"evaluator error while judging: {exc!r}"[:300]
                    return
            job.outcomes[index] = TestOutcome(
                index=index,
                status=Status.PASSED if passed else Status.FAILED,
                expected=_expected_text(test),
                actual=show(actual, 2000),
                duration_s=duration,
            )

    def _complete_outcomes(self, job: _Job) -> list[TestOutcome]:
        """Fill in every test the child did not report, from how its run ended; one
        outcome per test of the suite, in the suite's order."""
        tests = job.request.suite.tests
        outcomes: list[TestOutcome] = []
        runs_by_test: dict[int, dict[str, Any]] = {}
        for each_run in job.runs:
            for index in each_run["tests"]:
                runs_by_test[index] = each_run
        ended = False  # after the first unexplained end, the rest did not run
        run_order = job.request.run_order()
        for index in run_order:  # in the order the tests ran
            outcome = job.outcomes.get(index)
            if outcome is not None:
                outcomes.append(outcome)
                continue
            if ended:
                outcomes.append(not_run(index))
                continue
            run = runs_by_test.get(index)
            if job.load_failure is not None:
                load_failure = job.load_failure
                status = _STATUS.get(str(load_failure.get("s")), Status.ERROR)
                if status in (Status.PASSED, Status.NOT_RUN, Status.INFRA_ERROR):
                    status = Status.ERROR
                outcomes.append(
                    TestOutcome(
                        index,
                        status,
                        expected=_expected_text(tests[index]),
                        exception=str(load_failure.get("e", ""))[:200],
                        message=str(load_failure.get("m", ""))[:2000],
                        traceback=str(load_failure.get("tb", ""))[:4000],
                    )
                )
                ended = True
                continue
            if job.protocol_error:
                outcomes.append(TestOutcome(index, Status.EXITED_EARLY, message=job.protocol_error))
                ended = True
                continue
            if job.request.fail_fast and any(o.status is not Status.PASSED for o in outcomes):
                # the harness stops after a failing test of a fail-fast run: not the program
                outcomes.append(not_run(index))
                ended = True
                continue
            if run is None:
                # a stdio test never started (fail-fast stopped the job), or nothing ran
                if job.kill_sent or any(o.status is not Status.PASSED for o in outcomes):
                    outcomes.append(not_run(index))
                else:
                    outcomes.append(
                        TestOutcome(index, Status.INFRA_ERROR, message="no run reported")
                    )
                ended = True
                continue
            outcomes.append(
                _ending(index, run, tests[index], job.kill_sent, job.request.limits.memory_bytes)
            )
            ended = True
        if job.request.order is None:
            return outcomes
        # indexed as in the suite; the tests the order left out did not run
        by_index: list[TestOutcome | None] = [None] * len(tests)
        for outcome in outcomes:
            by_index[outcome.index] = outcome
        return [o or not_run(i) for i, o in enumerate(by_index)]


def _gated(request: ExecRequest) -> bool:
    return request.fail_fast and not request.record_only


_NOT_RUN: list[TestOutcome] = []


def not_run(index: int) -> TestOutcome:
    """The outcome of a test that did not run.  Outcomes are immutable, so runs share one
    per index: a wrong program stopped at its first test of a thousand would otherwise
    make a thousand objects (most of the evaluator's time on EvalPlus's failing programs)."""
    while len(_NOT_RUN) <= index:
        _NOT_RUN.append(TestOutcome(len(_NOT_RUN), Status.NOT_RUN))
    return _NOT_RUN[index]


def _ending(
    index: int, run: dict[str, Any], test: TestCase, kill_sent: bool, memory_limit: int = 0
) -> TestOutcome:
    """The outcome of the test that was running when a child ended without reporting it."""
    reason = run.get("reason", "")
    expected = _expected_text(test)
    if reason == "requested":
        return TestOutcome(index, Status.NOT_RUN)
    if reason == "timeout":
        return TestOutcome(index, Status.TIMEOUT, expected=expected, message=_timeout_message(run))
    if reason == "output_limit":
        return TestOutcome(
            index, Status.OUTPUT_LIMIT, expected=expected, message="output limit exceeded"
        )
    sig = run.get("signal")
    if sig is not None:
        if sig in (signal.SIGXCPU,):
            return TestOutcome(
                index, Status.TIMEOUT, expected=expected, message="CPU time limit exceeded"
            )
        if sig == signal.SIGKILL:
            if kill_sent:
                return TestOutcome(index, Status.NOT_RUN)
            rss = int(run.get("maxrss_kb", 0)) * 1024
            if memory_limit and rss >= 0.8 * memory_limit:
                return TestOutcome(
                    index,
                    Status.MEMORY,
                    expected=expected,
                    message="killed (SIGKILL) near its memory limit",
                )
            return TestOutcome(index, Status.SIGNAL, expected=expected, message="killed by SIGKILL")
        if sig == signal.SIGXFSZ:
            return TestOutcome(
                index, Status.OUTPUT_LIMIT, expected=expected, message="file size limit exceeded"
            )
        name = signal.Signals(sig).name if sig in signal.Signals.__members__.values() else str(sig)
        output = str(run.get("output", ""))
        if sig == signal.SIGABRT and "MemoryError" in output:
            return TestOutcome(index, Status.MEMORY, expected=expected, message="out of memory")
        return TestOutcome(index, Status.SIGNAL, expected=expected, message=f"killed by {name}")
    code = run.get("exit_code")
    if code == 70 and not run.get("harness_started", True):
        return TestOutcome(
            index,
            Status.INFRA_ERROR,
            message="sandbox setup failed: " + str(run.get("output", ""))[-1500:],
        )
    return TestOutcome(
        index,
        Status.EXITED_EARLY,
        expected=expected,
        message=f"the program ended the process (exit status {code})",
    )


def _timeout_message(run: dict[str, Any]) -> str:
    """What ran out: the CPU budget, or the wall-clock backstop of a program that sleeps or
    blocks (docs/sandbox.md, "Deadlines and statuses")."""
    timeout = run.get("timeout")
    if not isinstance(timeout, dict):
        return f"time limit exceeded ({run.get('duration', 0):.2f}s)"
    limit = float(timeout.get("limit_s", 0.0))
    who = "this test" if timeout.get("per_test") else "the program"
    if timeout.get("clock") == "backstop":
        factor = float(timeout.get("backstop_factor", 0.0))
        return (
            f"time limit exceeded (wall-clock backstop: {who} ran, slept or blocked for "
            f"{float(timeout.get('used_s', 0.0)):.2f}s, {factor:g}x its {limit:.2f}s CPU limit)"
        )
    return f"time limit exceeded ({who} used its {limit:.2f}s of CPU)"


def _expected_text(test: TestCase) -> str:
    if test.kind is TestKind.CODE or not test.has_expected:
        return ""
    return show(test.expected, 2000 if test.kind is TestKind.STDIO else 300)


def _suite_payload(suite: TestSuite) -> dict[str, Any]:
    # Inputs only. Expected values stay in this process.
    return {
        "kind": str(suite.kind),
        "entry_point": suite.entry_point,
        "preamble": suite.preamble,
        "tests": [
            (str(t.kind), t.args, t.code, t.stdin, t.time_limit_s, t.context) for t in suite.tests
        ],
    }


def run_sync(requests: list[ExecRequest], **options: Any) -> list[ExecResult]:
    """Run requests with a fresh executor (convenience for scripts and tests)."""

    async def main() -> list[ExecResult]:
        results: list[ExecResult | None] = [None] * len(requests)
        async with LocalExecutor(**options) as executor:
            async for index, result in executor.map(requests):
                results[index] = result
        return [r for r in results if r is not None]

    return anyio.run(main)


__all__ = ["LocalExecutor", "SandboxError", "Limits", "run_sync"]
