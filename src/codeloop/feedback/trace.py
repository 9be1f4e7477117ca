"""Runtime traces as feedback: what a program did on one test, block by block.

A traced run executes the program on one test inside the sandbox, with the same limits as
any other run, and comes back as data: the static control-flow basic blocks the run passed
through (dynamic occurrences: a loop body run three times is three steps), the local
variables before and after each, the value returned or the exception raised.  Three
granularities, as LDB offers them (Zhong et al., 2024):

- ``block``: one step per dynamic basic block;
- ``line``: one step per executed line;
- ``function``: one step per call of the entry point, with all its lines.

Values are rendered with LDB's rule: the tab-joined ``name=value`` string of a step, when
it is 100 characters or longer, is shown as its first 50 characters, "..." and its last 50.
Long traces are cut as LDB cuts them (`DEFAULT_MAX_STEPS`): the first half and the last
half of the allowed number of steps are kept.

A trace comes from inside the untrusted process, so a hostile program can forge its own
trace; it is feedback for the model, never a verdict.  A run that times out, crashes or
does not parse comes back as such (`RuntimeTrace.status`), never as an empty trace.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from codeloop.feedback.blocks import FunctionBlocks, static_blocks
from codeloop.types import ExecResult, Limits, Status, TaskKind, TestCase, TestKind, TestOutcome

__all__ = [
    "DEFAULT_MAX_STEPS",
    "ELLIPSIS",
    "ELLIPSIS_LINE",
    "LEVELS",
    "Level",
    "RuntimeTrace",
    "TraceCall",
    "TraceStep",
    "ldb_value_string",
    "probe_program",
    "probe_spec",
    "trace_call",
    "trace_of_result",
]

Level = Literal["block", "line", "function"]
LEVELS: tuple[Level, ...] = ("block", "line", "function")

# LDB's cuts (py_generate.py:208-221): 10 blocks kept as 5 + 5; 30 lines as 15 + 15; a
# function's lines beyond 30 as 15, "...", 15.
DEFAULT_MAX_STEPS: dict[Level, int] = {"block": 10, "line": 30, "function": 30}

# LDB's value rule (tracer.py:152): 100 characters or more -> first 50 + "..." + last 50.
VALUE_LIMIT = 100
VALUE_KEEP = 50

# Where a function step's lines were cut: `source` holds ELLIPSIS there, `lines` ELLIPSIS_LINE
# (no program has a line 0), so the two stay parallel.
ELLIPSIS = "..."
ELLIPSIS_LINE = 0


def ldb_value_string(pairs: Sequence[tuple[str, str]]) -> str:
    """``name=value`` pairs joined by tabs, cut by LDB's rule."""
    text = "\t".join(f"{name}={value}" for name, value in pairs)
    if len(text) >= VALUE_LIMIT:
        return text[:VALUE_KEEP] + "..." + text[-VALUE_KEEP:]
    return text


@dataclass(frozen=True)
class TraceStep:
    """One step of a trace at some granularity: the lines it ran and the variables around.

    `before`/`after` are LDB-rendered variable strings (see `ldb_value_string`).
    `verdict`/`explanation` are filled in by a strategy that asks the model to judge each
    step (LDB's debugging verdicts), None/"" until then.
    """

    function: str  # the function the lines belong to
    lines: tuple[int, ...]  # the program's line numbers, in the order they ran
    source: tuple[str, ...]  # the text of those lines (as in the program)
    before: str = ""
    after: str = ""
    block: int = -1  # the static basic block's number in its function (-1: not a block step)
    depth: int = 0  # call depth below the traced call (0: the entry point itself)
    verdict: bool | None = None
    explanation: str = ""


TraceStatus = Literal[
    "ok",  # the call returned
    "exception",  # the call raised (`message`); the steps up to the raise are kept
    "timeout",
    "crash",  # memory, signal, exited early, output limit
    "syntax_error",  # the program does not parse: no steps
    "no_call",  # the test cannot be made into a call to trace (`message` says why)
]


@dataclass(frozen=True)
class RuntimeTrace:
    """A traced run of a program on one test."""

    status: TraceStatus
    message: str = ""  # the exception, timeout or crash, as a person reads it
    # what the call returned, as `print` shows it (LDB's real output; 1000 characters or
    # more kept as first 500 + "..." + last 500); for an exception, str(exception)
    output: str = ""
    steps_block: tuple[TraceStep, ...] = ()
    steps_line: tuple[TraceStep, ...] = ()
    steps_function: tuple[TraceStep, ...] = ()
    dropped: int = 0  # events left out in the middle of a very long run (head and tail kept)
    metadata: dict[str, object] = field(default_factory=dict)

    def steps(self, level: Level = "block", max_steps: int | None = None) -> tuple[TraceStep, ...]:
        """The steps at `level`, cut as LDB cuts them (`max_steps`, default
        `DEFAULT_MAX_STEPS[level]`: the first half and the last half are kept; at function
        level a call's lines beyond it are kept as first half, "...", last half).  An odd
        `max_steps` keeps one more at the start than at the end (5: first 3, last 2)."""
        if level not in LEVELS:
            raise ValueError(f"unknown trace level {level!r} (one of {', '.join(LEVELS)})")
        limit = DEFAULT_MAX_STEPS[level] if max_steps is None else max_steps
        if limit < 1:
            raise ValueError(f"max_steps must be at least 1, not {limit}")
        if level == "function":
            return tuple(_cut_lines(step, limit) for step in self.steps_function)
        steps = self.steps_block if level == "block" else self.steps_line
        return _keep_ends(steps, limit)


def _halves(limit: int) -> tuple[int, int]:
    """An odd limit keeps one more at the start: 5 -> first 3 and last 2."""
    return (limit + 1) // 2, limit // 2


def _keep_ends(steps: tuple[TraceStep, ...], limit: int) -> tuple[TraceStep, ...]:
    if len(steps) <= limit:
        return steps
    first, last = _halves(limit)
    return steps[:first] + (steps[len(steps) - last :] if last else ())


def _cut_lines(step: TraceStep, limit: int) -> TraceStep:
    """A function step's lines beyond `limit`: first half, a "..." entry (line 0), last half."""
    if len(step.lines) <= limit:
        return step
    first, last = _halves(limit)
    tail_lines = step.lines[len(step.lines) - last :] if last else ()
    tail_source = step.source[len(step.source) - last :] if last else ()
    return replace(
        step,
        lines=step.lines[:first] + (ELLIPSIS_LINE,) + tail_lines,
        source=step.source[:first] + (ELLIPSIS,) + tail_source,
    )


# ----------------------------------------------------------------------------- collection
#
# A traced run sends `trace_probe.py` to the sandbox as the program, with the candidate as
# data; the probe returns events as plain builtins, which become steps here.  Nothing the
# probe returns is trusted beyond being data: a malformed answer is a crash.

PROBE_ENTRY = "__codeloop_trace__"
MAX_EVENTS = 2000  # events kept at each end of a run (the middle is counted as dropped)
DEADLINE_SHARE = 0.7  # of the sandbox's CPU limit: the probe stops the call itself, steps kept
_CANDIDATE_NAMES = ("candidate",)


@functools.cache
@functools.cache
def probe_program() -> str:
    """The text of the program a traced run sends to the sandbox (read once)."""
    return Path(__file__).with_name("trace_probe.py").read_text(encoding="utf-8")


@dataclass(frozen=True)
class TraceCall:
    """What the probe is asked to call: `spec` (data for the probe) and the call's args."""

    spec: dict[str, Any]
    args: tuple[Any, ...] = ()


def trace_call(test: TestCase, entry_point: str | None, kind: TaskKind) -> TraceCall | str:
    """The call a test makes, as the probe runs it; a string says why there is none.

    A CALL test calls the entry point with its args.  A CODE test (or any test whose
    ``source`` is an assert) is traced on the expression LDB traces: the left side of the
    assert's comparison (``assert f(x) == y`` -> ``f(x)``), evaluated in the program's
    namespace with ``candidate`` bound to the entry point; an expression without a call is
    not traced."""
    if kind is TaskKind.STDIO or test.kind is TestKind.STDIO:
        return "stdin/stdout programs are not traced (no function call to follow)"
    if test.kind is TestKind.CALL:
        if not entry_point:
            return "the test calls no named function"
        return TraceCall({"mode": "call", "entry": entry_point}, tuple(test.args))
    for text in (test.source, test.code):
        found = _assert_call(text, entry_point)
        if found is not None:
            setup, expression = found
            spec = {
                "mode": "expr",
                "entry": entry_point or "",
                "expr": expression,
                "setup": setup,
                "context": test.context,
            }
            return TraceCall(spec)
    return "the test has no assert with a call to trace"


def _assert_call(text: str, entry_point: str | None) -> tuple[str, str] | None:
    """(setup, expression) for the first assert in `text` that makes a call."""
    if not text.strip():
        return None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    names = {*_CANDIDATE_NAMES, *([entry_point] if entry_point else [])}
    asserts = sorted(
        (node for node in ast.walk(tree) if isinstance(node, ast.Assert)),
        key=lambda node: (node.lineno, node.col_offset),
    )
    for node in asserts:
        expression = _traced_expression(node.test, names)
        if expression is None:
            continue
        # names a module-level assert may use: the module-level statements before it
        setup = [
            ast.unparse(stmt)
            for stmt in tree.body
            if stmt.lineno < node.lineno
            and not isinstance(stmt, ast.Assert | ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        in_module = node in tree.body
        return ("\n".join(setup) if in_module else "", ast.unparse(expression))
    return None


def _traced_expression(test: ast.expr, names: set[str]) -> ast.expr | None:
    """LDB's ``failed_test.replace("assert ", "").split("==")[0]``, read from the tree: the
    left side of a comparison (``not x`` -> ``x``), when it makes a call; else a side that
    calls the function under test."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test = test.operand
    sides: list[ast.expr] = [test]
    if isinstance(test, ast.Compare):
        sides = [test.left, *test.comparators]
    if _calls(sides[0], None):
        return sides[0]
    for side in sides[1:]:
        if _calls(side, names):
            return side
    return None


def _calls(node: ast.expr, names: set[str] | None) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and (
            names is None or (isinstance(sub.func, ast.Name) and sub.func.id in names)
        ):
            return True
    return False


def probe_spec(call: TraceCall, test: TestCase, limits: Limits) -> dict[str, Any]:
    """The probe's spec with the run's limits: it stops the call itself at DEADLINE_SHARE
    of the CPU time the sandbox allows, so a run that does not end still returns steps."""
    per_test = test.time_limit_s
    total = limits.time_s + (per_test or 0.0)
    return {
        **call.spec,
        "max_events": MAX_EVENTS,
        "time_s": DEADLINE_SHARE * (per_test if per_test else limits.time_s),
        "cpu_deadline": DEADLINE_SHARE * total,
    }


def trace_of_result(program: str, result: ExecResult) -> RuntimeTrace:
    """The trace a probe run produced (or what stopped it)."""
    outcome = result.outcomes[0] if result.outcomes else None
    value = result.actual_values[0] if result.actual_values else None
    if outcome is None or outcome.status is not Status.PASSED or not isinstance(value, dict):
        return _failed_run(result, outcome)
    try:
        return _build(program, value)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        return RuntimeTrace(
            status="crash",
            message=f"the traced run returned a malformed trace ({type(exc).__name__})",
        )


def _failed_run(result: ExecResult, outcome: TestOutcome | None) -> RuntimeTrace:
    status = outcome.status if outcome is not None else result.status
    detail = ""
    if outcome is not None:
        detail = outcome.message or outcome.exception
    if status is Status.TIMEOUT:
        return RuntimeTrace(status="timeout", message=detail or "time limit exceeded")
    if status is Status.SYNTAX_ERROR:  # the probe itself always compiles; belt and braces
        return RuntimeTrace(status="syntax_error", message=detail)
    what = status.value.replace("_", " ")
    text = f"{what}: {detail}" if detail and detail != what else what
    return RuntimeTrace(status="crash", message=text)


_STATUSES: frozenset[str] = frozenset(
    ("ok", "exception", "timeout", "crash", "syntax_error", "no_call")
)


@dataclass
class _Event:
    kind: str  # "c" call, "l" line, "r" return, "x" exception
    serial: int  # the frame
    function: int  # index into the probe's functions
    depth: int
    line: int
    values: str  # LDB value string of the frame's locals at this event
    gap_before: bool = False  # events were dropped just before this one


def _events(value: dict[str, Any], dropped: int) -> list[_Event]:
    events: list[_Event] = []
    for part, rows in (("head", value["head"]), ("tail", value["tail"])):
        for index, row in enumerate(rows):
            kind, serial, function, depth, line, values = row[:6]
            events.append(
                _Event(
                    kind=str(kind),
                    serial=int(serial),
                    function=int(function),
                    depth=int(depth),
                    line=int(line),
                    values=str(values),
                    gap_before=part == "tail" and index == 0 and dropped > 0,
                )
            )
    return events


def _build(program: str, value: dict[str, Any]) -> RuntimeTrace:
    status = str(value["status"])
    if status not in _STATUSES:
        raise ValueError(status)
    dropped = int(value.get("dropped", 0))
    events = _events(value, dropped)
    functions = [(str(name), int(first)) for name, first in value["functions"]]
    try:
        units = static_blocks(program)
    except SyntaxError:
        units = {}
    builder = _StepBuilder(program, events, functions, units)
    return RuntimeTrace(
        status=status,  # type: ignore[arg-type]  # checked against _STATUSES
        message=str(value.get("message", "")),
        output=str(value.get("output", "")),
        steps_block=builder.block_steps(),
        steps_line=builder.line_steps(),
        steps_function=builder.function_steps(),
        dropped=dropped,
        metadata={"events": int(value.get("total", len(events)))},
    )


class _StepBuilder:
    def __init__(
        self,
        program: str,
        events: list[_Event],
        functions: list[tuple[str, int]],
        units: dict[int, FunctionBlocks],
    ) -> None:
        self.lines = program.splitlines()
        self.events = events
        self.functions = functions
        self.units = units
        # the index of the same frame's next event (None at the end or across a gap)
        self.gap = next((i for i, e in enumerate(events) if e.gap_before), len(events) + 1)
        self.next: list[int | None] = [None] * len(events)
        following: dict[int, int] = {}
        for index in range(len(events) - 1, -1, -1):
            event = events[index]
            self.next[index] = following.get(event.serial)
            following[event.serial] = index
            if event.gap_before:
                following = {}

    def _name(self, event: _Event) -> str:
        return self.functions[event.function][0]

    def _unit(self, event: _Event) -> FunctionBlocks | None:
        name, first = self.functions[event.function]
        unit = self.units.get(first)
        return unit if unit is not None and unit.name == name else None

    def _source(self, line: int) -> str:
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""

    def _after(self, index: int) -> str:
        following = self.next[index]
        return self.events[following].values if following is not None else ""

    def line_steps(self) -> tuple[TraceStep, ...]:
        steps = []
        for index, event in enumerate(self.events):
            if event.kind != "l":
                continue
            unit = self._unit(event)
            steps.append(
                TraceStep(
                    function=self._name(event),
                    lines=(event.line,),
                    source=(self._source(event.line),),
                    before=event.values,
                    after=self._after(index),
                    block=unit.block(event.line) if unit is not None else -1,
                    depth=event.depth,
                )
            )
        return tuple(steps)

    def block_steps(self) -> tuple[TraceStep, ...]:
        steps: list[TraceStep] = []
        run: list[int] = []  # indices of the line events of the open step

        def close() -> None:
            if not run:
                return
            first = self.events[run[0]]
            unit = self._unit(first)
            lines = tuple(dict.fromkeys(self.events[i].line for i in run))
            steps.append(
                TraceStep(
                    function=self._name(first),
                    lines=lines,
                    source=tuple(self._source(line) for line in lines),
                    before=first.values,
                    after=self._after(run[-1]),
                    block=unit.block(first.line) if unit is not None else -1,
                    depth=first.depth,
                )
            )
            run.clear()

        for index, event in enumerate(self.events):
            if event.gap_before or event.kind != "l":
                close()
                if event.kind != "l":
                    continue
            if run and not self._continues(self.events[run[-1]], event):
                close()
            run.append(index)
        close()
        return tuple(steps)

    def _continues(self, last: _Event, event: _Event) -> bool:
        """Does `event` extend the step whose last line event is `last`?"""
        if event.serial != last.serial:
            return False
        unit = self._unit(event)
        if unit is None:
            return False
        if unit.block(event.line) != unit.block(last.line) or unit.block(event.line) < 0:
            return False
        new, old = unit.statement(event.line), unit.statement(last.line)
        if new[0] < old[0]:
            return False  # back to an earlier statement: the loop came round
        # the same one-line statement again: a loop on one line (`while x: x -= 1`); the
        # lines of a multi-line statement may repeat within one execution of it
        return not (new == old and new[0] == new[1])

    def function_steps(self) -> tuple[TraceStep, ...]:
        calls: dict[int, list[int]] = {}
        for index, event in enumerate(self.events):
            if event.depth == 0:
                calls.setdefault(event.serial, []).append(index)
        steps = []
        for indices in calls.values():
            first = self.events[indices[0]]
            last = self.events[indices[-1]]
            lines: list[int] = []
            previous = -1
            for index in indices:
                event = self.events[index]
                if 0 <= previous < self.gap <= index:
                    lines.append(ELLIPSIS_LINE)  # this call's lines in the dropped middle
                previous = index
                if event.kind == "l" and (not lines or lines[-1] != event.line):
                    lines.append(event.line)
            steps.append(
                TraceStep(
                    function=self._name(first),
                    lines=tuple(lines),
                    source=tuple(
                        ELLIPSIS if line == ELLIPSIS_LINE else self._source(line) for line in lines
                    ),
                    before=first.values,
                    after=last.values,
                    depth=0,
                )
            )
        return tuple(steps)
