"""`ldb`: LDB's debugging loop on scripted answers, with a fake runtime trace.

The runtime trace (`SolveContext.trace`) is written beside this strategy; these tests replace
the one function that calls it (`codeloop_plugins.ldb._run_trace`) by a tracer of their own,
which runs the program in this (trusted) test process and cuts steps as LDB does.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest

import codeloop
import codeloop_plugins.ldb as ldb
from codeloop.feedback.trace import DEFAULT_MAX_STEPS, RuntimeTrace, TraceStep
from codeloop.models import MockBackend
from codeloop.registry import settings_of
from codeloop.runs.run import RunOptions
from codeloop.runs.run import run as run_tasks
from codeloop.strategies import SolveContext
from codeloop.types import (
    Budget,
    GenerationRequest,
    ProblemView,
    Task,
    TaskKind,
    TestCase,
    TestKind,
)

pytestmark = pytest.mark.anyio

PROMPT = 'def add(a, b):\n    """Return the sum of a and b."""\n'


def fenced(body: str) -> str:
    return f"Fixed:\n\n```python\ndef add(a, b):\n    {body}\n```\n"


RIGHT = fenced("return a + b")
WRONG = fenced("return a - b")
VERDICT = '{"block": "BLOCK-0", "correct": "False", "explanation": "subtracts instead of adding"}'


def view(*cases: tuple[tuple[int, int], int], task_id: str = "demo/add") -> ProblemView:
    tests = tuple(
        TestCase(
            TestKind.CALL,
            args=args,
            expected=expected,
            source=f">>> add({args[0]}, {args[1]})\n{expected}",
        )
        for args, expected in cases
    )
    return ProblemView(task_id, PROMPT, "add", TaskKind.FUNCTION, tests)


VIEW = view(((1, 2), 3), ((2, 2), 4))


class FakeTrace(RuntimeTrace):
    def steps(self, level: Any = "block", max_steps: int | None = None) -> tuple[TraceStep, ...]:
        steps = {"block": self.steps_block, "line": self.steps_line}.get(level, ())
        limit = max_steps or DEFAULT_MAX_STEPS[level]
        if len(steps) > limit:
            steps = steps[: limit // 2] + steps[-(limit // 2) :]
        return steps


class Tracer:
    """Runs the program on the test here and returns one step per body line (or `status`)."""

    def __init__(self, status: str = "ok", extra_steps: int = 0) -> None:
        self.status = status
        self.extra_steps = extra_steps
        self.calls: list[tuple[str, TestCase]] = []
        self.contexts: list[SolveContext] = []

    async def __call__(self, ctx, program, test, parent):  # noqa: ANN001
        self.calls.append((program, test))
        self.contexts.append(ctx)
        if self.status != "ok":
            return FakeTrace(status=self.status, message="ValueError: boom")  # type: ignore[arg-type]
        space: dict[str, Any] = {}
        exec(program, space)  # trusted: the test's own scripted programs
        value = space["add"](*test.args)
        a, b = test.args
        body = [line for line in program.splitlines() if line.startswith("    return")]
        step = TraceStep(
            function="add",
            lines=(2,),
            source=tuple(body),
            before=f"a={a}\tb={b}",
            after=f"a={a}\tb={b}\t_ret={value}",
            block=0,
        )
        filler = tuple(
            TraceStep("add", (2,), (f"x = {i}",), f"i={i}", f"i={i}", block=i)
            for i in range(self.extra_steps)
        )
        return FakeTrace(status="ok", output=str(value), steps_block=(step, *filler))


@pytest.fixture()
def tracer(monkeypatch) -> Tracer:
    fake = Tracer()
    monkeypatch.setattr(ldb, "_run_trace", fake)
    return fake


def scripted(program: str = WRONG, fixes: list[str] | None = None, verdict: str = VERDICT):
    """A backend: the seed `program`, then `fixes` in order (the last repeated), verdicts."""
    fixes = list(fixes or [WRONG])
    served = {"repair": 0}

    def answer(request: GenerationRequest, index: int) -> str:
        if request.purpose == "code":
            return program
        if request.purpose == "verdict":
            return verdict
        position = min(served["repair"], len(fixes) - 1)
        served["repair"] += 1
        return fixes[position]

    return MockBackend(answer)


async def solve(backend, executor, *, problem: ProblemView = VIEW, budget=None, **settings):
    ctx = SolveContext(problem, backend, executor, budget or Budget())
    return await ldb.make_ldb(**settings)(ctx)


def nodes(solution, kind: str) -> list:
    return [n for n in solution.trace if n.kind == kind]


# ------------------------------------------------------------------------------ the loop


async def test_shows_the_failing_block_and_repairs_it(executor, tracer):
    backend = scripted(WRONG, [RIGHT])
    solution = await solve(backend, executor)
    assert solution.error == ""
    assert [r.purpose for r in backend.requests] == ["code", "verdict", "repair"]
    seed, verdict, repair = backend.requests
    # the seed prompt shows the first visible test as an assert
    assert seed.messages[0].content == ldb.SYSTEM
    assert "must pass:\nassert add(1, 2) == 3\n\n" + PROMPT in seed.messages[1].content
    # first iteration: system, the task, the seed program (without LDB's import header)
    system, task, shown, debug = verdict.messages
    assert (system.role, task.role, shown.role, debug.role) == (
        "system",
        "user",
        "assistant",
        "user",
    )
    assert PROMPT in task.content and "return a - b" in shown.content
    assert ldb.IMPORT_HEADER not in shown.content
    drawn = random.Random(0).randrange(2)
    call, expected, actual = [("add(1, 2)", 3, -1), ("add(2, 2)", 4, 0)][drawn]
    assert debug.content.startswith(
        "The code above fails this unit test:\n"
        f"assert {call} == {expected} # Real Execution Output: {actual}. \nHelp me find the bug.\n"
    )
    a, b = [(1, 2), (2, 2)][drawn]
    assert debug.content.endswith(
        f"[BLOCK-0]\n    # a={a}\tb={b}\n    return a - b\n    # a={a}\tb={b}\t_ret={actual}\n"
    )
    assert verdict.sampling.temperature == 0.0
    assert verdict.sampling.stop == ("[debug end]", "Here is the updated code:")
    # the fix request follows the verdict in the same conversation
    assert repair.messages[-2].content == VERDICT and repair.messages[-1].content == (
        "Please fix the Python code."
    )
    # the traced program is the one run (with the header), on the drawn failing test
    [(program, test)] = tracer.calls
    assert program.startswith(ldb.IMPORT_HEADER) and test is VIEW.visible_tests[drawn]
    # the verdict is parsed into the trace: block 0 judged wrong, with the explanation
    [verdict_node] = nodes(solution, "verdict")
    [step] = verdict_node.metadata["steps"]
    assert step["verdict"] is False and step["explanation"] == "subtracts instead of adding"
    assert verdict_node.metadata["wrong_blocks"] == [0]
    [feedback] = nodes(solution, "feedback")
    assert feedback.metadata["draw_index"] == drawn and feedback.metadata["draw_of"] == 2
    assert verdict_node.parent == feedback.id
    # the repaired program is the answer, and it ran on the visible tests
    assert "return a + b" in solution.programs[0]
    assert solution.programs[0].startswith(ldb.IMPORT_HEADER)
    executions = nodes(solution, "execution")
    assert [e.metadata["passed"] for e in executions] == [0, 2]
    assert nodes(solution, "stop")[-1].content == "the visible tests pass"


async def test_a_seed_that_passes_costs_no_debugging_call(executor, tracer):
    backend = scripted(RIGHT)
    solution = await solve(backend, executor)
    assert [r.purpose for r in backend.requests] == ["code"]
    assert tracer.calls == [] and "return a + b" in solution.programs[0]


async def test_the_seeded_draw_is_reproducible_and_recorded(executor, tracer):
    def draws(seed: int) -> list[int]:
        return [n.metadata["draw_index"] for n in nodes(solutions[seed], "feedback")]

    solutions = {}
    for seed in (0, 1, 7):
        solutions[seed] = await solve(scripted(WRONG, [WRONG]), executor, max_iters=4, seed=seed)
    again = await solve(scripted(WRONG, [WRONG]), executor, max_iters=4, seed=7)
    assert [n.metadata["draw_index"] for n in nodes(again, "feedback")] == draws(7)
    for seed in (0, 1, 7):
        rng = random.Random(seed)
        assert draws(seed) == [rng.randrange(2) for _ in range(4)]  # both tests fail each time
        assert {n.metadata["draw_seed"] for n in nodes(solutions[seed], "feedback")} == {seed}
    assert len({tuple(draws(s)) for s in (0, 1, 7)}) > 1  # the seed changes the draws


async def test_stops_after_max_iters_with_the_last_program(executor, tracer):
    last = fenced("return a * b")  # passes add(2, 2) only
    backend = scripted(WRONG, [WRONG, WRONG, last])
    solution = await solve(backend, executor, max_iters=3)
    assert [r.purpose for r in backend.requests] == ["code"] + ["verdict", "repair"] * 3
    assert "return a * b" in solution.programs[0] and len(solution.programs) == 1
    assert nodes(solution, "stop")[-1].content.startswith("3 iterations used")
    assert solution.error == ""


async def test_calls_per_problem_at_defaults_match_the_official_count(executor):
    # a seed that never gets fixed, traced for real: the seed call + 2 per iteration, 10
    # iterations; executions: the seed's visible run, then a traced and a visible run each
    backend = scripted(WRONG, [WRONG])
    solution = await solve(backend, executor)
    print(
        f"\nldb calls per problem at defaults, never fixed: {len(backend.requests)}"
        f" {dict(Counter(r.purpose for r in backend.requests))}"
        f"; executions {solution.usage.executions} (official: at most 20, seed made offline)"
    )
    assert len(backend.requests) == 1 + 2 * 10
    assert solution.usage.calls == 21 and solution.usage.executions == 1 + 2 * 10
    traced = [n for n in solution.trace if n.metadata.get("traced")]
    assert len(traced) == 10 and {n.metadata["status"] for n in traced} == {"ok"}
    passing = scripted(RIGHT)
    easy = await solve(passing, executor)
    print(
        f"ldb calls per problem at defaults, seed passes: {len(passing.requests)}"
        f"; executions {easy.usage.executions}"
    )
    assert (len(passing.requests), easy.usage.executions) == (1, 1)
    # the official loop: 0 calls when the seed passes, else <= 20 (+ the seed's own call)
    assert ldb.LdbSettings().max_iters == 10


async def test_no_trace_sends_the_assertion_and_its_real_output(executor, monkeypatch):
    failing = Tracer(status="exception")
    monkeypatch.setattr(ldb, "_run_trace", failing)
    raising = 'Here:\n```python\ndef add(a, b):\n    raise ValueError("boom")\n```\n'
    backend = scripted(raising, [RIGHT])
    solution = await solve(backend, executor)
    assert [r.purpose for r in backend.requests] == ["code", "repair"]  # no verdict call
    repair = backend.requests[1]
    drawn = random.Random(0).randrange(2)
    call, expected = [("add(1, 2)", 3), ("add(2, 2)", 4)][drawn]
    assert repair.messages[-2].content == (
        f"Feedback: With the above function, the assertion is `assert {call} == {expected}` "
        "but the real execution output is `boom`."
    )
    assert repair.messages[-1].content == "Please fix the Python code."
    [feedback] = nodes(solution, "feedback")
    assert feedback.metadata["style"] == "ldb_no_trace"
    assert feedback.metadata["trace_status"] == "exception"
    assert "return a + b" in solution.programs[0]


async def test_a_trace_with_no_steps_falls_back_too(executor, monkeypatch):
    async def empty(ctx, program, test, parent):  # noqa: ANN001
        return FakeTrace(status="ok", output="-1")

    monkeypatch.setattr(ldb, "_run_trace", empty)
    backend = scripted(WRONG, [RIGHT])
    await solve(backend, executor)
    assert [r.purpose for r in backend.requests] == ["code", "repair"]
    assert backend.requests[1].messages[-2].content.startswith("Feedback: With the above")


async def test_long_traces_are_cut_to_max_blocks(executor, monkeypatch):
    long = Tracer(extra_steps=30)
    monkeypatch.setattr(ldb, "_run_trace", long)
    backend = scripted(WRONG, [RIGHT])
    await solve(backend, executor)
    debug = backend.requests[1].messages[-1].content
    assert debug.count("[BLOCK-") == 10 and "[BLOCK-9]" in debug  # LDB's 5 + 5
    backend = scripted(WRONG, [RIGHT])
    await solve(backend, executor, max_blocks=4)
    assert backend.requests[1].messages[-1].content.count("[BLOCK-") == 4


async def test_a_seed_file_replaces_the_seed_call(executor, tracer, tmp_path):
    seeds = tmp_path / "seed.jsonl"
    seeds.write_text(json.dumps({"task_id": "demo/add", "solution": PROMPT + "    return b\n"}))
    backend = scripted(WRONG, [RIGHT])
    solution = await solve(backend, executor, seed_file=str(seeds))
    assert [r.purpose for r in backend.requests] == ["verdict", "repair"]
    assert nodes(solution, "program")[0].metadata["how"] == "seed_file"
    assert "return a + b" in solution.programs[0]


async def test_the_conversation_is_trimmed_to_the_context_budget(executor, tracer):
    backend = scripted(WRONG, [WRONG])
    await solve(backend, executor, max_iters=4, context_tokens=400)
    sizes = []
    for request in backend.requests[1:]:
        messages = request.messages
        assert messages[0].content == ldb.SYSTEM  # the system message is always kept
        total = sum(ldb.approx_gpt2_tokens(m.content) for m in messages)
        assert total < 400
        sizes.append(len(messages))
    last = backend.requests[-1]
    assert last.messages[-1].content == "Please fix the Python code."
    # late requests lost the task statement from the front
    assert all(PROMPT not in m.content for m in last.messages[1:])
    # without a tight budget the task statement stays
    backend = scripted(WRONG, [WRONG])
    await solve(backend, executor, max_iters=4)
    assert PROMPT in backend.requests[-1].messages[1].content


def test_trim_messages_keeps_the_system_message_and_the_most_recent():
    M = codeloop.Message
    messages = [M("system", "s s"), M("user", "a a a"), M("assistant", "b b"), M("user", "c")]

    def words(text: str) -> int:
        return len(text.split())

    assert ldb.trim_messages(messages, 100, words) == tuple(messages)
    # 2 (system) + 1 + 2 = 5 < 6; adding 3 more would reach 8
    assert ldb.trim_messages(messages, 6, words) == (messages[0], messages[2], messages[3])
    assert ldb.trim_messages(messages, 3, words) == (messages[0],)  # 2 + 1 is not under 3
    # the first message that does not fit ends it, as LDB's loop breaks
    assert ldb.trim_messages([messages[0], M("user", "x"), M("user", "y " * 9)], 6, words) == (
        messages[0],
    )
    assert ldb.approx_gpt2_tokens("def add(a, b):\n    return a + b\n") > 8


# ---------------------------------------------------------------------------- verdicts


def test_verdicts_are_parsed_from_json_objects_and_junk_is_tolerated():
    text = (
        "Let me look.\n"
        '{"block": "BLOCK-0", "correct": "True", "explanation": "sets up a"}\n'
        "[BLOCK-1] analysis: {'block': 'BLOCK-1', 'correct': False, 'explanation': 'off by one'}\n"
        '{"block": "BLOCK-2", "correct": true}\n'
        '{"block": 3, "correct": "maybe", "explanation": "unsure"}\n'
        '{"note": "no block here"} {broken json\n'
        '{"block": "BLOCK-1", "correct": "True", "explanation": "a second opinion"}'
    )
    verdicts = ldb.parse_verdicts(text)
    assert verdicts == [
        ldb.Verdict(0, True, "sets up a"),
        ldb.Verdict(1, False, "off by one"),
        ldb.Verdict(2, True, ""),
        ldb.Verdict(3, None, "unsure"),
        ldb.Verdict(1, True, "a second opinion"),
    ]
    steps = [TraceStep("f", (i,), (f"x = {i}",)) for i in range(3)]
    judged = ldb.judged_steps(steps, verdicts)
    assert [s.verdict for s in judged] == [True, False, True]  # block 3 is not shown
    assert judged[1].explanation == "off by one"  # the first verdict for a block counts
    assert ldb.parse_verdicts("no objects at all") == []
    assert ldb.parse_verdicts("") == []


async def test_an_unparsable_verdict_leaves_the_steps_unjudged(executor, tracer):
    backend = scripted(WRONG, [RIGHT], verdict="The block looks wrong to me.")
    solution = await solve(backend, executor)
    [verdict_node] = nodes(solution, "verdict")
    assert verdict_node.metadata["parsed"] == 0
    assert [s["verdict"] for s in verdict_node.metadata["steps"]] == [None]
    assert "return a + b" in solution.programs[0]


# ---------------------------------------------------------------------------- settings


def test_settings_and_registry():
    names = dict(settings_of(ldb.make_ldb))
    assert names == {
        "level": "block",
        "max_iters": 10,
        "max_blocks": None,
        "context_tokens": 3097,
        "seed": 0,
        "seed_file": "",
        "temperature": 0.0,
        "max_tokens": 1024,
        "import_header": True,
    }
    with pytest.raises(ValueError, match="no setting"):
        ldb.make_ldb(rounds=3)
    with pytest.raises(ValueError):
        ldb.make_ldb(level="token")
    from codeloop.strategies import make_strategy

    assert callable(make_strategy("ldb", max_iters="2"))


# ------------------------------------------------------------------------------- leaks


async def test_nothing_reachable_from_the_context_holds_hidden_tests(
    tmp_path, monkeypatch, reachable
):
    """A whole run: while ldb debugs each task, nothing its context reaches holds a hidden
    test, and no request the model receives carries hidden-test text."""
    tasks = [
        Task(
            task_id=f"demo/add{i}",
            prompt=PROMPT,
            entry_point="add",
            visible_tests=VIEW.visible_tests,
            hidden_tests={
                "base": (
                    TestCase(TestKind.CALL, args=(f"SECRET-IN-{i}", ""), expected=f"SECRET-{i}"),
                )
            },
            reference=PROMPT + f"    return a + b  # SECRET-REF-{i}\n",
            dataset="demo",
        )
        for i in range(3)
    ]
    tracer = Tracer()
    monkeypatch.setattr(ldb, "_run_trace", tracer)
    backend = scripted(WRONG, [WRONG, RIGHT])
    options = RunOptions(
        dataset="tasks",
        strategy="ldb",
        model="mock:script",
        settings={"max_iters": 3},
        store=str(tmp_path / "store.sqlite"),
        cache=str(tmp_path / "cache.sqlite"),
        concurrency=1,
    )
    report = await run_tasks(options, backend=backend, tasks=tasks)
    assert len(report.results) == 3 and len(tracer.contexts) >= 3
    for ctx in tracer.contexts:
        objects = reachable(ctx)
        assert len(objects) > 100  # the walk went past the context into the machinery
        assert [o for o in objects if isinstance(o, Task)] == []
        assert [o for o in objects if isinstance(o, str) and "SECRET" in o] == []
    sent = json.dumps([[m.content for m in r.messages or ()] for r in backend.requests])
    assert "SECRET" not in sent and "verdict" in {r.purpose for r in backend.requests}
    # the hidden tests did score afterwards (the strings never equal the SECRET outputs)
    assert all(not r.passed for r in report.results)


# ------------------------------------------------------------------------------ replay


@pytest.mark.slow
async def test_a_recorded_ldb_trajectory_replays_through_the_loop(tmp_path, monkeypatch):
    """LDB results rows drive the run: programs in recorded order, verdicts unrecorded."""
    from codeloop.models import ReplayBackend
    from codeloop.runs.store import RunStore, RunTables

    monkeypatch.setattr(ldb, "_run_trace", Tracer())
    header = ldb.IMPORT_HEADER
    rows = [
        {
            "task_id": "demo/add0",
            "implementations": [
                header + PROMPT + "    return a - b\n",
                header + PROMPT + "    return a + b\n",
            ],
        },
        {"task_id": "demo/add1", "implementations": [header + PROMPT + "    return b + a\n"]},
    ]
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tasks = [
        Task(
            task_id=row["task_id"],
            prompt=PROMPT,
            entry_point="add",
            visible_tests=VIEW.visible_tests,
            hidden_tests={"base": (TestCase(TestKind.CALL, args=(5, 6), expected=11),)},
            dataset="demo",
        )
        for row in rows
    ]
    options = RunOptions(
        dataset="tasks",
        strategy="ldb",
        model=f"replay:{path}",
        store=str(tmp_path / "store.sqlite"),
        use_cache=False,
        concurrency=1,
    )
    report = await run_tasks(options, backend=ReplayBackend(path), tasks=tasks)
    assert [r.passed for r in report.results] == [True, True]
    solutions = RunTables(RunStore(tmp_path / "store.sqlite")).solutions(report.run_key)
    first = solutions["demo/add0"].trace
    assert [n["kind"] for n in first if n["kind"] in ("program", "verdict")] == [
        "program",
        "verdict",
        "program",
    ]
    [verdict] = [n for n in first if n["kind"] == "verdict"]
    assert verdict["content"] == "" and verdict["metadata"]["finish_reason"] == "not_recorded"
    assert "return a + b" in solutions["demo/add0"].programs[0]
    # a seed that passes: one program, no debugging call
    assert [n["kind"] for n in solutions["demo/add1"].trace].count("program") == 1
    assert solutions["demo/add1"].usage["calls"] == 1


# ----------------------------------------------------------------- with the real tracer

LOOP_PROMPT = 'def total(xs):\n    """Sum of xs."""\n'
LOOP_WRONG = (
    "```python\ndef total(xs):\n    s = 0\n    for x in xs:\n        s = x\n    return s\n```\n"
)
LOOP_RIGHT = (
    "```python\ndef total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n```\n"
)
LOOP_VERDICT = (
    '{"block": "BLOCK-0", "correct": "True", "explanation": "starts at zero"}\n'
    '{"block": "BLOCK-2", "correct": "False", "explanation": "overwrites s instead of adding"}'
)


async def test_a_real_trace_shows_the_loop_block_by_block_and_the_fix_follows(executor):
    """No fake tracer: the sandbox traces the seed, the verdict prompt holds its real blocks
    with the variables around them, the verdict is parsed onto those blocks, and the fix
    passes."""
    problem = ProblemView(
        "demo/total",
        LOOP_PROMPT,
        "total",
        TaskKind.FUNCTION,
        (
            TestCase(
                TestKind.CALL, args=([1, 2, 3],), expected=6, source="assert total([1, 2, 3]) == 6"
            ),
        ),
    )
    backend = MockBackend(
        lambda request, index: {"code": LOOP_WRONG, "verdict": LOOP_VERDICT}.get(
            request.purpose, LOOP_RIGHT
        )
    )
    solution = await solve(backend, executor, problem=problem)
    assert [r.purpose for r in backend.requests] == ["code", "verdict", "repair"]
    debug = backend.requests[1].messages[-1].content
    assert "assert total([1, 2, 3]) == 6 # Real Execution Output: 3." in debug
    # the loop body ran three times: three dynamic occurrences of its block, values changing
    assert "    s = x\n    # xs=[1, 2, 3]\ts=1\tx=1\n" in debug
    assert "    # xs=[1, 2, 3]\ts=2\tx=2\n" in debug and "s=3\tx=3" in debug
    assert debug.count("[BLOCK-") >= 5
    [traced] = [n for n in solution.trace if n.kind == "execution" and n.metadata.get("traced")]
    assert traced.metadata["status"] == "ok" and traced.usage.executions == 1
    [verdict] = nodes(solution, "verdict")
    # the verdicts land on the steps shown as BLOCK-0 and BLOCK-2 (the loop body's first run)
    judged = [(s["source"], s["verdict"]) for s in verdict.metadata["steps"]]
    assert judged[0] == (["    s = 0"], True) and judged[2] == (["        s = x"], False)
    assert [v for _, v in judged].count(None) == len(judged) - 2
    assert verdict.metadata["wrong_blocks"] == [2]
    assert "s += x" in solution.programs[0] and solution.error == ""
