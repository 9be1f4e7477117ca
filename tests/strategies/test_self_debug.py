"""`self_debug`: repairs in one conversation after seeing the failing test."""

import pytest

from codeloop.feedback import render
from codeloop.models import MockBackend
from codeloop.strategies import SolveContext, make_strategy
from codeloop.types import Budget, Feedback

from .helpers import RIGHT, WRONG, add_view, fenced, usage_adds_up

pytestmark = pytest.mark.anyio

VIEW = add_view(((1, 2), 3), ((2, 2), 4))


async def solve(backend, executor, budget=None, view=VIEW, **settings):
    ctx = SolveContext(view, backend, executor, budget or Budget())
    return await make_strategy("self_debug", **settings)(ctx)


async def test_repairs_after_seeing_the_failing_test(executor):
    backend = MockBackend([WRONG, RIGHT])
    solution = await solve(backend, executor)
    assert solution.error == ""
    assert "return a + b" in solution.programs[0] and len(solution.programs) == 1
    assert len(backend.requests) == 2  # stopped as soon as the visible tests passed
    first, second = backend.requests
    # the conversation keeps its history: the first answer, then the feedback
    assert second.messages[: len(first.messages)] == first.messages
    assert second.messages[len(first.messages)].content == WRONG
    feedback = second.messages[-1].content
    expected = render(
        [
            Feedback(kind="test_failure", test="assert add(1, 2) == 3", expected="3", actual="-1"),
            Feedback(kind="test_failure", test="assert add(2, 2) == 4", expected="4", actual="0"),
        ],
        style="unit_test",
        max_items=3,
    )
    assert feedback.startswith(expected)
    assert "Expected: 3\nActual: -1" in feedback
    assert second.purpose == "repair" and second.sampling.temperature == 0.0
    kinds = [n.kind for n in solution.trace]
    assert kinds == ["program", "execution", "feedback", "program", "execution"]
    assert solution.trace[3].parent == 2  # the repair hangs under its feedback
    assert usage_adds_up(solution)


async def test_simple_feedback_says_only_wrong(executor):
    backend = MockBackend([WRONG, RIGHT])
    await solve(backend, executor, feedback="simple")
    feedback = backend.requests[1].messages[-1].content
    assert feedback.startswith("The code above is wrong. Please fix it.")
    assert "Expected" not in feedback and "-1" not in feedback


async def test_explanation_comes_before_the_unit_test_feedback(executor):
    explanation = "Line 2 subtracts b from a, so add returns the difference."
    backend = MockBackend([WRONG, explanation, RIGHT])
    solution = await solve(backend, executor, feedback="unit_test_explanation")
    code, explain, repair = backend.requests
    assert explain.purpose == "explanation"
    assert "line by line" in explain.messages[-1].content
    assert repair.messages[-2].content == explanation  # the model's explanation, in history
    assert "Expected: 3\nActual: -1" in repair.messages[-1].content
    assert "return a + b" in solution.programs[0]
    assert [n.kind for n in solution.trace].count("explanation") == 1


async def test_rounds_exhausted_returns_the_best_by_visible_tests(executor):
    half = fenced("return a * b")  # passes add(2, 2) == 4 only
    backend = MockBackend([WRONG, half, fenced("return a - b - 1")])
    solution = await solve(backend, executor, rounds=2)
    assert len(backend.requests) == 3
    assert "a * b" in solution.programs[0]
    assert solution.error == ""


async def test_identical_repair_at_temperature_zero_stops(executor):
    backend = MockBackend([WRONG, WRONG, RIGHT])
    solution = await solve(backend, executor, rounds=5)
    assert len(backend.requests) == 2
    assert solution.trace[-1].kind == "stop"


async def test_without_visible_tests_there_is_nothing_to_debug(executor):
    backend = MockBackend([WRONG])
    solution = await solve(backend, executor, view=add_view())
    assert solution.usage.executions == 0 and len(backend.requests) == 1
    assert "a - b" in solution.programs[0]


async def test_budget_ends_the_loop_with_the_program_so_far(executor):
    backend = MockBackend([WRONG, RIGHT])
    solution = await solve(backend, executor, budget=Budget(calls=1))
    assert solution.error == "budget exhausted: calls"
    assert "a - b" in solution.programs[0]
    assert backend.calls == 1


async def test_independent_sessions_are_ranked(executor):
    backend = MockBackend([WRONG, WRONG, RIGHT])  # session 1 gives up, session 2 succeeds
    solution = await solve(backend, executor, n=2, rounds=1)
    assert len(solution.programs) == 2
    assert "a + b" in solution.programs[0] and "a - b" in solution.programs[1]


async def test_by_default_it_debugs_up_to_the_papers_ten_turns(executor):
    wrong = [fenced(f"return a * b + {100 + i}") for i in range(12)]  # wrong, each different
    backend = MockBackend(wrong)
    solution = await solve(backend, executor)
    programs = [n for n in solution.trace if n.kind == "program"]
    assert len(programs) == 11  # the first program and ten repairs
    assert {r.sampling.temperature for r in backend.requests} == {0.0}
