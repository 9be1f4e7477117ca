"""Feedback: structured items produced from execution results, and the one renderer.

items = tests_feedback(result, tests, entry_point=view.entry_point)
text = render(items, style="unit_test")
"""

from codeloop.feedback.render import STYLES, Style, render
from codeloop.feedback.tests import FAILURE_KINDS, describe_test, tests_feedback, trim_traceback

__all__ = [
    "FAILURE_KINDS",
    "STYLES",
    "Style",
    "describe_test",
    "render",
    "tests_feedback",
    "trim_traceback",
]
