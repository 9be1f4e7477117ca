"""Whether a sandbox test whose isolation layer is not in force skips or fails.

On a developer's machine without root or a recent kernel, a test of a layer that is not in
force skips and says why.  CI sets CODELOOP_REQUIRE_ISOLATION=1: there the same gap fails
the test, so a run with the sandbox (or part of it) off cannot go green.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import pytest

from codeloop.execution.isolation import REQUIRE_ISOLATION_VAR, required_by_environment

Test = TypeVar("Test", bound=Callable[..., Any])


def missing_isolation(reason: str) -> NoReturn:
    """Skip the current test for `reason`, or fail it when isolation is required."""
    if required_by_environment():
        pytest.fail(f"{reason} ({REQUIRE_ISOLATION_VAR} is set: a missing layer fails)")
    pytest.skip(reason)


def requires(condition: bool, reason: str) -> Callable[[Test], Test]:
    """Decorator: run the test when `condition` holds, else `missing_isolation(reason)`.

    The environment is read when the test runs, not at import."""

    def decorate(test: Test) -> Test:
        if condition:
            return test

        @functools.wraps(test)  # keeps the signature (fixtures) and marks
        def gated(*args: Any, **kwargs: Any) -> None:
            missing_isolation(reason)

        return gated  # type: ignore[return-value]

    return decorate
