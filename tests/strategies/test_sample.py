"""`sample`: n samples, best-of-n by visible tests, all n returned ranked."""

import pytest

from codeloop.models import MockBackend
from codeloop.strategies import SolveContext, make_strategy
from codeloop.types import Budget

from .helpers import ADD_PROMPT, RIGHT, WRONG, add_view, fenced, usage_adds_up

pytestmark = pytest.mark.anyio

VIEW = add_view(((1, 2), 3), ((2, 2), 4), ((0, 5), 5))
# passes 0, 3, 1 (a * b: only 2 * 2 == 4), 3 visible tests
HALF = fenced("return a * b")
RIGHT_TOO = fenced("return b + a")


async def test_best_of_n_ranks_by_visible_tests_stably(executor):
    backend = MockBackend([WRONG, RIGHT, HALF, RIGHT_TOO])
    solution = await make_strategy("sample", n=4)(SolveContext(VIEW, backend, executor, Budget()))
    assert solution.error == ""
    ranked = [p.split("return ")[1].strip() for p in solution.programs]
    assert ranked == ["a + b", "b + a", "a * b", "a - b"]
    assert solution.raw == (RIGHT, RIGHT_TOO, HALF, WRONG)
    assert len(backend.requests) == 1 and backend.requests[0].n == 4
    assert solution.usage.executions == 4
    assert usage_adds_up(solution)
    ranking = [n for n in solution.trace if n.kind == "ranking"][0]
    assert ranking.metadata["passed"] == [3, 3, 1, 0]


async def test_duplicates_are_run_once_and_all_kept(executor):
    backend = MockBackend([WRONG, WRONG, RIGHT])
    solution = await make_strategy("sample", n=3)(SolveContext(VIEW, backend, executor, Budget()))
    assert len(solution.programs) == 3
    assert "a + b" in solution.programs[0]
    assert solution.usage.executions == 2


async def test_one_sample_or_no_tests_means_no_execution(executor):
    view = add_view()
    solution = await make_strategy("sample", n=2)(
        SolveContext(view, MockBackend([WRONG, RIGHT]), executor, Budget())
    )
    assert solution.usage.executions == 0
    assert "a - b" in solution.programs[0]  # sample order
    solution = await make_strategy("sample")(
        SolveContext(VIEW, MockBackend([WRONG]), executor, Budget())
    )
    assert solution.usage.executions == 0 and len(solution.programs) == 1


async def test_chat_prompt_shows_tests_the_prompt_does_not(executor):
    backend = MockBackend([RIGHT])
    await make_strategy("sample", temperature=0.3)(SolveContext(VIEW, backend, executor, Budget()))
    request = backend.requests[0]
    assert request.sampling.temperature == 0.3
    system, user = request.messages
    assert system.role == "system" and user.role == "user"
    assert ADD_PROMPT.strip() in user.content
    assert "assert add(1, 2) == 3" in user.content
    assert "```python" in user.content


async def test_completion_mode_continues_the_prompt(executor):
    backend = MockBackend(
        ["    return a + b\n\n\ndef helper():\n    pass\n"], prompt_mode="completion"
    )
    solution = await make_strategy("sample")(SolveContext(VIEW, backend, executor, Budget()))
    request = backend.requests[0]
    assert request.prompt == ADD_PROMPT and request.messages is None
    assert "\ndef" in request.sampling.stop
    assert solution.programs == (ADD_PROMPT + "    return a + b\n\n",)


async def test_execution_budget_keeps_what_ran(executor):
    backend = MockBackend([WRONG, RIGHT, HALF])
    solution = await make_strategy("sample", n=3)(
        SolveContext(VIEW, backend, executor, Budget(executions=2))
    )
    assert solution.error == "budget exhausted: executions"
    assert len(solution.programs) == 3
    assert "a + b" in solution.programs[0]  # ranked among what ran; the unrun one last
    assert "a * b" in solution.programs[-1]


async def test_calls_budget_before_anything(executor):
    backend = MockBackend([RIGHT])
    solution = await make_strategy("sample")(SolveContext(VIEW, backend, executor, Budget(calls=0)))
    assert solution.programs == () and solution.error == "budget exhausted: calls"
    assert backend.calls == 0


async def test_auto_mode_follows_what_the_model_declares_not_its_name(executor):
    body = "    return a + b\n"
    named = MockBackend([body], name="replay:fake")  # named like a replay, declares nothing
    await make_strategy("sample")(SolveContext(VIEW, named, executor, Budget()))
    assert named.requests[0].messages is not None and named.requests[0].prompt is None

    declared = MockBackend([body], prompt_mode="completion")
    solution = await make_strategy("sample")(SolveContext(VIEW, declared, executor, Budget()))
    assert declared.requests[0].prompt == ADD_PROMPT
    assert solution.programs == (ADD_PROMPT + body,)

    # a setting other than auto wins over the declaration
    forced = MockBackend([RIGHT], prompt_mode="completion")
    await make_strategy("sample", mode="chat")(SolveContext(VIEW, forced, executor, Budget()))
    assert forced.requests[0].messages is not None


def test_resolve_mode():
    from codeloop.strategies.common import resolve_mode

    assert resolve_mode("auto", None) == "chat"
    assert resolve_mode("auto", "completion") == "completion"
    assert resolve_mode("auto", "chat") == "chat"
    assert resolve_mode("completion", "chat") == "completion"
    assert resolve_mode("chat", "completion") == "chat"
    with pytest.raises(ValueError, match="unknown mode 'both'"):
        resolve_mode("both", None)
