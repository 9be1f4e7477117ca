"""THE renderer: structured `Feedback` in, prompt text out.  Nothing else builds feedback text.

Styles:

- ``simple`` (Self-Debugging's "simple feedback"): only whether the code is right, in the
  paper's one sentence: "The code above is wrong. Please fix it." (or "... is correct.").
- ``unit_test`` (Self-Debugging's "unit test feedback"): the failing tests, each with what
  was expected and what the code produced, or the error it raised (with a trimmed
  traceback), or that it timed out.
- ``unit_test_explanation`` (Self-Debugging's "unit test + explanation"): the same unit test
  feedback.  The explanation half of that variant is the model's own line-by-line
  explanation of its code, which the strategy asks for before showing this feedback.
- ``reflexion`` (Reflexion's internal-test report): the tests that passed, then the tests
  that failed, each failing one followed by what the code produced.
- ``agentcoder`` (AgentCoder's executor report): each failing test of the designed block as
  written, then the error it raised, the assertion's message kept (AgentCoder's own code
  reports only "failed: AssertionError"), then expected vs actual where the test compares.

Failures that say nothing about the program (the sandbox broke) never reach a prompt.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from codeloop.feedback.tests import FAILURE_KINDS
from codeloop.feedback.trace import TraceStep
from codeloop.types import Feedback, Status, TestOutcome

__all__ = [
    "STYLES",
    "Style",
    "render",
    "render_agentcoder_failure",
    "render_failure",
    "render_outcome_short",
    "render_property_feedback",
    "ldb_assertion",
    "ldb_blocks",
    "ldb_no_trace",
    "ldb_real_output",
]

Style = Literal["simple", "unit_test", "unit_test_explanation", "reflexion", "agentcoder"]
STYLES: tuple[str, ...] = (
    "simple",
    "unit_test",
    "unit_test_explanation",
    "reflexion",
    "agentcoder",
)

SIMPLE_WRONG = "The code above is wrong. Please fix it."
SIMPLE_RIGHT = "The code above is correct."
DEFAULT_MAX_ITEMS = 5


def _relevant(feedback: Sequence[Feedback]) -> list[Feedback]:
    return [f for f in feedback if f.kind != "infra_error"]


def _failures(feedback: Sequence[Feedback]) -> list[Feedback]:
    return [f for f in feedback if f.kind in FAILURE_KINDS or f.kind not in _KNOWN]


_KNOWN = FAILURE_KINDS | {"passed", "infra_error"}


def _what_happened(item: Feedback) -> str:
    """One line: what the program did instead of passing."""
    detail = item.message
    if item.kind == "test_failure":
        return f"returned {item.actual}" if item.actual else "returned a wrong result"
    if item.kind == "error":
        return f"raised {detail}" if detail else "raised an exception"
    if item.kind == "timeout":
        return f"timed out ({detail})" if detail else "timed out"
    if item.kind == "memory":
        return "ran out of memory"
    if item.kind == "output_limit":
        return "produced too much output"
    if item.kind == "signal":
        return f"crashed ({detail})" if detail else "crashed"
    if item.kind == "exited_early":
        return "exited before the test finished"
    if item.kind == "syntax_error":
        return f"does not compile: {detail}" if detail else "does not compile"
    return f"{item.kind}: {detail}" if detail else item.kind


def render_failure(item: Feedback) -> str:
    """A failing test in full: the test, expected vs actual or the error, traceback, output."""
    if item.kind == "syntax_error":
        lines = [f"The code does not compile: {item.message or 'syntax error'}"]
        if item.traceback:
            lines += ["Traceback (most recent call last, trimmed):", item.traceback]
        return "\n".join(lines)
    lines = [f"Test: {item.test}"] if item.test else []
    if item.kind == "test_failure":
        if item.expected:
            lines.append(f"Expected: {item.expected}")
        lines.append(f"Actual: {item.actual or '(a different result)'}")
    elif item.kind == "error":
        lines.append(f"Error: {item.message or 'an exception was raised'}")
        if item.traceback:
            lines += ["Traceback (most recent call last, trimmed):", item.traceback]
    else:
        if item.expected:
            lines.append(f"Expected: {item.expected}")
        lines.append(f"Result: the code {_what_happened(item)}")
    if item.stdout:
        lines += ["Printed output:", item.stdout]
    return "\n".join(lines)


def render_outcome_short(item: Feedback) -> str:
    """A test on one line, followed by what the code produced when it failed."""
    test = item.test
    if test and not test.startswith("assert") and item.expected:
        test = f"assert {test} == {item.expected}"
    if item.kind == "passed":
        return test
    if item.kind == "test_failure":
        return f"{test}  # output: {item.actual}"
    return f"{test}  # output: {_what_happened(item)}"


def _simple(feedback: Sequence[Feedback], max_items: int) -> str:
    return SIMPLE_WRONG if _failures(feedback) else SIMPLE_RIGHT


def _unit_test(feedback: Sequence[Feedback], max_items: int) -> str:
    relevant = _relevant(feedback)
    failures = _failures(relevant)
    if not failures:
        return f"The code above passes all {len(relevant)} tests." if relevant else SIMPLE_RIGHT
    if len(failures) == 1 and failures[0].kind == "syntax_error":
        return render_failure(failures[0])
    head = (
        f"The code above fails {len(failures)} of the {len(relevant)} tests it was run on."
        if len(relevant) > 1
        else "The code above fails the test it was run on."
    )
    shown = [render_failure(item) for item in failures[:max_items]]
    parts = [head, *shown]
    if len(failures) > max_items:
        parts.append(f"({len(failures) - max_items} more failing tests not shown)")
    return "\n\n".join(parts)


def _reflexion(feedback: Sequence[Feedback], max_items: int) -> str:
    relevant = _relevant(feedback)
    passed = [f for f in relevant if f.kind == "passed"]
    failed = _failures(relevant)
    lines = ["Tests passed:", *(render_outcome_short(f) for f in passed), ""]
    lines += ["Tests failed:", *(render_outcome_short(f) for f in failed[:max_items])]
    if len(failed) > max_items:
        lines.append(f"({len(failed) - max_items} more failing tests not shown)")
    return "\n".join(lines).rstrip("\n")


def render_agentcoder_failure(item: Feedback) -> str:
    """One failing test as AgentCoder's executor reports it: the test as written, then the
    error it raised (an assertion's ``AssertionError: <its message>``, which the strategy
    puts in `message`), then expected vs actual where the test compares values."""
    if item.kind == "syntax_error":
        return render_failure(item)
    lines = [item.test] if item.test else []
    if item.kind == "test_failure":
        lines.append(item.message or "AssertionError")
        if item.expected:
            lines.append(f"Expected: {item.expected}")
        lines.append(f"Actual: {item.actual or '(a different result)'}")
    elif item.kind == "error":
        message = item.message or "an exception was raised"
        lines.append(message)
        if item.traceback and not message.startswith("AssertionError"):
            lines += ["Traceback (most recent call last, trimmed):", item.traceback]
    else:
        lines.append(f"The code {_what_happened(item)}")
    if item.stdout:
        lines += ["Printed output:", item.stdout]
    return "\n".join(lines)


def _agentcoder(feedback: Sequence[Feedback], max_items: int) -> str:
    failures = _failures(_relevant(feedback))
    if not failures:
        return "All tests passed."
    parts = [render_agentcoder_failure(item) for item in failures[:max_items]]
    if len(failures) > max_items:
        parts.append(f"({len(failures) - max_items} more failing tests not shown)")
    return "\n\n".join(parts)


_RENDERERS: dict[str, Callable[[Sequence[Feedback], int], str]] = {
    "simple": _simple,
    "unit_test": _unit_test,
    "unit_test_explanation": _unit_test,
    "reflexion": _reflexion,
    "agentcoder": _agentcoder,
}


def render(
    feedback: Sequence[Feedback],
    *,
    style: Style | str = "unit_test",
    max_items: int = DEFAULT_MAX_ITEMS,
) -> str:
    """Prompt text for `feedback` in the given style (see the module docstring)."""
    renderer = _RENDERERS.get(style)
    if renderer is None:
        raise ValueError(f"unknown feedback style {style!r}; styles: {', '.join(STYLES)}")
    if max_items < 1:
        raise ValueError("max_items must be at least 1")
    return renderer(feedback, max_items)


# ------------------------------------------------------------- property-based feedback (pgs)

PROPERTY_MESSAGE_CAP = 700  # the violated property's assertion message
PROPERTY_CHECKER_CAP = 500  # one property's checker code in the structured list
PROPERTIES_SHOWN = 3
PROPERTIES_CAP = 900  # the structured list as a whole


def _capped(text: str, cap: int) -> str:
    text = text.strip()
    return text if len(text) <= cap else text[: cap - 3] + "..."


def render_property_feedback(item: Feedback, properties: Sequence[Mapping[str, str]] = ()) -> str:
    """The Property-Generated Solver's feedback on one failing case, the shortest known.

    `item.kind`: ``property_violation`` (a property of the specification failed on a
    generated or visible input: `test` is the call, `message` the property and its assertion
    message, `actual` what the code returned), a visible test's failure (``test_failure``:
    `test`, `expected`, `actual`), or any other failure kind (an error, a timeout) on the
    case in `test`.  `properties`: the properties in force (each with "name", "reason",
    "checker" and, for the violated one, "assertion_message"), the violated one first; at
    most 3 are shown.  ``input_generator``: the tester's input generator failed (`message`
    says how, `traceback` where).
    """
    if item.kind == "input_generator":
        lines = ["The input generator above did not produce enough valid inputs."]
        if item.message:
            lines.append(item.message)
        if item.traceback:
            lines += ["Traceback (most recent call last, trimmed):", item.traceback]
        lines.append(
            "Fix the generator so that every call returns one valid input "
            "(the list of arguments), using only the seed's random generator."
        )
        return "\n".join(lines)
    if item.kind == "test_failure":
        return "\n".join(
            [
                "The code above gives a wrong answer on the shortest failing example.",
                f"Input: {item.test}",
                f"Generated output: {item.actual or '(a different result)'}",
                f"Expected output: {item.expected}",
            ]
        )
    if item.kind != "property_violation":
        lines = [
            "The code above fails on the shortest failing input found.",
            f"Input: {item.test}",
            f"Error: {_capped(item.message, PROPERTY_MESSAGE_CAP) or _what_happened(item)}",
        ]
        if item.traceback:
            lines += ["Traceback (most recent call last, trimmed):", item.traceback]
        return "\n".join(lines)
    lines = [
        "A property of the specification does not hold for the code above. It points to a "
        "bug in the logic: fix the logic, not the symptom.",
        "Shortest failing input found:",
        item.test,
        f"Violated property: {_capped(item.message, PROPERTY_MESSAGE_CAP)}",
    ]
    if item.actual:
        lines.append(f"The code returned: {item.actual}")
    lines.append(
        "Keep the property intact: a fix that removes, bypasses or weakens the check is not "
        "a fix. Work out what a correct answer is on this input, find where the code "
        "departs from it, and correct that."
    )
    shown: list[str] = []
    used = 0
    for prop in list(properties)[:PROPERTIES_SHOWN]:
        parts = [f"- name: {prop.get('name', '')}"]
        for key in ("reason", "assertion_message"):
            if prop.get(key):
                parts.append(f"  {key.replace('_', ' ')}: {_capped(prop[key], 300)}")
        if prop.get("checker"):
            checker = _capped(prop["checker"], PROPERTY_CHECKER_CAP)
            parts.append("  checker:\n" + "\n".join("    " + x for x in checker.splitlines()))
        entry = "\n".join(parts)
        if used + len(entry) > PROPERTIES_CAP and shown:
            break
        shown.append(entry)
        used += len(entry)
    if shown:
        lines += ["Structured property feedback:", *shown]
    return "\n".join(lines)


# ------------------------------------------------------------------------------- LDB
# LDB's feedback text (Zhong et al., 2024; FloridSleeves/LLMDebugger py_executor.py and
# py_generate.py): a failing test is shown as the assert followed by what the call really
# produced; the trace as numbered blocks, each with the variables before and after it.

LDB_OUTPUT_MARK = "# Real Execution Output:"


def ldb_assertion(assertion: str, output: str) -> str:
    """A failing test the LDB way: ``{assert} # Real Execution Output: {output}``."""
    return f"{assertion.strip()} {LDB_OUTPUT_MARK} {output}"


def ldb_no_trace(assertion: str, output: str) -> str:
    """LDB's message when the failing call cannot be traced (a timeout, an exception, a
    program that does not parse, no block ran): the assertion and the real output."""
    return (
        f"Feedback: With the above function, the assertion is `{assertion.strip()}` "
        f"but the real execution output is `{output}`."
    )


def ldb_blocks(steps: Sequence[TraceStep]) -> str:
    """A trace's steps as LDB shows them: ``[BLOCK-i]``, then the variables before the
    step as a comment, the lines it ran (indented by four spaces, their relative indentation
    kept), the variables after it as a comment."""
    parts: list[str] = []
    for index, step in enumerate(steps):
        lines = [f"[BLOCK-{index}]"]
        if step.before:
            lines.append(f"    # {step.before}")
        body = textwrap.dedent("\n".join(step.source)).splitlines()
        lines += [f"    {line}".rstrip() for line in body]
        if step.after:
            lines.append(f"    # {step.after}")
        parts.append("\n".join(lines))
    return "\n".join(parts)


def ldb_real_output(outcome: TestOutcome) -> str:
    """What LDB calls the real execution output of a failing test: the value the call
    returned as ``str`` shows it (so a string comes without quotes), the exception's
    message, or ``TIMEOUT``."""
    if outcome.status is Status.TIMEOUT:
        return "TIMEOUT"
    if outcome.status is Status.FAILED:
        try:
            value = ast.literal_eval(outcome.actual)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return outcome.actual  # not a literal (an object's repr): shown as it came
        return str(value)
    if outcome.message:
        return outcome.message
    return outcome.exception or outcome.status.value
