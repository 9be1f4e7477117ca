"""Verdicts, decided in the trusted evaluator on decoded builtin values.

Every comparison here sees only plain builtins (or `Opaque`, which equals nothing), so no
code the program wrote can run while a verdict is decided.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from codeloop.types import Compare, TestCase

Oracle = Callable[[Any, Any, TestCase], bool]


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
    return bool(a == b)


def _oracles() -> dict[str, Oracle]:
    from codeloop.tasks.oracles import ORACLES

    return ORACLES


def verdict(test: TestCase, actual: Any) -> bool:
    """Whether `actual` (decoded builtins) satisfies `test`."""
    mode = test.compare
    if mode is Compare.EQUAL:
        return bool(actual == test.expected)
    if mode is Compare.EXACT:
        return exact_equal(actual, test.expected)
    if mode is Compare.CLOSE:
        from codeloop.tasks.oracles import evalplus_close

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
