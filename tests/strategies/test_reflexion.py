"""`reflexion`: own tests, self-reflection on failure, retries that carry the memory."""

import pytest

from codeloop.models import MockBackend
from codeloop.strategies import SolveContext, make_strategy
from codeloop.types import Budget, GenerationRequest

from .helpers import RIGHT, WRONG, add_view, fenced, usage_adds_up

pytestmark = pytest.mark.anyio

TESTS_ANSWER = """Here are some tests:

```python
assert add(1, 1) == 2
assert add(-1, 1) == 0
assert add(10, 5) == 15
assert add(1, 1) == 2
```
"""


def scripted(code: list[str], reflections: list[str], tests: str = TESTS_ANSWER):
    """A model that answers by purpose, recording what it was asked."""
    queues = {"code": list(code), "reflection": list(reflections), "tests": [tests]}

    def answer(request: GenerationRequest, index: int) -> str:
        return queues[request.purpose].pop(0)

    return MockBackend(answer)


def requests(backend, purpose):
    return [r for r in backend.requests if r.purpose == purpose]


async def solve(backend, executor, view=None, budget=None, **settings):
    ctx = SolveContext(view or add_view(), backend, executor, budget or Budget())
    return await make_strategy("reflexion", **settings)(ctx)


async def test_second_attempt_carries_the_reflection(executor):
    reflection = "REFLECTION-7: the implementation subtracts; it must add a and b."
    backend = scripted([WRONG, RIGHT], [reflection])
    solution = await solve(backend, executor)
    assert solution.error == ""
    assert "return a + b" in solution.programs[0]
    [tests_request] = requests(backend, "tests")
    assert "add" in tests_request.messages[-1].content
    [reflect] = requests(backend, "reflection")
    report = reflect.messages[-1].content
    assert "Tests failed:" in report and "assert add(1, 1) == 2  # output: 0" in report
    first_code, second_code = requests(backend, "code")
    assert reflection in second_code.messages[-1].content
    assert reflection not in first_code.messages[-1].content
    assert "return a - b" in second_code.messages[-1].content  # the previous implementation
    kinds = [n.kind for n in solution.trace]
    assert kinds == [
        "generated_test",
        "program",
        "execution",
        "feedback",
        "reflection",
        "program",
        "execution",
    ]
    generated = solution.trace[0]
    assert generated.metadata["assertions"] == [
        "assert add(1, 1) == 2",
        "assert add(-1, 1) == 0",
        "assert add(10, 5) == 15",
    ]
    assert solution.trace[2].metadata["total"] == 3
    assert usage_adds_up(solution)


async def test_visible_tests_run_with_the_generated_ones_when_asked(executor):
    backend = scripted([RIGHT], [])
    solution = await solve(backend, executor, view=add_view(((2, 3), 5)), use_visible_tests=True)
    execution = [n for n in solution.trace if n.kind == "execution"][0]
    assert execution.metadata["total"] == 4 and execution.metadata["passed"] == 4


async def test_defaults_are_the_released_codes(executor):
    """Only generated tests (the released code uses visible tests for LeetCode only), tests
    and reflections at its chat default 0.2, code greedily, the latest reflection only."""
    backend = scripted(
        [WRONG, fenced("return a * b"), RIGHT], ["FIRST-REFLECTION", "SECOND-REFLECTION"]
    )
    solution = await solve(backend, executor, view=add_view(((2, 3), 5)))
    execution = [n for n in solution.trace if n.kind == "execution"][0]
    assert execution.metadata["total"] == 3  # the generated tests, not the visible one
    assert [r.sampling.temperature for r in requests(backend, "tests")] == [0.2]
    assert {r.sampling.temperature for r in requests(backend, "reflection")} == {0.2}
    assert {r.sampling.temperature for r in requests(backend, "code")} == {0.0}
    third = requests(backend, "code")[2].messages[-1].content
    assert "FIRST-REFLECTION" not in third and "SECOND-REFLECTION" in third
    assert "return a + b" in solution.programs[0]


async def test_memory_accumulates_reflections(executor):
    backend = scripted(
        [WRONG, fenced("return a * b"), RIGHT], ["FIRST-REFLECTION", "SECOND-REFLECTION"]
    )
    solution = await solve(backend, executor, rounds=3, memory=None)
    third = requests(backend, "code")[2].messages[-1].content
    assert "FIRST-REFLECTION" in third and "SECOND-REFLECTION" in third
    assert "return a + b" in solution.programs[0]

    backend = scripted(
        [WRONG, fenced("return a * b"), RIGHT], ["FIRST-REFLECTION", "SECOND-REFLECTION"]
    )
    await solve(backend, executor, rounds=3, memory=1)
    third = requests(backend, "code")[2].messages[-1].content
    assert "FIRST-REFLECTION" not in third and "SECOND-REFLECTION" in third


async def test_the_final_implementation_is_the_answer(executor):
    # the second attempt passes fewer internal tests than the first: Reflexion keeps it
    backend = scripted([fenced("return a + b + (a == 10)"), WRONG], ["try again"])
    solution = await solve(backend, executor, rounds=1)
    assert solution.programs == (solution.trace[-2].content,)
    assert "a - b" in solution.programs[0]


async def test_without_tests_the_first_implementation_stands(executor):
    backend = scripted([WRONG], [], tests="I cannot write tests for this.")
    solution = await solve(backend, executor)
    assert solution.usage.executions == 0
    assert "a - b" in solution.programs[0]


async def test_budget_returns_the_latest_implementation(executor):
    backend = scripted([WRONG, RIGHT], ["reflect"])
    solution = await solve(backend, executor, budget=Budget(calls=3))
    assert solution.error == "budget exhausted: calls"
    assert "a - b" in solution.programs[0]


# ------------------------------------------------------------------ the parts, alone


def test_rank_trials_puts_passing_finals_first_in_trial_order():
    from codeloop.strategies.reflexion import Attempt, rank_trials

    trials = [Attempt("a", "", False), Attempt("b", "", True), Attempt("c", "", True)]
    assert rank_trials(trials) == [1, 2, 0]
    assert rank_trials([]) == []


@pytest.mark.parametrize(
    ("settings", "visible", "asked"),
    [
        ({}, 0, True),
        ({"generate_tests": "never"}, 0, False),
        ({"generate_tests": "if_no_visible"}, 0, True),
        ({"generate_tests": "if_no_visible"}, 1, False),
        ({"max_generated_tests": 0}, 0, False),
    ],
)
def test_generates_tests(settings, visible, asked):
    from codeloop.strategies.reflexion import ReflexionSettings, generates_tests

    shown = list(add_view(((1, 2), 3)).visible_tests)[:visible]
    assert generates_tests(ReflexionSettings(**settings), shown) is asked


def test_tests_from_answer_skips_shown_and_repeated_asserts():
    from codeloop.strategies.reflexion import tests_from_answer

    shown = add_view(((1, 1), 2)).visible_tests  # "assert add(1, 1) == 2"
    assertions, tests = tests_from_answer(TESTS_ANSWER, "add", shown, limit=5)
    assert assertions == ["assert add(-1, 1) == 0", "assert add(10, 5) == 15"]
    assert [(t.args, t.expected) for t in tests] == [((-1, 1), 0), ((10, 5), 15)]
    assert tests_from_answer(TESTS_ANSWER, "add", (), limit=1)[0] == ["assert add(1, 1) == 2"]
    answer = "```python\nassert True\nassert add(0, 0) == 0\n```"  # the first tests nothing
    assertions, tests = tests_from_answer(answer, "add", (), limit=5)
    assert assertions == ["assert add(0, 0) == 0"] and len(tests) == 1


def test_reflection_memory_keeps_the_latest():
    from codeloop.strategies.reflexion import ReflectionMemory

    one, every = ReflectionMemory(1), ReflectionMemory(None)
    for text in ("first", "second", "third"):
        one.add(text)
        every.add(text)
    assert one.kept == ["third"]
    assert every.kept == ["first", "second", "third"]
    assert ReflectionMemory(2).kept == []


def test_reflection_and_improvement_requests():
    from codeloop.strategies import prompts
    from codeloop.strategies.reflexion import (
        ReflectionMemory,
        improve_request,
        reflection_request,
    )
    from codeloop.types import Sampling

    sampling = Sampling(temperature=0.2)
    code = "def add(a, b):\n    return a - b\n"
    asked = reflection_request(code, "add(1, 1) returned 0, expected 2", sampling)
    assert asked.purpose == "reflection" and asked.n == 1 and asked.sampling == sampling
    assert asked.messages[0].content == prompts.SYSTEM_REFLECTION
    assert code in asked.messages[1].content and "returned 0" in asked.messages[1].content

    memory = ReflectionMemory(1)
    memory.add("old: forgotten")
    memory.add("it subtracts")
    view = add_view()
    improve = improve_request(view, code, "the report", memory, sampling)
    assert improve.purpose == "code" and improve.messages[0].content == (
        prompts.SYSTEM_REFLEXION_CODE
    )
    text = improve.messages[1].content
    assert "it subtracts" in text and "forgotten" not in text
    assert code.strip() in text and "the report" in text


async def test_make_reflexion_gives_the_solve_of_a_reflexion_with_its_settings():
    import inspect

    from codeloop.strategies.reflexion import Reflexion, ReflexionSettings

    strategy = make_strategy("reflexion", rounds="2", memory="none")
    assert inspect.iscoroutinefunction(strategy)  # a built solve, as codeloop.run takes it
    assert isinstance(strategy.__self__, Reflexion)
    assert strategy.__self__.config == ReflexionSettings(rounds=2, memory=None)
