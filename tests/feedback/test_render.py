"""The one renderer: each style's text, from structured feedback."""

import pytest

from codeloop.feedback import STYLES, render
from codeloop.types import Feedback

FAIL = Feedback(kind="test_failure", test="assert add(1, 2) == 3", expected="3", actual="-1")
ERROR = Feedback(
    kind="error",
    test="add(2, 0)",
    message="ZeroDivisionError: division by zero",
    traceback='  File "<program>", line 2, in add\nZeroDivisionError: division by zero',
)
TIMEOUT = Feedback(kind="timeout", test="add(5, 5)", message="time limit exceeded (1.00s wall)")
PASSED = Feedback(kind="passed", test="assert add(0, 0) == 0")
SYNTAX = Feedback(kind="syntax_error", message="SyntaxError: expected ':' (line 1)")
INFRA = Feedback(kind="infra_error", message="sandbox worker stopped")


def test_simple_is_the_papers_sentence_only():
    assert render([FAIL, PASSED], style="simple") == "The code above is wrong. Please fix it."
    assert render([PASSED], style="simple") == "The code above is correct."


def test_unit_test_shows_expected_and_actual():
    text = render([FAIL, PASSED], style="unit_test")
    assert "fails 1 of the 2 tests" in text
    assert "Test: assert add(1, 2) == 3\nExpected: 3\nActual: -1" in text
    assert "add(0, 0)" not in text  # passing tests are not listed


def test_unit_test_shows_errors_with_traceback_and_timeouts():
    text = render([ERROR, TIMEOUT], style="unit_test")
    assert "Error: ZeroDivisionError: division by zero" in text
    assert 'File "<program>", line 2' in text
    assert "Test: add(5, 5)" in text and "timed out" in text


def test_syntax_error_alone():
    text = render([SYNTAX], style="unit_test")
    assert text == "The code does not compile: SyntaxError: expected ':' (line 1)"


def test_explanation_variant_renders_the_same_feedback():
    items = [FAIL, ERROR]
    assert render(items, style="unit_test_explanation") == render(items, style="unit_test")


def test_max_items_limits_what_is_shown():
    many = [
        Feedback(kind="test_failure", test=f"assert f({i}) == 0", expected="0", actual=str(i))
        for i in range(1, 8)
    ]
    text = render(many, style="unit_test", max_items=2)
    assert "assert f(1) == 0" in text and "assert f(2) == 0" in text
    assert "assert f(3) == 0" not in text
    assert "5 more failing tests not shown" in text


def test_reflexion_report():
    text = render(
        [PASSED, FAIL, ERROR, Feedback(kind="test_failure", test="f(2)", expected="4", actual="5")],
        style="reflexion",
    )
    assert text.splitlines() == [
        "Tests passed:",
        "assert add(0, 0) == 0",
        "",
        "Tests failed:",
        "assert add(1, 2) == 3  # output: -1",
        "add(2, 0)  # output: raised ZeroDivisionError: division by zero",
        "assert f(2) == 4  # output: 5",
    ]


def test_infra_errors_never_reach_a_prompt():
    assert "sandbox" not in render([INFRA, FAIL], style="unit_test")
    assert "sandbox" not in render([INFRA, FAIL], style="reflexion")


def test_unknown_style_and_bad_limit():
    with pytest.raises(ValueError, match="unknown feedback style"):
        render([FAIL], style="verbose")
    with pytest.raises(ValueError):
        render([FAIL], style="unit_test", max_items=0)
    assert set(STYLES) == {
        "simple",
        "unit_test",
        "unit_test_explanation",
        "reflexion",
        "agentcoder",
    }


def test_agentcoder_keeps_the_assertion_message_and_shows_the_test_as_written():
    designed = Feedback(
        kind="test_failure",
        test='assert add(2, 2) == 4, "two twos"',
        expected="4",
        actual="0",
        message="AssertionError: two twos",
    )
    text = render([PASSED, designed], style="agentcoder", max_items=1)
    assert text == (
        'assert add(2, 2) == 4, "two twos"\nAssertionError: two twos\nExpected: 4\nActual: 0'
    )
    # an error names the exception; a test without a message still says AssertionError
    assert "ZeroDivisionError: division by zero\nTraceback" in render([ERROR], style="agentcoder")
    assert "\nAssertionError\n" in render([FAIL], style="agentcoder")
    assert render([PASSED], style="agentcoder") == "All tests passed."
    assert "sandbox worker stopped" not in render([INFRA, FAIL], style="agentcoder")
    assert "(1 more failing tests not shown)" in render(
        [FAIL, ERROR], style="agentcoder", max_items=1
    )
