"""`codet`: dual execution agreement picks the consensus over wrong programs."""

import pytest

from codeloop.extract import CODET_STOPS
from codeloop.models import MockBackend
from codeloop.strategies import SolveContext, make_strategy
from codeloop.strategies.codet import CodeTSettings, load_profile, rank_consensus
from codeloop.strategies.common import split_assertions
from codeloop.types import Budget, GenerationRequest

from .helpers import ADD_PROMPT, add_view, fenced, usage_adds_up

pytestmark = pytest.mark.anyio

VIEW = add_view()

# three right programs that behave the same, four wrong ones that each behave differently
RIGHT_BODIES = ["return a + b", "return b + a", "return sum((a, b))"]
WRONG_BODIES = ["return a - b", "return a * b", "return a + b + 1", "return abs(a) + abs(b)"]
# generated tests, mostly right; two wrong ones that a * b passes (so it passes as many
# tests as the right programs: only agreement between programs tells them apart)
TEST_SAMPLES = [
    "add(1, 2) == 3\nassert add(2, 2) == 4\n",
    "add(0, 0) == 0\nassert add(-1, 1) == 0\n",
    "add(2, 3) == 6\n",
    "add(3, 3) == 9\n\n# end of tests\nassert add(9, 9) == 0",
]


def by_purpose(code: list[str], tests: list[str], prompt_mode=None):
    queues = {"code": list(code), "tests": list(tests)}

    def answer(request: GenerationRequest, index: int) -> str:
        return queues[request.purpose].pop(0)

    return MockBackend(answer, prompt_mode=prompt_mode)


async def solve(backend, executor, budget=None, view=VIEW, **settings):
    settings = {"n": 7, "m": 4, **settings}
    ctx = SolveContext(view, backend, executor, budget or Budget())
    return await make_strategy("codet", **settings)(ctx)


def body_of(program: str) -> str:
    return program.strip().splitlines()[-1].strip()


async def test_consensus_beats_a_majority_of_wrong_singletons(executor):
    # interleave: wrong programs come first in sample order
    bodies = [WRONG_BODIES[0], WRONG_BODIES[1], RIGHT_BODIES[0], WRONG_BODIES[2]]
    bodies += [RIGHT_BODIES[1], WRONG_BODIES[3], RIGHT_BODIES[2]]
    backend = by_purpose(
        ["    " + b + "\n" for b in bodies], TEST_SAMPLES, prompt_mode="completion"
    )
    solution = await solve(backend, executor)
    assert solution.error == ""
    top3 = [body_of(p) for p in solution.programs[:3]]
    assert top3 == RIGHT_BODIES  # the consensus set, in sample order
    assert len(solution.programs) == 7
    ranking = [n for n in solution.trace if n.kind == "ranking"][0]
    best = ranking.metadata["sets"][0]
    assert best["ranks"] == [0, 1, 2] and best["samples"] == [1, 1, 1]
    assert best["tests_passed"] == [0, 1, 2, 3]
    # the tie groups, typed: the positive-score sets, best first, (rank, samples) each
    assert solution.tie_groups[0] == ((0, 1), (1, 1), (2, 1))
    assert solution.tie_groups[1] == ((3, 1),) and not solution.no_consensus
    scored = [s for s in ranking.metadata["sets"] if s["score"] > 0]
    assert len(solution.tie_groups) == len(scored)
    # CodeT splits on "assert " before cutting at stops: add(9, 9) == 0 counts too
    assert ranking.metadata["tests"] == 7
    # a * b passes as many generated tests, alone: second
    assert body_of(solution.programs[3]) == "return a * b"
    assert usage_adds_up(solution)


async def test_completion_mode_uses_codets_prompts_and_truncation(executor):
    code = ["    return a + b\n\n\ndef unused():\n    pass\n"] * 2
    backend = by_purpose(
        code, ["add(1, 2) == 3\nassert add(2, 2) == 4\n"], prompt_mode="completion"
    )
    solution = await solve(backend, executor, n=2, m=1)
    code_request, tests_request = backend.requests
    assert code_request.prompt == ADD_PROMPT and code_request.n == 2
    assert (
        tests_request.prompt == ADD_PROMPT + "    pass\n\n# check the correctness of add\nassert "
    )
    assert tests_request.purpose == "tests" and tests_request.n == 1
    assert solution.programs == (ADD_PROMPT + "    return a + b\n\n",)
    assert solution.raw == (code[0],)


async def test_chat_mode_asks_for_asserts(executor):
    tests_answer = "```python\nassert add(1, 2) == 3\nassert add(5, 5) == 10\n```"
    backend = by_purpose(
        [fenced("return a - b"), fenced("return a + b")], [tests_answer, tests_answer]
    )
    solution = await solve(backend, executor, n=2, m=2)
    assert backend.requests[1].messages is not None
    assert "assert add(...)" in backend.requests[1].messages[-1].content
    assert body_of(solution.programs[0]) == "return a + b"


async def test_a_test_that_times_out_fails_alone(executor):
    hangs_on_two = "    while a == 2:\n        pass\n    return a + b\n"
    backend = by_purpose(
        [hangs_on_two, "    return a + b\n"],
        ["add(2, 2) == 4\nassert add(1, 2) == 3\nassert add(3, 4) == 7\n"],
        prompt_mode="completion",
    )
    solution = await solve(backend, executor, n=2, m=1, test_time_limit_s=0.05)
    ranking = [n for n in solution.trace if n.kind == "ranking"][0]
    sets = {tuple(s["ranks"]): s["tests_passed"] for s in ranking.metadata["sets"]}
    assert sets[(0,)] == [0, 1, 2]  # the right program first
    assert sets[(1,)] == [1, 2]  # the hanging one still passes the tests after the hang
    executions = [n for n in solution.trace if n.kind == "execution"]
    assert [e.metadata["status"] for e in executions].count("timeout") == 1


HANGS_FROM_FIVE = "    while a >= 5:\n        pass\n    return a + b\n"
HANGS_ON_FIVE_AND_SEVEN = "    while a in (5, 7):\n        pass\n    return a + b\n"
FIVE_TESTS = (
    "add(5, 1) == 6\nassert add(6, 1) == 7\nassert add(1, 2) == 3\n"
    "assert add(7, 1) == 8\nassert add(2, 2) == 4\n"
)


def loop_of(program: str) -> str:
    """The program's `while` line, or its last line for the one without a loop."""
    lines = [line.strip() for line in program.strip().splitlines()]
    return next((line for line in lines if line.startswith("while")), lines[-1])


def passed_by_loop(solution) -> dict[str, list[int]]:
    ranking = [n for n in solution.trace if n.kind == "ranking"][0]
    return {
        loop_of(solution.programs[rank]): s["tests_passed"]
        for s in ranking.metadata["sets"]
        for rank in s["ranks"]
    }


async def test_by_default_every_test_runs(executor):
    """CodeT runs every test: a program that hangs on two tests in a row still runs the
    rest (the in-a-row cut is an option, off by default)."""
    assert CodeTSettings().max_timeouts_in_a_row is None
    assert CodeTSettings().max_timeouts is None
    backend = by_purpose(
        [HANGS_FROM_FIVE, HANGS_ON_FIVE_AND_SEVEN, "    return a + b\n"],
        [FIVE_TESTS],
        prompt_mode="completion",
    )
    solution = await solve(backend, executor, n=3, m=1, test_time_limit_s=0.05)
    passed = passed_by_loop(solution)
    assert passed["return a + b"] == [0, 1, 2, 3, 4]
    assert passed[loop_of(HANGS_FROM_FIVE)] == [2, 4]  # tests 0, 1 and 3 time out
    assert passed[loop_of(HANGS_ON_FIVE_AND_SEVEN)] == [1, 2, 4]
    executions = [n for n in solution.trace if n.kind == "execution"]
    assert [e.metadata["status"] for e in executions].count("timeout") == 5


async def test_two_timeouts_in_a_row_fail_the_rest_when_asked(executor):
    backend = by_purpose(
        [HANGS_FROM_FIVE, HANGS_ON_FIVE_AND_SEVEN, "    return a + b\n"],
        [FIVE_TESTS],
        prompt_mode="completion",
    )
    solution = await solve(
        backend, executor, n=3, m=1, test_time_limit_s=0.05, max_timeouts_in_a_row=2
    )
    passed = passed_by_loop(solution)
    assert passed["return a + b"] == [0, 1, 2, 3, 4]
    # timeouts on tests 0 and 3, with passes between: every test runs
    assert passed[loop_of(HANGS_ON_FIVE_AND_SEVEN)] == [1, 2, 4]
    # timeouts on tests 0 and 1: tests 2 to 4 fail without a run (it would pass 2 and 4)
    assert passed[loop_of(HANGS_FROM_FIVE)] == []
    executions = [n for n in solution.trace if n.kind == "execution"]
    assert [e.metadata["status"] for e in executions].count("timeout") == 4


async def test_timeouts_can_be_capped_in_all(executor):
    programs = [HANGS_FROM_FIVE, HANGS_ON_FIVE_AND_SEVEN, "    return a + b\n"]
    backend = by_purpose(programs, [FIVE_TESTS], prompt_mode="completion")
    one_in_all = await solve(backend, executor, n=3, m=1, test_time_limit_s=0.05, max_timeouts=1)
    passed = passed_by_loop(one_in_all)
    assert passed[loop_of(HANGS_FROM_FIVE)] == []
    assert passed[loop_of(HANGS_ON_FIVE_AND_SEVEN)] == []  # stopped at its first timeout
    assert passed["return a + b"] == [0, 1, 2, 3, 4]


async def test_programs_that_do_not_load_or_die_pass_nothing(executor):
    programs = [
        "    return a + b\nwhile True:\n    pass\n",  # hangs while loading
        "    import os\n    if a == 2:\n        os._exit(0)\n    return a + b\n",  # dies
        "    return a + b\n",
    ]
    backend = by_purpose(
        programs, ["add(1, 2) == 3\nassert add(2, 2) == 4\n"], prompt_mode="completion"
    )
    solution = await solve(backend, executor, n=3, m=1, test_time_limit_s=0.05)
    assert body_of(solution.programs[0]) == "return a + b"
    ranking = [n for n in solution.trace if n.kind == "ranking"][0]
    assert [s["tests_passed"] for s in ranking.metadata["sets"]] == [[0, 1], [], []]


async def test_without_generated_tests_sample_order(executor):
    backend = by_purpose(
        ["    return a - b\n", "    return a + b\n"], ["\n"], prompt_mode="completion"
    )
    solution = await solve(backend, executor, n=2, m=1)
    assert body_of(solution.programs[0]) == "return a - b"
    assert solution.usage.executions == 0
    # no consensus: one group of every program, every sample equally likely
    assert solution.tie_groups == (((0, 1), (1, 1)),) and solution.no_consensus


async def test_no_program_passes_a_generated_test_is_no_consensus(executor):
    code = ["    return a - b\n", "    return a * b\n", "    return a - b\n"]
    backend = by_purpose(code, ["add(1, 2) == 30\n"], prompt_mode="completion")
    solution = await solve(backend, executor, n=3, m=1)
    assert body_of(solution.programs[0]) == "return a - b"  # the most sampled
    assert solution.tie_groups == (((0, 2), (1, 1)),) and solution.no_consensus


async def test_budget_exhausted_while_executing(executor):
    backend = by_purpose(
        ["    return a - b\n", "    return a + b\n"], TEST_SAMPLES[:2], prompt_mode="completion"
    )
    solution = await solve(backend, executor, n=2, m=2, budget=Budget(executions=1))
    assert solution.error == "budget exhausted: executions"
    assert len(solution.programs) == 2


def test_rank_consensus_weights():
    # four programs agreeing on one test against one program passing three tests
    passed = [frozenset({0})] * 4 + [frozenset({0, 1, 2})]
    counts, tests = [1] * 5, [1, 1, 1]
    # distinct programs with identical sets form one consensus set
    sqrt_sets = rank_consensus(passed, counts, tests, program_weight="sqrt")
    assert sqrt_sets[0].programs == (4,) and sqrt_sets[0].score == 3.0
    assert sqrt_sets[1].programs == (0, 1, 2, 3) and sqrt_sets[1].score == 2.0
    count_sets = rank_consensus(passed, counts, tests, program_weight="count")
    assert count_sets[0].programs == (0, 1, 2, 3) and count_sets[0].score == 4.0


def test_rank_consensus_counts_duplicate_samples_and_tests():
    passed = [frozenset({0}), frozenset({1}), frozenset(), None]
    sets = rank_consensus(passed, [1, 1, 5, 1], [1, 4], program_weight="count")
    assert [s.programs for s in sets] == [(1,), (0,), (2,), (3,)]
    assert [s.score for s in sets] == [4.0, 1.0, 0.0, 0.0]


def test_split_assertions_like_codet():
    sample = (
        "\n    add([], 1) == False, 'continues a line'\nassert add(1, 2) == 3, 'ok'\n"
        "assert other(1) == 2\nassert add(2, 2) == 4\n# done\nprint(add(1, 1))"
    )
    found = split_assertions(sample, "add", stops=CODET_STOPS)
    assert found == ["assert add(1, 2) == 3, 'ok'", "assert add(2, 2) == 4"]
    assert split_assertions(sample, "add", stops=CODET_STOPS, limit=1) == found[:1]


def test_load_profile():
    assert load_profile(
        "import math\nfrom typing import List\ndef f(a=1, b=None):\n    pass\n"
    ).quick
    assert load_profile("def f(:\n").quick  # fails at once
    torch = load_profile("def f():\n    pass\nimport torch.nn as nn\nfrom numpy import array\n")
    assert not torch.runs_code and torch.imports == {"torch", "numpy"}
    for code in [
        "while True:\n    pass\n",
        "def f():\n    pass\nf()\n",
        "@decorate\ndef f():\n    pass\n",
        "def f(x=compute()):\n    pass\n",
        "X = compute()\n",
        "from . import sibling\n",
    ]:
        assert load_profile(code).runs_code, code


async def test_a_task_is_solved_alike_whatever_was_solved_before(executor):
    """One strategy object serves a whole run: what one task's programs showed (here, that
    a module is not installed) must not change another task's runs or result."""
    absent = "zz_codeloop_absent_module"
    tasks = {
        "imports": f"    return a + b\nimport {absent}\n",
        "again": f"    return b + a\nimport {absent}\n",
        "plain": "    return a + b\n",
    }

    async def solve_in(order: list[str]) -> dict[str, tuple[int, list[list[int]]]]:
        strategy = make_strategy("codet", n=1, m=1)
        outcomes = {}
        for name in order:
            backend = by_purpose([tasks[name]], ["add(1, 2) == 3\n"], prompt_mode="completion")
            solution = await strategy(SolveContext(VIEW, backend, executor, Budget()))
            ranking = [n for n in solution.trace if n.kind == "ranking"][0]
            sets = [s["tests_passed"] for s in ranking.metadata["sets"]]
            outcomes[name] = (solution.usage.executions, sets)
        return outcomes

    forward = await solve_in(["imports", "plain", "again"])
    backward = await solve_in(["again", "plain", "imports"])
    assert forward == backward
    # each program importing the missing module gets its own load probe, which fails
    assert forward["imports"] == forward["again"] == (1, [[]])
    assert forward["plain"] == (1, [[0]])


async def test_equivalent_programs_share_one_run(executor):
    code = [
        "    return a + b  # one\n",
        "    return (a + b)\n",
        "    return a - b\n",
        "    x = (\n",
        "    total = a + b\n    return total\n",
        "    s = a + b\n    return s\n",
    ]
    backend = by_purpose(code, ["add(1, 2) == 3\n"], prompt_mode="completion")
    solution = await solve(backend, executor, n=6, m=1)
    # the two sums share a run, so do the two that differ in a local variable's name;
    # the broken one needs none
    assert solution.usage.executions == 3
    ranking = [n for n in solution.trace if n.kind == "ranking"][0]
    assert ranking.metadata["sets"][0]["samples"] == [1, 1, 1, 1]


async def test_generated_tests_run_under_the_memory_limit(executor):
    greedy = "    if a == 2:\n        x = bytearray(200 * 1024 * 1024)\n    return a + b\n"
    backend = by_purpose(
        [greedy],
        ["add(1, 2) == 3\nassert add(2, 2) == 4\nassert add(3, 4) == 7\n"],
        prompt_mode="completion",
    )
    solution = await solve(backend, executor, n=1, m=1, memory_limit_mb=128)
    ranking = [n for n in solution.trace if n.kind == "ranking"][0]
    assert ranking.metadata["sets"][0]["tests_passed"] == [0, 2]


# ------------------------------------------------------------------ the parts, alone


def test_tests_request_by_mode():
    from codeloop.strategies.codet import tests_request
    from codeloop.types import Sampling

    config = CodeTSettings(m=3, tests_asked=7)
    sampling = Sampling(temperature=0.8, stop=("\nclass",))
    completion = tests_request(VIEW, "completion", config, sampling)
    assert completion.prompt == ADD_PROMPT + "    pass\n\n# check the correctness of add\nassert "
    assert completion.n == 3 and completion.purpose == "tests"
    assert completion.sampling.stop == () and completion.sampling.temperature == 0.8
    chat = tests_request(VIEW, "chat", config, sampling)
    assert chat.prompt is None and chat.n == 3 and chat.sampling == sampling
    assert "7" in chat.messages[-1].content and "add" in chat.messages[-1].content


def test_sample_assertions_by_mode():
    from codeloop.strategies.codet import sample_assertions

    continuation = "add(1, 2) == 3\nassert add(2, 2) == 4\nassert add(0, 0) == 0\n"
    assert sample_assertions(continuation, "add", "completion", 2) == [
        "assert add(1, 2) == 3",
        "assert add(2, 2) == 4",
    ]
    answer = "```python\nassert add(1, 2) == 3\nassert add(1, 2) == 3\nassert f(1) == 1\n```"
    assert sample_assertions(answer, "add", "chat", 5) == ["assert add(1, 2) == 3"]


def test_generated_tests_count_duplicates_and_drop_empty_asserts():
    from codeloop.strategies.codet import generated_tests

    samples = [
        ["assert add(1, 2) == 3", "assert True"],
        ["assert add(1, 2) == 3", "assert add(2, 2) == 4"],
        [],
    ]
    generated = generated_tests(samples, "add", 0.25)
    assert generated.assertions == ("assert add(1, 2) == 3", "assert add(2, 2) == 4")
    assert generated.weights == (2, 1)
    assert generated.sampled == 4  # every assertion sampled, the one testing nothing too
    assert [t.source for t in generated.tests] == list(generated.assertions)
    assert {t.time_limit_s for t in generated.tests} == {0.25}
    assert generated_tests([], "add", None).tests == ()


def test_behaviour_groups_share_one_run_per_behaviour():
    from codeloop.strategies.codet import behaviour_groups

    programs = [
        "def add(a, b):\n    return a + b\n",
        "def add(a, b):\n    # same, with a comment\n    return a + b\n",
        "def add(a, b):\n    return a - b\n",
        "def add(a, b):\n    return (\n",  # does not compile
    ]
    keys, representatives = behaviour_groups(programs)
    assert keys[0] == keys[1] != keys[2] and keys[3] is None
    assert list(representatives.values()) == [programs[0], programs[2]]


def test_rankings_for_the_answer():
    from codeloop.strategies.codet import consensus_ranking, most_sampled_ranking

    alone = most_sampled_ranking([1, 3, 1, 3])
    assert alone.order == (1, 3, 0, 2) and alone.no_consensus
    assert alone.tie_groups == (((0, 3), (1, 3), (2, 1), (3, 1)),)

    counts = [1, 2, 1]
    sets = rank_consensus([frozenset({0}), frozenset({0, 1}), None], counts, [1, 1])
    ranking = consensus_ranking(sets, counts)
    assert ranking.order == (1, 0, 2) and not ranking.no_consensus
    assert ranking.tie_groups == (((0, 2),), ((1, 1),))  # the scored sets, best first

    nothing = rank_consensus([frozenset(), None], [2, 1], [1])
    none_scored = consensus_ranking(nothing, [2, 1])
    assert none_scored.no_consensus and none_scored.tie_groups == (((0, 2), (1, 1)),)


async def test_make_codet_gives_the_solve_of_a_codet_with_its_settings():
    import inspect

    from codeloop.strategies.codet import CodeT

    strategy = make_strategy("codet", n="3", program_weight="count")
    assert inspect.iscoroutinefunction(strategy)  # a built solve, as codeloop.run takes it
    assert isinstance(strategy.__self__, CodeT)
    assert strategy.__self__.config == CodeTSettings(n=3, program_weight="count")
