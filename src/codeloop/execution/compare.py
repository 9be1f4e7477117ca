"""Verdicts, decided in the trusted evaluator on decoded builtin values.

Every comparison here sees only plain builtins (or `Opaque`, which equals nothing), so no
code the program wrote can run while a verdict is decided.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from codeloop.execution.codec import Opaque
from codeloop.types import Compare, TestCase

Oracle = Callable[[Any, Any, TestCase], bool]

_NUMBER = (int, float)  # bool is an int, as numpy's allclose treats it


def exact_equal(a: Any, b: Any) -> bool:
    """Type-strict structural equality: bool != int, 1 != 1.0, tuple != list."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(exact_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return False
        return all(exact_equal(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return False
    return bool(a == b)


def _is_floats(value: Any) -> bool:
    # EvalPlus: a float, or a non-empty list/tuple of floats, gets a float tolerance.
    if isinstance(value, float):
        return True
    if isinstance(value, list | tuple) and value:
        return all(isinstance(v, float) for v in value)
    return False


def _allclose(actual: Any, expected: Any, rtol: float, atol: float) -> bool:
    """numpy.allclose semantics on nested lists/tuples of numbers (no broadcasting of
    mismatched shapes: EvalPlus checks lengths first)."""
    if isinstance(actual, _NUMBER) and isinstance(expected, _NUMBER):
        if math.isinf(actual) or math.isinf(expected):
            return bool(actual == expected)
        return abs(actual - expected) <= atol + rtol * abs(expected)
    if isinstance(actual, list | tuple) and isinstance(expected, list | tuple):
        if len(actual) != len(expected):
            return False
        return all(_allclose(a, e, rtol, atol) for a, e in zip(actual, expected, strict=True))
    if isinstance(actual, list | tuple) and isinstance(expected, _NUMBER):
        return all(_allclose(a, expected, rtol, atol) for a in actual)
    return False


def evalplus_close(actual: Any, expected: Any, atol: float) -> bool:
    """EvalPlus 0.3.1: `out == exp`; otherwise, when a tolerance applies, same type, same
    length and numpy.allclose(out, exp, rtol=1e-07, atol=atol)."""
    if actual == expected:
        return True
    if atol == 0 and _is_floats(expected):
        atol = 1e-6
    if atol == 0:
        return False
    if type(actual) is not type(expected):
        return False
    if isinstance(expected, list | tuple) and len(actual) != len(expected):
        return False
    return _allclose(actual, expected, 1e-07, atol)


def _oracles() -> dict[str, Oracle]:
    from codeloop.tasks.oracles import ORACLES

    return ORACLES


def verdict(test: TestCase, actual: Any) -> bool:
    """Whether `actual` (decoded builtins) satisfies `test`."""
    if isinstance(actual, Opaque):
        return False
    mode = test.compare
    if mode is Compare.EQUAL:
        return bool(actual == test.expected)
    if mode is Compare.EXACT:
        return exact_equal(actual, test.expected)
    if mode is Compare.CLOSE:
        return evalplus_close(actual, test.expected, test.atol)
    if mode is Compare.STDOUT:
        from codeloop.tasks.stdout import stdout_matches

        return isinstance(actual, str) and stdout_matches(actual, str(test.expected))
    if mode is Compare.ORACLE:
        oracle = _oracles().get(test.oracle)
        if oracle is None:
            raise KeyError(f"unknown oracle {test.oracle!r}")
        try:
            return bool(oracle(actual, test.expected, test))
        except (TypeError, ValueError, ArithmeticError, IndexError, KeyError):
            return False
    raise ValueError(f"unknown comparison {mode!r}")
