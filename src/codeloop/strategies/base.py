"""The framework every strategy runs in: budget, model calls, execution, trace.

A strategy is `async def solve(ctx: SolveContext) -> Solution`.  It makes decisions (what to
ask the model, what to run, when to stop, how to rank); the context does the bookkeeping:

- `ctx.generate(request)` calls the model, refusing *before* a call that the budget does not
  allow (calls, tokens, seconds) and adding what the call cost to `ctx.usage`;
- `ctx.execute(program, tests)` runs a program on tests in the sandbox (only the view's
  visible tests or tests the strategy made itself ever reach it), counts the execution and
  records it in the trace;
- `await ctx.trace_run(program, test)` runs a program on one test under
  a tracer in the same sandbox and returns its runtime trace (blocks, lines, calls,
  variables; `feedback.trace`), counted and recorded as one execution;
- `ctx.record(kind, content, ...)` appends a trace node (program, generated_test, feedback,
  reflection, explanation, ranking, ...), with the usage that produced it.

Every model call's usage is recorded on the node that holds what the call produced and
every execution's on its "execution" node, so the nodes of a trace add up to `ctx.usage`.

A strategy that ranks by something that leaves ties (CodeT's consensus sets) says so in
`Solution.tie_groups`: the ranked groups of equally good programs, with how many samples each
program stands for, so the run can score the ranking by expectation over the ties as well as
by its top program.

Failures of the machinery are exceptions (`BudgetExceeded`, `ModelError`,
`ExecutionInfraError`); `run_guarded` turns them into a `Solution` that keeps the best
programs found so far and says what went wrong in `error`, never a disguised answer.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import anyio

from codeloop.feedback.trace import (
    PROBE_ENTRY,
    RuntimeTrace,
    probe_program,
    probe_spec,
    trace_call,
    trace_of_result,
)
from codeloop.models.base import Backend, ModelError, PromptMode, declared_prompt_mode
from codeloop.types import (
    Budget,
    Completion,
    ExecRequest,
    ExecResult,
    GenerationRequest,
    Limits,
    Node,
    ProblemView,
    Sampling,
    Status,
    TaskKind,
    TestCase,
    TestKind,
    TestSuite,
    Usage,
)

__all__ = [
    "Answers",
    "BudgetExceeded",
    "ExecutionInfraError",
    "Executor",
    "Solution",
    "SolveContext",
    "Strategy",
    "TieGroup",
    "failing_count",
    "gather_all",
    "passed_count",
    "run_guarded",
]

T = TypeVar("T")


# One group of equally good programs: (index into Solution.programs, samples it stands for).
TieGroup = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Solution:
    """What a strategy returns: programs ranked best first, its trace, what it spent.

    `tie_groups` (optional): the ranking's groups of equally good programs, best first, each
    program with the number of samples it stands for (duplicates counted as sampled).  A
    random pick by expectation draws one sample from each of the top k groups (CodeT's
    pass@k); programs in no group are never drawn.  Strategies that break no ties leave it
    empty.  `no_consensus`: nothing separates the programs, every sample is equally likely;
    `tie_groups` then holds exactly one group with every program (scored with the unbiased
    pass@k over all samples).
    """

    programs: tuple[str, ...]  # complete programs, best first; empty only with `error`
    trace: tuple[Node, ...]
    usage: Usage
    error: str = ""  # a strategy-level failure (budget exhausted, model error), else ""
    raw: tuple[str, ...] = ()  # the model's text behind programs[i], same order
    tie_groups: tuple[TieGroup, ...] = ()
    no_consensus: bool = False

    def __post_init__(self) -> None:
        check_tie_groups(self.tie_groups, self.no_consensus, len(self.programs))


def check_tie_groups(groups: Sequence[TieGroup], no_consensus: bool, programs: int) -> None:
    """ValueError unless `groups` are well formed for `programs` programs."""
    seen: set[int] = set()
    for group in groups:
        if not group:
            raise ValueError("tie_groups: an empty group")
        for index, samples in group:
            if not 0 <= index < programs:
                raise ValueError(f"tie_groups: no program {index} (there are {programs})")
            if index in seen:
                raise ValueError(f"tie_groups: program {index} is in two groups")
            if samples < 1:
                raise ValueError(f"tie_groups: program {index} stands for {samples} samples")
            seen.add(index)
    if no_consensus and len(groups) != 1:
        raise ValueError("no_consensus needs exactly one tie group (every program)")


class BudgetExceeded(Exception):
    """The next call or execution would exceed the budget (`resource` says which limit)."""

    def __init__(self, resource: str) -> None:
        self.resource = resource
        super().__init__(f"budget exhausted: {resource}")


class ExecutionInfraError(Exception):
    """The sandbox broke while running a program: not the program's fault, no feedback."""


class Executor(Protocol):
    """What the context needs from an executor (`LocalExecutor` is one)."""

    async def run(self, request: ExecRequest) -> ExecResult: ...


Strategy = Callable[["SolveContext"], Awaitable[Solution]]


def passed_count(result: ExecResult) -> int:
    """How many of a run's tests passed."""
    return sum(1 for outcome in result.outcomes if outcome.status is Status.PASSED)


def failing_count(result: ExecResult) -> int:
    """How many of a run's tests failed (not those not run, nor a sandbox failure)."""
    return sum(1 for outcome in result.outcomes if outcome.status.is_failure)


class SolveContext:
    """Budget, model, executor and trace for one strategy solving one problem.

    Sealed: a strategy reaches the model and the sandbox only through `generate` and
    `execute`, which check the budget first and count what was spent.  The backend and the
    executor are held privately and handed out by no attribute or method; what is reachable
    from a context holds nothing of other tasks' hidden tests (the run scores on a sandbox
    of its own, and the executor keeps no test beyond the request it is serving).
    """

    def __init__(
        self,
        view: ProblemView,
        backend: Backend,
        executor: Executor,
        budget: Budget,
        *,
        sampling: Sampling | None = None,
        exec_limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.view = view
        self._backend = backend
        self._executor = executor
        self.budget = budget
        self.sampling = sampling if sampling is not None else Sampling()
        self.exec_limits = exec_limits if exec_limits is not None else Limits()
        self._clock = clock
        self._started = clock()
        self._nodes: list[Node] = []
        self._usage = Usage()
        self._calls_in_flight = 0
        self._executions_started = 0
        # suites by the identity of the tests tuple: a suite's key is computed once and the
        # sandbox receives each suite once, so strategies pass the same tuple again
        self._suites: dict[tuple[int, str | None], tuple[tuple[TestCase, ...], TestSuite]] = {}

    # ------------------------------------------------------------------------ budget

    @property
    def elapsed_s(self) -> float:
        return self._clock() - self._started

    def _check_seconds(self) -> None:
        if self.budget.seconds is not None and self.elapsed_s >= self.budget.seconds:
            raise BudgetExceeded("seconds")

    def _check_call(self) -> None:
        used = self._usage.calls + self._usage.cached_calls + self._calls_in_flight
        if self.budget.calls is not None and used + 1 > self.budget.calls:
            raise BudgetExceeded("calls")
        # Tokens are known only after a call: refuse once they are used up (the last call
        # allowed may overshoot by what it spends).
        if self.budget.tokens is not None and self._usage.tokens >= self.budget.tokens:
            raise BudgetExceeded("tokens")
        self._check_seconds()

    def _check_execution(self) -> None:
        if self.budget.executions is not None and (
            self._executions_started + 1 > self.budget.executions
        ):
            raise BudgetExceeded("executions")
        self._check_seconds()

    def executions_left(self) -> int | None:
        """How many more executions the budget allows (None: no limit)."""
        if self.budget.executions is None:
            return None
        return max(0, self.budget.executions - self._executions_started)

    # ------------------------------------------------------------------------ model

    @property
    def model_name(self) -> str:
        """The model's name as the run gave it (for the trace and reports; strategies decide
        nothing from it: see `prompt_mode`)."""
        return str(getattr(self._backend, "name", ""))

    @property
    def prompt_mode(self) -> PromptMode | None:
        """The request form the model declares it serves ("completion" for recorded
        completions, "chat"), None where it declares none."""
        return declared_prompt_mode(self._backend)

    async def generate(self, request: GenerationRequest) -> list[Completion]:
        """Ask the model; raises BudgetExceeded before a call the budget does not allow,
        and the backend's ModelError when the call fails."""
        self._check_call()
        if request.task_id is None:
            request = replace(request, task_id=self.view.task_id)
        self._calls_in_flight += 1
        try:
            completions = await self._backend.generate(request)
        finally:
            self._calls_in_flight -= 1
        for completion in completions:
            self._usage = self._usage + completion.usage
        return completions

    # --------------------------------------------------------------------- execution

    async def execute(
        self,
        program: str,
        tests: Sequence[TestCase],
        *,
        fail_fast: bool = False,
        parent: int | None = None,
        label: str = "",
        limits: Limits | None = None,
        details: bool = True,
        entry_point: str | None = None,
        record: bool = False,
    ) -> ExecResult:
        """Run `program` on `tests` (visible or strategy-made); records an "execution" node
        under `parent`.  `limits` replaces the run's limits (a strategy's own time limit
        for its generated tests); `details=False` leaves out failing tests' expected and
        actual texts and tracebacks (a strategy that only counts passes).  `entry_point`
        calls another function of the program than the problem's (an input generator the
        model wrote); `record=True` compares nothing and returns the values the calls
        returned in `ExecResult.actual_values` (plain builtins; None where a call failed).
        Raises BudgetExceeded before an execution the budget does not allow,
        ExecutionInfraError when the sandbox itself failed."""
        self._check_execution()
        suite = self._suite(tests, entry_point)
        result, cost = await self._counted_run(
            ExecRequest(
                program,
                suite,
                limits=limits or self.exec_limits,
                fail_fast=fail_fast and not record,
                details=details,
                record_only=record,
            )
        )
        passed = passed_count(result)
        summary = f"{result.status.value}: passed {passed} of {len(suite.tests)} tests"
        self._raise_on_sandbox_failure(result, summary, parent, cost)
        self.record(
            "execution",
            summary,
            parent=parent,
            usage=cost,
            status=result.status.value,
            passed=passed,
            total=len(suite.tests),
            label=label,
            duration_s=round(result.duration_s, 4),
        )
        return result

    async def _counted_run(self, request: ExecRequest) -> tuple[ExecResult, Usage]:
        """Run `request` in the sandbox as one execution of the budget (checked before)."""
        self._executions_started += 1
        result = await self._executor.run(request)
        cost = Usage(executions=1)
        self._usage = self._usage + cost
        return result, cost

    def _raise_on_sandbox_failure(
        self, result: ExecResult, summary: str, parent: int | None, cost: Usage, **metadata: Any
    ) -> None:
        """An "execution" node and ExecutionInfraError when the sandbox itself failed."""
        if result.status is Status.INFRA_ERROR or result.infra_error:
            self.record(
                "execution",
                summary + f" (sandbox failure: {result.infra_error})",
                parent=parent,
                usage=cost,
                status=result.status.value,
                infra_error=result.infra_error,
                **metadata,
            )
            raise ExecutionInfraError(result.infra_error or "the sandbox failed to run the program")

    async def trace_run(
        self,
        program: str,
        test: TestCase,
        *,
        parent: int | None = None,
        limits: Limits | None = None,
        label: str = "",
    ) -> RuntimeTrace:
        """Run `program` on one test (visible or strategy-made) under a tracer, in the
        sandbox with the run's limits (or `limits`), and return what it did: the basic
        blocks, lines and calls it ran with the variables around them (`RuntimeTrace`).

        Counts as one execution and records one "execution" node (``traced=True``).  A
        program that does not parse, or a test with no call to trace (stdin/stdout tasks,
        an assert without a call), comes back as such without running (not counted).
        Raises BudgetExceeded before a run the budget does not allow, ExecutionInfraError
        when the sandbox itself failed."""
        try:
            ast.parse(program)
        except SyntaxError as exc:
            where = f" (line {exc.lineno})" if exc.lineno else ""
            return self._traced_without_run(
                RuntimeTrace(status="syntax_error", message=f"SyntaxError: {exc.msg}{where}"),
                parent,
                label,
            )
        except (ValueError, MemoryError, RecursionError) as exc:
            # null bytes; nesting too deep for the parser (Python 3.11 raises MemoryError)
            return self._traced_without_run(
                RuntimeTrace(
                    status="syntax_error",
                    message=f"{type(exc).__name__}: the program cannot be parsed ({exc})"[:300],
                ),
                parent,
                label,
            )
        call = trace_call(test, self.view.entry_point, self.view.kind)
        if isinstance(call, str):
            return self._traced_without_run(
                RuntimeTrace(status="no_call", message=call), parent, label
            )
        self._check_execution()
        run_limits = limits or self.exec_limits
        probe_test = TestCase(
            kind=TestKind.CALL,
            args=(program, probe_spec(call, test, run_limits), call.args),
            time_limit_s=test.time_limit_s,
            source=test.source,
        )
        suite = TestSuite(tests=(probe_test,), entry_point=PROBE_ENTRY, kind=TaskKind.FUNCTION)
        result, cost = await self._counted_run(
            ExecRequest(
                probe_program(),
                suite,
                limits=run_limits,
                fail_fast=False,
                details=True,
                record_only=True,
            )
        )
        self._raise_on_sandbox_failure(result, "traced run", parent, cost, traced=True)
        runtime = trace_of_result(program, result)
        self._record_trace(runtime, parent, label, cost, executed=True)
        return runtime

    def _traced_without_run(
        self, runtime: RuntimeTrace, parent: int | None, label: str
    ) -> RuntimeTrace:
        self._record_trace(runtime, parent, label, Usage(), executed=False)
        return runtime

    def _record_trace(
        self,
        runtime: RuntimeTrace,
        parent: int | None,
        label: str,
        cost: Usage,
        *,
        executed: bool,
    ) -> None:
        steps = len(runtime.steps_block)
        summary = f"traced run: {runtime.status}, {steps} block steps"
        if runtime.message:
            summary += f" ({runtime.message[:200]})"
        self.record(
            "execution",
            summary,
            parent=parent,
            usage=cost,
            traced=True,
            executed=executed,
            status=runtime.status,
            steps=steps,
            line_steps=len(runtime.steps_line),
            dropped=runtime.dropped,
            label=label,
        )

    def _suite(self, tests: Sequence[TestCase], entry_point: str | None = None) -> TestSuite:
        entry = entry_point if entry_point is not None else self.view.entry_point
        if isinstance(tests, tuple):
            cached = self._suites.get((id(tests), entry))
            if cached is not None and cached[0] is tests:
                return cached[1]
        frozen = tuple(tests)
        kind = self.view.kind if entry_point is None else TaskKind.FUNCTION
        suite = TestSuite(tests=frozen, entry_point=entry, kind=kind)
        if isinstance(tests, tuple):
            self._suites[(id(tests), entry)] = (tests, suite)
        return suite

    # ------------------------------------------------------------------------- trace

    def record(
        self,
        kind: str,
        content: str,
        *,
        parent: int | None = None,
        usage: Usage | None = None,
        **metadata: Any,
    ) -> int:
        """Append a trace node; returns its id."""
        if parent is not None and not 0 <= parent < len(self._nodes):
            raise ValueError(f"no trace node {parent} to attach to")
        node_id = len(self._nodes)
        self._nodes.append(
            Node(
                id=node_id,
                parent=parent,
                kind=kind,
                content=content,
                usage=usage if usage is not None else Usage(),
                metadata=metadata,
            )
        )
        return node_id

    @property
    def trace(self) -> tuple[Node, ...]:
        return tuple(self._nodes)

    @property
    def usage(self) -> Usage:
        return self._usage


@dataclass
class Answers:
    """The programs a strategy would return right now, best first (with their raw text).

    Strategies keep this current as they go, so that an interruption (budget, model error)
    still returns the best found so far.
    """

    programs: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    tie_groups: tuple[TieGroup, ...] = ()  # see Solution
    no_consensus: bool = False

    def set(
        self,
        programs: Sequence[str],
        raw: Sequence[str],
        *,
        tie_groups: Sequence[Sequence[tuple[int, int]]] = (),
        no_consensus: bool = False,
    ) -> None:
        """A new ranking (its tie groups, if any, replace the earlier ones)."""
        if len(programs) != len(raw):
            raise ValueError("one raw text per program")
        groups = tuple(tuple((int(i), int(c)) for i, c in group) for group in tie_groups)
        check_tie_groups(groups, no_consensus, len(programs))
        self.programs = list(programs)
        self.raw = list(raw)
        self.tie_groups = groups
        self.no_consensus = no_consensus


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, BudgetExceeded):
        return str(exc)
    if isinstance(exc, ModelError):
        flag = " (retryable)" if exc.retryable else ""
        return f"model error{flag}: {type(exc).__name__}: {exc}"
    if isinstance(exc, ExecutionInfraError):
        return f"sandbox error: {exc}"
    return f"{type(exc).__name__}: {exc}"


async def run_guarded(
    ctx: SolveContext, answers: Answers, body: Callable[[], Awaitable[None]]
) -> Solution:
    """Run a strategy's body; budget, model and sandbox failures end it with the best
    programs found so far and an `error` saying why (also recorded as an "error" node)."""
    error = ""
    try:
        await body()
    except (BudgetExceeded, ModelError, ExecutionInfraError) as exc:
        error = describe_error(exc)
        metadata: dict[str, Any] = {"error_type": type(exc).__name__}
        if isinstance(exc, BudgetExceeded):
            metadata["resource"] = exc.resource
        if isinstance(exc, ModelError):
            metadata["retryable"] = exc.retryable
        ctx.record("error", error, **metadata)
    if not answers.programs and not error:
        error = "no program produced"
    return Solution(
        programs=tuple(answers.programs),
        trace=ctx.trace,
        usage=ctx.usage,
        error=error,
        raw=tuple(answers.raw),
        tie_groups=answers.tie_groups,
        no_consensus=answers.no_consensus,
    )


async def gather_all(
    thunks: Sequence[Callable[[], Awaitable[T]]],
) -> tuple[list[T | None], BaseException | None]:
    """Run all concurrently; results in order (None where one raised) and the first
    exception by position.  Every thunk runs to completion, so work already paid for is
    kept when another one hits the budget."""
    results: list[T | None] = [None] * len(thunks)
    errors: list[BaseException | None] = [None] * len(thunks)

    async def one(index: int) -> None:
        try:
            results[index] = await thunks[index]()
        except Exception as exc:  # collected, re-raised by the caller in order
            errors[index] = exc

    async with anyio.create_task_group() as group:
        for index in range(len(thunks)):
            group.start_soon(one, index)
    first = next((e for e in errors if e is not None), None)
    return results, first
