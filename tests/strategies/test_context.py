"""SolveContext: budgets refused before the call, usage, trace, guarded endings."""

import pytest

from codeloop.models import MockBackend, ModelUnavailable
from codeloop.strategies import (
    Answers,
    BudgetExceeded,
    ExecutionInfraError,
    SolveContext,
    run_guarded,
)
from codeloop.types import (
    Budget,
    ExecRequest,
    ExecResult,
    GenerationRequest,
    Limits,
    Message,
    Status,
    TestOutcome,
)

from .helpers import RIGHT, add_view

pytestmark = pytest.mark.anyio

VIEW = add_view(((1, 2), 3))
PROGRAM = "def add(a, b):\n    return a + b\n"


def chat(text="hi", n=1):
    return GenerationRequest(messages=(Message("user", text),), n=n)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


async def test_generate_sets_task_id_and_adds_usage(executor):
    backend = MockBackend([RIGHT, RIGHT])
    ctx = SolveContext(VIEW, backend, executor, Budget())
    completions = await ctx.generate(chat("one two three", n=2))
    assert len(completions) == 2
    assert backend.requests[0].task_id == "demo/add"
    assert ctx.usage.calls == 1
    assert ctx.usage.prompt_tokens == 3
    assert ctx.usage.completion_tokens == sum(len(RIGHT.split()) for _ in range(2))


async def test_calls_budget_refuses_before_calling(executor):
    backend = MockBackend([RIGHT] * 5)
    ctx = SolveContext(VIEW, backend, executor, Budget(calls=2))
    await ctx.generate(chat())
    await ctx.generate(chat())
    with pytest.raises(BudgetExceeded, match="budget exhausted: calls") as caught:
        await ctx.generate(chat())
    assert caught.value.resource == "calls"
    assert backend.calls == 2  # the third call never reached the model


async def test_tokens_budget(executor):
    backend = MockBackend(["a b c d e f"] * 3)
    ctx = SolveContext(VIEW, backend, executor, Budget(tokens=5))
    await ctx.generate(chat("x"))  # 1 + 6 tokens: the call that crosses the limit is made
    with pytest.raises(BudgetExceeded, match="tokens"):
        await ctx.generate(chat("x"))
    assert backend.calls == 1


async def test_seconds_budget(executor):
    clock = FakeClock()
    backend = MockBackend([RIGHT] * 3)
    ctx = SolveContext(VIEW, backend, executor, Budget(seconds=10), clock=clock)
    await ctx.generate(chat())
    clock.now += 10
    with pytest.raises(BudgetExceeded, match="seconds"):
        await ctx.generate(chat())
    with pytest.raises(BudgetExceeded, match="seconds"):
        await ctx.execute(PROGRAM, VIEW.visible_tests)


async def test_execute_counts_records_and_limits(executor):
    ctx = SolveContext(VIEW, MockBackend([]), executor, Budget(executions=1))
    node = ctx.record("program", PROGRAM)
    result = await ctx.execute(PROGRAM, VIEW.visible_tests, parent=node)
    assert result.passed
    assert ctx.usage.executions == 1
    execution = ctx.trace[-1]
    assert (execution.kind, execution.parent) == ("execution", node)
    assert execution.metadata["passed"] == 1 and execution.usage.executions == 1
    with pytest.raises(BudgetExceeded, match="executions"):
        await ctx.execute(PROGRAM, VIEW.visible_tests)
    assert ctx.executions_left() == 0


async def test_execute_reuses_one_suite_per_tests_tuple(executor):
    ctx = SolveContext(VIEW, MockBackend([]), executor, Budget())
    tests = VIEW.visible_tests
    assert ctx._suite(tests) is ctx._suite(tests)
    assert ctx._suite(list(tests)) is not ctx._suite(list(tests))
    assert ctx._suite(tests).entry_point == "add"


async def test_execute_with_strategy_limits(executor):
    ctx = SolveContext(VIEW, MockBackend([]), executor, Budget())
    slow = "import time\ndef add(a, b):\n    time.sleep(0.5)\n    return a + b\n"
    result = await ctx.execute(slow, VIEW.visible_tests, limits=Limits(time_s=0.1))
    assert result.status is Status.TIMEOUT


class BrokenSandbox:
    async def run(self, request: ExecRequest) -> ExecResult:
        return ExecResult(
            status=Status.INFRA_ERROR,
            outcomes=(TestOutcome(0, Status.NOT_RUN),),
            infra_error="sandbox worker stopped",
        )


async def test_sandbox_failure_is_an_error_not_feedback():
    ctx = SolveContext(VIEW, MockBackend([]), BrokenSandbox(), Budget())
    with pytest.raises(ExecutionInfraError, match="worker stopped"):
        await ctx.execute(PROGRAM, VIEW.visible_tests)
    assert ctx.trace[-1].metadata["infra_error"] == "sandbox worker stopped"


async def test_record_checks_parents(executor):
    ctx = SolveContext(VIEW, MockBackend([]), executor, Budget())
    first = ctx.record("thought", "a", note=1)
    second = ctx.record("thought", "b", parent=first)
    assert [n.id for n in ctx.trace] == [first, second]
    assert ctx.trace[0].metadata == {"note": 1}
    with pytest.raises(ValueError):
        ctx.record("thought", "c", parent=7)


async def test_run_guarded_keeps_the_best_so_far(executor):
    ctx = SolveContext(VIEW, MockBackend([]), executor, Budget())
    answers = Answers()

    async def body():
        answers.set([PROGRAM], ["raw"])
        raise BudgetExceeded("calls")

    solution = await run_guarded(ctx, answers, body)
    assert solution.programs == (PROGRAM,) and solution.raw == ("raw",)
    assert solution.error == "budget exhausted: calls"
    assert solution.trace[-1].kind == "error"
    assert solution.trace[-1].metadata["resource"] == "calls"


async def test_run_guarded_model_errors_say_if_retryable(executor):
    ctx = SolveContext(VIEW, MockBackend([]), executor, Budget())

    async def body():
        raise ModelUnavailable("connection refused")

    solution = await run_guarded(ctx, Answers(), body)
    assert solution.programs == ()
    assert solution.error.startswith("model error (retryable): ModelUnavailable")
    assert solution.trace[-1].metadata["retryable"] is True


async def test_run_guarded_without_programs_is_an_error(executor):
    ctx = SolveContext(VIEW, MockBackend([]), executor, Budget())

    async def body():
        return None

    solution = await run_guarded(ctx, Answers(), body)
    assert solution.error == "no program produced"


async def test_run_guarded_keeps_the_tie_groups(executor):
    ctx = SolveContext(VIEW, MockBackend([]), executor, Budget())
    answers = Answers()

    async def body():
        answers.set([PROGRAM, RIGHT], ["a", "b"], tie_groups=[[(1, 3), (0, 2)]])

    solution = await run_guarded(ctx, answers, body)
    assert solution.tie_groups == (((1, 3), (0, 2)),) and not solution.no_consensus


def test_tie_groups_are_checked():
    from codeloop.strategies import Solution
    from codeloop.types import Usage

    def solution(groups, no_consensus=False):
        return Solution(("p", "q"), (), Usage(), tie_groups=groups, no_consensus=no_consensus)

    assert solution((((0, 1),), ((1, 2),))).tie_groups == (((0, 1),), ((1, 2),))
    assert Solution(("p",), (), Usage()).tie_groups == ()
    for bad in [
        (((2, 1),),),  # no such program
        (((0, 1), (0, 1)),),  # twice
        (((0, 0),),),  # no samples
        ((),),  # empty group
    ]:
        with pytest.raises(ValueError):
            solution(bad)
    with pytest.raises(ValueError):  # no consensus: exactly one group
        solution((((0, 1),), ((1, 1),)), no_consensus=True)
    with pytest.raises(ValueError):
        Answers().set(["p"], ["r"], tie_groups=[[(1, 1)]])


def _public_reach(root: object) -> list[object]:
    """Objects reachable from `root` through public attribute names and containers."""
    seen: set[int] = set()
    found: list[object] = []
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool, type(None))):
            continue
        seen.add(id(obj))
        found.append(obj)
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        else:
            names = set(getattr(obj, "__dict__", {})) | {
                slot for cls in type(obj).__mro__ for slot in getattr(cls, "__slots__", ())
            }
            stack.extend(getattr(obj, n, None) for n in names if not n.startswith("_"))
    return found


async def test_no_public_path_runs_the_sandbox_or_the_model_outside_the_budget(executor):
    """The context's methods are the only way in: what its public attributes reach has no
    other `run` (executor) or `generate` (backend) to call, so an execution or a call the
    budget does not allow is refused whichever way a strategy asks."""
    backend = MockBackend([RIGHT] * 3)
    ctx = SolveContext(VIEW, backend, executor, Budget(executions=1, calls=1))
    runners = [
        o
        for o in _public_reach(ctx)
        if o is not ctx and (callable(getattr(o, "run", None)) or hasattr(o, "generate"))
    ]
    assert runners == []
    assert not any(o is executor or o is backend for o in _public_reach(ctx))
    await ctx.execute(PROGRAM, VIEW.visible_tests)
    await ctx.generate(chat())
    with pytest.raises(BudgetExceeded, match="executions"):
        await ctx.execute(PROGRAM, VIEW.visible_tests)
    with pytest.raises(BudgetExceeded, match="calls"):
        await ctx.generate(chat())
    assert (ctx.usage.executions, ctx.usage.calls, len(backend.requests)) == (1, 1, 1)
