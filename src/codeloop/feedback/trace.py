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

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DEFAULT_MAX_STEPS",
    "LEVELS",
    "Level",
    "RuntimeTrace",
    "TraceStep",
    "ldb_value_string",
]

Level = Literal["block", "line", "function"]
LEVELS: tuple[Level, ...] = ("block", "line", "function")

# LDB's cuts (py_generate.py:208-221): 10 blocks kept as 5 + 5; 30 lines as 15 + 15; a
# function's lines beyond 30 as 15, "...", 15.
DEFAULT_MAX_STEPS: dict[Level, int] = {"block": 10, "line": 30, "function": 30}

# LDB's value rule (tracer.py:152): 100 characters or more -> first 50 + "..." + last 50.
VALUE_LIMIT = 100
VALUE_KEEP = 50


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
    output: str = ""  # what the call returned, as `print` shows it (LDB's real output)
    steps_block: tuple[TraceStep, ...] = ()
    steps_line: tuple[TraceStep, ...] = ()
    steps_function: tuple[TraceStep, ...] = ()
    dropped: int = 0  # events left out in the middle of a very long run (head and tail kept)
    metadata: dict[str, object] = field(default_factory=dict)

    def steps(self, level: Level = "block", max_steps: int | None = None) -> tuple[TraceStep, ...]:
        """The steps at `level`, cut as LDB cuts them (`max_steps`, default
        `DEFAULT_MAX_STEPS[level]`: the first half and the last half are kept; at function
        level a call's lines beyond it are kept as first half, "...", last half)."""
        raise NotImplementedError("filled in by the trace implementation")
