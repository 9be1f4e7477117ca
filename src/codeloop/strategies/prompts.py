"""Prompt text the strategies send.  Feedback text is not here: `feedback.render` owns it.

Written for this project (short, instruction-style, zero-shot); the papers' few-shot
prompts are not reproduced.
"""

from __future__ import annotations

from codeloop.extract import parses
from codeloop.types import ProblemView, TaskKind, TestCase

SYSTEM_CODE = (
    "You are an expert Python programmer. You write correct, complete, self-contained "
    "Python code and answer with the code in a single ```python block."
)

ANSWER_FORMAT_FUNCTION = (
    "Answer with the complete function (with the imports it needs) in one ```python block."
)
ANSWER_FORMAT_PROGRAM = (
    "Answer with the complete program in one ```python block. It reads from standard input "
    "and writes the answer to standard output."
)

# Self-Debugging
EXPLAIN_REQUEST = (
    "Explain the code above line by line: what each line does, and what the code as a "
    "whole computes. Do not write new code yet."
)
FIX_REQUEST_FUNCTION = "Fix the code. " + ANSWER_FORMAT_FUNCTION
FIX_REQUEST_PROGRAM = "Fix the code. " + ANSWER_FORMAT_PROGRAM

# Reflexion
SYSTEM_TESTS = (
    "You are an expert Python programmer who writes unit tests. Given a function's "
    "signature and docstring, you write diverse, correct tests as single-line assert "
    "statements that call the function and compare its result with the expected value."
)
SYSTEM_REFLECTION = (
    "You are an expert Python programmer. You are given a function implementation and the "
    "results of unit tests run on it. In a few sentences, explain why the implementation "
    "is wrong and what must change to fix it; this will be your hint for the next attempt. "
    "Do not write the implementation."
)
SYSTEM_REFLEXION_CODE = (
    "You are an expert Python programmer. You are given your previous implementation, the "
    "unit test results it got, and your reflections on what went wrong. Write an improved, "
    "complete implementation (restate the signature) in one ```python block."
)


def _unshown_tests(view: ProblemView) -> list[TestCase]:
    """Visible tests whose text the prompt does not already show (MBPP shows the first
    assert beside the prompt; HumanEval's docstring examples are in it)."""
    return [t for t in view.visible_tests if t.source and t.source.strip() not in view.prompt]


def describe_task(view: ProblemView) -> str:
    """The problem as a user message: the prompt (as code when it is code) and the visible
    tests it does not show itself."""
    parts: list[str] = []
    if view.kind is TaskKind.STDIO:
        parts += ["Solve the following problem.", "", view.prompt.strip()]
    elif parses(view.prompt) and view.entry_point and f"def {view.entry_point}" in view.prompt:
        parts += [
            "Complete the following Python function.",
            "",
            "```python",
            view.prompt.rstrip("\n"),
            "```",
        ]
    else:
        name = f" named `{view.entry_point}`" if view.entry_point else ""
        parts += [f"Write a Python function{name} for the following task.", "", view.prompt]
    shown = _unshown_tests(view)
    if shown:
        parts += ["", "Your code should pass these tests:", *(t.source.strip() for t in shown)]
    return "\n".join(parts)


def answer_format(view: ProblemView) -> str:
    return ANSWER_FORMAT_PROGRAM if view.kind is TaskKind.STDIO else ANSWER_FORMAT_FUNCTION


def code_request_text(view: ProblemView) -> str:
    return describe_task(view) + "\n\n" + answer_format(view)


def fix_request(view: ProblemView) -> str:
    return FIX_REQUEST_PROGRAM if view.kind is TaskKind.STDIO else FIX_REQUEST_FUNCTION


def tests_request_text(view: ProblemView, count: int) -> str:
    name = view.entry_point or "the function"
    return (
        f"{describe_task(view)}\n\nDo not implement it. Write {count} unit tests for "
        f"`{name}`, one assert statement per line, like `assert {name}(...) == ...`, in "
        "one ```python block."
    )


def reflection_request_text(program: str, feedback: str) -> str:
    return (
        f"[function implementation]:\n```python\n{program.rstrip()}\n```\n\n"
        f"[unit test results]:\n{feedback}\n\n[self-reflection]:"
    )


def reflexion_code_text(
    view: ProblemView, program: str, feedback: str, reflections: list[str]
) -> str:
    memory = "\n".join(f"{i}. {r.strip()}" for i, r in enumerate(reflections, 1))
    return (
        f"[previous implementation]:\n```python\n{program.rstrip()}\n```\n\n"
        f"[unit test results from the previous implementation]:\n{feedback}\n\n"
        f"[reflections on previous attempts]:\n{memory}\n\n"
        f"[task]:\n{code_request_text(view)}\n\n[improved implementation]:"
    )


def codet_tests_prompt(view: ProblemView) -> str:
    """CodeT's test-generation prompt for completion models: the function with a `pass`
    body, a comment naming it, and an open `assert ` for the model to continue."""
    return f"{view.prompt}    pass\n\n# check the correctness of {view.entry_point}\nassert "
