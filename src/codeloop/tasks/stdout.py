"""Whitespace-tolerant comparison of a program's stdout with the expected text.

What the benchmarks do:

* APPS (``eval/testing_util.py``) captures stdout as a list of lines and accepts, trying one
  after another: the joined output equal to the expected text after ``strip()`` of both
  (also with every line stripped); the output lines equal to the expected text's non-empty,
  stripped lines; every line equal as a float (``np.allclose``); and finally comparisons of
  *sets* of whitespace-separated tokens, per line and with floats rounded to 3 places.
* CodeContests' evaluation compares whitespace-separated tokens.

What :func:`stdout_matches` implements: the output matches when its whitespace-separated
tokens (``str.split()``: spaces, tabs, any line break) equal the expected text's tokens, in
order.  This accepts everything APPS's line-based checks accept (different line endings,
leading/trailing spaces on a line, blank lines, a missing or extra final newline) and also
differences in how tokens are spread over lines.  It deliberately rejects what APPS's set
comparisons and float rounding would let through (tokens in another order, repeated tokens
dropped, numbers that differ), since those accept wrong answers; a problem whose answers are
real numbers can opt in to ``float_tol``.
"""

from __future__ import annotations

import math


def _as_float(token: str) -> float | None:
    try:
        value = float(token)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def stdout_matches(actual: str, expected: str, *, float_tol: float | None = None) -> bool:
    """Whether ``actual`` stdout matches ``expected`` up to whitespace.

    With ``float_tol``, a token pair that differs as text still matches when both parse as
    floats and ``math.isclose(a, b, rel_tol=float_tol, abs_tol=float_tol)``.
    """
    got, want = actual.split(), expected.split()
    if got == want:
        return True
    if float_tol is None or len(got) != len(want):
        return False
    for a, b in zip(got, want, strict=True):
        if a == b:
            continue
        fa, fb = _as_float(a), _as_float(b)
        if fa is None or fb is None:
            return False
        if not math.isclose(fa, fb, rel_tol=float_tol, abs_tol=float_tol):
            return False
    return True
