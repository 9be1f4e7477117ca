"""Benchmark-defined oracles: how the trusted parent judges an actual value.

A test with ``compare=Compare.ORACLE`` names its oracle in ``TestCase.oracle``; the parent
looks it up in :data:`ORACLES` and calls ``oracle(actual, expected, test)``.

Every oracle works on plain builtins only.  ``actual`` has already been decoded from what the
sandboxed program sent back, so nothing here can run code that the program wrote: the
operations used (``==``, ``set()``, ``bool()``, arithmetic, ``math`` functions) are the
builtin ones.  An oracle never raises: where the benchmark's own check would raise (and so
fail the test), the oracle returns False.

Two families live here:

* EvalPlus 0.3.1 special oracles (``evalplus/eval/__init__.py::unsafe_execute`` and
  ``evalplus/eval/_special_oracle.py``): ``find_zero`` (HumanEval/32), ``set_eq``,
  ``not_none``, ``always``, ``sum_div``, ``surface_area`` and ``digit_distance_nums``
  (MBPP+).  EvalPlus first computes ``exact_match`` with the special rule, then applies its
  usual float tolerance (see :func:`evalplus_close`); the MBPP oracles here do the same.
* Oracles for assert forms that :mod:`codeloop.tasks.asserts` converts into data:
  ``truthy``/``falsy`` (``assert f(x)`` / ``assert not f(x)``), ``abs_lt``/``abs_le``
  (``assert abs(f(x) - y) < eps``), ``fabs_lt``/``fabs_le`` (the same with ``math.fabs``),
  ``isclose_rel``/``isclose_abs`` (``math.isclose``), ``set_equal``, ``tuple_equal``,
  ``list_equal``, ``sorted_equal`` (``assert set(f(x)) == y`` and the like) and ``always``
  (a bare call ``f(x)``: any returned value passes).  Each reproduces exactly what Python
  does when it runs the assert on the same builtin value.

Tolerance parameters travel in ``TestCase.atol`` (the one float a test carries): for
``isclose_rel`` it holds ``rel_tol``, for every other oracle an absolute tolerance.

Known gap: EvalPlus sets ``atol = 1e-6`` inside its per-task loop the first time an expected
value is a float, and the raised value then applies to the task's later inputs too.  A
per-test oracle cannot carry that state; here each test uses its own ``atol`` (raised to
1e-6 only when its own expected value is a float).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from codeloop.types import TestCase

Oracle = Callable[[Any, Any, TestCase], bool]

# np.allclose's default relative tolerance, which EvalPlus passes explicitly.
EVALPLUS_RTOL = 1e-07
# EvalPlus enforces this atol when a task's atol is 0 and the expected value is a float.
EVALPLUS_FLOAT_ATOL = 1e-06

_NUMBER = (int, float, complex)  # bool is an int, as in Python arithmetic
_REAL = (int, float)


def _is_floats(value: Any) -> bool:
    """EvalPlus ``is_floats``: a float, or a non-empty list/tuple of floats only."""
    if isinstance(value, float):
        return True
    if isinstance(value, list | tuple) and value:
        return all(isinstance(item, float) for item in value)
    return False


def _scalar_close(actual: Any, expected: Any, atol: float, rtol: float) -> bool:
    """``np.isclose`` for one pair: |a - b| <= atol + rtol * |b|; inf equals itself; nan never."""
    if not isinstance(actual, _NUMBER) or not isinstance(expected, _NUMBER):
        return False
    try:
        if isinstance(actual, complex) or isinstance(expected, complex):
            a, b = complex(actual), complex(expected)
            if any(math.isnan(x) for x in (a.real, a.imag, b.real, b.imag)):
                return False
            if any(math.isinf(x) for x in (a.real, a.imag, b.real, b.imag)):
                return a == b
            return abs(a - b) <= atol + rtol * abs(b)
        fa, fb = float(actual), float(expected)
        if math.isnan(fa) or math.isnan(fb):
            return False
        if math.isinf(fa) or math.isinf(fb):
            return fa == fb
        return abs(actual - expected) <= atol + rtol * abs(expected)
    except (OverflowError, TypeError, ValueError):
        return False


def _allclose(actual: Any, expected: Any, atol: float, rtol: float) -> bool:
    """``np.allclose`` on nested lists/tuples of numbers, without broadcasting.

    numpy broadcasts arrays of different shapes (``[[1.0]]`` against ``[[1.0, 1.0]]``) and
    raises on ragged or non-numeric data; here shapes must match exactly and anything that is
    not a number or a sequence of them is simply not close.
    """
    if isinstance(expected, list | tuple):
        if not isinstance(actual, list | tuple) or len(actual) != len(expected):
            return False
        return all(_allclose(a, e, atol, rtol) for a, e in zip(actual, expected, strict=True))
    if isinstance(actual, list | tuple):
        return False
    return _scalar_close(actual, expected, atol, rtol)


def evalplus_close(
    actual: Any, expected: Any, atol: float, *, exact_match: bool | None = None
) -> bool:
    """EvalPlus's comparison of one output (``Compare.CLOSE``), after any special oracle.

    ``exact_match`` defaults to ``actual == expected``.  Then, as EvalPlus does: if ``atol``
    is 0 and the expected value is a float (or a list/tuple of floats) ``atol`` becomes 1e-6;
    if the match is not exact and ``atol`` is non-zero, the output passes when it has the
    same type as the expected value, the same length for lists/tuples, and is
    ``allclose(rtol=1e-7, atol=atol)`` to it; otherwise the exact match decides.
    """
    if exact_match is None:
        exact_match = _safe_eq(actual, expected)
    if atol == 0 and _is_floats(expected):
        atol = EVALPLUS_FLOAT_ATOL
    if not exact_match and atol != 0:
        if type(actual) is not type(expected):
            return False
        return _allclose(actual, expected, atol, EVALPLUS_RTOL)
    return exact_match


def _safe_eq(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (RecursionError, TypeError, ValueError, OverflowError):
        return False


# --- EvalPlus special oracles --------------------------------------------------------------


def poly(xs: Any, x: Any) -> float:
    """HumanEval/32's ``poly``: ``sum(c * math.pow(x, i))`` over the coefficients ``xs``."""
    return sum(coeff * math.pow(x, i) for i, coeff in enumerate(xs))


def _find_zero(actual: Any, expected: Any, test: TestCase) -> bool:
    """HumanEval/32 (EvalPlus): passes when ``abs(poly(xs, actual)) <= atol``.

    EvalPlus ignores the expected value here: any root of the polynomial is right.  Like
    ``math.pow``, only real numbers are accepted (a complex or non-number raises there).

    This is the check EvalPlus means to make.  In 0.3.1 the ``continue`` after it also skips
    recording the input as passed, so ``untrusted_check`` reports HumanEval/32 as failed
    for every solution, the canonical one included (measured here).
    """
    if not isinstance(actual, _REAL) or not test.args:
        return False
    try:
        return abs(poly(test.args[0], actual)) <= test.atol
    except (OverflowError, TypeError, ValueError):
        return False


def _set_eq(actual: Any, expected: Any, test: TestCase) -> bool:
    """MBPP+ ``MBPP_OUTPUT_SET_EQ_TASKS``: ``set(actual) == set(expected)``, then EvalPlus's
    float tolerance (which can apply only when that fails and the types match)."""
    try:
        exact = set(actual) == set(expected)
    except TypeError:  # unhashable items or a non-iterable: EvalPlus raises, i.e. fails
        return False
    return evalplus_close(actual, expected, test.atol, exact_match=exact)


def _not_none(actual: Any, expected: Any, test: TestCase) -> bool:
    """MBPP+ ``MBPP_OUTPUT_NOT_NONE_TASKS`` (regex tasks returning a match object).

    EvalPlus records the reference's output as ``output is not None``.  A bool ``expected``
    is taken as that flag; any other value is turned into it here.  The program's output
    passes when, if it is a bool, it equals the flag, else when ``(actual is not None)``
    equals the flag.
    """
    flag = expected if isinstance(expected, bool) else expected is not None
    exact = actual == flag if isinstance(actual, bool) else flag == (actual is not None)
    return evalplus_close(actual, flag, test.atol, exact_match=exact)


def _always(actual: Any, expected: Any, test: TestCase) -> bool:
    """MBPP+ ``are_equivalent`` (Mbpp/164): any returned value passes (EvalPlus sets
    ``exact_match = True`` because the reference is wrong); the call must still return."""
    return True


def _sum_div(actual: Any, expected: Any, test: TestCase) -> bool:
    """MBPP+ ``sum_div`` (Mbpp/295): equal to the reference's output, or 0; then EvalPlus's
    float tolerance."""
    exact = _safe_eq(actual, expected) or _safe_eq(actual, 0)
    return evalplus_close(actual, expected, test.atol, exact_match=exact)


def surface_area_reference(base_edge: Any, height: Any) -> int:
    """EvalPlus's alternative answer for Mbpp/581: a square pyramid's total surface area
    with ``height`` read as the apex height, rounded to an int."""
    slant = math.sqrt((base_edge / 2) ** 2 + height**2)
    lateral = 4 * (base_edge * slant) / 2  # same operations, same rounding as EvalPlus
    return round(base_edge**2 + lateral)


def _surface_area(actual: Any, expected: Any, test: TestCase) -> bool:
    """MBPP+ ``surface_Area`` (Mbpp/581): equal to the reference's output, or within atol of
    :func:`surface_area_reference` of the inputs; then EvalPlus's float tolerance."""
    exact = _safe_eq(actual, expected)
    if not exact:
        try:
            exact = bool(abs(actual - surface_area_reference(*test.args)) <= test.atol)
        except (OverflowError, TypeError, ValueError, ZeroDivisionError):
            return False  # EvalPlus raises while computing the oracle: a failure
    return evalplus_close(actual, expected, test.atol, exact_match=exact)


def digit_distance_reference(num1: Any, num2: Any) -> int:
    """EvalPlus's alternative answer for Mbpp/558: pad both numbers' decimal strings with
    leading zeros to the same length, then sum the absolute digit differences."""
    left, right = str(num1), str(num2)
    width = max(len(left), len(right))
    left, right = left.zfill(width), right.zfill(width)
    return sum(abs(int(a) - int(b)) for a, b in zip(left, right, strict=True))


def _digit_distance_nums(actual: Any, expected: Any, test: TestCase) -> bool:
    """MBPP+ ``digit_distance_nums`` (Mbpp/558): equal to the reference's output, or to
    :func:`digit_distance_reference` of the inputs; then EvalPlus's float tolerance."""
    exact = _safe_eq(actual, expected)
    if not exact:
        try:
            exact = _safe_eq(actual, digit_distance_reference(*test.args))
        except (TypeError, ValueError):
            return False
    return evalplus_close(actual, expected, test.atol, exact_match=exact)


# --- oracles for converted assert forms ----------------------------------------------------


def _truthy(actual: Any, expected: Any, test: TestCase) -> bool:
    """``assert f(x)``: passes when ``bool(actual)`` is True."""
    try:
        return bool(actual)
    except (TypeError, ValueError):
        return False


def _falsy(actual: Any, expected: Any, test: TestCase) -> bool:
    """``assert not f(x)``: passes when ``bool(actual)`` is False."""
    try:
        return not bool(actual)
    except (TypeError, ValueError):
        return False


def _abs_diff(actual: Any, expected: Any) -> Any:
    if not isinstance(actual, _NUMBER) or not isinstance(expected, _NUMBER):
        raise TypeError("not a number")
    return abs(actual - expected)


def _fabs_diff(actual: Any, expected: Any) -> float:
    if not isinstance(actual, _REAL) or not isinstance(expected, _REAL):
        raise TypeError("must be a real number")
    return math.fabs(actual - expected)


def _abs_lt(actual: Any, expected: Any, test: TestCase) -> bool:
    """``assert abs(f(x) - y) < eps``: actual is a number and ``abs(actual - y) < atol``."""
    try:
        return bool(_abs_diff(actual, expected) < test.atol)
    except (OverflowError, TypeError):
        return False


def _abs_le(actual: Any, expected: Any, test: TestCase) -> bool:
    """``assert abs(f(x) - y) <= eps``."""
    try:
        return bool(_abs_diff(actual, expected) <= test.atol)
    except (OverflowError, TypeError):
        return False


def _fabs_lt(actual: Any, expected: Any, test: TestCase) -> bool:
    """``assert math.fabs(f(x) - y) < eps``: as ``abs_lt`` but real numbers only."""
    try:
        return _fabs_diff(actual, expected) < test.atol
    except (OverflowError, TypeError):
        return False


def _fabs_le(actual: Any, expected: Any, test: TestCase) -> bool:
    """``assert math.fabs(f(x) - y) <= eps``."""
    try:
        return _fabs_diff(actual, expected) <= test.atol
    except (OverflowError, TypeError):
        return False


def _isclose_rel(actual: Any, expected: Any, test: TestCase) -> bool:
    """``assert math.isclose(f(x), y, rel_tol=r)``; ``r`` is carried in ``test.atol``."""
    if not isinstance(actual, _REAL) or not isinstance(expected, _REAL):
        return False
    try:
        return math.isclose(actual, expected, rel_tol=test.atol)
    except (OverflowError, TypeError, ValueError):
        return False


def _isclose_abs(actual: Any, expected: Any, test: TestCase) -> bool:
    """``assert math.isclose(f(x), y[, abs_tol=a])`` with the default ``rel_tol`` (1e-9);
    ``a`` (0.0 when absent) is ``test.atol``."""
    if not isinstance(actual, _REAL) or not isinstance(expected, _REAL):
        return False
    try:
        return math.isclose(actual, expected, abs_tol=test.atol)
    except (OverflowError, TypeError, ValueError):
        return False


def _set_equal(actual: Any, expected: Any, test: TestCase) -> bool:
    """``assert set(f(x)) == y``: ``set(actual) == expected``, nothing more."""
    try:
        return bool(set(actual) == expected)
    except TypeError:
        return False


def _tuple_equal(actual: Any, expected: Any, test: TestCase) -> bool:
    """``assert tuple(f(x)) == y``: ``tuple(actual) == expected``."""
    try:
        return bool(tuple(actual) == expected)
    except TypeError:
        return False


def _list_equal(actual: Any, expected: Any, test: TestCase) -> bool:
    """``assert list(f(x)) == y``: ``list(actual) == expected``."""
    try:
        return bool(list(actual) == expected)
    except TypeError:
        return False


def _sorted_equal(actual: Any, expected: Any, test: TestCase) -> bool:
    """``assert sorted(f(x)) == y``: ``sorted(actual) == expected``."""
    try:
        return bool(sorted(actual) == expected)
    except TypeError:
        return False


ORACLES: dict[str, Oracle] = {
    # EvalPlus special oracles
    "find_zero": _find_zero,
    "set_eq": _set_eq,
    "not_none": _not_none,
    "always": _always,
    "sum_div": _sum_div,
    "surface_area": _surface_area,
    "digit_distance_nums": _digit_distance_nums,
    # converted assert forms
    "truthy": _truthy,
    "falsy": _falsy,
    "abs_lt": _abs_lt,
    "abs_le": _abs_le,
    "fabs_lt": _fabs_lt,
    "fabs_le": _fabs_le,
    "isclose_rel": _isclose_rel,
    "isclose_abs": _isclose_abs,
    "set_equal": _set_equal,
    "tuple_equal": _tuple_equal,
    "list_equal": _list_equal,
    "sorted_equal": _sorted_equal,
}
