"""Code extraction: from what a model wrote to a complete program.

Two modes, because models answer in two ways:

- **chat**: an answer in prose and Markdown.  The code is in fenced blocks (```python);
  when there are several, the one that defines the entry point wins (the last such block:
  a repair answer quotes the old code first and gives the fix after it), else the longest.
  An unterminated fence (the answer was cut at max_tokens) runs to the end of the text.
  Without a fence, the text itself if it parses, else the largest region of it that does.
- **completion**: a continuation of the prompt (base models, recorded samples).  It is
  truncated at HumanEval-style stop sequences, as Codex/CodeT do, and appended to the prompt.

For function tasks the result is a complete program: when the model returned only a body,
the prompt's header is put in front of it; imports and helper functions that the prompt
defines and the code lacks are added (HumanEval prompts import ``List`` and some define
helpers the solution calls).  The raw text is always kept next to the code, and ``how``
says which rule produced it, so that a surprising program can be traced to its cause.
"""

from __future__ import annotations

import ast
import re
import textwrap
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CODET_STOPS",
    "DEFAULT_STOPS",
    "Extracted",
    "Mode",
    "extract_code",
    "fenced_blocks",
    "parses",
    "truncate_completion",
]

Mode = Literal["chat", "completion"]

# CodeT's truncation of completions (the Codex paper's stop sequences for HumanEval).
CODET_STOPS: tuple[str, ...] = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
# ... and the end of a Markdown fence, which some completion models write.
DEFAULT_STOPS: tuple[str, ...] = (*CODET_STOPS, "\n```")

_PYTHON_TAGS = frozenset({"", "python", "python3", "py", "py3", "pycon", "ipython"})
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*$", re.MULTILINE)
_THINK = re.compile(r"<think>.*?(</think>|\Z)", re.DOTALL)
_CODE_START = re.compile(r"^(?:async\s+def|def|class|import|from|@)\b")
_MAX_STARTS = 30  # bounds the search for a parseable region in long prose


@dataclass(frozen=True)
class Extracted:
    """A program and where it came from."""

    code: str  # the complete program (what the executor runs)
    raw: str  # the model's text, unchanged
    how: str  # which rule produced `code`, e.g. "fence", "fence+prompt_header", "completion"


def truncate_completion(text: str, stops: Sequence[str] = DEFAULT_STOPS) -> str:
    """`text` up to the earliest stop sequence (all of it when none occurs)."""
    cut = len(text)
    for stop in stops:
        if stop:
            at = text.find(stop)
            if 0 <= at < cut:
                cut = at
    return text[:cut]


def parses(source: str) -> bool:
    """Whether `source` parses as Python (the syntax only: a `return` outside a function
    parses).  Warnings the text raises (invalid escape sequences) are silenced; null bytes
    and nesting too deep to parse count as not parsing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ast.parse(source)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return False
    return True


def _parse(source: str) -> ast.Module | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            module = ast.parse(source)
            # the compiler's checks too: `return` outside a function parses but is no program
            compile(module, "<extracted>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
            return None
        return module


def _defines(module: ast.Module | None, name: str) -> bool:
    if module is None:
        return False
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
        for node in module.body
    )


def _defines_anywhere(source: str, name: str) -> bool:
    """Textual check that also works for code that does not parse."""
    return re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", source, re.M) is not None


@dataclass(frozen=True)
class _Block:
    tag: str
    code: str
    terminated: bool


def fenced_blocks(text: str) -> list[tuple[str, str, bool]]:
    """Fenced blocks as (language tag, code, terminated), in order of appearance."""
    blocks: list[_Block] = []
    position = 0
    while True:
        opening = _FENCE.search(text, position)
        if opening is None:
            break
        fence, tag = opening.group(1), opening.group(2).lower()
        start = opening.end() + 1
        closing_re = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.M)
        closing = closing_re.search(text, min(start, len(text)))
        if closing is None:
            blocks.append(_Block(tag, text[start:], False))
            break
        blocks.append(_Block(tag, text[start : closing.start()], True))
        position = closing.end()
    return [(b.tag, b.code, b.terminated) for b in blocks]


def _choose_block(blocks: list[tuple[str, str, bool]], entry_point: str | None) -> str | None:
    python = [code for tag, code, _ in blocks if tag in _PYTHON_TAGS and code.strip()]
    if not python:
        # e.g. ```Python3 or a language name we do not know: better than nothing
        python = [code for _, code, _ in blocks if code.strip()]
    if not python:
        return None
    if entry_point:
        defining = [code for code in python if _defines_anywhere(code, entry_point)]
        if defining:
            return defining[-1]
    return max(python, key=len)


def _largest_parseable(text: str, entry_point: str | None) -> str | None:
    """The largest run of whole lines that parses and looks like code (prose around it)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _CODE_START.match(line)][:_MAX_STARTS]
    best: str | None = None
    best_key: tuple[bool, int] = (False, -1)
    for start in starts:
        for end in range(len(lines), start, -1):
            candidate = "\n".join(lines[start:end]).strip("\n")
            module = _parse(candidate)
            if module is None:
                continue
            key = (bool(entry_point) and _defines(module, entry_point or ""), len(candidate))
            if key > best_key:
                best, best_key = candidate, key
            break  # the longest region from this start; shorter ones cannot beat it
    return best


def _header_for_body(prompt: str, body: str) -> str | None:
    """prompt + body when the model wrote only the function body, else None."""
    if not body.strip():
        return None
    as_written = body.strip("\n")
    indented = textwrap.indent(textwrap.dedent(as_written), "    ")
    for candidate in (as_written, indented):
        joined = prompt.rstrip("\n") + "\n" + candidate + "\n"
        if _parse(joined) is not None:
            return joined
    return None


def _bound_names(module: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in module.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
    return names


def _prompt_context(prompt: str, code: str, entry_point: str) -> tuple[str, bool]:
    """Add the prompt's imports and helper definitions that `code` lacks.

    HumanEval prompts start with `from typing import List` and some define helpers
    (HumanEval/38's decode_cyclic calls the prompt's encode_cyclic); a chat model often
    restates only the function it was asked for.
    """
    prompt_module = _parse(prompt)
    code_module = _parse(code)
    if prompt_module is None or code_module is None:
        return code, False
    have = _bound_names(code_module)
    lines = prompt.splitlines()
    pieces: list[str] = []
    for node in prompt_module.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = {alias.asname or alias.name.split(".")[0] for alias in node.names}
            if not names <= have:
                pieces.append(ast.get_source_segment(prompt, node) or ast.unparse(node))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name != entry_point and node.name not in have:
                first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
                end = node.end_lineno or node.lineno
                pieces.append("\n".join(lines[first - 1 : end]))
    if not pieces:
        return code, False
    return "\n".join(pieces) + "\n\n\n" + code.lstrip("\n"), True


def _complete_function(
    code: str, how: str, entry_point: str | None, prompt: str | None
) -> tuple[str, str]:
    if not entry_point or not prompt or not _defines_anywhere(prompt, entry_point):
        return code, how
    if not _defines_anywhere(code, entry_point):
        if _is_prose_text(code):
            return code, how
        whole = _header_for_body(prompt, code)
        if whole is not None:
            return whole, how + "+prompt_header"
        return code, how
    completed, added = _prompt_context(prompt, code, entry_point)
    return completed, (how + "+prompt_context") if added else how


def _strip_echoed_prompt(text: str, prompt: str) -> str:
    return text[len(prompt) :] if prompt and text.startswith(prompt) else text


def extract_code(
    text: str,
    *,
    entry_point: str | None,
    prompt: str | None,
    mode: Mode = "chat",
    stops: Sequence[str] = DEFAULT_STOPS,
) -> Extracted:
    """The program in a model's answer; see the module docstring for the rules."""
    if mode == "completion":
        continuation = truncate_completion(_strip_echoed_prompt(text, prompt or ""), stops)
        return Extracted(code=(prompt or "") + continuation, raw=text, how="completion")
    if mode != "chat":
        raise ValueError(f"unknown extraction mode {mode!r}: use 'chat' or 'completion'")

    visible = _THINK.sub("", text)  # reasoning models: the answer follows the thinking
    blocks = fenced_blocks(visible)
    chosen = _choose_block(blocks, entry_point) if blocks else None
    if chosen is not None:
        unterminated = any(code == chosen and not done for _, code, done in blocks)
        code, how = chosen.strip("\n") + "\n", "fence_unterminated" if unterminated else "fence"
    else:
        stripped = visible.strip("\n")
        module = _parse(stripped)
        body = (
            _header_for_body(prompt, stripped)
            if entry_point and prompt and _defines_anywhere(prompt, entry_point)
            else None
        )
        if module is not None and (
            not entry_point or _defines(module, entry_point) or not _is_prose(module)
        ):
            code, how = stripped + "\n", "plain"
        elif body is not None and not _is_prose_text(stripped):
            return Extracted(code=body, raw=text, how="plain+prompt_header")
        else:
            found = _largest_parseable(stripped, entry_point)
            if found is not None:
                code, how = found + "\n", "parseable_region"
            else:
                code, how = stripped + "\n", "unparsed"
    code, how = _complete_function(code, how, entry_point, prompt)
    return Extracted(code=code, raw=text, how=how)


def _is_prose_text(text: str) -> bool:
    module = _parse(text)
    return module is not None and _is_prose(module)


def _is_prose(module: ast.Module) -> bool:
    """A "program" of bare names and constants only ("Sure", "42") is prose that parses."""
    return all(
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Name | ast.Constant)
        for node in module.body
    )
