"""`agentcoder`: the paper's loop (one program, one designed block, fixes from its failure)
and the released variant (programs x blocks, first with the most blocks, >= 3 stops)."""

from __future__ import annotations

from collections import Counter

import pytest

import codeloop
from codeloop import Budget, GenerationRequest, ProblemView, TaskKind, TestCase, TestKind
from codeloop.models import MockBackend
from codeloop.strategies import SolveContext, make_strategy
from codeloop_plugins.agentcoder import AgentCoderSettings, assertion_message, select

ADD_PROMPT = 'def add(a, b):\n    """Return the sum of a and b."""\n'
VIEW = ProblemView("demo/add", ADD_PROMPT, "add", TaskKind.FUNCTION, ())


def fenced(body: str) -> str:
    return f"Plan: add the numbers.\n\n```python\ndef add(a, b):\n    {body}\n```\n"


def block(*asserts: str) -> str:
    return "Test cases:\n\n```python\n" + "\n".join(asserts) + "\n```\n"


RIGHT = fenced("return a + b")
WRONG = fenced("return a - b")
# the designer's block: a basic case first (its message describes it), then an edge case
GOOD_BLOCK = block(
    'assert add(1, 2) == 3, "Basic: two small positives"',
    'assert add(0, 0) == 0, "Edge: zeros"',
)


async def solve(backend, executor, budget=None, view=VIEW, **settings):
    ctx = SolveContext(view, backend, executor, budget or Budget())
    return await make_strategy("agentcoder", **settings)(ctx)


def by_purpose(programs, tests):
    """A scripted model: code and repair requests get `programs` in turn, tests requests
    get `tests` in turn (each a list, or a function of the request's index)."""
    served = {"code": 0, "tests": 0}

    def answer(request: GenerationRequest, index: int) -> str:
        kind = "tests" if request.purpose == "tests" else "code"
        source = tests if kind == "tests" else programs
        i = served[kind]
        served[kind] += 1
        return source(i) if callable(source) else source[i]

    return MockBackend(answer)


def text_of(request: GenerationRequest) -> str:
    return "\n".join(m.content for m in request.messages)


# ----------------------------------------------------------------------------- paper loop


@pytest.mark.anyio
async def test_fix_round_carries_the_designed_tests_failure_with_its_message(executor):
    backend = by_purpose([WRONG, RIGHT], [GOOD_BLOCK])
    solution = await solve(backend, executor)
    assert solution.error == ""
    assert solution.programs == ("def add(a, b):\n    return a + b\n",)
    code, tests, repair = backend.requests  # stopped once the designed tests passed
    assert [r.purpose for r in backend.requests] == ["code", "tests", "repair"]
    # the designer sees the problem and never the program
    assert ADD_PROMPT.rstrip() in text_of(tests) and "a - b" not in text_of(tests)
    fix = text_of(repair)
    assert "return a - b" in fix  # the previous version
    assert 'assert add(0, 0) == 0, "Edge: zeros"' in fix  # the whole block
    # the first failing assert (the run stops there, as the block's script does), with
    # the message the official code drops, and what came back
    assert (
        'assert add(1, 2) == 3, "Basic: two small positives"\n'
        "AssertionError: Basic: two small positives\nExpected: 3\nActual: -1"
    ) in fix
    assert fix.count("AssertionError") == 1
    assert repair.messages[0].content == "You are a code developer assistant."
    assert len(repair.messages) == 2  # a new conversation, as the official fix request
    kinds = [n.kind for n in solution.trace]
    assert kinds == [
        "program",
        "generated_test",
        "execution",
        "feedback",
        "program",
        "execution",
        "stop",
    ]
    program, designed, run, feedback, fixed, rerun, _ = solution.trace
    assert designed.metadata["assertions"][0].startswith("assert add(1, 2) == 3")
    assert run.parent == program.id and feedback.parent == program.id
    assert fixed.parent == feedback.id and rerun.parent == fixed.id
    assert "AssertionError: Basic: two small positives" in feedback.content
    assert rerun.metadata["passed"] == rerun.metadata["total"] == 2
    total = sum((n.usage for n in solution.trace), start=type(solution.usage)())
    assert (total.calls, total.executions) == (solution.usage.calls, solution.usage.executions)


@pytest.mark.anyio
async def test_a_designed_test_that_raises_is_fed_back_with_its_error(executor):
    crash = fenced("return a / b")
    backend = by_purpose([crash, RIGHT], [block('assert add(1, 0) == 1, "Edge: zero b"')])
    await solve(backend, executor)
    fix = text_of(backend.requests[2])
    assert 'assert add(1, 0) == 1, "Edge: zero b"\nZeroDivisionError: division by zero' in fix


@pytest.mark.anyio
async def test_paper_calls_per_problem_at_defaults_match_the_official_seven(executor):
    # every program wrong in its own way: the loop runs out of fixes
    backend = by_purpose(lambda i: fenced(f"return a * b + {100 + i}"), [GOOD_BLOCK])
    solution = await solve(backend, executor)
    purposes = [r.purpose for r in backend.requests]
    print(
        f"\nagentcoder (paper) calls per problem at defaults, never fixed: {len(purposes)}"
        f" {dict(Counter(purposes))}; executions {solution.usage.executions}"
        " (official: at most 7)"
    )
    assert purposes == ["code", "tests"] + ["repair"] * 5  # 1 + 1 + 5 = 7, the official count
    assert solution.usage.calls == 7 and solution.usage.executions == 6
    assert {r.sampling.temperature for r in backend.requests} == {1.0}
    # the answer is the latest program, as in the official code
    assert solution.programs == ("def add(a, b):\n    return a * b + 105\n",)
    assert solution.trace[-1].kind == "stop" and "5 fixes" in solution.trace[-1].content


@pytest.mark.anyio
async def test_first_program_passing_costs_two_calls_and_one_execution(executor):
    backend = by_purpose([RIGHT], [GOOD_BLOCK])
    solution = await solve(backend, executor)
    assert (solution.usage.calls, solution.usage.executions) == (2, 1)


@pytest.mark.anyio
async def test_a_block_without_usable_asserts_ends_the_loop(executor):
    backend = by_purpose([WRONG], ["I would test it by hand."])
    solution = await solve(backend, executor)
    assert solution.usage.calls == 2 and solution.usage.executions == 0
    assert solution.trace[-1].content == "the test designer wrote no usable assert"


@pytest.mark.anyio
async def test_budget_ends_the_loop_with_the_latest_program(executor):
    backend = by_purpose([WRONG, RIGHT], [GOOD_BLOCK])
    solution = await solve(backend, executor, budget=Budget(calls=2))
    assert solution.error == "budget exhausted: calls"
    assert solution.programs == ("def add(a, b):\n    return a - b\n",)


@pytest.mark.anyio
async def test_visible_tests_the_prompt_does_not_show_go_to_both_agents(executor):
    visible = TestCase(TestKind.CALL, args=(2, 3), expected=5, source="assert add(2, 3) == 5")
    view = ProblemView("demo/add", "Add two numbers.", "add", TaskKind.FUNCTION, (visible,))
    backend = by_purpose([RIGHT], [GOOD_BLOCK])
    solution = await solve(backend, executor, view=view)
    code, tests = backend.requests
    for request in (code, tests):
        assert "assert add(2, 3) == 5" in text_of(request)
    assert solution.usage.executions == 1  # the loop runs the designed block, not the visible
    hidden = by_purpose([RIGHT], [GOOD_BLOCK])
    await solve(hidden, executor, view=view, show_visible_tests=False)
    assert all("add(2, 3)" not in text_of(r) for r in hidden.requests)


def test_assertion_messages_as_python_shows_them():
    assert assertion_message('assert f(1) == 2, "basic"') == "basic"
    assert assertion_message("assert f(1) == 2") is None
    assert assertion_message('assert f(1) == 2, f"got {f(1)}"') == "f'got {f(1)}'"
    assert assertion_message("assert (") is None


# ------------------------------------------------------------------------ released variant

RIGHT_A = fenced("return a + b")
RIGHT_B = fenced("return b + a")
ONE_RIGHT = block('assert add(1, 2) == 3, "basic"')
NOT_A_CALL = block("assert (add(1, 2)) == 3")  # no `assert add(`: the released code skips it


def test_select_is_the_first_program_with_the_highest_score():
    assert select([0, 3, 1, 3, 2]) == 1
    assert select([0, 0]) == 0


@pytest.mark.anyio
async def test_released_stops_when_the_best_passes_three_blocks(executor):
    programs = [
        # epoch 0: the best passes 2 blocks (< 3): everything is sampled again
        WRONG,
        RIGHT_A,
        RIGHT_A,
        WRONG,
        WRONG,
        # epoch 1: two programs pass 3 blocks: the first of them is chosen
        WRONG,
        fenced("return a * b"),
        RIGHT_B,
        RIGHT_A,
        WRONG,
    ]
    blocks = [ONE_RIGHT] * 2 + [NOT_A_CALL] * 8 + [ONE_RIGHT] * 3 + [NOT_A_CALL] * 7
    backend = by_purpose(programs, blocks)
    solution = await solve(backend, executor, variant="released")
    assert solution.error == ""
    assert solution.usage.calls == 30  # 15 per epoch, two epochs
    rankings = [n for n in solution.trace if n.kind == "ranking"]
    assert [r.metadata["scores"] for r in rankings] == [[0, 2, 2, 0, 0], [0, 0, 3, 3, 0]]
    assert [r.metadata["usable_blocks"] for r in rankings] == [2, 3]
    assert [r.metadata["chosen"] for r in rankings] == [1, 2]
    assert [r.metadata["done"] for r in rankings] == [False, True]
    assert solution.programs[0] == "def add(a, b):\n    return b + a\n"  # the first with 3
    # a program sampled twice ran once: 2 distinct programs x 2 blocks in epoch 0 ...
    executions = [n for n in solution.trace if n.kind == "execution"]
    assert len(executions) == 2 * 2 + 4 * 3
    # ... and no request carries feedback: programs are sampled again from the problem
    code_requests = [r for r in backend.requests if r.purpose == "code"]
    assert len({text_of(r) for r in code_requests}) == 1


@pytest.mark.anyio
async def test_released_calls_per_problem_at_defaults_match_the_officials_ninety(executor):
    backend = by_purpose(lambda i: WRONG, lambda i: ONE_RIGHT)
    solution = await solve(backend, executor, variant="released")
    assert solution.usage.calls == 90  # 15 initial + 15 in each of 5 epochs
    purposes = [r.purpose for r in backend.requests]
    print(
        f"\nagentcoder (released) calls per problem at defaults, never done: {len(purposes)}"
        f" {dict(Counter(purposes))}; executions {solution.usage.executions}"
        " (official: at most 90)"
    )
    assert purposes.count("code") == 30 and purposes.count("tests") == 60
    rankings = [n for n in solution.trace if n.kind == "ranking"]
    assert len(rankings) == 6 and not any(r.metadata["done"] for r in rankings)
    assert "epochs used up" in rankings[-1].content
    # one distinct program a epoch runs on its 10 blocks
    assert solution.usage.executions == 6 * 10


@pytest.mark.anyio
async def test_released_settings_scale_the_epoch(executor):
    backend = by_purpose(lambda i: RIGHT, lambda i: ONE_RIGHT)
    solution = await solve(
        backend, executor, variant="released", programs=2, test_blocks=3, min_blocks=3
    )
    assert solution.usage.calls == 5 and solution.error == ""


def test_settings_are_checked():
    with pytest.raises(ValueError, match="variant"):
        make_strategy("agentcoder", variant="newest")
    with pytest.raises(ValueError, match="no setting"):
        make_strategy("agentcoder", fixes=3)
    assert codeloop.STRATEGIES["agentcoder"].settings is AgentCoderSettings  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_released_answer_is_the_last_epochs_choice_even_a_worse_one(executor):
    # epoch 0: a right program passes both blocks (2 < 3); epoch 1: only wrong programs
    backend = by_purpose([RIGHT, WRONG, WRONG, WRONG], [ONE_RIGHT] * 4)
    solution = await solve(
        backend, executor, variant="released", programs=2, test_blocks=2, epochs=1
    )
    rankings = [n for n in solution.trace if n.kind == "ranking"]
    assert [r.metadata["scores"] for r in rankings] == [[2, 0], [0, 0]]
    assert solution.programs == ("def add(a, b):\n    return a - b\n",)  # as HEAD does


@pytest.mark.anyio
async def test_without_an_entry_point_no_designer_is_asked(executor):
    view = ProblemView("demo/echo", "Print the input.", None, TaskKind.STDIO, ())
    program = "```python\nprint(input())\n```"
    paper = by_purpose([program], [])
    solution = await solve(paper, executor, view=view)
    assert [r.purpose for r in paper.requests] == ["code"] and solution.programs
    released = by_purpose([program] * 5, [])
    solution = await solve(released, executor, view=view, variant="released")
    assert [r.purpose for r in released.requests] == ["code"] * 5
    assert solution.usage.executions == 0 and solution.error == ""


@pytest.mark.anyio
async def test_a_program_that_hangs_is_fed_back_as_timed_out(executor):
    hangs = fenced("while True:\n        pass")
    backend = by_purpose([hangs, RIGHT], [GOOD_BLOCK])
    solution = await solve(backend, executor, block_time_limit_s=0.3)
    fix = backend.requests[2].messages[-1].content
    assert "assert add(1, 2) == 3" in fix and "timed out" in fix
    assert solution.programs == ("def add(a, b):\n    return a + b\n",)


def test_a_designer_answer_too_deep_to_parse_gives_no_assertion():
    from codeloop import chat_assertions

    deep = "```python\nassert add(1, 2) == " + "-" * 100_000 + "3\n```"
    assert chat_assertions(deep, "add") == []
