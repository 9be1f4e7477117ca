"""The harness side that runs inside a forked sandbox child, next to the untrusted program.

Nothing here decides a verdict.  The child runs the program, calls the entry point on each
test's inputs and writes back only what happened: an encoded return value, or the exception
and its traceback trimmed to the program's own frames.  It never holds an expected value, so
a program that inspects its own memory finds nothing to forge with.

Check code that must run as code (``TestKind.CODE``: an assert-style check that did not
convert into data tests) is never run next to the program.  The child forks a *driver*
before it loads the program: the driver holds the check code and no program code; the
child loads the program and then only serves the driver's requests (call this function
with these arguments; what is this name), answering with encoded values.  The driver runs
the check with the entry point bound to a proxy whose calls go to the child, and whose
return values come back decoded into plain builtins; helpers the check uses come from the
task's own code (the test's ``context``, the prompt), else from the child by name.  Only
the driver writes on the result channel, so a program can patch neither ``check`` nor
``assert`` nor a module the check uses, and an ``__eq__`` of its own never runs in the
driver.  The driver is not dumpable (the program cannot read or write its memory) and the
program's process closes the result channel before it loads anything.

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
import ctypes
import errno
import importlib
import json
import marshal
import os
import pickle
import signal
import struct
import sys
import time
import traceback
import types
from collections import deque
from collections.abc import Callable
from typing import Any, NoReturn

from codeloop.execution.codec import EncodeBudget, decode, encode, opaque

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
        "driven",
        "gate_fd",
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
        driven: bool = False,
        gate_fd: int = -1,
    ) -> None:
        self.program = program
        # the program compiled by the evaluator (execution/behaviour.py), loaded instead of
        # compiling it here; None: compile it here
        self.image = image
        self.entry_point = entry_point
        self.preamble = preamble
        # per test: ("code", (), (compiled check, compiled context or None)) or ("call",
        # args, how to copy them: None, a marshal image (args then empty) or DEEPCOPY)
        self.tests = tests
        self.test_indices = test_indices
        self.stdio = stdio
        self.flush_each = flush_each
        self.details = details  # tracebacks of failing tests
        self.chan_fd = chan_fd
        self.shm = shm
        # code tests among the tests: a driver process runs them all (see the module doc)
        self.driven = driven
        # fail-fast: after its first test the child waits here for the zygote's word that
        # the evaluator judged it right (a byte; end of file: stop), -1: no wait
        self.gate_fd = gate_fd


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
    elif job.driven:
        _run_driven(job)  # does not return
    else:
        _run_function(job, chan)
    chan.send({"done": 1})
    chan.flush()
    _exit_flushing_output()


def _exit_flushing_output() -> NoReturn:
    """Write out what the program printed, then end the process (no clean-up to run)."""
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
    first = True
    for index, (_kind, args, extra) in zip(job.test_indices, job.tests, strict=True):
        start = perf()
        try:
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
            if first:
                first = False
                _after_first_test(job, chan)
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
        if first:
            first = False
            _after_first_test(job, chan)


def _after_first_test(job: ChildJob, chan: _Channel) -> None:
    """A fail-fast run stops at its first failing test, and many wrong programs fail the
    first test they run (more of them in evaluate's fail-first order).  The result
    goes out at once, not with the next batch, and the child waits for the evaluator's
    judgement (relayed by the zygote through `gate_fd`) instead of running the rest of
    its tests until the kill arrives: that was ~3 ms of CPU a wrong program on EvalPlus's
    ~1,000 quick tests."""
    chan.flush()
    if job.gate_fd < 0:
        return
    try:
        word = os.read(job.gate_fd, 1)
    except OSError:
        word = b""
    if not word:  # the zygote gave no word: the run is being ended
        chan.send({"done": 1})
        chan.flush()
        _exit_flushing_output()
    os.close(job.gate_fd)


# ------------------------------------------------------------------------------ driver
#
# The child and its driver talk over two pipes in frames: a 4-byte length, then the body.
# Driver -> child: a pickle of (op, test index, name, args, kwargs), op "call" or "name"
# (the child trusts the driver).  Child -> driver: JSON, decoded by the driver as data
# only: {"ready": 1} or {"load": failure} once, then per request {"v": value, "d": secs}
# or a failure {"s", "e", "m", "tb", "d"}, or for "name" {"kind": "callable" | "module" |
# "value" | "missing", ...}.

_FRAME = struct.Struct(">I")
DRIVER_FRAME_CAP = 64 * 1024 * 1024  # what the child may answer one request with
PR_SET_DUMPABLE = 4
_LIBC = ctypes.CDLL(None)  # loaded in the zygote, inherited by every fork


class _Corrupted(Exception):
    """The child answered something the serving loop cannot have written."""


def _write_frame(fd: int, body: bytes) -> None:
    view = memoryview(_FRAME.pack(len(body)) + body)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, size: int) -> bytes | None:
    parts: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def _read_frame(fd: int, cap: int) -> bytes | None:
    """The next frame's body; None at end of file (the peer is gone)."""
    head = _read_exact(fd, _FRAME.size)
    if head is None:
        return None
    (size,) = _FRAME.unpack(head)
    if size > cap:
        raise _Corrupted(f"a {size}-byte answer")
    return _read_exact(fd, size)


class _Peer:
    """The driver's end of the pipes to the program's process."""

    def __init__(self, request_fd: int, answer_fd: int) -> None:
        self.request_fd = request_fd
        self.answer_fd = answer_fd
        self.test = -1  # the test whose check is running (the child marks its clock)

    def receive(self) -> dict[str, Any] | None:
        body = _read_frame(self.answer_fd, DRIVER_FRAME_CAP)
        if body is None:
            return None
        try:
            reply = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise _Corrupted(f"an unreadable answer: {exc!r}"[:200]) from None
        if type(reply) is not dict:
            raise _Corrupted("an answer that is not an object")
        return reply

    def ask(self, op: str, name: str, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        _write_frame(self.request_fd, pickle.dumps((op, self.test, name, args, kwargs or {})))
        reply = self.receive()
        if reply is None:
            raise _PeerGone()
        return reply


class _PeerGone(BaseException):
    """The program's process ended (the zygote judges how from its exit): stop quietly."""


class _CandidateRaised(Exception):
    """The program raised something that is not a builtin exception type."""


def _raised(failure: dict[str, Any]) -> BaseException:
    """An exception for the check code to see, as the program raised it: the builtin
    exception of that name (so `except ValueError` in a check works), else a stand-in.
    Both carry the program's own report of it, which is what the test's outcome shows."""
    name = failure.get("e")
    message = str(failure.get("m", ""))[:MESSAGE_CAP]
    cls = getattr(builtins, name, None) if isinstance(name, str) else None
    exc: BaseException
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            exc = cls(message)
        except Exception:
            exc = _CandidateRaised(f"{name}: {message}")
    else:
        exc = _CandidateRaised(f"{name}: {message}")
    exc.__dict__["codeloop_failure"] = failure
    return exc


class _Remote:
    """A function of the program, called across the process boundary."""

    __slots__ = ("_peer", "_name")

    def __init__(self, peer: _Peer, name: str) -> None:
        self._peer = peer
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        reply = self._peer.ask("call", self._name, args, kwargs)
        if "v" in reply:
            try:
                return decode(reply["v"])
            except (ValueError, TypeError, KeyError, RecursionError) as exc:
                raise _Corrupted(f"an undecodable value: {exc!r}"[:200]) from None
        raise _raised(reply)

    def __repr__(self) -> str:
        return f"<the program's {self._name}>"


class _DriverGlobals(dict[str, Any]):
    """The check's globals: a name the check code and the task's context do not define is
    the program's (a helper the test calls, a module it imported), asked for by name."""

    def __init__(self, peer: _Peer) -> None:
        super().__init__(__name__="__codeloop_check__", __builtins__=builtins)
        self._peer = peer

    def __missing__(self, name: str) -> Any:
        if name in builtins.__dict__ or name.startswith("__"):
            raise KeyError(name)
        reply = self._peer.ask("name", name)
        kind = reply.get("kind")
        value: Any
        if kind == "callable":
            value = _Remote(self._peer, name)
        elif kind == "module" and isinstance(reply.get("name"), str):
            value = importlib.import_module(reply["name"])
        elif kind == "value":
            try:
                value = decode(reply.get("v"))
            except (ValueError, TypeError, KeyError, RecursionError) as exc:
                raise _Corrupted(f"an undecodable value: {exc!r}"[:200]) from None
        else:
            raise KeyError(name)
        self[name] = value
        return value


def _outcome_of_check(exc: BaseException, details: bool) -> dict[str, Any]:
    failure = getattr(exc, "__dict__", {}).get("codeloop_failure")
    if isinstance(failure, dict):  # the program raised it: its own report, as the child made it
        return {
            "s": str(failure.get("s", "error")),
            "e": str(failure.get("e", ""))[:200],
            "m": str(failure.get("m", ""))[:MESSAGE_CAP],
            "tb": str(failure.get("tb", ""))[:TRACEBACK_CAP] if details else "",
        }
    return _failure(exc, details)


def _drive(job: ChildJob, chan: _Channel, peer: _Peer) -> None:
    """The driver: every test of the job, each call made in the program's process."""
    first = peer.receive()
    if first is None:
        return
    if "load" in first:
        load = first["load"]
        if type(load) is not dict:
            raise _Corrupted("a malformed load failure")
        chan.send(
            {"load": {k: str(load.get(k, ""))[:TRACEBACK_CAP] for k in ("s", "e", "m", "tb")}}
        )
        return
    if first.get("ready") != 1:
        raise _Corrupted("no load report")
    entry = job.entry_point or ""
    perf = time.perf_counter
    for index, (kind, args, extra) in zip(job.test_indices, job.tests, strict=True):
        peer.test = index
        start = perf()
        if kind == "code":
            check, context = extra
            namespace = _DriverGlobals(peer)
            try:
                if job.preamble:
                    exec(compile(job.preamble, "<preamble>", "exec", dont_inherit=True), namespace)
                if context is not None:
                    exec(context, namespace)
                namespace[entry] = _Remote(peer, entry)
                exec(check, namespace)
            except (_PeerGone, _Corrupted):
                raise
            except BaseException as exc:
                failure = _outcome_of_check(exc, job.details)
                failure["i"] = index
                failure["d"] = perf() - start
                chan.send(failure)
                continue
            chan.send({"i": index, "ok": 1, "d": perf() - start})
            continue
        if extra is None or extra is DEEPCOPY:
            call_args = args
        else:
            call_args = marshal.loads(extra)  # noqa: S302 - made by the zygote
        reply = peer.ask("call", entry, call_args)
        duration = reply.get("d", 0.0)
        if type(duration) not in (int, float):
            raise _Corrupted("a malformed duration")
        if "v" in reply:
            chan.send({"i": index, "v": reply["v"], "d": duration})
            continue
        failure = _outcome_of_check(_raised(reply), job.details)
        failure["i"] = index
        failure["d"] = duration
        chan.send(failure)


def _run_driven(job: ChildJob) -> NoReturn:
    """Fork the driver, then load the program here and serve the driver's requests."""
    request_r, request_w = os.pipe2(os.O_CLOEXEC)
    answer_r, answer_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # the driver
        os.close(request_r)
        os.close(answer_w)
        try:
            _LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        except AttributeError:
            pass  # other layers (seccomp's ptrace ban, Landlock) still keep the program out
        # every result written at once: the zygote's flush signal goes to the program's
        # process, not here
        chan = _Channel(job.chan_fd, True)
        peer = _Peer(request_w, answer_r)
        try:
            _drive(job, chan, peer)
        except _PeerGone:
            os._exit(0)  # the program's process ended: the zygote says how
        except _Corrupted as exc:
            chan.send(
                {
                    "i": peer.test if peer.test >= 0 else job.test_indices[0],
                    "s": "exited_early",
                    "e": "ProtocolError",
                    "m": f"the program corrupted the driver's channel: {exc}"[:MESSAGE_CAP],
                    "d": 0.0,
                }
            )
            os._exit(0)
        except BaseException:
            os._exit(EXIT_HARNESS_BROKEN)
        chan.send({"done": 1})
        chan.flush()
        os._exit(0)
    # the program's process: nothing of the driver's stays in reach
    os.close(request_w)
    os.close(answer_r)
    os.close(job.chan_fd)
    set_handler(_SIGUSR1, SIG_DFL)  # a timed-out run's results are already written
    set_handler(_FLUSH_SIGNUM, SIG_DFL)
    program, image, preamble, entry = job.program, job.image, job.preamble, job.entry_point
    shm, details = job.shm, job.details
    # The check code (and the expected values in it) is the driver's.  Cleared in place:
    # this list is the zygote's own (its Suite's), which the frames this process was
    # forked in still reach.
    job.tests.clear()
    job.program = ""
    del job
    _serve(program, image, preamble, entry, shm, details, request_r, answer_w)
    try:
        os.waitpid(pid, 0)
    except BaseException:
        pass
    _exit_flushing_output()


def _serve(
    program: str,
    image: bytes | None,
    preamble: str,
    entry: str | None,
    shm: Any,
    details: bool,
    request_fd: int,
    answer_fd: int,
) -> None:
    """In the program's process: load the program, then answer the driver until it is done."""
    dumps = json.dumps
    write = _write_frame
    perf = time.perf_counter

    def answer(message: dict[str, Any]) -> None:
        write(answer_fd, dumps(message).encode())

    _mark(shm, -1)
    try:
        namespace = _load(program, preamble, "__codeloop_solution__", image)
    except SyntaxError as exc:
        failure = _failure(exc)
        failure["s"] = "syntax_error"
        answer({"load": failure})
        return
    except BaseException as exc:
        answer({"load": _failure(exc)})
        return
    del program, image
    answer({"ready": 1})
    while True:
        body = _read_frame(request_fd, 1 << 62)
        if body is None:
            return
        op, index, name, args, kwargs = pickle.loads(body)  # noqa: S301 - from the driver
        value = namespace.get(name, _MISSING)
        if op == "name":
            if value is _MISSING:
                answer({"kind": "missing"})
            elif isinstance(value, types.ModuleType):
                answer({"kind": "module", "name": value.__name__})
            elif callable(value):
                answer({"kind": "callable"})
            else:
                try:
                    answer({"kind": "value", "v": encode(value)})
                except BaseException:
                    answer({"kind": "value", "v": opaque(value)})
            continue
        start = perf()
        try:
            if value is _MISSING:
                raise NameError(f"name '{name}' is not defined")
            _mark(shm, index)
            start = perf()
            result = value(*args, **kwargs)
            _unmark(shm, index)
            elapsed = perf() - start
        except BaseException as exc:
            _unmark(shm, index)
            failure = _failure(exc, details)
            failure["d"] = perf() - start
            answer(failure)
            continue
        try:
            encoded = encode(result)
        except (EncodeBudget, RecursionError) as exc:
            reason = str(exc) if isinstance(exc, EncodeBudget) else "value nested too deeply"
            answer({"s": "output_limit", "e": "EncodeBudget", "m": reason, "d": elapsed})
            continue
        except BaseException:
            encoded = opaque(result)
        answer({"v": encoded, "d": elapsed})


_MISSING = object()


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
    tests: list[tuple[str, tuple[Any, ...], Any]] = [
        ("call", (1,), None),
        ("call", (), marshal.dumps(([1, 2], {"a": 1}))),
        ("call", ([1],), DEEPCOPY),
        ("call", ("raise",), None),
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
