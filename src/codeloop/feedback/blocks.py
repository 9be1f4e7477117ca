"""Static basic blocks of a program's functions, from its syntax tree (trusted side).

Every statement of a function (all the lines it spans) belongs to one basic block, numbered
in source order from 0 within its function, the way a control-flow-graph builder (LDB's
staticfg) cuts them:

- straight-line statements share a block;
- an ``if`` test, a ``with`` header, a ``try:``, a ``match`` subject end the block they
  are in; a loop header (``while`` test, ``for`` target and iterable) is a block of its own;
- a branch, a loop body, an ``else``, each ``except`` handler, ``finally`` and each
  ``case`` start new blocks, and so does the code after a compound statement;
- ``return``, ``raise``, ``break`` and ``continue`` end their block.

A nested ``def``/``class`` statement is a straight-line statement of the enclosing function
(its decorators and header lines); its body is a unit of its own.  Units are keyed by the
line their code object reports as ``co_firstlineno`` (the first decorator's, else the
``def``'s), which is how a runtime trace finds them.  A line shared by two statements (``if
x: y = 1``) belongs to the first.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

__all__ = ["FunctionBlocks", "static_blocks"]

_Scope = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


@dataclass
class FunctionBlocks:
    """The blocks of one function (or class body): line -> block, line -> statement span."""

    name: str
    first_line: int
    block_of: dict[int, int] = field(default_factory=dict)
    statement_of: dict[int, tuple[int, int]] = field(default_factory=dict)
    count: int = 0

    def block(self, line: int) -> int:
        return self.block_of.get(line, -1)

    def statement(self, line: int) -> tuple[int, int]:
        return self.statement_of.get(line, (line, line))


def static_blocks(source: str) -> dict[int, FunctionBlocks]:
    """The blocks of every function and class body in `source`, keyed by first line.
    Raises SyntaxError for a program that does not parse."""
    tree = ast.parse(source)
    units: dict[int, FunctionBlocks] = {}
    for node in ast.walk(tree):
        if isinstance(node, _Scope):
            first = _first_line(node)
            builder = _Builder(FunctionBlocks(node.name, first))
            builder.body(node.body)
            units.setdefault(first, builder.unit)
    return units


def _first_line(node: _Scope) -> int:
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


def _end(node: ast.AST) -> int:
    end = getattr(node, "end_lineno", None)
    return int(end) if end is not None else int(getattr(node, "lineno", 0))


class _Builder:
    def __init__(self, unit: FunctionBlocks) -> None:
        self.unit = unit
        self.current: int | None = None

    def _new(self) -> int:
        self.current = self.unit.count
        self.unit.count += 1
        return self.current

    def _here(self) -> int:
        return self.current if self.current is not None else self._new()

    def _claim(self, start: int, end: int, block: int) -> None:
        span = (start, max(start, end))
        for line in range(span[0], span[1] + 1):
            if line not in self.unit.block_of:
                self.unit.block_of[line] = block
                self.unit.statement_of[line] = span

    def body(self, statements: list[ast.stmt]) -> None:
        for statement in statements:
            self.statement(statement)

    def _branch(self, statements: list[ast.stmt]) -> None:
        """A body that starts a block of its own; what follows starts another."""
        self.current = None
        self.body(statements)
        self.current = None

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.If):
            self._claim(node.lineno, _end(node.test), self._here())
            self._branch(node.body)
            self._branch(node.orelse)
        elif isinstance(node, ast.While | ast.For | ast.AsyncFor):
            header = node.test if isinstance(node, ast.While) else node.iter
            self._claim(node.lineno, _end(header), self._new())
            self._branch(node.body)
            self._branch(node.orelse)
        elif isinstance(node, ast.With | ast.AsyncWith):
            last = node.items[-1]
            end = _end(last.optional_vars) if last.optional_vars else _end(last.context_expr)
            self._claim(node.lineno, end, self._here())
            self._branch(node.body)
        elif isinstance(node, ast.Try | ast.TryStar):
            self._claim(node.lineno, node.lineno, self._here())
            self._branch(node.body)
            for handler in node.handlers:
                end = _end(handler.type) if handler.type is not None else handler.lineno
                self._claim(handler.lineno, end, self._new())
                self.body(handler.body)
                self.current = None
            self._branch(node.orelse)
            self._branch(node.finalbody)
        elif isinstance(node, ast.Match):
            self._claim(node.lineno, _end(node.subject), self._here())
            for case in node.cases:
                end = _end(case.guard) if case.guard is not None else _end(case.pattern)
                self._claim(case.pattern.lineno, end, self._new())
                self.body(case.body)
                self.current = None
            self.current = None
        elif isinstance(node, _Scope):
            body_start = node.body[0].lineno if node.body else node.lineno
            self._claim(_first_line(node), max(node.lineno, body_start - 1), self._here())
        else:
            self._claim(node.lineno, _end(node), self._here())
            if isinstance(node, ast.Return | ast.Raise | ast.Break | ast.Continue):
                self.current = None
