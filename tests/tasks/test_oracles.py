"""Oracles: EvalPlus's special cases and the converted assert forms."""

import math

import pytest

from codeloop.tasks.oracles import (
    ORACLES,
    digit_distance_reference,
    evalplus_close,
    poly,
    surface_area_reference,
)
from codeloop.types import Compare, TestCase, TestKind


def case(oracle: str, args=(), expected=None, atol=0.0) -> TestCase:
    return TestCase(
        kind=TestKind.CALL,
        args=args,
        expected=expected,
        compare=Compare.ORACLE,
        oracle=oracle,
        atol=atol,
    )


def judge(oracle: str, actual, expected=None, args=(), atol=0.0) -> bool:
    return ORACLES[oracle](actual, expected, case(oracle, args, expected, atol))


def test_every_oracle_is_a_documented_function():
    for name, oracle in ORACLES.items():
        assert callable(oracle), name
        assert oracle.__doc__, name


def test_poly_matches_humaneval_definition():
    assert poly([1, 2], -0.5) == 0.0
    assert poly([-6, 11, -6, 1], 3.0) == pytest.approx(0.0)
    assert isinstance(poly([1, 2], 1), float)  # math.pow gives floats


def test_find_zero_accepts_any_root_within_atol():
    xs = [-6, 11, -6, 1]  # roots 1, 2, 3
    for root in (1.0, 2, 3.0, 2.00001):
        assert judge("find_zero", root, None, (xs,), 1e-4), root
    assert not judge("find_zero", 2.5, None, (xs,), 1e-4)
    assert not judge("find_zero", 2.001, None, (xs,), 1e-4)


@pytest.mark.parametrize("bad", ["1", None, [1.0], 1 + 0j, float("nan"), 1e300])
def test_find_zero_rejects_non_numbers_nan_and_overflow(bad):
    assert not judge("find_zero", bad, None, ([1, 2],), 1e-4)


def test_set_eq_ignores_order_and_duplicates_then_float_tolerance():
    assert judge("set_eq", (5, 4), (4, 5))
    assert judge("set_eq", [4, 5, 5], (4, 5))
    assert not judge("set_eq", (4, 6), (4, 5))
    assert not judge("set_eq", [[1]], [[1]])  # unhashable: EvalPlus raises
    assert not judge("set_eq", 3, (3,))
    # EvalPlus's float tolerance applies after a failed set comparison when types match
    assert judge("set_eq", (1.0000001, 2.0), (1.0, 2.0))
    assert not judge("set_eq", [1.0000001, 2.0], (1.0, 2.0))


def test_not_none_with_a_flag_or_the_reference_output():
    assert judge("not_none", object(), True)  # a match object against a matching reference
    assert judge("not_none", None, False)
    assert not judge("not_none", None, True)
    assert not judge("not_none", "match", False)
    assert judge("not_none", True, True)  # a bool output is compared with the flag
    assert not judge("not_none", False, True)
    assert judge("not_none", "match", "reference match")  # raw reference value: not None
    assert judge("not_none", None, None)


def test_always_passes_any_returned_value():
    assert judge("always", None, True)
    assert judge("always", "anything", False)


def test_sum_div_accepts_reference_value_or_zero():
    assert judge("sum_div", 15.0, 15.0)
    assert judge("sum_div", 0, 15.0)
    assert judge("sum_div", 15.0000000001, 15.0)  # float tolerance, same type
    assert not judge("sum_div", 7, 15.0)


def test_surface_area_alternative_answer():
    # EvalPlus: round(b**2 + 2*b*sqrt((b/2)**2 + h**2))
    assert surface_area_reference(3, 4) == round(9 + 2 * 3 * math.sqrt(1.5**2 + 16))
    assert judge("surface_area", 33, 33, (3, 4))
    assert judge("surface_area", surface_area_reference(3, 4), 33, (3, 4))
    assert not judge("surface_area", 34, 33, (3, 4))
    assert not judge("surface_area", "x", 33, (3, 4))


def test_digit_distance_alternative_answer_pads_with_zeros():
    assert digit_distance_reference(7, 1234) == 1 + 2 + 3 + 3
    assert judge("digit_distance_nums", 9, 3, (7, 1234))
    assert judge("digit_distance_nums", 3, 3, (7, 1234))
    assert not judge("digit_distance_nums", 4, 3, (7, 1234))
    assert not judge("digit_distance_nums", 4, 3, (-7, 1))  # int('-') raises in EvalPlus


def test_truthy_and_falsy_use_bool():
    assert judge("truthy", [0]) and judge("truthy", "x") and judge("truthy", 3)
    assert not judge("truthy", []) and not judge("truthy", None)
    assert judge("falsy", 0) and judge("falsy", "") and judge("falsy", None)
    assert not judge("falsy", (0,))


def test_abs_and_fabs_tolerances_strict_and_not():
    assert judge("abs_lt", 0.3300001, 0.33, atol=1e-6)
    assert not judge("abs_lt", 0.331, 0.33, atol=1e-6)
    assert not judge("abs_lt", 1.5, 1.0, atol=0.5)
    assert judge("abs_le", 1.5, 1.0, atol=0.5)
    assert judge("abs_lt", True, 1, atol=0.5)  # bool is a number to Python's abs
    assert judge("abs_lt", 1 + 0j, 1.0, atol=0.5)  # abs() accepts complex...
    assert not judge("fabs_lt", 1 + 0j, 1.0, atol=0.5)  # ...math.fabs does not
    assert judge("fabs_le", 2, 1.5, atol=0.5)
    assert not judge("abs_lt", "1", 1.0, atol=0.5)
    assert not judge("abs_lt", [1.0], 1.0, atol=0.5)
    assert not judge("abs_lt", 10**400, 1.0, atol=0.5)  # OverflowError in Python too


def test_isclose_relative_and_absolute():
    assert judge("isclose_rel", 4188.0, 4188.790204786391, atol=0.001)
    assert not judge("isclose_rel", 4100.0, 4188.790204786391, atol=0.001)
    assert judge("isclose_abs", 1.0 + 1e-12, 1.0)  # default rel_tol 1e-9
    assert not judge("isclose_abs", 1.001, 1.0)
    assert judge("isclose_abs", 1.001, 1.0, atol=0.01)
    assert not judge("isclose_rel", "1.0", 1.0, atol=0.1)
    assert not judge("isclose_rel", 1 + 0j, 1.0, atol=0.1)


def test_wrapped_equalities_follow_python():
    assert judge("set_equal", [2, 1, 2], {1, 2})
    assert not judge("set_equal", [2, 1], [1, 2])  # a set never equals a list
    assert not judge("set_equal", [[1]], {1})
    assert judge("tuple_equal", [1, 2], (1, 2))
    assert judge("list_equal", "ab", ["a", "b"])
    assert judge("sorted_equal", [3, 1], [1, 3])
    assert not judge("sorted_equal", [3, "a"], [3, "a"])  # unorderable: TypeError


def test_evalplus_close():
    assert evalplus_close(1, 1, 0)
    assert evalplus_close(True, 1, 0)  # == first, as EvalPlus
    assert evalplus_close(0.1 + 0.2, 0.3, 0)  # float expected: atol becomes 1e-6
    assert not evalplus_close(0.31, 0.3, 0)
    assert not evalplus_close(1, 1.0000001, 0)  # type differs after a failed ==
    assert evalplus_close([1.0, 2.0000001], [1.0, 2.0], 0)
    assert not evalplus_close((1.0, 2.0000001), [1.0, 2.0], 0)
    assert not evalplus_close([1.0], [1.0, 2.0], 1e-3)
    assert evalplus_close(100.05, 100.0, 0.1)
    assert not evalplus_close(float("nan"), float("nan"), 1e-6)
    assert evalplus_close(float("inf"), float("inf"), 1e-6)
    assert not evalplus_close(float("inf"), 1e308, 1e-6)
    assert not evalplus_close("a", "b", 1e-6)
    # a list that is not all floats gets no enforced tolerance
    assert not evalplus_close([1, 2.0000001], [1, 2.0], 0)
    assert evalplus_close([1, 2.0000001], [1, 2.0], 1e-6)
