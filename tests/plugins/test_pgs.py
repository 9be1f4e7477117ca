"""`pgs`: properties screened on the visible tests, the shortest counterexample and the
property it breaks fed back, the public gate, Hypothesis as an input source, containment
of the tester's code, calls per problem, and no hidden test within reach."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable

import pytest

from codeloop import (
    Budget,
    Feedback,
    Limits,
    SolveContext,
    render_property_feedback,
)
from codeloop.models import MockBackend
from codeloop.types import GenerationRequest, ProblemView, TaskKind, TestCase, TestKind
from codeloop_plugins.pgs import PgsSettings, make_pgs, parse_properties, signature_of

pytestmark = pytest.mark.anyio

PROMPT = (
    "def sort_numbers(xs: list[int]) -> list[int]:\n"
    '    """Return the numbers of xs in ascending order, duplicates kept."""\n'
)


def visible_case(xs: list[int]) -> TestCase:
    return TestCase(TestKind.CALL, args=(xs,), expected=sorted(xs), source=f"sort_numbers({xs})")


VIEW = ProblemView(
    "demo/sort",
    PROMPT,
    "sort_numbers",
    TaskKind.FUNCTION,
    (visible_case([3, 1, 2]), visible_case([5, 4])),
)


def program(body: str) -> str:
    return f"```python\ndef sort_numbers(xs):\n    {body}\n```\n"


RIGHT = program("return sorted(xs)")
DEDUP = program("return sorted(set(xs))")  # passes the visible tests, drops duplicates
REVERSED = program("return sorted(xs, reverse=True)")  # fails both visible tests
UNSORTED = program("return list(xs)")  # keeps duplicates, fails the visible tests

SAME_LENGTH = {
    "name": "same_length",
    "checker_code": "assert len(result) == len(orig_xs), 'the output lost or gained elements'",
    "reason": "sorting permutes its input",
}
IS_SORTED = {
    "name": "is_sorted",
    "checker_code": "assert all(a <= b for a, b in zip(result, result[1:])), 'not ascending'",
    "reason": "the output is ascending",
}
FALSE_PROPERTY = {  # fails on the visible case [5, 4] -> [4, 5]
    "name": "starts_with_one",
    "checker_code": "assert not result or result[0] == 1, 'does not start with 1'",
    "reason": "a wrong belief",
}


def properties(*items: dict) -> str:
    return "Properties:\n```json\n" + json.dumps(list(items)) + "\n```\n"


GOOD_PROPERTIES = properties(SAME_LENGTH, IS_SORTED, FALSE_PROPERTY)

CASES = [
    [9, 8, 7, 7, 1],
    [1, 2, 3],
    [4, 4, 4, 1, 1],
    [6],
    [2, 2],
    [0, 5],
    [3, 1, 2],
    [10, -1],
    [],
    [7, 7],
]
GENERATOR = (
    "```python\nimport random\n\nCASES = "
    + repr(CASES)
    + "\n\ndef generate_input(seed):\n    rng = random.Random(seed)\n"
    "    return [list(CASES[seed % len(CASES)])]\n```\n"
)
BROKEN_GENERATOR = "```python\ndef generate_input(seed):\n    raise ValueError('no idea')\n```\n"


def by_purpose(**answers: list[str] | str) -> Callable[[GenerationRequest, int], str]:
    """Answers per request purpose, in order (the last repeats once used up)."""
    served: Counter[str] = Counter()

    def answer(request: GenerationRequest, index: int) -> str:
        script = answers[request.purpose]
        if isinstance(script, str):
            return script
        i = served[request.purpose]
        served[request.purpose] += 1
        return script[min(i, len(script) - 1)]

    return answer


async def solve(backend, executor, view=VIEW, budget=None, limits=None, **settings):
    ctx = SolveContext(view, backend, executor, budget or Budget(), exec_limits=limits)
    return await make_pgs(**settings)(ctx)


def usage_adds_up(solution) -> bool:
    """The trace's nodes hold every call and execution the solution's usage counts."""
    total = sum((n.usage.calls for n in solution.trace), 0)
    executions = sum((n.usage.executions for n in solution.trace), 0)
    tokens = sum((n.usage.tokens for n in solution.trace), 0)
    usage = solution.usage
    return (total, executions, tokens) == (usage.calls, usage.executions, usage.tokens)


def purposes(backend) -> list[str]:
    return [r.purpose for r in backend.requests]


def user_text(request: GenerationRequest) -> str:
    return request.messages[-1].content


def nodes(solution, kind: str) -> list:
    return [n for n in solution.trace if n.kind == kind]


# --------------------------------------------------------------------- decisions


async def test_the_shortest_counterexample_and_its_property_go_back(executor):
    backend = MockBackend(
        by_purpose(code=DEDUP, properties=GOOD_PROPERTIES, inputs=GENERATOR, repair=RIGHT)
    )
    solution = await solve(backend, executor, passes=1)
    assert solution.error == ""
    assert "return sorted(xs)" in solution.programs[0]
    assert purposes(backend) == ["code", "properties", "inputs", "repair"]
    repair = user_text(backend.requests[-1])
    # [2, 2] is the shortest generated input the program gets wrong ([7, 7] is as long,
    # later; [9, 8, 7, 7, 1] and [4, 4, 4, 1, 1] are longer)
    assert "Shortest failing input found:\nsort_numbers([2, 2])" in repair
    assert "Violated property: same_length: the output lost or gained elements" in repair
    assert "The code returned: [2]" in repair
    assert "return sorted(set(xs))" in repair  # the program being repaired
    structured = repair.split("Structured property feedback:")[1]
    assert structured.index("same_length") < structured.index("is_sorted")
    [found] = nodes(solution, "counterexample")
    assert found.content == "sort_numbers([2, 2])"
    assert found.metadata["source"] == "llm" and found.metadata["property"] == "same_length"
    [feedback] = [n for n in nodes(solution, "feedback") if n.parent == found.id]
    assert feedback.metadata["source"] == "llm" and feedback.content in repair
    assert nodes(solution, "stop")[-1].content == "no input breaks a property"
    assert usage_adds_up(solution)


async def test_properties_false_on_the_visible_tests_are_dropped(executor):
    backend = MockBackend(
        by_purpose(code=DEDUP, properties=GOOD_PROPERTIES, inputs=GENERATOR, repair=RIGHT)
    )
    solution = await solve(backend, executor, passes=1)
    [screen] = nodes(solution, "property_screen")
    assert screen.metadata["kept"] == ["same_length", "is_sorted"]
    assert list(screen.metadata["dropped"]) == ["starts_with_one"]
    assert "sort_numbers([5, 4])" in screen.metadata["dropped"]["starts_with_one"]
    repair = user_text(backend.requests[-1])
    assert "starts_with_one" not in repair


async def test_all_properties_false_asks_again_then_gives_up(executor):
    backend = MockBackend(
        by_purpose(code=DEDUP, properties=properties(FALSE_PROPERTY), inputs=GENERATOR)
    )
    solution = await solve(backend, executor, passes=1)
    assert purposes(backend) == ["code", "properties", "properties", "properties"]
    assert "starts_with_one" in user_text(backend.requests[2])  # told what failed
    assert nodes(solution, "stop")[-1].content == "no property held on the visible tests"
    assert "set(xs)" in solution.programs[0]


async def test_a_visible_failure_is_repaired_from_the_shortest_failing_case(executor):
    backend = MockBackend(
        by_purpose(code=REVERSED, properties=GOOD_PROPERTIES, inputs=GENERATOR, repair=RIGHT)
    )
    solution = await solve(backend, executor, passes=1)
    assert purposes(backend)[:2] == ["code", "repair"]
    repair = user_text(backend.requests[1])
    assert (
        "wrong answer on the shortest failing example.\nInput: sort_numbers([5, 4])\n"
        "Generated output: [5, 4]\nExpected output: [4, 5]"
    ) in repair
    [feedback] = [n for n in nodes(solution, "feedback") if n.metadata.get("source") == "visible"]
    assert feedback.metadata["test_index"] == 1
    assert "return sorted(xs)" in solution.programs[0]


async def test_the_public_gate_reverts_a_repair_that_breaks_a_visible_test(executor):
    backend = MockBackend(
        by_purpose(
            code=DEDUP, properties=GOOD_PROPERTIES, inputs=GENERATOR, repair=[UNSORTED, RIGHT]
        )
    )
    solution = await solve(backend, executor, passes=1)
    assert purposes(backend) == ["code", "properties", "inputs", "repair", "repair"]
    [revert] = nodes(solution, "revert")
    assert "list(xs)" in solution.trace[revert.parent].content
    # the second repair starts again from the program the first one failed to improve
    assert "return sorted(set(xs))" in user_text(backend.requests[4])
    assert "list(xs)" not in user_text(backend.requests[4])
    assert "return sorted(xs)" in solution.programs[0]


# -------------------------------------------------------------------- hypothesis


@pytest.mark.slow
async def test_hypothesis_finds_and_shrinks_the_counterexample(executor):
    backend = MockBackend(by_purpose(code=DEDUP, properties=properties(SAME_LENGTH), repair=RIGHT))
    solution = await solve(backend, executor, passes=1, inputs="hypothesis")
    assert "inputs" not in purposes(backend)  # no generator script was asked for
    found_by = [n for n in nodes(solution, "hypothesis") if n.metadata["status"] == "found"]
    assert len(found_by) == 1
    shrunk = found_by[0].metadata
    assert shrunk["input"] == "sort_numbers([0, 0])"  # Hypothesis's minimal duplicate
    assert len(shrunk["first_input"]) >= len(shrunk["input"])
    [found] = nodes(solution, "counterexample")
    assert found.metadata["source"] == "hypothesis" and found.content == "sort_numbers([0, 0])"
    repair = user_text(backend.requests[-1])
    assert "Shortest failing input found:\nsort_numbers([0, 0])" in repair
    assert "return sorted(xs)" in solution.programs[0]
    # the repaired program: Hypothesis ran again and found nothing
    assert [n.metadata["status"] for n in nodes(solution, "hypothesis")] == ["found", "none"]


@pytest.mark.slow
async def test_both_sources_merge_and_the_shortest_wins(executor):
    generator = GENERATOR.replace("[2, 2]", "[2, 2, 2]").replace("[7, 7]", "[7, 7, 7]")
    backend = MockBackend(
        by_purpose(code=DEDUP, properties=properties(SAME_LENGTH), inputs=generator, repair=RIGHT)
    )
    solution = await solve(backend, executor, passes=1, inputs="both")
    [found] = nodes(solution, "counterexample")
    assert found.metadata["source"] == "hypothesis"  # [0, 0] beats the generator's [2, 2, 2]
    assert purposes(backend) == ["code", "properties", "inputs", "repair"]


# ------------------------------------------------------------------- containment


HOSTILE_GENERATOR = """```python
import os


class Liar:
    def __eq__(self, other):
        return True

    def __repr__(self):
        raise RuntimeError("no repr for you")


def generate_input(seed):
    if seed == 0:
        return [Liar()]
    if seed == 1:
        os.environ["PGS_PWNED"] = "1"
        print("x" * 10_000_000)
    if seed == 2:
        return Liar()
    while True:
        pass
```
"""


@pytest.mark.slow
async def test_a_hostile_input_generator_is_contained(executor, monkeypatch):
    monkeypatch.delenv("PGS_PWNED", raising=False)
    backend = MockBackend(
        by_purpose(
            code=DEDUP,
            properties=GOOD_PROPERTIES,
            inputs=[HOSTILE_GENERATOR, GENERATOR],
            repair=RIGHT,
        )
    )
    solution = await solve(backend, executor, passes=1, limits=Limits(time_s=0.5))
    assert "PGS_PWNED" not in os.environ
    assert solution.error == ""
    first, second = nodes(solution, "inputs")
    assert first.metadata["valid"] == 0 and first.metadata["status"] != "passed"
    assert second.metadata["valid"] == len(CASES)
    # the generator's failure went back to the tester, as plain text
    feedback = [n for n in nodes(solution, "feedback") if n.metadata["source"] == "input_generator"]
    assert len(feedback) == 1
    retry = backend.requests[3]
    assert retry.purpose == "inputs" and retry.messages[-1].content == feedback[0].content
    assert "at least 8 are needed" in feedback[0].content
    assert "return sorted(xs)" in solution.programs[0]


# ------------------------------------------------------------------- calls figure


async def test_calls_per_problem_at_defaults_match_the_official_bound(executor):
    """Official per pass: <= 3 property + <= 3 input-generator + <= 5 repair calls; two
    repair passes after the first program: at most 1 + 2 * 11 = 23 calls."""
    assert PgsSettings() == PgsSettings(passes=2, property_attempts=3, repairs=5, input_attempts=3)
    worst = MockBackend(
        by_purpose(
            code=DEDUP,
            properties=[properties(FALSE_PROPERTY)] * 2
            + [GOOD_PROPERTIES]
            + [properties(FALSE_PROPERTY)] * 2
            + [GOOD_PROPERTIES],
            inputs=[BROKEN_GENERATOR] * 2 + [GENERATOR] + [BROKEN_GENERATOR] * 2 + [GENERATOR],
            repair=DEDUP,  # never fixes the bug: every repair is spent
        )
    )
    solution = await solve(worst, executor)
    counts = Counter(purposes(worst))
    print(
        f"\npgs calls per problem at defaults, worst case: {len(worst.requests)} {dict(counts)}"
        f"; executions {solution.usage.executions}"
    )
    assert counts == {"code": 1, "properties": 6, "inputs": 6, "repair": 10}
    assert len(worst.requests) == 23
    assert solution.usage.calls == 23 and usage_adds_up(solution)
    # a pass: visible run, 3 screens, 3 generator runs, 1 check, 5 gates (each repair
    # returns the same program, so the check is not run again)
    assert solution.usage.executions == 2 * (1 + 3 + 3 + 1 + 5)
    best = MockBackend(by_purpose(code=RIGHT, properties=GOOD_PROPERTIES, inputs=GENERATOR))
    easy = await solve(best, executor)
    print(
        f"pgs calls per problem at defaults, right first program: {len(best.requests)}"
        f"; executions {easy.usage.executions}"
    )
    assert easy.usage.executions == 2 * (1 + 1 + 1 + 1)  # visible, screen, generator, check
    assert Counter(purposes(best)) == {"code": 1, "properties": 2, "inputs": 2}


# ----------------------------------------------------------------------- pieces


def test_the_renderer_says_input_property_and_the_structured_properties():
    text = render_property_feedback(
        Feedback(
            kind="property_violation",
            test="f([2, 2])",
            message="same_length: lost",
            actual="[2]",
        ),
        [
            {
                "name": "same_length",
                "reason": "a permutation",
                "checker": "assert x",
                "assertion_message": "lost",
            }
        ],
    )
    assert "Shortest failing input found:\nf([2, 2])\nViolated property: same_length: lost" in text
    assert "- name: same_length\n  reason: a permutation\n  assertion message: lost" in text
    wrong = render_property_feedback(
        Feedback(kind="test_failure", test="f([5, 4])", expected="[4, 5]", actual="[5, 4]")
    )
    assert wrong.endswith("Input: f([5, 4])\nGenerated output: [5, 4]\nExpected output: [4, 5]")


def test_properties_are_parsed_as_data_and_only_compiled():
    text = properties(SAME_LENGTH, {"name": "bad", "checker_code": "assert (", "reason": ""})
    assert [p.name for p in parse_properties(text)] == ["same_length"]
    assert parse_properties("no json here") == []
    duplicate = properties(SAME_LENGTH, SAME_LENGTH)
    assert [p.name for p in parse_properties(duplicate)] == ["same_length", "same_length_"]


def test_the_signature_comes_from_the_prompt():
    signature = signature_of(PROMPT, "sort_numbers")
    assert signature.names == ("xs",) and signature.annotations == ("list[int]",)
    assert signature.accepts(1) and not signature.accepts(2)
    assert signature_of("def f(a, b=1, *rest): pass", "f").required == 1


def test_settings_are_checked():
    with pytest.raises(ValueError):
        make_pgs(inputs="fuzzer")
    with pytest.raises(ValueError):
        make_pgs(min_inputs=0)
    assert make_pgs.settings is PgsSettings  # type: ignore[attr-defined]
