"""Per-test outcomes from the real sandbox become structured feedback items."""

import pytest

from codeloop.execution.local import run_sync
from codeloop.feedback import describe_test, tests_feedback, trim_traceback
from codeloop.types import (
    Compare,
    ExecRequest,
    ExecResult,
    Limits,
    Status,
    TestCase,
    TestKind,
    TestOutcome,
    TestSuite,
)

TESTS = (
    TestCase(TestKind.CALL, args=(1, 2), expected=3, source="assert add(1, 2) == 3"),
    TestCase(TestKind.CALL, args=(2, 2), expected=4),
    TestCase(TestKind.CALL, args=(0, 0), expected=0, source=">>> add(0, 0)\n0"),
)
SUITE = TestSuite(tests=TESTS, entry_point="add")

PROGRAMS = {
    "right": "def add(a, b):\n    return a + b\n",
    "wrong": "def add(a, b):\n    print('debug', a, b)\n    return a - b\n",
    "raises": "def add(a, b):\n    return a / (b - 2)\n",
    "syntax": "def add(a, b)\n    return a + b\n",
    "loops": "def add(a, b):\n    while a == 2:\n        pass\n    return a + b\n",
}


@pytest.fixture(scope="module")
def results():
    requests = [
        ExecRequest(p, SUITE, limits=Limits(time_s=1.0), fail_fast=False) for p in PROGRAMS.values()
    ]
    return dict(zip(PROGRAMS, run_sync(requests, workers=2), strict=True))


def test_all_passed(results):
    items = tests_feedback(results["right"], TESTS, entry_point="add")
    assert [i.kind for i in items] == ["passed"] * 3
    assert tests_feedback(results["right"], TESTS, include_passed=False) == []


def test_wrong_answers_carry_expected_and_actual(results):
    items = tests_feedback(results["wrong"], TESTS, entry_point="add")
    assert [i.kind for i in items] == ["test_failure", "test_failure", "passed"]
    first, second = items[0], items[1]
    assert first.test == "assert add(1, 2) == 3"
    assert (first.expected, first.actual) == ("3", "-1")
    assert second.test == "add(2, 2)"  # a call test without source is shown as the call
    assert "debug 1 2" in first.stdout  # what it printed goes with its first failure
    assert second.stdout == ""
    assert items[2].test == "add(0, 0)"  # a docstring example shows its call


def test_exceptions_carry_type_message_and_trimmed_traceback(results):
    items = tests_feedback(results["raises"], TESTS, entry_point="add")
    error = items[1]
    assert error.kind == "error"
    assert error.message.startswith("ZeroDivisionError")
    assert "<program>" in error.traceback and "codeloop" not in error.traceback


def test_syntax_error_is_one_item(results):
    items = tests_feedback(results["syntax"], TESTS, entry_point="add")
    assert [i.kind for i in items] == ["syntax_error"]
    assert "SyntaxError" in items[0].message


def test_timeout_names_the_test_and_skips_what_did_not_run(results):
    items = tests_feedback(results["loops"], TESTS, entry_point="add")
    kinds = [i.kind for i in items]
    assert kinds[0] == "passed" and kinds[1] == "timeout"
    assert items[1].test == "add(2, 2)"


def test_infra_errors_are_not_the_programs_fault():
    result = ExecResult(
        status=Status.INFRA_ERROR,
        outcomes=tuple(TestOutcome(i, Status.NOT_RUN) for i in range(3)),
        infra_error="sandbox worker stopped",
    )
    items = tests_feedback(result, TESTS)
    assert [(i.kind, i.message) for i in items] == [("infra_error", "sandbox worker stopped")]


def test_long_values_are_capped():
    result = ExecResult(
        status=Status.FAILED,
        outcomes=(TestOutcome(0, Status.FAILED, expected="1", actual="x" * 10_000),),
    )
    [item] = tests_feedback(result, TESTS[:1])
    assert len(item.actual) < 700 and "10000 chars" in item.actual


def test_trim_traceback_keeps_the_end():
    text = "\n".join(f"line {i}" for i in range(100))
    trimmed = trim_traceback(text, lines=5)
    assert trimmed.splitlines() == ["...", "line 95", "line 96", "line 97", "line 98", "line 99"]


def test_describe_other_kinds():
    assert describe_test(TestCase(TestKind.STDIO, stdin="1 2\n")) == "stdin: '1 2\\n'"
    oracle = TestCase(
        TestKind.CALL,
        args=([3, 1],),
        expected={1, 3},
        compare=Compare.ORACLE,
        oracle="set_equal",
        source="assert set(f([3, 1])) == {1, 3}",
    )
    assert describe_test(oracle) == "assert set(f([3, 1])) == {1, 3}"
    assert describe_test(TestCase(TestKind.CALL, args=("a",)), "f") == "f('a')"
