"""The local executor end to end: programs in, classified per-test outcomes out."""

import contextlib
import subprocess
import sys
from collections.abc import Iterator

import anyio
import pytest

from codeloop.execution.local import LocalExecutor, run_sync
from codeloop.types import (
    Compare,
    ExecRequest,
    Limits,
    Status,
    TaskKind,
    TestCase,
    TestKind,
    TestSuite,
)

ADD = TestSuite(
    tests=(
        TestCase(TestKind.CALL, args=(1, 2), expected=3),
        TestCase(TestKind.CALL, args=(2, 2), expected=4),
        TestCase(TestKind.CALL, args=(-1, 1), expected=0),
    ),
    entry_point="add",
)
FAST = Limits(time_s=1.0)


def run(programs, suite=ADD, **request):
    requests = [
        ExecRequest(p, suite, limits=request.pop("limits", FAST), **request) for p in programs
    ]
    return run_sync(requests, workers=2)


@pytest.mark.slow
def test_statuses_per_program():
    programs = {
        "ok": "def add(a, b):\n    return a + b\n",
        "wrong": "def add(a, b):\n    return a - b\n",
        "syntax": "def add(a, b) return\n",
        "raises": "def add(a, b):\n    raise ValueError('boom')\n",
        "load_error": "import no_such_module_xyz\ndef add(a, b): return a + b\n",
        "missing": "def other(a, b): return a + b\n",
        "loop": "def add(a, b):\n    while True:\n        pass\n",
        "exit": "import os\ndef add(a, b):\n    os._exit(0)\n",
        "sys_exit": "import sys\ndef add(a, b):\n    sys.exit(3)\n",
        "memory": "def add(a, b):\n    x = bytearray(8 * 1024**3)\n    return a + b\n",
        "recursion": "def add(a, b):\n    return add(a, b)\n",
    }
    results = dict(zip(programs, run(list(programs.values()))))
    assert results["ok"].status is Status.PASSED
    assert [o.status for o in results["ok"].outcomes] == [Status.PASSED] * 3
    assert results["wrong"].status is Status.FAILED
    first = results["wrong"].outcomes[0]
    assert (first.expected, first.actual) == ("3", "-1")
    assert results["syntax"].status is Status.SYNTAX_ERROR
    assert results["raises"].status is Status.ERROR
    raised = results["raises"].outcomes[0]
    assert raised.exception == "ValueError" and raised.message == "boom"
    assert "<program>" in raised.traceback and "codeloop" not in raised.traceback
    assert results["load_error"].status is Status.ERROR
    assert results["load_error"].outcomes[0].exception == "ModuleNotFoundError"
    assert results["missing"].status is Status.ERROR
    assert results["missing"].outcomes[0].exception == "NameError"
    assert results["loop"].status is Status.TIMEOUT
    assert results["loop"].outcomes[0].status is Status.TIMEOUT
    assert results["loop"].outcomes[1].status is Status.NOT_RUN
    assert results["exit"].status is Status.EXITED_EARLY
    assert results["sys_exit"].status is Status.EXITED_EARLY
    assert results["memory"].status is Status.MEMORY
    assert results["recursion"].status is Status.ERROR
    assert results["recursion"].outcomes[0].exception == "RecursionError"


@pytest.mark.slow
def test_fail_fast_stops_and_feedback_mode_runs_everything():
    slow_wrong = "import time\ndef add(a, b):\n    time.sleep(0.2)\n    return 0\n"
    fast = run([slow_wrong])[0]
    assert fast.outcomes[0].status is Status.FAILED
    assert fast.outcomes[-1].status is Status.NOT_RUN
    full = run([slow_wrong], fail_fast=False)[0]
    assert [o.status for o in full.outcomes] == [Status.FAILED, Status.FAILED, Status.PASSED]


def test_without_details_failures_carry_no_texts_but_the_same_statuses():
    program = (
        "def add(a, b):\n    if a < 0:\n        raise ValueError('negative')\n    return a * b\n"
    )
    full, bare = (run([program], fail_fast=False, details=d)[0] for d in (True, False))
    statuses = [Status.FAILED, Status.PASSED, Status.ERROR]
    assert [o.status for o in full.outcomes] == [o.status for o in bare.outcomes] == statuses
    assert (full.outcomes[0].expected, full.outcomes[0].actual) == ("3", "2")
    assert "<program>" in full.outcomes[2].traceback
    assert (bare.outcomes[0].expected, bare.outcomes[0].actual) == ("", "")
    assert bare.outcomes[2].traceback == ""
    # what a failure was is still there: the exception and its message
    assert (bare.outcomes[2].exception, bare.outcomes[2].message) == ("ValueError", "negative")


def test_prints_are_captured_but_do_not_affect_the_verdict():
    result = run(["def add(a, b):\n    print('debug', a)\n    return a + b\n"])[0]
    assert result.status is Status.PASSED
    assert "debug 1" in result.stdout


def test_record_only_returns_values():
    suite = TestSuite(
        tests=(
            TestCase(TestKind.CALL, args=([3, 1, 2],), has_expected=False),
            TestCase(TestKind.CALL, args=([],), has_expected=False),
        ),
        entry_point="f",
    )
    result = run(
        ["def f(xs):\n    xs.sort()\n    return tuple(xs), {1: xs}\n"],
        suite,
        record_only=True,
        fail_fast=False,
    )[0]
    assert result.actual_values == (((1, 2, 3), {1: [1, 2, 3]}), ((), {1: []}))


def test_inputs_are_fresh_for_every_test():
    # the program mutates its argument; the next test must still see its own input
    suite = TestSuite(
        tests=(
            TestCase(TestKind.CALL, args=([1],), expected=[1, 0]),
            TestCase(TestKind.CALL, args=([1],), expected=[1, 0]),
        ),
        entry_point="f",
    )
    result = run(["def f(xs):\n    xs.append(0)\n    return xs\n"], suite)[0]
    assert result.status is Status.PASSED


def test_inputs_are_copied_as_deepcopy_would():
    """Plain inputs travel as a marshal image, others are deep-copied: either way every test
    gets its own copy, and inputs that share a container within one call still share it."""
    from collections import OrderedDict

    shared = [1]  # the same list in two tests (and twice in each): one object in the zygote
    program = (
        "def f(x, y):\n"
        "    same = x is y\n"
        "    if isinstance(x, dict):\n"
        "        x['new'] = 1\n"
        "    else:\n"
        "        x.append(48)\n"
        "    return [same, type(x).__name__, len(x)]\n"
    )
    suite = TestSuite(
        tests=(
            TestCase(TestKind.CALL, args=(shared, shared), expected=[True, "list", 2]),
            TestCase(TestKind.CALL, args=(shared, shared), expected=[True, "list", 2]),
            TestCase(TestKind.CALL, args=({"a": shared}, 0), expected=[False, "dict", 2]),
            TestCase(TestKind.CALL, args=(bytearray(b"a"), 0), expected=[False, "bytearray", 2]),
            TestCase(TestKind.CALL, args=(OrderedDict(a=1), 0), expected=[False, "OrderedDict", 2]),
            TestCase(TestKind.CALL, args=(OrderedDict(a=1), 0), expected=[False, "OrderedDict", 2]),
        ),
        entry_point="f",
    )
    result = run([program], suite, fail_fast=False)[0]
    assert [o.status for o in result.outcomes] == [Status.PASSED] * 6, result.outcomes


def test_a_programs_home_and_temp_dir_are_its_work_dir():
    """As in a fresh interpreter, tempfile finds TMPDIR (the zygote's own cached temp dir
    must not reach the child), and HOME, TMPDIR and the cwd name the run's work dir, also
    when runs on other slots come between."""
    program = (
        "import os, tempfile\n"
        "def f(x):\n"
        "    with tempfile.NamedTemporaryFile() as handle:\n"
        "        handle.write(b'x')\n"
        "        where = os.path.dirname(handle.name)\n"
        "    return [where, tempfile.gettempdir(), os.environ['TMPDIR'], os.environ['HOME'],"
        " os.getcwd()]\n"
    )
    suite = TestSuite(
        tests=(TestCase(TestKind.CALL, args=(1,), has_expected=False),), entry_point="f"
    )
    requests = [ExecRequest(program, suite, limits=FAST, record_only=True)] * 12
    results = run_sync(requests, workers=2, max_inflight=8)
    places = set()
    for result in results:
        assert result.status is Status.PASSED, result.outcomes[0].message
        (paths,) = result.actual_values
        assert len(set(paths)) == 1, paths
        places.add(paths[0])
    assert len(places) >= 2  # several slots took part


@pytest.mark.parametrize("same_interpreter", [True, False])
def test_programs_run_the_same_compiled_here_or_in_the_child(monkeypatch, same_interpreter):
    """The evaluator sends the program compiled (when the zygote runs this interpreter);
    otherwise the child compiles it. Either way the same verdicts, tracebacks and output."""
    import codeloop.execution.local as local

    if not same_interpreter:
        monkeypatch.setattr(local, "interpreter_tag", lambda: "another interpreter")
    programs = [
        "def add(a, b):\n    return a + b\n",
        "def add(a, b):\n    x = 1\n    return a / 0\n",  # fails at line 3
        "def add(a, b):\n    if a is 1:\n        pass\n    return a + b\n",  # warns
        "def add(a, b)\n    return a\n",  # does not compile
    ]

    async def main():
        async with LocalExecutor(workers=1) as executor:
            loads = [z.loads_images for z in executor._zygotes]
            results = [await executor.run(ExecRequest(p, ADD, limits=FAST)) for p in programs]
        return loads, results

    loads, (ok, raises, warns, broken) = anyio.run(main)
    assert loads == [same_interpreter]
    assert ok.status is Status.PASSED
    assert raises.status is Status.ERROR
    assert 'File "<program>", line 3, in add' in raises.outcomes[0].traceback
    assert warns.status is Status.PASSED and "SyntaxWarning" in warns.stdout
    assert broken.status is Status.SYNTAX_ERROR


def test_code_tests_run_in_the_programs_namespace():
    suite = TestSuite(
        tests=(
            TestCase(
                TestKind.CODE,
                code="def check(candidate):\n"
                "    assert candidate(2, 3) == 5\n    assert helper() == 7\n",
            ),
        ),
        entry_point="add",
    )
    good, bad = run(
        [
            "def helper():\n    return 7\ndef add(a, b):\n    return a + b\n",
            "def helper():\n    return 7\ndef add(a, b):\n    return a * b\n",
        ],
        suite,
    )
    assert good.status is Status.PASSED
    assert bad.status is Status.ERROR and bad.outcomes[0].exception == "AssertionError"


def test_programs_and_test_code_compile_as_plain_python_would():
    """The harness's own `from __future__ import annotations` must not reach the program:
    plain Python evaluates a function's annotations when it defines it."""
    bad_annotation = "def add(a: Undefined, b: int) -> int:\n    return a + b\n"
    deferred = "from __future__ import annotations\n" + bad_annotation
    raising, passing = run([bad_annotation, deferred])
    assert raising.status is Status.ERROR
    assert raising.outcomes[0].exception == "NameError"
    assert "Undefined" in raising.outcomes[0].message
    assert passing.status is Status.PASSED
    suite = TestSuite(
        tests=(
            TestCase(
                TestKind.CODE,
                code="limit: Undefined = 1\n"
                "def check(candidate):\n    assert candidate(2, 3) == 5\n",
            ),
        ),
        entry_point="add",
    )
    (result,) = run(["def add(a, b):\n    return a + b\n"], suite)
    assert result.status is Status.ERROR and result.outcomes[0].exception == "NameError"


def test_per_test_time_limits_name_the_test_that_hung():
    suite = TestSuite(
        tests=(
            TestCase(TestKind.CALL, args=(0,), expected=0, time_limit_s=0.3),
            TestCase(TestKind.CALL, args=(1,), expected=1, time_limit_s=0.3),
            TestCase(TestKind.CALL, args=(2,), expected=2, time_limit_s=0.3),
        ),
        entry_point="f",
    )
    program = "def f(x):\n    while x == 1:\n        pass\n    return x\n"
    result = run([program], suite, fail_fast=False, limits=Limits(time_s=5.0))[0]
    assert [o.status for o in result.outcomes] == [Status.PASSED, Status.TIMEOUT, Status.NOT_RUN]
    assert result.duration_s < 2.0


def test_stdio_programs():
    suite = TestSuite(
        tests=(
            TestCase(TestKind.STDIO, stdin="1 2\n", expected="3\n", compare=Compare.STDOUT),
            TestCase(TestKind.STDIO, stdin="2 2\n", expected="4", compare=Compare.STDOUT),
        ),
        entry_point=None,
        kind=TaskKind.STDIO,
    )
    good = "a, b = map(int, input().split())\nprint(a + b)\n"
    wrong = "a, b = map(int, input().split())\nprint(a * b)\n"
    crash = "raise SystemExit(2)\n"
    results = run([good, wrong, crash], suite, fail_fast=False)
    assert [o.status for o in results[0].outcomes] == [Status.PASSED, Status.PASSED]
    assert [o.status for o in results[1].outcomes] == [Status.FAILED, Status.PASSED]
    assert results[0].outcomes[0].actual == repr("3\n")
    assert results[2].status is Status.ERROR


@pytest.mark.parametrize("fail_fast", [True, False])
def test_many_programs_concurrently(fail_fast):
    programs = ["def add(a, b):\n    return a + b\n", "def add(a, b):\n    return 0\n"] * 40
    results = run(programs, fail_fast=fail_fast)
    assert [r.status for r in results] == [Status.PASSED, Status.FAILED] * 40


# ------------------------------------------------------------- heavy-module zygote

PARENT = TestSuite(
    tests=(TestCase(TestKind.CALL, args=(), expected=0),),
    entry_point="parent",
)


def test_imported_modules_reads_import_statements():
    from codeloop.execution.local import imported_modules

    program = (
        "import numpy as np, os.path\n"
        "from torch import nn\n"
        "def f():\n"
        "    import pandas\n"
        "    from . import sibling\n"
        "x = 'import nothing'  # not at the start of a line\n"
    )
    assert imported_modules(program) == {"numpy", "os", "torch", "pandas"}
    assert imported_modules("def f():\n    return 1\n") == frozenset()


def _parent_pid_runs(programs, preload):
    """Run programs that return their parent's pid; also return the zygotes' pids."""
    import anyio

    from codeloop.execution.local import LocalExecutor

    async def main():
        async with LocalExecutor(workers=1, preload=preload) as executor:
            results = [await executor.run(ExecRequest(p, PARENT, limits=FAST)) for p in programs]
            normal = executor._zygotes[0].pid
            heavy = executor._heavy.pid if executor._heavy is not None else None
            return results, normal, heavy, executor._heavy_loaded

    return anyio.run(main)


@pytest.mark.slow
def test_programs_importing_a_preloaded_module_run_in_the_heavy_zygote():
    body = "def parent():\n    return os.getppid()\n"
    programs = [
        "import os, json\n" + body,  # json is preloaded there
        "import os\n" + body,  # nothing heavy: the ordinary zygote
        "import os\nimport codeloop_missing_module\n" + body,  # did not load there
    ]
    results, normal, heavy, loaded = _parent_pid_runs(
        programs, preload=("json", "codeloop_missing_module")
    )
    assert loaded == {"json"}
    assert heavy is not None and heavy != normal
    first, second, third = results
    # each program fails (expected 0) and shows the pid of the zygote that forked it
    assert first.outcomes[0].actual == str(heavy)
    assert second.outcomes[0].actual == str(normal)
    assert third.status is Status.ERROR
    assert third.outcomes[0].exception == "ModuleNotFoundError"


@pytest.mark.slow
def test_no_heavy_zygote_without_preload():
    results, normal, heavy, loaded = _parent_pid_runs(
        ["import os, json\ndef parent():\n    return os.getppid()\n"], preload=()
    )
    assert heavy is None and loaded is None
    assert results[0].outcomes[0].actual == str(normal)


@pytest.mark.slow
def test_numpy_program_passes_in_the_heavy_zygote():
    pytest.importorskip("numpy")
    suite = TestSuite(tests=(TestCase(TestKind.CALL, args=(4,), expected=10),), entry_point="f")
    program = "import numpy as np\ndef f(n):\n    return int(np.arange(n + 1).sum())\n"
    (result,) = run_sync([ExecRequest(program, suite, limits=Limits(time_s=5.0))], workers=1)
    assert result.passed, result.outcomes


@pytest.mark.slow
def test_more_workers_than_one_uid_block():
    # 5 zygotes x 64 slots need more than the 256 uids isolation used to reserve
    programs = ["def add(a, b):\n    return a + b\n"] * 12
    results = run_sync([ExecRequest(p, ADD, limits=FAST) for p in programs], workers=5)
    assert all(r.passed for r in results), {r.status for r in results}


@pytest.mark.slow
def test_heavy_zygote_does_not_charge_programs_for_modules_they_did_not_import():
    pytest.importorskip("numpy")
    suite = TestSuite(tests=(TestCase(TestKind.CALL, args=(4,), expected=10),), entry_point="f")
    small = Limits(time_s=5.0, memory_bytes=256 << 20)
    # 64 MiB fits a 256 MiB limit, as it would in a fresh child that imported numpy
    ok = (
        "import numpy as np\ndef f(n):\n"
        "    block = np.ones(8 << 20)\n"
        "    return int(np.arange(n + 1).sum()) + int(block[0]) - 1\n"
    )
    # 512 MiB in one block: over the limit whatever was preloaded
    bomb = "import numpy as np\ndef f(n):\n    return len(bytearray(512 << 20)) + n\n"
    fine, over = run_sync(
        [ExecRequest(ok, suite, limits=small), ExecRequest(bomb, suite, limits=small)],
        workers=1,
    )
    assert fine.passed, fine.outcomes
    assert over.status is Status.MEMORY, over.outcomes


@contextlib.contextmanager
def competing_cpu_load(processes: int = 2) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes that keep the CPUs busy (`python3 -c 'while 1: pass'`), killed on exit."""
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(processes):
            hogs.append(subprocess.Popen([sys.executable, "-c", "while 1: pass"]))
        yield hogs
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


# f(s) computes for s seconds of its own CPU time
CPU_BOUND = (
    "import time\n"
    "def f(seconds):\n"
    "    end = time.process_time() + seconds\n"
    "    while time.process_time() < end:\n"
    "        pass\n"
    "    return seconds\n"
)


def _cpu_bound_requests() -> list[ExecRequest]:
    """0.3 s of CPU under 0.5 s limits (a test's, then the program's), then forever."""

    def suite(seconds: float, per_test: float | None) -> TestSuite:
        test = TestCase(TestKind.CALL, args=(seconds,), expected=seconds, time_limit_s=per_test)
        return TestSuite(tests=(test,), entry_point="f")

    per_test, whole = Limits(time_s=10.0), Limits(time_s=0.5)
    return [
        ExecRequest(CPU_BOUND, suite(0.3, 0.5), limits=per_test),
        ExecRequest(CPU_BOUND, suite(0.3, None), limits=whole),
        ExecRequest(CPU_BOUND, suite(1000.0, 0.5), limits=per_test),
        ExecRequest(CPU_BOUND, suite(1000.0, None), limits=whole),
    ]


@pytest.mark.slow
def test_a_verdict_does_not_change_when_other_processes_hold_the_cpu():
    """A limit is a budget of the program's own CPU time: a program that needs 0.3 s of
    CPU passes a 0.5 s limit (a test's or the whole program's) while two busy processes
    compete for the CPUs and it takes longer than that in wall clock; a busy loop runs
    out of its budget.  The verdicts are the ones the same programs get without them."""
    requests = _cpu_bound_requests()
    alone = run_sync(requests, workers=2)
    slowed = False
    with competing_cpu_load(2):
        # Scheduling is not exact: up to three tries for one in which a passing program
        # really took longer than its limit (with the old wall-clock limits each of those
        # timed out).  The verdicts must hold in every try.
        for _attempt in range(3):
            loaded = run_sync(requests, workers=2)
            assert [r.status for r in loaded] == [r.status for r in alone]
            slowed = loaded[0].outcomes[0].duration_s > 0.5 and loaded[1].duration_s > 0.5
            if slowed:
                break
    assert slowed, [r.duration_s for r in loaded]
    assert [r.status for r in alone] == [Status.PASSED] * 2 + [Status.TIMEOUT] * 2, alone
    for result in (alone, loaded):
        test_limit, program_limit = result[2].outcomes[0], result[3].outcomes[0]
        assert test_limit.message == "time limit exceeded (this test used its 0.50s of CPU)"
        assert program_limit.message == "time limit exceeded (the program used its 0.50s of CPU)"


@pytest.mark.slow
def test_a_program_that_sleeps_is_ended_by_the_wall_clock_backstop():
    """Sleeping uses no CPU: a program (or test) still running, asleep or blocked, at
    twice its limit is ended, and the message says it was the backstop.  One that sleeps
    for less than its limit passes, as it would under a wall-clock limit."""
    sleeper = "import time\ndef f(seconds):\n    time.sleep(seconds)\n    return seconds\n"

    def suite(seconds: float, per_test: float | None) -> TestSuite:
        test = TestCase(TestKind.CALL, args=(seconds,), expected=seconds, time_limit_s=per_test)
        return TestSuite(tests=(test,), entry_point="f")

    forever, short = run_sync(
        [
            ExecRequest(sleeper, suite(100.0, None), limits=Limits(time_s=1.0)),
            ExecRequest(sleeper, suite(0.4, None), limits=Limits(time_s=0.5)),
        ],
        workers=2,
    )
    assert forever.status is Status.TIMEOUT, forever
    assert forever.outcomes[0].message == (
        "time limit exceeded (wall-clock backstop: the program ran, slept or blocked for "
        "2.00s, 2x its 1.00s CPU limit)"
    )
    assert 2.0 <= forever.duration_s < 10.0, forever.duration_s
    assert short.passed, short
    (in_test,) = run_sync([ExecRequest(sleeper, suite(100.0, 0.3), limits=Limits(time_s=5.0))])
    assert in_test.status is Status.TIMEOUT, in_test
    assert "wall-clock backstop: this test ran, slept or blocked" in in_test.outcomes[0].message
    assert in_test.duration_s < 5.0, in_test.duration_s  # the test's backstop, not the run's


def test_no_run_is_lowered_in_priority():
    """Runs stuck in a test used to be lowered to nice 19 while a wall-clock limit ran
    out; limits count CPU time now, so that would change no verdict, only delay it: every
    test of a run keeps the normal priority."""
    import anyio

    from codeloop.execution.local import LocalExecutor

    suite = TestSuite(
        tests=(
            TestCase(TestKind.CALL, args=(0,), expected=0),  # right after a slow load
            TestCase(TestKind.CALL, args=(1,), expected=0),  # after 0.4 s in this test
        ),
        entry_point="f",
    )
    program = (
        "import os, time\n"
        "def spin(seconds):\n"
        "    start = time.monotonic()\n"
        "    while time.monotonic() - start < seconds:\n"
        "        pass\n"
        "spin(0.4)  # loading\n"
        "def f(x):\n"
        "    spin({0: 0.0, 1: 0.4}[x])\n"
        "    return os.getpriority(os.PRIO_PROCESS, 0)\n"
    )

    async def main():
        async with LocalExecutor(workers=1) as executor:
            return await executor.run(
                ExecRequest(program, suite, fail_fast=False, limits=Limits(time_s=5.0))
            )

    result = anyio.run(main)
    assert result.passed, result.outcomes


@pytest.mark.slow
def test_a_tests_clock_stops_when_the_program_returns():
    """Encoding a large value and writing it to the evaluator is the harness's time, not
    the test's: a function that returns 40 MiB at once passes a 0.1 s limit."""
    size = 40 << 20
    suite = TestSuite(
        tests=(TestCase(TestKind.CALL, args=(size,), expected="x" * size, time_limit_s=0.1),),
        entry_point="f",
    )
    program = "def f(n):\n    return 'x' * n\n"
    (result,) = run_sync([ExecRequest(program, suite, limits=Limits(time_s=10.0))], workers=1)
    assert result.passed, result.outcomes


def test_results_before_a_hang_are_kept():
    """Quick tests' results are batched in the child; when a later test hangs, the run is
    asked to flush them before it is killed, so they still count (EvalPlus's base tests
    pass even when a plus input hangs)."""
    tests = tuple(
        TestCase(TestKind.CALL, args=(i,), expected=i, time_limit_s=0.3) for i in range(10)
    ) + (TestCase(TestKind.CALL, args=(-1,), expected=-1, time_limit_s=0.3),)
    suite = TestSuite(tests=tests, entry_point="f")
    program = "def f(x):\n    while x < 0:\n        pass\n    return x\n"
    # fail-fast (scoring): results are batched, not written one by one
    request = ExecRequest(program, suite, fail_fast=True, limits=Limits(time_s=5.0))
    (result,) = run_sync([request], workers=1)
    statuses = [o.status for o in result.outcomes]
    assert statuses == [Status.PASSED] * 10 + [Status.TIMEOUT], statuses


@pytest.mark.slow
def test_a_timed_out_run_is_killed_once_it_has_flushed():
    """The zygote waits up to FLUSH_GRACE_S for a timed-out run's flush, but kills it as
    soon as the flush's end marker arrives: a hang costs its limit, not limit + grace."""
    from codeloop.execution.zygote import FLUSH_GRACE_S

    tests = (
        TestCase(TestKind.CALL, args=(1,), expected=1, time_limit_s=0.2),
        TestCase(TestKind.CALL, args=(-1,), expected=-1, time_limit_s=0.2),
    )
    suite = TestSuite(tests=tests, entry_point="f")
    # The hang sleeps: its backstop (twice its limit) and the grace then both run in wall
    # clock, whatever else the machine runs, and only the flush's own latency varies.
    program = "import time\ndef f(x):\n    while x < 0:\n        time.sleep(1)\n    return x\n"
    request = ExecRequest(program, suite, limits=Limits(time_s=5.0))
    durations = []
    for _attempt in range(3):  # a busy machine may delay the child's flush past the grace
        (result,) = run_sync([request], workers=1)
        assert [o.status for o in result.outcomes] == [Status.PASSED, Status.TIMEOUT]
        durations.append(result.duration_s)
        if result.duration_s < 2 * 0.2 + FLUSH_GRACE_S * 0.6:
            break
    else:
        pytest.fail(f"runs took {durations}: killed at the grace, not at the flush")


def test_a_run_that_ignores_the_flush_signal_is_still_killed():
    suite = TestSuite(
        tests=(TestCase(TestKind.CALL, args=(-1,), expected=-1, time_limit_s=0.2),),
        entry_point="f",
    )
    program = (
        "import signal\n"
        "signal.signal(signal.SIGUSR1, signal.SIG_IGN)\n"
        "def f(x):\n    while x < 0:\n        pass\n    return x\n"
    )
    # killed by the grace (0.2 s of CPU, then 0.25 s more), long before what RLIMIT_CPU
    # would allow its 30 s budget (a busy machine may stretch the 0.45 s of CPU out)
    (result,) = run_sync([ExecRequest(program, suite, limits=Limits(time_s=30.0))], workers=1)
    assert result.status is Status.TIMEOUT
    assert result.duration_s < 10.0


# ------------------------------------------------------------- suites the zygote keeps


def test_the_zygote_keeps_few_suites_and_is_sent_a_forgotten_one_again(monkeypatch):
    """Suites are kept least recently used first, up to SUITES_KEPT per zygote; the
    parent tells the zygote to forget the oldest and sends it again when a job needs it."""
    import anyio

    from codeloop.execution import local

    monkeypatch.setattr(local, "SUITES_KEPT", 2)
    sent = []
    payload = local._suite_payload

    def spy(suite):
        sent.append(suite.tests[0].args[0])
        return payload(suite)

    monkeypatch.setattr(local, "_suite_payload", spy)
    suites = {
        n: TestSuite(tests=(TestCase(TestKind.CALL, args=(n,), expected=n * 2),), entry_point="f")
        for n in (1, 2, 3)
    }
    program = "def f(x):\n    return x * 2\n"

    async def main():
        statuses = []
        async with local.LocalExecutor(workers=1) as executor:
            zygote = executor._zygotes[0]
            for n in (1, 2, 1, 3, 1, 2):
                result = await executor.run(ExecRequest(program, suites[n], limits=FAST))
                statuses.append(result.status)
                assert len(zygote.suites) <= 2
        return statuses

    statuses = anyio.run(main)
    assert statuses == [Status.PASSED] * 6
    # 1 stays in use, so 3 pushes out 2, and 2 is sent again at the end
    assert sent == [1, 2, 3, 2]


def test_a_childs_environment_and_what_its_fork_inherits():
    """A child sees only PATH, LANG, the single-thread settings and its own HOME and
    TMPDIR (its work dir); and the zygote has not imported threading or subprocess,
    whose after-fork hooks would run in every child."""
    program = (
        "import os, sys\n"
        "def f():\n"
        "    env = dict(os.environ)\n"
        "    return [sorted(env), env['HOME'] == env['TMPDIR'] == os.getcwd(),\n"
        "            [m for m in ('threading', 'subprocess') if m in sys.modules]]\n"
    )
    suite = TestSuite(tests=(TestCase(TestKind.CALL, args=(), expected=None),), entry_point="f")
    results = run([program] * 4, suite=suite, record_only=True)
    for result in results:  # later children of a zygote see the same
        names, home_is_workdir, hooked = result.actual_values[0]
        assert names == sorted(
            [
                "HOME",
                "LANG",
                "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS",
                "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
                "PATH",
                "TMPDIR",
            ]
        )
        assert home_is_workdir
        assert hooked == []


def test_what_a_program_leaves_in_its_work_dir_is_gone_for_the_next_run():
    """A slot's work dir is the same directory run after run (its Landlock ruleset is
    built once, in the zygote): it is emptied, and its mode reset, between runs."""
    litter = (
        "import os\n"
        "def f():\n"
        "    os.makedirs('a/b')\n"
        "    open('a/b/f', 'w').close()\n"
        "    os.symlink('/', 'link')\n"
        "    os.mkdir('locked')\n"
        "    open('locked/f', 'w').close()\n"
        "    os.chmod('locked', 0)\n"
        "    os.chmod('.', 0o755)\n"
        "    return sorted(os.listdir('.'))\n"
    )
    look = (
        "import os\n"
        "def f():\n"
        "    return [sorted(os.listdir('.')), oct(os.stat('.').st_mode & 0o777),\n"
        "            os.environ['HOME'] == os.getcwd()]\n"
    )
    suite = TestSuite(tests=(TestCase(TestKind.CALL, args=(), expected=None),), entry_point="f")

    async def main():
        async with LocalExecutor(workers=1, max_inflight=1) as executor:
            return [
                await executor.run(ExecRequest(p, suite, record_only=True))
                for p in (look, litter, look, litter, look)
            ]

    results = anyio.run(main)
    assert results[1].actual_values[0] == [".output", "a", "link", "locked"]
    for result in results[::2]:
        assert result.actual_values[0] == [[".output"], oct(0o700), True]


def test_a_fail_fast_run_stops_at_a_batched_failure_while_a_later_test_hangs():
    """Fail-fast results are batched in the child; a test taking long makes the zygote
    ask for them (child.FLUSH_SIGNAL), so a failure before the hang stops the run at once
    instead of after the hanging test's limit."""
    tests = (
        TestCase(TestKind.CALL, args=(1,), expected=2, time_limit_s=2.0),  # returns 1
        TestCase(TestKind.CALL, args=(-1,), expected=-1, time_limit_s=2.0),  # hangs
    )
    suite = TestSuite(tests=tests, entry_point="f")
    program = "def f(x):\n    while x < 0:\n        pass\n    return x\n"
    request = ExecRequest(program, suite, fail_fast=True, limits=Limits(time_s=5.0))
    (result,) = run_sync([request], workers=1)
    assert result.status is Status.FAILED
    assert [o.status for o in result.outcomes][0] is Status.FAILED
    assert result.duration_s < 1.0, result.duration_s


def test_a_program_resetting_the_flush_signal_is_not_killed_by_it():
    """The write-out request is ignored by default: a program that resets its handler
    runs on to its own verdict."""
    program = (
        "import signal, time\n"
        "signal.signal(signal.SIGWINCH, signal.SIG_DFL)\n"
        "def f(x):\n"
        "    time.sleep(0.3)\n"
        "    return x\n"
    )
    suite = TestSuite(tests=(TestCase(TestKind.CALL, args=(3,), expected=3),), entry_point="f")
    (result,) = run_sync([ExecRequest(program, suite, fail_fast=True, limits=FAST)], workers=1)
    assert result.status is Status.PASSED, result


def _anon_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("RssAnon:"))
    return int(line.split()[1])


def test_a_forgotten_suites_inputs_are_given_back_to_the_kernel():
    """Every fork copies the zygote's page tables: the inputs of a suite the zygote no
    longer holds should not stay resident in it (the allocator keeps freed heap)."""
    from codeloop.execution.local import SUITES_KEPT, LocalExecutor

    program = "def f(s):\n    return 0\n"
    big = TestSuite(
        tests=tuple(
            TestCase(TestKind.CALL, args=("x" * 20_000 + str(i),), expected=0) for i in range(1500)
        ),
        entry_point="f",
    )
    small = [
        TestSuite(tests=(TestCase(TestKind.CALL, args=(i,), expected=0),), entry_point="f")
        for i in range(SUITES_KEPT)
    ]

    async def main() -> tuple[int, int, int]:
        async with LocalExecutor(workers=1, preload=()) as executor:
            pid = executor._zygotes[0].process.pid
            start = _anon_kb(pid)
            assert (await executor.run(ExecRequest(program, big, limits=FAST))).passed
            holding = _anon_kb(pid)
            for suite in small:  # the big suite is the least recently used: forgotten
                assert (await executor.run(ExecRequest(program, suite, limits=FAST))).passed
            return start, holding, _anon_kb(pid)

    start, holding, after = anyio.run(main)
    assert holding - start > 25_000, (start, holding)  # 30 MB of inputs held
    assert after - start < 5_000, (start, holding, after)


# ---------------------------------------------------------------- a given test order

COUNTS = "calls = []\ndef add(a, b):\n    calls.append((a, b))\n    return len(calls)\n"


def _order_suite(limit=None):
    """Each test expects the program's call count: it passes only in its place (0, 1, 2)."""
    return TestSuite(
        tests=tuple(
            TestCase(TestKind.CALL, args=(i, i), expected=i + 1, time_limit_s=limit)
            for i in range(3)
        ),
        entry_point="add",
    )


def test_an_order_runs_the_named_tests_in_that_order_and_reports_them_by_index():
    suite = _order_suite()
    [as_given] = run([COUNTS], suite=suite, fail_fast=False)
    assert as_given.passed
    [reordered] = run([COUNTS], suite=suite, fail_fast=False, order=(2, 0, 1))
    # test 2 ran first (1 call so far), test 0 second, test 1 third
    assert [o.index for o in reordered.outcomes] == [0, 1, 2]
    assert [o.status for o in reordered.outcomes] == [Status.FAILED] * 3
    assert [o.actual for o in reordered.outcomes] == ["2", "3", "1"]


def test_a_fail_fast_order_stops_at_the_first_failure_it_meets():
    suite = TestSuite(
        tests=(
            TestCase(TestKind.CALL, args=(1, 2), expected=3),
            TestCase(TestKind.CALL, args=(2, 2), expected=4),
            TestCase(TestKind.CALL, args=(5, 5), expected=0),  # wrong for a right `add`
        ),
        entry_point="add",
    )
    right = "def add(a, b):\n    return a + b\n"
    [result] = run([right], suite=suite, order=(2, 0, 1))
    assert result.status is Status.FAILED
    assert [o.status for o in result.outcomes] == [Status.NOT_RUN, Status.NOT_RUN, Status.FAILED]


def test_tests_an_order_leaves_out_do_not_run():
    [result] = run([COUNTS], suite=_order_suite(), order=(0,))
    assert result.passed
    assert [o.status for o in result.outcomes] == [Status.PASSED, Status.NOT_RUN, Status.NOT_RUN]


@pytest.mark.slow
def test_a_hang_met_first_in_an_order_is_its_tests_timeout():
    hang_on_two = "def add(a, b):\n    while a == 2:\n        pass\n    return a + b\n"
    suite = TestSuite(
        tests=tuple(
            TestCase(TestKind.CALL, args=(i, i), expected=2 * i, time_limit_s=0.3) for i in range(3)
        ),
        entry_point="add",
    )
    [result] = run([hang_on_two], suite=suite, order=(2, 1, 0))
    assert result.status is Status.TIMEOUT
    assert [o.status for o in result.outcomes] == [Status.NOT_RUN, Status.NOT_RUN, Status.TIMEOUT]


def test_stdio_tests_run_in_the_given_order():
    suite = TestSuite(
        tests=(
            TestCase(TestKind.STDIO, stdin="1 2\n", expected="3\n", compare=Compare.STDOUT),
            TestCase(TestKind.STDIO, stdin="2 2\n", expected="5\n", compare=Compare.STDOUT),
            TestCase(TestKind.STDIO, stdin="3 3\n", expected="6\n", compare=Compare.STDOUT),
        ),
        entry_point=None,
        kind=TaskKind.STDIO,
    )
    program = "a, b = map(int, input().split())\nprint(a + b)\n"
    [result] = run([program], suite=suite, order=(1, 0, 2))
    # each stdio test is a process of its own, judged when the job ends: all three ran
    assert result.status is Status.FAILED
    assert [o.status for o in result.outcomes] == [Status.PASSED, Status.FAILED, Status.PASSED]
    [subset] = run([program], suite=suite, order=(2, 0))
    assert [o.status for o in subset.outcomes] == [Status.PASSED, Status.NOT_RUN, Status.PASSED]


@pytest.mark.parametrize("order", [(0, 0), (3,), (-1,), (0, 1.0)])
def test_an_order_must_name_distinct_tests_of_the_suite(order):
    with pytest.raises(ValueError, match="distinct test indices in 0..2"):
        ExecRequest("x = 1", _order_suite(), order=order)


# ---------------------------------------------------------------- the first-test gate

LOUD_WRONG = "def add(a, b):\n    print('called', a, flush=True)\n    return -1\n"
MANY = TestSuite(
    tests=tuple(TestCase(TestKind.CALL, args=(i, 0), expected=i) for i in range(300)),
    entry_point="add",
)


def test_a_fail_fast_run_waits_for_the_verdict_of_its_first_test():
    # Wrong on every test.  The child waits after its first test until the evaluator has
    # judged it; judged wrong, the run is ended there: no second call ever starts.
    [result] = run([LOUD_WRONG], suite=MANY)
    assert result.status is Status.FAILED
    assert result.stdout.splitlines() == ["called 0"]
    assert [o.status for o in result.outcomes[:2]] == [Status.FAILED, Status.NOT_RUN]


def test_a_right_first_test_lets_the_run_go_on():
    right_then_loud = (
        "def add(a, b):\n    if a:\n        print('called', a, flush=True)\n    return a + b\n"
    )
    [result] = run([right_then_loud], suite=MANY)
    assert result.passed
    assert len(result.stdout.splitlines()) == 299  # every test after the first ran


def test_without_fail_fast_nothing_waits():
    [result] = run([LOUD_WRONG], suite=MANY, fail_fast=False)
    assert len(result.stdout.splitlines()) == 300
    assert all(o.status is Status.FAILED for o in result.outcomes)


def test_a_program_that_closes_the_gate_gains_nothing():
    # It closes every descriptor it did not open (the gate and the result channel among
    # them) while loading: whatever happens then, it cannot pass.
    program = "import os\nos.closerange(3, 256)\ndef add(a, b):\n    return a + b\n"
    [result] = run([program], suite=MANY)
    assert not result.passed
    assert result.status is not Status.INFRA_ERROR
