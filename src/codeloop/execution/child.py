"""The harness side that runs inside a forked sandbox child, next to the untrusted program.

Nothing here decides a verdict.  The child runs the program, calls the entry point on each
test's inputs and writes back only what happened: an encoded return value, or the exception
and its traceback trimmed to the program's own frames.  It never holds an expected value, so
a program that inspects its own memory finds nothing to forge with.

Messages go on the result channel in batches: each line is a JSON array of messages,
written at most every few milliseconds (or per test, when feedback wants every result, and
whenever the zygote asks with FLUSH_SIGNAL because a test is taking long):
    {"i": n, "v": value, "d": secs}            a call returned
    {"i": n, "ok": 1, "d": secs}               a code test or stdio run completed
    {"i": n, "s": status, "e": type, "m": msg, "tb": text, "d": secs}
    {"load": {"s": status, "e": ..., "m": ..., "tb": ...}}   the program failed to load
    {"flushed": 1}        ends the flush a timed-out run is asked for (SIGUSR1)
    {"done": 1}
"""

from __future__ import annotations

import builtins
import copy
import errno
import json
import marshal
import os
import signal
import struct
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any, NoReturn

from codeloop.execution.codec import EncodeBudget, encode, opaque

PROGRAM_FILENAME = "<program>"
TEST_FILENAME = "<test>"
FLUSH_BYTES = 32 * 1024
FLUSH_INTERVAL_NS = 2_000_000  # 2 ms: bounds how long a failure goes unseen by the parent
MESSAGE_CAP = 2000
TRACEBACK_CAP = 4000
TRACEBACK_FRAMES = 30

# Exit codes the zygote reads when a child ends without sending "done".
EXIT_HARNESS_BROKEN = 70  # the harness itself failed (isolation could not be applied, ...)

SHM_FORMAT = "qq"  # current test index, its start time (CLOCK_MONOTONIC ns)
# The last message of the flush a timed-out run is asked for (SIGUSR1): the zygote kills
# the run as soon as it sees this at the end of what the child wrote.
FLUSHED = {"flushed": 1}
# Asks for what is batched to be written out, the run going on: sent to a run whose test is
# taking long.  Ignored by default, so a program that resets its handler is not killed.
FLUSH_SIGNAL = signal.SIGWINCH
FLUSHED_LINE_END = json.dumps(FLUSHED).encode() + b"]\n"

# The C function under `signal.signal`, and plain signal numbers for it.  In a fresh fork the
# wrapper's Enum conversions (and the ValueError it raises and catches for a handler that is
# a function) write to about 75 of the zygote's pages, and each write copies its page.
set_handler: Callable[[int, Any], Any] = sys.modules["_signal"].signal
SIG_DFL = int(signal.SIG_DFL)
_FLUSH_SIGNUM = int(FLUSH_SIGNAL)
_SIGUSR1 = int(signal.SIGUSR1)


# How a child gets its own copy of a call test's inputs (the program may change them).  The
# zygote decides once per suite (`fresh_inputs`); the child, per test, then does:
#   None     nothing: the inputs hold nothing a program can change (deepcopy would return
#            the very same objects)
#   bytes    `marshal.loads` of this image of the inputs, which then travel only as it: plain
#            builtins (lists, dicts, sets of numbers, strings...), a tenth of deepcopy's time,
#            with shared and nested containers kept as they were
#   DEEPCOPY `copy.deepcopy`: anything else (a Fraction, a user's own class...)
DEEPCOPY = True
_ATOMS = frozenset({int, float, complex, str, bytes, bool, type(None)})
_PLAIN_DEPTH = 64  # deeper (or self-containing) inputs are left to deepcopy


def fresh_inputs(args: tuple[Any, ...]) -> bytes | bool | None:
    """How a child copies these call inputs: None, a marshal image, or DEEPCOPY."""
    kind = _plainness(args, 0)
    if kind == 0:
        return None
    if kind == 1:
        try:
            return marshal.dumps(args)
        except ValueError:
            return DEEPCOPY
    return DEEPCOPY


def _plainness(value: Any, depth: int) -> int:
    """0: immutable builtins only; 1: builtins with a list, dict or set; 2: anything else."""
    cls = type(value)
    if cls in _ATOMS:
        return 0
    if depth > _PLAIN_DEPTH:
        return 2
    if cls is tuple or cls is frozenset:
        worst = 0
        for item in value:
            worst = max(worst, _plainness(item, depth + 1))
            if worst == 2:
                break
        return worst
    if cls is list or cls is set:
        items: Any = value
    elif cls is dict:
        items = [*value.keys(), *value.values()]
    else:
        return 2  # bytearray (marshal makes it bytes), subclasses, other types
    for item in items:
        if _plainness(item, depth + 1) == 2:
            return 2
    return 1


class ChildJob:
    """Everything the child needs, prepared by the zygote before the fork."""

    __slots__ = (
        "program",
        "image",
        "entry_point",
        "preamble",
        "tests",
        "test_indices",
        "stdio",
        "flush_each",
        "details",
        "chan_fd",
        "shm",
    )

    def __init__(
        self,
        *,
        program: str,
        entry_point: str | None,
        preamble: str,
        tests: list[tuple[str, tuple[Any, ...], Any]],
        test_indices: list[int],
        stdio: bool,
        flush_each: bool,
        chan_fd: int,
        shm: Any,
        details: bool = True,
        image: bytes | None = None,
    ) -> None:
        self.program = program
        # the program compiled by the evaluator (execution/behaviour.py), loaded instead of
        # compiling it here; None: compile it here
        self.image = image
        self.entry_point = entry_point
        self.preamble = preamble
        # per test: ("code", (), compiled code) or ("call", args, how to copy them: None,
        # a marshal image (args then empty) or DEEPCOPY)
        self.tests = tests
        self.test_indices = test_indices
        self.stdio = stdio
        self.flush_each = flush_each
        self.details = details  # tracebacks of failing tests
        self.chan_fd = chan_fd
        self.shm = shm


class _Channel:
    __slots__ = (
        "fd",
        "parts",
        "size",
        "last",
        "flush_each",
        "busy",
        "flush_asked",
        "write_asked",
        "_dumps",
        "_write",
        "_now",
    )

    def __init__(self, fd: int, flush_each: bool) -> None:
        self.fd = fd
        self.parts: list[bytes] = []
        self.size = 0
        self.flush_each = flush_each
        # Bound now: a program that patches json or os cannot change how the harness writes.
        self._dumps = json.dumps
        self._write = os.write
        self._now = time.monotonic_ns
        self.last = self._now()
        self.busy = False  # inside send/flush: a signal must not flush half a message
        self.flush_asked = False  # SIGUSR1 came while busy: flush when done
        self.write_asked = False  # FLUSH_SIGNAL came while busy: write out when done

    def send(self, message: dict[str, Any]) -> None:
        self.busy = True
        try:
            data = self._dumps(message).encode()
            self.parts.append(data)
            self.size += len(data) + 1
            if (
                self.flush_each
                or self.write_asked
                or self.size >= FLUSH_BYTES
                or self._now() - self.last >= FLUSH_INTERVAL_NS
            ):
                self._flush()
        finally:
            self.busy = False
        if self.flush_asked:
            self._flush_for_kill()

    def flush(self) -> None:
        self.busy = True
        try:
            self._flush()
        finally:
            self.busy = False
        if self.flush_asked:
            self._flush_for_kill()

    def flush_on_signal(self, _signum: int, _frame: Any) -> None:
        if self.busy:
            self.flush_asked = True  # send/flush finishes its message, then flushes
        else:
            self._flush_for_kill()

    def write_on_signal(self, _signum: int, _frame: Any) -> None:
        """FLUSH_SIGNAL: a test is taking long; write out what is batched (the evaluator
        of a fail-fast run stops it as soon as it sees a failing test among them)."""
        if self.busy:
            self.write_asked = True  # send/flush finishes its message and writes it out
            return
        self.busy = True
        try:
            self._flush()
        finally:
            self.busy = False

    def _flush_for_kill(self) -> None:
        """Write out everything batched, ending with the marker the zygote waits for."""
        self.flush_asked = False
        self.busy = True
        try:
            self.parts.append(self._dumps(FLUSHED).encode())
            self._flush()
        finally:
            self.busy = False

    def _flush(self) -> None:
        if not self.parts:
            return
        # one line per flush: a JSON array of the messages since the last one
        view = memoryview(b"[" + b",".join(self.parts) + b"]\n")
        self.parts.clear()
        self.size = 0
        self.write_asked = False
        while view:
            written = self._write(self.fd, view)
            view = view[written:]
        self.last = self._now()


def _trimmed_traceback(exc: BaseException) -> str:
    """The traceback limited to frames of the program (and test code), never the harness.

    Only the innermost TRACEBACK_FRAMES program frames are formatted: endless recursion
    leaves ~1,000 frames on every failing test, and the text is capped anyway.
    """
    try:
        kept: deque[tuple[Any, int]] = deque(maxlen=TRACEBACK_FRAMES)
        seen = 0
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename in (PROGRAM_FILENAME, TEST_FILENAME):
                kept.append((tb.tb_frame, tb.tb_lineno))
                seen += 1
            tb = tb.tb_next
        lines = ["Traceback (most recent call last):\n"]
        if seen > len(kept):
            lines.append(f"  ... {seen - len(kept)} earlier frames of the program omitted\n")
        lines.extend(traceback.StackSummary.extract(iter(kept)).format())
        lines.extend(traceback.format_exception_only(type(exc), exc))
        text = "".join(lines)
    except BaseException:
        text = f"{_type_name(exc)}: <unprintable>"
    if len(text) > TRACEBACK_CAP:
        text = "...\n" + text[-TRACEBACK_CAP:]
    return text


def _type_name(exc: BaseException) -> str:
    try:
        name = type.__getattribute__(type(exc), "__name__")
        return name if isinstance(name, str) else "BaseException"
    except BaseException:
        return "BaseException"


def _message(exc: BaseException) -> str:
    try:
        text = str(exc)
        if not isinstance(text, str):
            text = ""
    except BaseException:
        text = "<unprintable message>"
    return text[:MESSAGE_CAP]


def _classify(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, SystemExit):
        return "exited_early"
    if isinstance(exc, OSError) and exc.errno in (errno.EFBIG, errno.ENOSPC, errno.EDQUOT):
        return "output_limit"
    return "error"


def _failure(exc: BaseException, details: bool = True) -> dict[str, Any]:
    return {
        "s": _classify(exc),
        "e": _type_name(exc),
        "m": _message(exc),
        "tb": _trimmed_traceback(exc) if details else "",
    }


def _load(program: str, preamble: str, name: str, image: bytes | None) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": name, "__builtins__": builtins}
    if preamble:
        exec(compile(preamble, "<preamble>", "exec", dont_inherit=True), namespace)
    if image is not None:
        code = marshal.loads(image)  # noqa: S302 - made by the evaluator (trusted)
    else:
        # dont_inherit: compiled as plain Python would, not under this module's __future__
        # imports (PEP 563 would leave a bad annotation unevaluated where Python raises).
        code = compile(program, PROGRAM_FILENAME, "exec", dont_inherit=True)
    exec(code, namespace)
    return namespace


def run(job: ChildJob) -> NoReturn:
    """Run the job and exit.  Called in the child after isolation is in force."""
    chan = _Channel(job.chan_fd, job.flush_each)
    # The zygote sends SIGUSR1 just before it kills a run that timed out: write out what
    # is buffered (the tests that passed before the one that hangs).
    set_handler(_SIGUSR1, chan.flush_on_signal)
    set_handler(_FLUSH_SIGNUM, chan.write_on_signal)
    if job.stdio:
        _run_stdio(job, chan)
    else:
        _run_function(job, chan)
    chan.send({"done": 1})
    chan.flush()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    os._exit(0)


def _mark(shm: Any, index: int, pack: Callable[..., None] = struct.pack_into) -> None:
    pack(SHM_FORMAT, shm, 0, index, time.monotonic_ns())


def _unmark(shm: Any, index: int, pack: Callable[..., None] = struct.pack_into) -> None:
    """The test is over (its clock stops); the index stays, to name it if the run dies."""
    pack(SHM_FORMAT, shm, 0, index, 0)


def _run_function(job: ChildJob, chan: _Channel) -> None:
    _mark(job.shm, -1)
    try:
        namespace = _load(job.program, job.preamble, "__codeloop_solution__", job.image)
    except SyntaxError as exc:
        failure = _failure(exc)
        failure["s"] = "syntax_error"
        chan.send({"load": failure})
        return
    except BaseException as exc:
        chan.send({"load": _failure(exc)})
        return
    entry = job.entry_point
    fn = namespace.get(entry) if entry else None
    deepcopy = copy.deepcopy
    loads = marshal.loads
    perf = time.perf_counter
    # A test's clock (the shm mark the zygote's per-test deadline reads) runs only while
    # the program does: copying the inputs, encoding the value and writing it to the
    # parent (which blocks while the parent is busy) are the harness's time, not the test's.
    for index, (kind, args, extra) in zip(job.test_indices, job.tests, strict=True):
        start = perf()
        try:
            if kind == "code":
                _mark(job.shm, index)
                exec(extra, namespace)
                _unmark(job.shm, index)
                chan.send({"i": index, "ok": 1, "d": perf() - start})
                continue
            if fn is None:
                raise NameError(f"name '{entry}' is not defined")
            if extra is None:
                call_args = args
            elif extra is DEEPCOPY:
                call_args = deepcopy(args)
            else:
                call_args = loads(extra)
            _mark(job.shm, index)
            start = perf()
            value = fn(*call_args)
            _unmark(job.shm, index)
            elapsed = perf() - start
        except BaseException as exc:
            _unmark(job.shm, index)
            failure = _failure(exc, job.details)
            failure["i"] = index
            failure["d"] = perf() - start
            chan.send(failure)
            continue
        try:
            encoded = encode(value)
        except (EncodeBudget, RecursionError) as exc:
            reason = str(exc) if isinstance(exc, EncodeBudget) else "value nested too deeply"
            chan.send(
                {"i": index, "s": "output_limit", "e": "EncodeBudget", "m": reason, "d": elapsed}
            )
            continue
        except BaseException:
            # an object that defeats the encoder is still only an object: it equals nothing
            encoded = opaque(value)
        chan.send({"i": index, "v": encoded, "d": elapsed})


def _run_stdio(job: ChildJob, chan: _Channel) -> None:
    # One child per stdio test: the zygote wires stdin to that test's input file.
    index = job.test_indices[0]
    _mark(job.shm, index)
    start = time.perf_counter()
    try:
        _load(job.program, job.preamble, "__main__", job.image)
    except SyntaxError as exc:
        failure = _failure(exc)
        failure["s"] = "syntax_error"
        chan.send({"load": failure})
        return
    except SystemExit as exc:
        code = exc.code
        if code not in (None, 0):
            chan.send(
                {
                    "i": index,
                    "s": "error",
                    "e": "SystemExit",
                    "m": f"exit status {code!r}"[:MESSAGE_CAP],
                    "tb": "",
                    "d": time.perf_counter() - start,
                }
            )
            return
    except BaseException as exc:
        failure = _failure(exc)
        failure["i"] = index
        failure["d"] = time.perf_counter() - start
        chan.send(failure)
        return
    chan.send({"i": index, "ok": 1, "d": time.perf_counter() - start})


_WARM_PROGRAM = (
    "def f(x, y=1):\n"
    "    if x == 'raise':\n"
    "        raise ValueError(x)\n"
    "    return [x, y, {'k': (x, 1.5, None, True)}]\n"
)


def warm_up(rounds: int = 40) -> None:
    """Run the per-test path on a trusted job in the zygote, before any fork.

    CPython 3.11+ rewrites a function's bytecode after its first few calls (quickening)
    and then each instruction in place as it learns the types it sees (specialization).
    Done here once, every child inherits it: otherwise each child would do that work for
    the harness's per-test code again, writing to (so copying) the pages it sits on."""
    import mmap

    image = marshal.dumps(compile(_WARM_PROGRAM, PROGRAM_FILENAME, "exec", dont_inherit=True))
    test_code = compile("assert f(2) == [2, 1, {'k': (2, 1.5, None, True)}]", TEST_FILENAME, "exec")
    tests: list[tuple[str, tuple[Any, ...], Any]] = [
        ("call", (1,), None),
        ("call", (), marshal.dumps(([1, 2], {"a": 1}))),
        ("call", ([1],), DEEPCOPY),
        ("call", ("raise",), None),
        ("code", (), test_code),
    ]
    sink = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    shm = mmap.mmap(-1, 64)
    try:
        for details in (False, True):
            job = ChildJob(
                program=_WARM_PROGRAM,
                image=image,
                entry_point="f",
                preamble="",
                tests=tests,
                test_indices=list(range(len(tests))),
                stdio=False,
                flush_each=False,
                chan_fd=sink,
                shm=shm,
                details=details,
            )
            for _ in range(rounds):
                chan = _Channel(sink, False)
                _run_function(job, chan)
                chan.send({"done": 1})
                chan.flush()
    finally:
        os.close(sink)
        shm.close()
