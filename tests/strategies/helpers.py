"""Shared problem views and scripted answers for strategy tests."""

from __future__ import annotations

from codeloop.types import ProblemView, TaskKind, TestCase, TestKind

ADD_PROMPT = 'def add(a, b):\n    """Return the sum of a and b."""\n'


def add_view(*visible: tuple[tuple[int, int], int]) -> ProblemView:
    tests = tuple(
        TestCase(
            TestKind.CALL,
            args=args,
            expected=expected,
            source=f"assert add({args[0]}, {args[1]}) == {expected}",
        )
        for args, expected in visible
    )
    return ProblemView("demo/add", ADD_PROMPT, "add", TaskKind.FUNCTION, tests)


def fenced(body: str) -> str:
    """A chat answer around a complete `add` function."""
    return f"Here you go:\n\n```python\ndef add(a, b):\n    {body}\n```\n"


RIGHT = fenced("return a + b")
WRONG = fenced("return a - b")


def usage_adds_up(solution) -> bool:
    total = None
    for node in solution.trace:
        total = node.usage if total is None else total + node.usage
    return total is not None and (
        total.calls,
        total.prompt_tokens,
        total.completion_tokens,
        total.executions,
    ) == (
        solution.usage.calls,
        solution.usage.prompt_tokens,
        solution.usage.completion_tokens,
        solution.usage.executions,
    )
