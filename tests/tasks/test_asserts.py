"""Assert conversion: each converted form, the no-ops, and what stays code."""

import pytest

from codeloop.tasks.asserts import convert_check, first_assert_test
from codeloop.types import Compare, TestKind


def check(*lines: str) -> str:
    return "def check(candidate):\n" + "".join(f"    {line}\n" for line in lines)


def only(code: str, entry_point: str = "f"):
    result = convert_check(code, entry_point)
    assert result.converted, result.reason
    assert len(result.tests) == 1
    return result.tests[0]


def test_equality_with_a_literal_on_either_side():
    left = only(check("assert candidate(1, 'a') == [1, (2, 3)]"))
    right = only(check("assert [1, (2, 3)] == candidate(1, 'a')"))
    for test in (left, right):
        assert test.kind is TestKind.CALL
        assert test.args == (1, "a")
        assert test.expected == [1, (2, 3)]
        assert test.compare is Compare.EQUAL
        assert test.has_expected


def test_source_is_the_assert_text_including_its_message():
    test = only(check("assert candidate(2) == 4, 'doubles'"))
    assert test.source == "assert candidate(2) == 4, 'doubles'"
    assert test.expected == 4


def test_entry_point_called_by_name_and_negative_numbers():
    test = only(check("assert f(-3) == -1.5"), "f")
    assert test.args == (-3,)
    assert test.expected == -1.5


def test_constant_arithmetic_is_folded_as_python_does():
    test = only(check("assert candidate(3 * 5 * 7, 'ab' + 'c', 0 ** 0) == (3 + 5, 2.0 / 3.0)"))
    assert test.args == (105, "abc", 1)
    assert test.expected == (8, 2.0 / 3.0)


def test_sets_and_dicts_and_empty_set():
    test = only(check("assert candidate({1: 'a'}) == {(1, 2), frozenset()} "))
    assert test.args == ({1: "a"},)
    assert test.expected == {(1, 2), frozenset()}
    empty = only(check("assert candidate() == set()"))
    assert empty.expected == set()


def test_is_true_false_none_compare_exactly():
    for literal, value in (("True", True), ("False", False), ("None", None)):
        test = only(check(f"assert candidate(1) is {literal}"))
        assert test.compare is Compare.EXACT
        assert test.expected is value


def test_bare_call_is_truthy_and_not_call_is_falsy():
    truthy = only(check("assert candidate('x')"))
    falsy = only(check("assert not candidate('y')"))
    assert (truthy.compare, truthy.oracle, truthy.args) == (Compare.ORACLE, "truthy", ("x",))
    assert (falsy.compare, falsy.oracle, falsy.args) == (Compare.ORACLE, "falsy", ("y",))


@pytest.mark.parametrize(
    ("line", "oracle", "expected", "atol"),
    [
        ("assert abs(candidate(1.33) - 0.33) < 1e-6", "abs_lt", 0.33, 1e-6),
        ("assert abs(candidate(1.33) - 0.33) <= 1e-6", "abs_le", 0.33, 1e-6),
        ("assert abs(0.33 - candidate(1.33)) < 1e-6", "abs_lt", 0.33, 1e-6),
        ("assert 1e-6 > abs(candidate(1.33) - 0.33)", "abs_lt", 0.33, 1e-6),
        ("assert math.fabs(candidate(1.33) - 2.0 / 3.0) < 1e-4", "fabs_lt", 2.0 / 3.0, 1e-4),
        ("assert math.fabs(candidate(1.33) - 1) <= 0.5", "fabs_le", 1, 0.5),
    ],
)
def test_tolerance_forms(line, oracle, expected, atol):
    test = only(check(line))
    assert test.compare is Compare.ORACLE
    assert test.oracle == oracle
    assert test.expected == expected
    assert test.atol == atol
    assert test.args == (1.33,)


def test_math_isclose_forms():
    rel = only(check("assert math.isclose(candidate(10), 4188.79, rel_tol=0.001)"))
    assert (rel.oracle, rel.expected, rel.atol) == ("isclose_rel", 4188.79, 0.001)
    absolute = only(check("assert math.isclose(1.0, candidate(10), abs_tol=1e-3)"))
    assert (absolute.oracle, absolute.expected, absolute.atol) == ("isclose_abs", 1.0, 1e-3)
    default = only(check("assert math.isclose(candidate(10), 2.5)"))
    assert (default.oracle, default.atol) == ("isclose_abs", 0.0)
    both = convert_check(
        check("assert math.isclose(candidate(1), 1.0, rel_tol=0.1, abs_tol=0.1)"), "f"
    )
    assert not both.converted


def test_wrapped_call_equalities():
    cases = {
        "assert set(candidate([1, 2])) == set((2, 1))": ("set_equal", {1, 2}),
        "assert set(candidate([1, 2])) == {1, 2}": ("set_equal", {1, 2}),
        "assert tuple(candidate([3])) == tuple([3, 4])": ("tuple_equal", (3, 4)),
        "assert sorted(candidate([3])) == [1, 3]": ("sorted_equal", [1, 3]),
        "assert list(candidate('ab')) == ['a', 'b']": ("list_equal", ["a", "b"]),
    }
    for line, (oracle, expected) in cases.items():
        test = only(check(line))
        assert (test.oracle, test.expected) == (oracle, expected), line


def test_noops_are_dropped_and_order_is_kept():
    code = check(
        '"""docstring"""',
        "import math",
        "pass",
        "print",
        "assert True",
        "assert True, 'This prints if this assert fails 1'",
        "assert candidate(1) == 1",
        "assert candidate(2) == 4",
        "candidate(3)",
    )
    result = convert_check("METADATA = {'author': 'jt'}\n\n\n" + code, "f")
    assert result.converted, result.reason
    assert result.reason == ""
    assert [t.args for t in result.tests] == [(1,), (2,), (3,)]
    assert result.tests[2].oracle == "always"


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("x = 3", "Assign"),
        ("assert candidate(x) == 1", "not a literal"),
        ("assert candidate(1) == y", "not a literal"),
        ("assert candidate(*[1]) == 1", "starred"),
        ("assert candidate(a=1) == 1", "keyword"),
        ("assert candidate(1) != 2", "not a convertible form"),
        ("assert helper(1) == 2", "calls helper"),
        ("assert candidate(candidate(1)) == 2", "not a literal"),
        ("assert candidate(1) == candidate(2)", "not a literal"),
        ("assert False", "false constant"),
        ("assert 0 < candidate(1) < 3", "not a convertible form"),
        ("for i in range(3): assert candidate(i) == i", "For"),
        ("assert candidate(1 / 0) == 1", "not a literal"),
        ("assert candidate('a' * 10 ** 9) == 1", "not a literal"),
        ("import numpy", "Import"),
    ],
)
def test_one_unconvertible_statement_keeps_the_whole_check_as_code(line, why):
    code = check("assert candidate(0) == 0", line)
    result = convert_check(code, "f")
    assert not result.converted
    assert why in result.reason
    assert "line 3" in result.reason
    (test,) = result.tests
    assert test.kind is TestKind.CODE
    assert test.code == code
    assert test.source == "check(candidate)"


@pytest.mark.parametrize(
    "prelude",
    [
        "print('side effect')\n",
        "def f(x):\n    return 0\n",
        "from helpers import *\n",
        "VALUE = compute()\n",
        "@decorate\ndef helper():\n    pass\n",
    ],
)
def test_module_level_code_that_could_matter_keeps_the_check_as_code(prelude):
    result = convert_check(prelude + check("assert candidate(1) == 1"), "f")
    assert not result.converted
    assert "module-level" in result.reason


def test_module_level_definitions_and_literals_are_ignored():
    prelude = (
        "import math\nfrom typing import List\nMETADATA = {}\n\ndef helper(x=1):\n    return x\n"
    )
    result = convert_check(prelude + check("assert candidate(1) == 1"), "f")
    assert result.converted, result.reason


def test_check_parameter_name_counts_as_the_candidate():
    result = convert_check("def check(fn):\n    assert fn(1) == 2\n", "f")
    assert result.converted
    assert result.tests[0].args == (1,)


def test_custom_candidate_names_replace_the_defaults():
    code = "assert g(1) == 2\n"
    assert not convert_check(code, "f", candidate_names=("f",)).converted
    assert convert_check(code, "f", candidate_names=("g",)).converted


def test_bare_asserts_without_check_function():
    result = convert_check("assert f(1) == 2\nassert not f(0)\n", "f")
    assert result.converted
    assert [t.oracle or t.compare for t in result.tests] == [Compare.EQUAL, "falsy"]
    kept = convert_check("x = 1\nassert f(x) == 2\n", "f")
    assert not kept.converted
    # the sandbox calls check(<entry point>) after the code: it must exist
    assert "def check(candidate):" in kept.tests[0].code
    assert kept.tests[0].code.startswith("x = 1\nassert f(x) == 2")


def test_syntax_error_stays_code():
    result = convert_check("def check(candidate):\n    assert candidate(1 ==\n", "f")
    assert not result.converted
    assert result.reason.startswith("syntax error")
    assert result.tests[0].kind is TestKind.CODE


def test_check_without_parameters_stays_code():
    result = convert_check("def check():\n    assert f(1) == 1\n", "f")
    assert not result.converted
    assert "no argument" in result.reason


def test_first_assert_test_converted_and_code_forms():
    converted = first_assert_test(check("assert f(1) == 2", "assert f(2) == 3"), "f")
    assert converted is not None
    assert (converted.args, converted.expected) == ((1,), 2)

    code = first_assert_test(check("assert g(1) == 2", "assert g(2) == 3"), "f")
    assert code is not None
    assert code.kind is TestKind.CODE
    assert "g(1) == 2" in code.code
    assert "g(2)" not in code.code
    assert code.source == "assert g(1) == 2"

    assert first_assert_test(check("pass"), "f") is None
    bare = first_assert_test("assert h(5)\nassert h(6)\n", "f")
    assert bare is not None and bare.kind is TestKind.CODE
    assert "h(6)" not in bare.code and "def check(candidate)" in bare.code
