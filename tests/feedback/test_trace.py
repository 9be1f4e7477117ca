"""Runtime traces: real traced runs in the sandbox (`SolveContext.trace`), the static blocks
they are cut into, LDB's value rule and LDB's cuts."""

from __future__ import annotations

import os
import random
import textwrap
import uuid
from typing import Any

import pytest
from execution.isolation_gate import missing_isolation

from codeloop.feedback.blocks import static_blocks
from codeloop.feedback.trace import (
    DEFAULT_MAX_STEPS,
    ELLIPSIS,
    ELLIPSIS_LINE,
    MAX_EVENTS,
    RuntimeTrace,
    TraceStep,
    ldb_value_string,
    trace_call,
)
from codeloop.feedback.trace_probe import joined, render
from codeloop.models import MockBackend
from codeloop.strategies import BudgetExceeded, ExecutionInfraError, SolveContext
from codeloop.types import (
    Budget,
    ExecRequest,
    ExecResult,
    Limits,
    ProblemView,
    Status,
    TaskKind,
    TestCase,
    TestKind,
)

pytestmark = pytest.mark.anyio

LIMITS = Limits(time_s=3.0, memory_bytes=512 * 1024**2)


def program(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def context(executor: Any, entry: str = "f", budget: Budget | None = None) -> SolveContext:
    view = ProblemView("demo/trace", "", entry, TaskKind.FUNCTION, ())
    return SolveContext(view, MockBackend([]), executor, budget or Budget(), exec_limits=LIMITS)


def call(*args: Any) -> TestCase:
    return TestCase(TestKind.CALL, args=args)


def lines_of(steps: tuple[TraceStep, ...]) -> list[tuple[int, ...]]:
    return [step.lines for step in steps]


LOOP = program("""
    def f(n):
        total = 0
        for i in range(n):
            total += i
        return total
""")


async def test_a_loop_repeats_its_blocks(executor: Any) -> None:
    ctx = context(executor)
    trace = await ctx.trace_run(LOOP, call(3))
    assert trace.status == "ok"
    assert trace.output == "3"
    steps = trace.steps("block", 100)
    # init, then (header, body) three times, the header's last test, the return
    assert lines_of(steps) == [(2,), (3,), (4,), (3,), (4,), (3,), (4,), (3,), (5,)]
    assert [s.block for s in steps] == [0, 1, 2, 1, 2, 1, 2, 1, 3]
    assert steps[0].before == "n=3"
    assert steps[0].after == "n=3\ttotal=0"
    body = [s for s in steps if s.lines == (4,)]
    assert [s.before for s in body] == [
        f"n=3\ttotal={t}\ti={i}" for t, i in ((0, 0), (0, 1), (1, 2))
    ]
    assert [s.after for s in body] == [
        f"n=3\ttotal={t}\ti={i}" for t, i in ((0, 0), (1, 1), (3, 2))
    ]
    assert steps[-1].after == "n=3\ttotal=3\ti=2\t_ret=3"
    assert all(s.function == "f" and s.depth == 0 for s in steps)
    # line level: one step per executed line; the after of one is the before of the next
    line_steps = trace.steps("line", 100)
    assert [s.lines[0] for s in line_steps] == [2, 3, 4, 3, 4, 3, 4, 3, 5]
    for a, b in zip(line_steps, line_steps[1:], strict=False):
        assert a.after == b.before
    # function level: one step, all the lines in order, arguments before, the result after
    (whole,) = trace.steps("function")
    assert whole.lines == (2, 3, 4, 3, 4, 3, 4, 3, 5)
    assert whole.source[0] == "    total = 0"
    assert whole.before == "n=3"
    assert whole.after == "n=3\ttotal=3\ti=2\t_ret=3"
    node = ctx.trace[-1]
    assert node.kind == "execution"
    assert node.metadata["traced"] is True
    assert node.metadata["status"] == "ok"
    assert node.metadata["steps"] == 9
    assert node.usage.executions == 1


BRANCH = program("""
    def f(x):
        if x > 0:
            sign = 1
        elif x < 0:
            sign = -1
        else:
            sign = 0
        return sign
""")


async def test_only_the_taken_branch_runs(executor: Any) -> None:
    ctx = context(executor)
    trace = await ctx.trace_run(BRANCH, call(-5))
    ran = {line for s in trace.steps("block", 100) for line in s.lines}
    assert ran == {2, 4, 5, 8}  # neither the if's body (3) nor the else's (7)
    assert trace.output == "-1"
    positive = await ctx.trace_run(BRANCH, call(2))
    assert {line for s in positive.steps("block", 100) for line in s.lines} == {2, 3, 8}


async def test_an_exception_keeps_the_steps_up_to_the_raise(executor: Any) -> None:
    source = program("""
        def f(xs):
            total = 0
            for x in xs:
                total += 10 // x
            return total
    """)
    trace = await context(executor).trace_run(source, call([5, 2, 0, 1]))
    assert trace.status == "exception"
    assert trace.message == "ZeroDivisionError: integer division or modulo by zero"
    assert trace.output == "integer division or modulo by zero"  # str(exception), as LDB shows
    steps = trace.steps("block", 100)
    assert steps[-1].lines == (4,)
    assert "x=0" in steps[-1].before
    assert steps[-1].after == "xs=[5, 2, 0, 1]\ttotal=7\tx=0"  # the locals when it raised
    (whole,) = trace.steps("function")
    assert "_ret" not in whole.after  # it returned nothing


async def test_recursion_shows_its_depth(executor: Any) -> None:
    source = program("""
        def f(n):
            if n <= 1:
                return 1
            return n * f(n - 1)
    """)
    trace = await context(executor).trace_run(source, call(4))
    assert trace.output == "24"
    steps = trace.steps("block", 100)
    # a caller's step ends where its callee starts; the callee's steps come one deeper
    assert [(s.depth, s.lines) for s in steps] == [
        *((depth, lines) for depth in range(3) for lines in ((2,), (4,))),
        (3, (2,)),
        (3, (3,)),
    ]
    assert steps[-1].after == "n=1\t_ret=1"
    assert steps[1].after == "n=4\t_ret=24"  # the caller's next event: its return
    (whole,) = trace.steps("function")  # only the entry call is a function step
    assert whole.after == "n=4\t_ret=24"


async def test_generators_and_nested_helpers(executor: Any) -> None:
    source = program("""
        def f(n):
            def square(v):
                return v * v

            def gen(k):
                for i in range(k):
                    yield square(i)

            return sum(gen(n)) + sum([square(j) for j in range(2)])
    """)
    trace = await context(executor).trace_run(source, call(3))
    assert trace.status == "ok"
    assert trace.output == str(0 + 1 + 4 + 0 + 1)
    steps = trace.steps("block", 200)
    functions = {s.function for s in steps}
    assert functions == {"f", "gen", "square"}  # the comprehension is part of f's line
    gen_steps = [s for s in steps if s.function == "gen"]
    assert all(s.depth == 1 for s in gen_steps)
    assert any("_yield=4" in s.after for s in gen_steps)
    assert {s.depth for s in steps if s.function == "square"} == {1, 2}
    # a def is a plain statement of f: f's first block holds both and the return
    assert steps[0].function == "f" and steps[0].lines == (2, 5, 9)


async def test_huge_values_follow_ldbs_rule(executor: Any) -> None:
    source = program("""
        def f(n):
            big = list(range(n))
            text = "ab" * n
            return len(big)
    """)
    trace = await context(executor).trace_run(source, call(100_000))
    assert trace.status == "ok"
    last = trace.steps("block")[-1]
    full = [
        ("n", "100000"),
        ("big", str(list(range(100_000)))),
        ("text", "ab" * 100_000),
        ("_ret", "100000"),
    ]
    assert last.after == ldb_value_string(full)
    assert len(last.after) == 103


def test_cutting_each_value_keeps_ldbs_joined_string() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        pairs = [
            (rng.choice(["a", "xs", "result", "_ret"]), "v" * rng.choice([0, 1, 30, 99, 100, 250]))
            for _ in range(rng.randint(0, 5))
        ]
        pairs = [(name, "".join(rng.choice("0123456789, []") for _ in v)) for name, v in pairs]
        cut = [(name, render(value)) for name, value in pairs]
        assert joined(cut) == ldb_value_string(pairs)


@pytest.mark.parametrize(
    "value",
    [
        list(range(500)),
        tuple(range(300)),
        {i: str(i) * 3 for i in range(400)},
        ["a" * 200, *range(200)],
        [[1] * 100] * 120,
        ["", *[""] * 999],
        "y" * 100,
        "x" * 99,
        10**2000,
        None,
        {1, 2, 3},
        set(range(0, 3000, 7)),
        frozenset(str(i) for i in range(500)),
    ],
)
def test_rendering_the_ends_of_a_long_value_is_exact(value: Any) -> None:
    full = str(value)
    expected = full if len(full) < 100 else full[:50] + "..." + full[-50:]
    assert render(value) == expected


def test_an_unprintable_value_is_marked() -> None:
    class Bad:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert render(Bad()) == "<unprintable>"


async def test_a_syntax_error_comes_back_as_such_without_running(executor: Any) -> None:
    ctx = context(executor)
    trace = await ctx.trace_run("def f(x):\n    return (x\n", call(1))
    assert trace.status == "syntax_error"
    assert trace.message.startswith("SyntaxError:")
    assert ctx.usage.executions == 0
    assert ctx.trace[-1].metadata["status"] == "syntax_error"
    assert ctx.trace[-1].metadata["executed"] is False
    # parses, but does not compile: found in the sandbox
    late = await ctx.trace_run("def f(x):\n    return x\nreturn 1\n", call(1))
    assert late.status == "syntax_error"
    assert ctx.usage.executions == 1


async def test_a_program_too_deep_to_parse_is_a_syntax_error_not_a_crash(executor: Any) -> None:
    """Model text nested beyond the parser's limit (MemoryError on Python 3.11, or a
    RecursionError) or holding a null byte: reported, not raised into the strategy."""
    ctx = context(executor)
    deep = "def f(x):\n    return " + "-" * 100_000 + "1\n"
    for program in (deep, "def f(x):\n    return x\0\n"):
        trace = await ctx.trace_run(program, call(1))
        assert trace.status == "syntax_error" and "cannot be parsed" in trace.message
    assert ctx.usage.executions == 0


async def test_a_failure_while_loading_is_an_exception(executor: Any) -> None:
    trace = await context(executor).trace_run("x = 1 / 0\ndef f(a):\n    return a\n", call(1))
    assert trace.status == "exception"
    assert trace.message.startswith("ZeroDivisionError: division by zero")
    assert "while loading" in trace.message


@pytest.mark.slow
async def test_an_endless_loop_times_out_with_its_steps(executor: Any) -> None:
    source = program("""
        def f(n):
            i = 0
            while True:
                i += n
    """)
    ctx = SolveContext(
        ProblemView("demo/trace", "", "f", TaskKind.FUNCTION, ()),
        MockBackend([]),
        executor,
        Budget(),
        exec_limits=Limits(time_s=1.0),
    )
    trace = await ctx.trace_run(source, call(1))
    assert trace.status == "timeout"
    assert "did not finish" in trace.message
    assert trace.dropped > 0
    steps = trace.steps("block")
    assert len(steps) == DEFAULT_MAX_STEPS["block"]
    assert steps[0].lines == (2,)
    assert {s.lines for s in steps[1:]} <= {(3,), (4,)}
    # a program stuck outside Python lines (a sleep) is ended by the sandbox: still a timeout
    asleep = await ctx.trace_run("import time\ndef f(n):\n    time.sleep(60)\n", call(1))
    assert asleep.status == "timeout"
    assert asleep.message


async def test_a_long_run_keeps_its_head_and_tail(executor: Any) -> None:
    trace = await context(executor).trace_run(LOOP, call(3 * MAX_EVENTS))
    assert trace.status == "ok"
    assert trace.dropped > 0
    assert trace.metadata["events"] == 2 * MAX_EVENTS + trace.dropped
    (whole,) = trace.steps("function", 10**6)
    assert ELLIPSIS_LINE in whole.lines
    assert whole.source[whole.lines.index(ELLIPSIS_LINE)] == ELLIPSIS
    assert whole.after.endswith(f"_ret={sum(range(3 * MAX_EVENTS))}")
    block = trace.steps("block", 10**6)
    assert block[0].lines == (2,)
    assert block[-1].lines == (5,)


ADD = "def add(a, b):\n    c = a - b\n    return c\n"


async def test_a_test_given_as_assert_text_traces_its_call(executor: Any) -> None:
    ctx = context(executor, entry="add")
    as_code = TestCase(
        TestKind.CODE, code="assert add(1, 2) == 3\n", source="assert add(1, 2) == 3"
    )
    trace = await ctx.trace_run(ADD, as_code)
    assert trace.status == "ok"
    assert trace.output == "-1"
    assert trace.steps("block")[0].before == "a=1\tb=2"
    humaneval = TestCase(
        TestKind.CODE,
        code="def check(candidate):\n    assert candidate(5, 1) == 6\n",
        source="check(candidate)",
    )
    trace = await ctx.trace_run(ADD, humaneval)
    assert trace.output == "4"
    # the left side of the comparison, as LDB prints it
    wrapped = TestCase(TestKind.CODE, source="assert abs(add(1, 3)) == 2")
    assert (await ctx.trace_run(ADD, wrapped)).output == "2"
    assert (await ctx.trace_run(ADD, TestCase(TestKind.CODE, source="assert True"))).status == (
        "no_call"
    )


def test_which_call_a_test_makes() -> None:
    function = TaskKind.FUNCTION
    made = trace_call(TestCase(TestKind.CODE, source="assert not f(1)"), "f", function)
    assert not isinstance(made, str) and made.spec["expr"] == "f(1)"
    made = trace_call(TestCase(TestKind.CODE, source="assert 3 == f(1, 2)"), "f", function)
    assert not isinstance(made, str) and made.spec["expr"] == "f(1, 2)"
    made = trace_call(
        TestCase(TestKind.CODE, code="xs = [1, 2]\nassert f(xs) == 3\n", source="check"),
        "f",
        function,
    )
    assert not isinstance(made, str) and made.spec["setup"] == "xs = [1, 2]"
    stdin = trace_call(TestCase(TestKind.STDIO, stdin="1\n"), None, TaskKind.STDIO)
    assert isinstance(stdin, str) and "stdin" in stdin
    assert isinstance(
        trace_call(TestCase(TestKind.CODE, source="assert x == 1"), "f", function), str
    )


async def test_stdio_tasks_are_not_traced(executor: Any) -> None:
    view = ProblemView("demo/io", "", None, TaskKind.STDIO, ())
    ctx = SolveContext(view, MockBackend([]), executor, Budget())
    trace = await ctx.trace_run("print(input())\n", TestCase(TestKind.STDIO, stdin="1\n"))
    assert trace.status == "no_call"
    assert trace.message
    assert ctx.usage.executions == 0


async def test_a_traced_run_counts_as_one_execution(executor: Any) -> None:
    ctx = context(executor, budget=Budget(executions=2))
    await ctx.execute(LOOP, (call(2),))
    await ctx.trace_run(LOOP, call(2))
    assert ctx.usage.executions == 2
    assert [n.usage.executions for n in ctx.trace] == [1, 1]
    with pytest.raises(BudgetExceeded, match="executions"):
        await ctx.trace_run(LOOP, call(2))
    assert len(ctx.trace) == 2  # refused before running: nothing recorded


async def test_a_sandbox_failure_is_an_infra_error() -> None:
    class Broken:
        async def run(self, request: ExecRequest) -> ExecResult:
            return ExecResult(Status.INFRA_ERROR, (), infra_error="worker stopped")

    ctx = context(Broken())
    with pytest.raises(ExecutionInfraError, match="worker stopped"):
        await ctx.trace_run(LOOP, call(1))
    assert ctx.trace[-1].metadata["infra_error"] == "worker stopped"
    assert ctx.usage.executions == 1


# ------------------------------------------------------------------------- LDB's cuts


def _steps(count: int) -> tuple[TraceStep, ...]:
    return tuple(TraceStep("f", (i + 1,), (f"line {i + 1}",), block=i) for i in range(count))


def test_block_and_line_levels_keep_the_first_and_last_halves() -> None:
    trace = RuntimeTrace("ok", steps_block=_steps(25), steps_line=_steps(40))
    blocks = trace.steps("block")
    assert [s.block for s in blocks] == [0, 1, 2, 3, 4, 20, 21, 22, 23, 24]
    lines = trace.steps("line")
    assert [s.block for s in lines] == [*range(15), *range(25, 40)]
    assert [s.block for s in trace.steps("block", 5)] == [0, 1, 2, 23, 24]  # odd: 3 + 2
    assert [s.block for s in trace.steps("block", 1)] == [0]
    assert trace.steps("block", 25) == trace.steps_block
    assert RuntimeTrace("ok", steps_block=_steps(10)).steps() == _steps(10)
    with pytest.raises(ValueError):
        trace.steps("block", 0)
    with pytest.raises(ValueError):
        trace.steps("blocks")  # type: ignore[arg-type]


def test_function_level_cuts_a_calls_lines() -> None:
    lines = tuple(range(1, 51))
    step = TraceStep("f", lines, tuple(f"l{i}" for i in lines), before="a=1", after="_ret=2")
    trace = RuntimeTrace("ok", steps_function=(step,))
    (cut,) = trace.steps("function")
    assert cut.lines == (*range(1, 16), ELLIPSIS_LINE, *range(36, 51))
    assert cut.source == (
        *(f"l{i}" for i in range(1, 16)),
        ELLIPSIS,
        *(f"l{i}" for i in range(36, 51)),
    )
    assert (cut.before, cut.after) == ("a=1", "_ret=2")
    (short,) = RuntimeTrace("ok", steps_function=(step,)).steps("function", 50)
    assert short == step


# ------------------------------------------------------------------------- static blocks


def test_static_blocks_cut_where_control_flow_does() -> None:
    source = program("""
        def f(xs):
            a = 1
            b = 2
            while a < 3:
                a += 1
                if a == 2:
                    continue
                b += 1
            else:
                b = 0
            try:
                c = xs[0]
            except (IndexError, KeyError):
                c = None
            finally:
                d = 1
            with open("x") as h:
                e = 1
            match c:
                case 1 if b:
                    g = 1
                case _:
                    g = 2
            for x in xs: y = x
            return g
    """)
    (unit,) = static_blocks(source).values()
    assert unit.name == "f"
    block = unit.block
    assert block(2) == block(3)  # straight line
    assert block(4) not in (block(3), block(5))  # the loop guard is its own block
    assert block(5) == block(6)  # the if test ends the body's first block
    assert block(7) != block(6)  # continue: a block of its own branch
    assert block(8) not in (block(7), block(6))  # after the if
    assert block(10) not in (block(8), block(4))  # while's else
    assert block(11) == block(12) - 1  # try: in the block after the loop; its body new
    assert len({block(11), block(12), block(14), block(16)}) == 4  # body, handler, finally
    assert block(13) == block(14)  # the handler's header belongs to the handler
    assert block(17) not in (block(16), block(18))  # after the try; the with body is new
    assert block(19) not in (block(18), block(20))  # after the with; each case is new
    assert block(20) == block(21) and block(22) == block(23) and block(20) != block(22)
    assert block(24) not in (block(23), block(25))  # a one-line for: the header's block
    assert unit.count == block(25) + 1


def test_nested_and_decorated_functions_are_units_of_their_own() -> None:
    source = program("""
        import functools

        @functools.cache
        def f(n):
            def g(
                m,
            ):
                return m
            return g(n)
    """)
    units = static_blocks(source)
    assert sorted((u.first_line, u.name) for u in units.values()) == [(3, "f"), (5, "g")]
    f = units[3]
    assert f.block(5) == f.block(7) == f.block(9) == 0  # g's header is a statement of f
    assert units[5].block(8) == 0


# ------------------------------------------------------------------------- hostile programs


HOSTILE: dict[str, str] = {
    "socket": program("""
        import socket
        def f(a):
            socket.create_connection(("127.0.0.1", 9), timeout=0.5)
            return a
    """),
    "write_outside": program("""
        def f(path):
            with open(path, "w") as handle:
                handle.write("pwned")
            return path
    """),
    "os_exit": "import os\ndef f(a):\n    os._exit(0)\n",
    "sys_exit": "import sys\ndef f(a):\n    sys.exit(3)\n",
    "settrace_tampering": program("""
        import sys
        def f(a):
            sys.settrace(None)
            b = a + 1
            return b
    """),
    "fork_bomb": "import os\ndef f(a):\n    while True:\n        os.fork()\n",
}


def _same_outcome(untraced: ExecResult, traced: RuntimeTrace) -> None:
    outcome = untraced.outcomes[0]
    if outcome.status is Status.PASSED:
        assert traced.status == "ok"
    elif outcome.status is Status.ERROR:
        assert traced.status == "exception"
        assert traced.message.startswith(f"{outcome.exception}:")
    elif outcome.status is Status.TIMEOUT:
        assert traced.status == "timeout"
    else:
        assert traced.status == "crash", (outcome, traced)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_a_hostile_program_is_contained_traced_as_untraced(executor: Any, name: str) -> None:
    layers = {layer["name"]: layer["active"] for layer in executor.report.get("layers", [])}
    needs = {"socket": ("seccomp",), "write_outside": ("uid", "landlock")}
    needs["fork_bomb"] = ("uid", "rlimits")
    missing = [layer for layer in needs.get(name, ()) if not layers.get(layer)]
    if missing:  # skips here, fails where isolation is required (CI)
        missing_isolation(f"isolation layers {missing} are not in force")
    path = f"/tmp/codeloop-trace-{uuid.uuid4().hex}"
    arg: Any = path if name == "write_outside" else 1
    ctx = context(executor)
    untraced = await ctx.execute(HOSTILE[name], (call(arg),), record=True)
    traced = await ctx.trace_run(HOSTILE[name], call(arg))
    assert not os.path.exists(path)
    expected = {
        "socket": "exception",
        "write_outside": "exception",
        "os_exit": "crash",
        "sys_exit": "crash",
        "settrace_tampering": "ok",
    }
    if name in expected:
        _same_outcome(untraced, traced)
        assert traced.status == expected[name]
    else:  # a fork bomb's end varies from run to run (its processes race): never a value
        assert untraced.status.is_failure
        assert traced.status in ("exception", "crash", "timeout")
    if name == "settrace_tampering":
        # the program may switch the tracer off: it loses its own steps, nothing else
        assert traced.output == "2" == str(untraced.actual_values[0])
        assert [s.lines for s in traced.steps("block")] == [(3,)]


async def test_the_node_goes_under_its_parent_with_its_label(executor: Any) -> None:
    ctx = context(executor)
    program_node = ctx.record("program", LOOP)
    trace = await ctx.trace_run(LOOP, call(1), parent=program_node, label="ldb")
    node = ctx.trace[-1]
    assert (node.parent, node.metadata["label"]) == (program_node, "ldb")
    assert node.metadata["steps"] == len(trace.steps_block) > 0
