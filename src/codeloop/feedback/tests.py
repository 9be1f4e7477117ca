"""Feedback from running tests: one `Feedback` item per test that ran.

Structured, never prose: which test, what was expected, what came back, the exception and a
trimmed traceback, a timeout.  `feedback.render` turns these into prompt text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from codeloop.execution.codec import show
from codeloop.types import ExecResult, Feedback, Status, TestCase, TestKind, TestOutcome

__all__ = [
    "FAILURE_KINDS",
    "describe_test",
    "feedback_kind",
    "tests_feedback",
    "trim_traceback",
]

TEXT_CAP = 600  # expected / actual / message: enough to see the mistake, not to flood a prompt
TRACEBACK_LINES = 12
TRACEBACK_CAP = 1500
STDOUT_CAP = 800

_KIND_OF_STATUS = {
    Status.PASSED: "passed",
    Status.FAILED: "test_failure",
    Status.ERROR: "error",
    Status.TIMEOUT: "timeout",
    Status.MEMORY: "memory",
    Status.OUTPUT_LIMIT: "output_limit",
    Status.SIGNAL: "signal",
    Status.EXITED_EARLY: "exited_early",
    Status.SYNTAX_ERROR: "syntax_error",
    Status.INFRA_ERROR: "infra_error",
}
FAILURE_KINDS = frozenset(k for s, k in _KIND_OF_STATUS.items() if s.is_failure)


def _cap(text: str, cap: int = TEXT_CAP) -> str:
    return text if len(text) <= cap else text[: cap - 20] + f"... ({len(text)} chars)"


def trim_traceback(traceback: str, lines: int = TRACEBACK_LINES, cap: int = TRACEBACK_CAP) -> str:
    """The last `lines` lines (where the error is), capped; the executor already dropped
    the harness's own frames."""
    kept = traceback.strip("\n").splitlines()
    if len(kept) > lines:
        kept = ["...", *kept[-lines:]]
    text = "\n".join(kept)
    return text if len(text) <= cap else "..." + text[-(cap - 3) :]


def feedback_kind(status: Status) -> str:
    """The `Feedback.kind` of a test's status ("test_failure", "timeout", ...)."""
    return _KIND_OF_STATUS.get(status, "error")


def describe_test(test: TestCase, entry_point: str | None = None) -> str:
    """The test as a person reads it: an assert line, a call, or the stdin it was given."""
    source = test.source.strip()
    if source.startswith(">>>"):
        # a docstring example: the call is the first line, its output is shown elsewhere
        return source.splitlines()[0][3:].strip()
    if source:
        return source
    if test.kind is TestKind.CALL:
        name = entry_point or "candidate"
        return f"{name}({', '.join(show(arg, 200) for arg in test.args)})"
    if test.kind is TestKind.STDIO:
        return "stdin: " + show(test.stdin, 300)
    return _cap(test.code.strip())


def tests_feedback(
    result: ExecResult,
    tests: Sequence[TestCase],
    *,
    entry_point: str | None = None,
    include_passed: bool = True,
) -> list[Feedback]:
    """One item per test that ran, in test order (tests that did not run are left out).

    A program that does not load (syntax error, an exception at import) fails its first
    test with that error and runs no other: that is one item, of kind "syntax_error" or
    "error".  An infrastructure failure is the sandbox's fault, not the program's: it is
    one item of kind "infra_error", which the renderer keeps out of prompts.
    """
    items: list[Feedback] = []
    if result.infra_error and not any(o.status is not Status.NOT_RUN for o in result.outcomes):
        return [Feedback(kind="infra_error", message=_cap(result.infra_error))]
    stdout = _cap(result.stdout.strip(), STDOUT_CAP)
    stdout_given = False
    for outcome in result.outcomes:
        if outcome.status is Status.NOT_RUN:
            continue
        if outcome.status is Status.PASSED and not include_passed:
            continue
        test = tests[outcome.index] if 0 <= outcome.index < len(tests) else None
        item = _item(outcome, test, entry_point)
        if outcome.status.is_failure and stdout and not stdout_given:
            # what the program printed helps explain its first failure
            item = replace(item, stdout=stdout)
            stdout_given = True
        items.append(item)
    return items


def _item(outcome: TestOutcome, test: TestCase | None, entry_point: str | None) -> Feedback:
    kind = feedback_kind(outcome.status)
    described = describe_test(test, entry_point) if test is not None else f"test {outcome.index}"
    message = outcome.message
    if outcome.exception:
        message = f"{outcome.exception}: {message}" if message else outcome.exception
    return Feedback(
        kind=kind,
        test=_cap(described),
        expected=_cap(outcome.expected),
        actual=_cap(outcome.actual),
        message=_cap(message),
        traceback=trim_traceback(outcome.traceback) if outcome.traceback else "",
    )


tests_feedback.__test__ = False  # type: ignore[attr-defined]  # a "test*" name, not a pytest test
