"""Scoring with per-test limits: slow tests are set aside while a failure is looked for."""

import resource
from dataclasses import replace

import anyio
import pytest

from codeloop.execution.local import LocalExecutor
from codeloop.runs.evaluate import PROBE_SHARE, probe_suite, run_hidden
from codeloop.scoring.groups import group_verdicts
from codeloop.types import (
    Compare,
    Limits,
    Status,
    Task,
    TaskKind,
    TestCase,
    TestKind,
    TestSuite,
)

# f(x): hangs for x == 1, is slow (0.3 s of CPU) for x == 2, right for x in (0, 2, 4),
# wrong for x == 3
PROGRAM = """
import time

def busy(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass

def f(x):
    if x == 1:
        while True:
            pass
    if x == 2:
        busy(0.3)
    return x if x != 3 else -1
"""


def cpu_of_children_s() -> float:
    """CPU time of this process's children that ended: an executor's zygote, once it has
    stopped, with every run it reaped.  Limits count CPU time, so what a scoring cost is
    measured in CPU time too: wall clock would depend on what else the machine runs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def case(x: int, limit: float | None = 1.0) -> TestCase:
    return TestCase(kind=TestKind.CALL, args=(x,), expected=x, time_limit_s=limit)


def score(xs, groups=None, program=PROGRAM, limit=1.0, references=None):
    references = references or {}
    tests = tuple(replace(case(x, limit), reference_s=references.get(x)) for x in xs)
    sizes = groups or [len(tests)]
    suite = TestSuite(tests=tests, entry_point="f")

    async def go():
        async with LocalExecutor(workers=1, max_inflight=1) as executor:
            return await run_hidden(executor, program, suite, sizes, Limits(time_s=3.0))

    began = cpu_of_children_s()
    result, runs = anyio.run(go)
    # the executor's start (~0.1 s of CPU) included
    return result, runs, cpu_of_children_s() - began


def statuses(result):
    return "".join(o.status.value[0] for o in result.outcomes)


def test_a_hang_before_a_failure_costs_the_probe_not_the_limit():
    result, runs, took = score([0, 1, 3, 4])
    assert result.status is Status.FAILED
    assert [o.status for o in result.outcomes] == [
        Status.PASSED,
        Status.NOT_RUN,  # set aside
        Status.FAILED,
        Status.NOT_RUN,  # after the failure
    ]
    assert "set aside" in result.outcomes[1].message
    assert result.outcomes[2].index == 2
    assert runs == 2
    assert took < 0.8  # CPU time: the hang's whole limit is 1 s of it


def test_a_slow_right_test_set_aside_passes_on_its_whole_limit():
    result, runs, _ = score([0, 2, 4])
    assert result.passed, statuses(result)
    assert all(o.status is Status.PASSED for o in result.outcomes)
    assert runs == 3  # probe (set aside at 2), the rest, then 2 again with its whole limit


@pytest.mark.slow
def test_a_hang_with_nothing_else_failing_is_a_timeout():
    result, runs, took = score([0, 1, 4])
    assert result.status is Status.TIMEOUT
    assert [o.status for o in result.outcomes] == [Status.PASSED, Status.TIMEOUT, Status.PASSED]
    assert took >= 1.0  # the hang was given its whole limit (of CPU) before being failed
    assert runs == 3


def test_a_later_groups_failure_does_not_decide_an_earlier_group():
    # base: 0, 2 (slow, right); plus: 3 (wrong).  Waiting 2 out gives base True.
    tests = (case(0), case(2), case(3))
    task = Task("t", "", "f", hidden_tests={"base": tests[:2], "plus": tests[2:]})
    result, runs, _ = score([0, 2, 3], groups=[2, 1])
    assert group_verdicts(task, result) == {"base": True, "base+plus": False}
    assert result.status is Status.FAILED
    assert runs == 3


def test_a_failure_in_the_same_group_leaves_the_set_aside_test_unrun():
    result, runs, _ = score([1, 3], groups=[2])
    assert [o.status for o in result.outcomes] == [Status.NOT_RUN, Status.FAILED]
    assert runs == 2


@pytest.mark.slow
def test_looking_ahead_stops_when_it_has_cost_the_set_aside_tests_limit():
    # slow on every test: 0.3 s each against 1 s limits (probed at PROBE_SHARE of that)
    program = PROGRAM.replace("if x == 2:", "if True:")
    xs = [0, 2, 4] * 6  # 18 tests
    result, runs, took = score(xs, program=program)
    assert result.passed, statuses(result)
    # the first run, at most 0.9 s of look-ahead runs of ~0.1 s each (not one per test),
    # then one run of every test set aside or not reached, with whole limits
    assert 3 <= runs <= 2 + round((1.0 - PROBE_SHARE) / PROBE_SHARE)
    assert took < 2 * 18 * 0.3  # CPU time: at most about twice one run


def test_suites_without_per_test_limits_run_once():
    result, runs, _ = score([0, 3], limit=None)
    assert runs == 1
    assert result.status is Status.FAILED


def test_probe_suite_cuts_only_per_test_limits():
    suite = TestSuite(tests=(case(0, 2.0), case(1, None)), entry_point="f")
    probe = probe_suite(suite)
    assert [t.time_limit_s for t in probe.tests] == [pytest.approx(2.0 * PROBE_SHARE), None]
    assert probe.key != suite.key


def test_tests_the_reference_takes_time_on_get_their_whole_limit_at_once():
    share = PROBE_SHARE  # of the 1 s limit
    quick = replace(case(0), reference_s=share / 10)  # the probe gives 10x the reference
    heavy = replace(case(2), reference_s=share / 2)  # the probe is only 2x: none
    probe = probe_suite(TestSuite(tests=(quick, heavy, case(4)), entry_point="f"))
    assert [t.time_limit_s for t in probe.tests] == [
        pytest.approx(share),
        1.0,
        pytest.approx(share),
    ]


def test_a_program_as_slow_as_the_reference_is_not_set_aside():
    # x == 2 takes 0.3 s, the reference 0.2 s: one run, no probe to fail
    result, runs, _ = score([0, 2, 4], references={0: 0.001, 2: 0.2, 4: 0.001})
    assert result.passed, statuses(result)
    assert runs == 1


@pytest.mark.slow
def test_a_timeout_on_a_test_not_probed_is_final():
    # x == 1 hangs; its reference time makes its probe the whole limit: no setting aside
    result, runs, took = score([1, 3], references={1: 0.2, 3: 0.001})
    assert result.status is Status.TIMEOUT
    assert [o.status for o in result.outcomes] == [Status.TIMEOUT, Status.NOT_RUN]
    assert runs == 1
    assert took >= 1.0


def test_stdio_programs_are_set_aside_test_by_test_too():
    program = "x = int(input())\nwhile x == 1:\n    pass\nprint(x if x != 3 else -1)\n"
    tests = tuple(
        TestCase(
            TestKind.STDIO,
            stdin=f"{x}\n",
            expected=f"{x}\n",
            compare=Compare.STDOUT,
            time_limit_s=1.0,
        )
        for x in (0, 1, 3)
    )
    suite = TestSuite(tests=tests, entry_point=None, kind=TaskKind.STDIO)

    async def go():
        async with LocalExecutor(workers=1, max_inflight=1) as executor:
            return await run_hidden(executor, program, suite, [3], Limits(time_s=3.0))

    began = cpu_of_children_s()
    result, runs = anyio.run(go)
    took = cpu_of_children_s() - began
    assert [o.status for o in result.outcomes] == [Status.PASSED, Status.NOT_RUN, Status.FAILED]
    assert runs == 2
    assert took < 0.8
