"""Visible tests from the examples written in a prompt's docstring.

Two kinds of example are read:

* doctest examples (``>>> f(1, 2)`` followed by the expected output), found with
  :class:`doctest.DocTestParser`;
* the other styles HumanEval uses, one example per line (an example's call may span lines):
  ``f(x) == y``, ``f(x) ==> y``, ``f(x) => y``, ``f(x) -> y``, ``f(x) ➞ y``, ``f(x) = y``,
  ``f(x) returns y``, ``f(x) should return y``, ``f(x) # returns y``, ``f(x) # => y``;
* prose examples naming the parameters: ``For lst = [1, 2] the output should be 3`` and
  ``Input: arr = [1, 2], k = 1`` followed by a line ``Output: [2]`` (a bare literal input
  when the function has one parameter).

An example becomes a test only when it is a plain call of the entry point whose arguments
are literals (see :func:`ast.literal_eval`) and whose expected value is a literal too;
anything else (``is_happy(a) => False``, ``tri(n) = 1 + n / 2``, ``=> true``, a call of a
helper) is skipped.  After the expected literal only a comment (``# ...``), a final ``.``,
``,`` or ``;``, or a parenthesised remark starting with a letter may follow.  Tests compare
with ``Compare.EQUAL`` and carry the example's text as ``source``.  Duplicates are dropped.

Docstrings are written by people and are sometimes wrong (HumanEval/148 says
``bf("Earth", "Mercury") ==> ("Venus")``, a string, where the answer is a 1-tuple); visible
tests reproduce what the prompt says, as a user's examples would.
"""

from __future__ import annotations

import ast
import doctest
import io
import re
import tokenize
from typing import Any

from codeloop.tasks._syntax import parse
from codeloop.types import Compare, TestCase, TestKind

_NO_VALUE = object()

# Longest first, so that "==>" is not read as "==" followed by ">".
_SEPARATOR = re.compile(
    r"\s*(?:#\s*)?(?:==>|==|=>|->|➞|→|=|should\s+return|returns|return)\s*",
    re.IGNORECASE,
)
_ALLOWED_TAIL = re.compile(r"\s*(?:#.*|[.,;]\s*|\(\s*[A-Za-z].*)?")
_MAX_EXAMPLE_LINES = 20


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NO_VALUE


def _call_args(text: str, entry_point: str) -> tuple[Any, ...] | None:
    """Arguments of ``text`` when it is ``entry_point(<literal args>)``, else None."""
    try:
        node = parse(text.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == entry_point
        and not node.keywords
    ):
        return None
    args = []
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            return None
        try:
            args.append(ast.literal_eval(arg))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
    return tuple(args)


def _test(args: tuple[Any, ...], expected: Any, source: str) -> TestCase:
    return TestCase(
        kind=TestKind.CALL,
        args=args,
        expected=expected,
        compare=Compare.EQUAL,
        source=source.strip(),
    )


def _doctest_examples(prompt: str, entry_point: str) -> list[TestCase]:
    try:
        examples = doctest.DocTestParser().get_examples(prompt)
    except ValueError:  # inconsistent indentation in an example: no doctest examples
        return []
    tests = []
    for example in examples:
        want = _want(example.want)
        args = _call_args(example.source, entry_point)
        if args is not None:
            expected = _literal(want) if want else _NO_VALUE
        else:
            # ">>> f(x) == y" with no output shown (or True): HumanEval/108 and others
            compared = _compared_call(example.source, entry_point)
            if compared is None or want not in ("", "True"):
                continue
            args, expected = compared
        if expected is _NO_VALUE:
            continue
        source = f">>> {example.source.strip()}" + (f"\n{want}" if want else "")
        tests.append(_test(args, expected, source))
    return tests


def _want(raw: str) -> str:
    """An example's expected output, cut where the docstring closes.

    The prompt is parsed as plain text, so the line holding a docstring's closing quotes
    (or quotes ending the output line) would otherwise count as output.
    """
    lines = []
    for line in raw.splitlines():
        stripped = line.strip()
        if stripped.startswith(('"""', "'''")):
            break
        if stripped.endswith(('"""', "'''")):
            lines.append(stripped[:-3])
            break
        lines.append(line)
    return "\n".join(lines).strip()


def _compared_call(text: str, entry_point: str) -> tuple[tuple[Any, ...], Any] | None:
    """``(args, expected)`` when ``text`` is ``entry_point(<literals>) == <literal>``."""
    try:
        node = parse(text.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not (
        isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)
    ):
        return None
    args = _call_args(ast.unparse(node.left), entry_point)
    if args is None:
        return None
    expected = _literal(ast.unparse(node.comparators[0]))
    return None if expected is _NO_VALUE else (args, expected)


def _matching_paren(text: str, open_index: int) -> int | None:
    """Index of the parenthesis closing the one at ``open_index``, skipping strings."""
    depth = 0
    quote: str | None = None
    i = open_index
    while i < len(text):
        char = text[i]
        if quote is not None:
            if char == "\\":
                i += 2
                continue
            if char == quote or char == "\n":
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _leading_literal(text: str) -> tuple[Any, str] | None:
    """The longest literal at the start of ``text`` followed by an allowed tail."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        tokens = []
    ends = sorted(
        {tok.end[1] for tok in tokens if tok.end[0] == 1 and tok.end[1] > 0}, reverse=True
    )
    for end in ends:
        value = _literal(text[:end])
        if value is not _NO_VALUE and _ALLOWED_TAIL.fullmatch(text[end:]):
            return value, text[:end]
    return None


def _line_examples(prompt: str, entry_point: str) -> list[TestCase]:
    tests = []
    call = re.compile(r"(?<![\w.])" + re.escape(entry_point) + r"\s*\(")
    for match in call.finditer(prompt):
        line_start = prompt.rfind("\n", 0, match.start()) + 1
        before = prompt[line_start : match.start()].strip()
        if before.startswith((">>>", "...")) or re.search(r"\bdef\s*$", before):
            continue
        close = _matching_paren(prompt, match.end() - 1)
        if close is None:
            continue
        call_text = prompt[match.start() : close + 1]
        if call_text.count("\n") > _MAX_EXAMPLE_LINES:
            continue
        args = _call_args(call_text, entry_point)
        if args is None:
            continue
        line_end = prompt.find("\n", close)
        rest = prompt[close + 1 : line_end if line_end >= 0 else len(prompt)]
        separator = _SEPARATOR.match(rest)
        if separator is None or separator.end() == 0:
            continue
        found = _leading_literal(rest[separator.end() :])
        if found is None:
            continue
        expected, expected_text = found
        source = call_text + rest[: separator.end()] + expected_text
        tests.append(_test(args, expected, source))
    return tests


def _parameters(prompt: str, entry_point: str) -> list[str] | None:
    """Positional parameter names of ``def entry_point(...)`` in the prompt."""
    match = re.search(r"\bdef\s+" + re.escape(entry_point) + r"\s*\(", prompt)
    if match is None:
        return None
    close = _matching_paren(prompt, match.end() - 1)
    if close is None:
        return None
    try:
        module = parse(f"def f({prompt[match.end() : close]}): pass")
    except SyntaxError:
        return None
    func = module.body[0]
    assert isinstance(func, ast.FunctionDef)
    if func.args.vararg or func.args.kwonlyargs:
        return None
    return [arg.arg for arg in (*func.args.posonlyargs, *func.args.args)]


def _named_args(text: str, params: list[str]) -> tuple[Any, ...] | None:
    """Arguments from ``a = 1, b = [2]`` (or, for one parameter, a bare literal)."""
    text = text.strip().rstrip(",")
    if len(params) == 1:
        value = _literal(text)
        if value is not _NO_VALUE:
            return (value,)
    try:
        call = parse(f"f({text})", mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(call, ast.Call) or call.args:
        return None
    named: dict[str, Any] = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            return None
        try:
            named[keyword.arg] = ast.literal_eval(keyword.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
    if sorted(named) != sorted(params):
        return None
    return tuple(named[name] for name in params)


_FOR_STYLE = re.compile(
    r"\bfor\s+(?P<inputs>\w+\s*=.*?)\s+the\s+(?:output|result)\s+should\s+be\s+(?P<rest>.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_INPUT_OUTPUT_STYLE = re.compile(
    r"^\s*input\s*:\s*(?P<inputs>.+?)\s*\n\s*output\s*:\s*(?P<rest>.*)$",
    re.IGNORECASE | re.MULTILINE,
)


def _prose_examples(prompt: str, entry_point: str) -> list[TestCase]:
    """``For lst = [1, 2] the output should be 3`` and ``Input: x = 3`` / ``Output: 4``."""
    params = _parameters(prompt, entry_point)
    if not params:
        return []
    tests = []
    for pattern in (_FOR_STYLE, _INPUT_OUTPUT_STYLE):
        for match in pattern.finditer(prompt):
            inputs = match.group("inputs")
            # "For N = 1000, the sum of digits will be 1 the output should be ...": drop
            # trailing comma-separated prose until what is left names the parameters
            pieces = inputs.split(",")
            args = None
            for end in range(len(pieces), 0, -1):
                args = _named_args(",".join(pieces[:end]), params)
                if args is not None:
                    break
            found = _leading_literal(match.group("rest").strip())
            if args is None or found is None:
                continue
            tests.append(_test(args, found[0], match.group(0)))
    return tests


def docstring_examples(prompt: str, entry_point: str) -> tuple[TestCase, ...]:
    """Visible tests from the prompt's examples of calls to ``entry_point``."""
    seen: set[str] = set()
    tests = []
    found = [
        *_doctest_examples(prompt, entry_point),
        *_line_examples(prompt, entry_point),
        *_prose_examples(prompt, entry_point),
    ]
    for test in found:
        key = repr((test.args, test.expected))
        if key not in seen:
            seen.add(key)
            tests.append(test)
    return tuple(tests)
