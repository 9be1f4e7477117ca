"""Turn assert-style check code into data tests, where the syntax allows it exactly.

Benchmarks such as HumanEval and MBPP ship their tests as code::

    def check(candidate):
        assert candidate([1, 2]) == 3
        assert abs(candidate([0.5]) - 0.25) < 1e-6

and run it inside the untrusted process, where a returned object whose ``__eq__`` always says
True passes.  :func:`convert_check` turns each statement into a ``TestCase`` (arguments,
expected value, how to compare) so that the trusted parent judges the decoded result
instead.  A check is converted only when every statement of its body is one of the forms
below or a no-op, with every argument and expected value a literal; otherwise the whole
check stays one ``TestKind.CODE`` test that the sandbox runs as written.

Converted forms (``CALL`` is ``candidate(<literal args>)`` or the entry point called by name;
``LIT`` is a constant expression: anything :func:`ast.literal_eval` accepts, arithmetic on
constants such as ``3 * 5`` or ``2.0 / 3.0``, and ``set|frozenset|tuple|list(LIT)``):

===================================================  =========================================
``assert CALL == LIT`` / ``assert LIT == CALL``      ``Compare.EQUAL`` (Python ``==``)
``assert CALL is True|False|None``                   ``Compare.EXACT``
``assert CALL`` / ``assert not CALL``                oracle ``truthy`` / ``falsy``
``assert abs(CALL - LIT) < EPS`` (``<=``)            oracle ``abs_lt`` / ``abs_le``, atol=EPS
``assert math.fabs(CALL - LIT) < EPS`` (``<=``)      oracle ``fabs_lt`` / ``fabs_le``
``assert math.isclose(CALL, LIT, rel_tol=R)``        oracle ``isclose_rel``, atol=R
``assert math.isclose(CALL, LIT[, abs_tol=A])``      oracle ``isclose_abs``, atol=A (or 0.0)
``assert set(CALL) == LIT`` (``frozenset`` too)      oracle ``set_equal``
``assert tuple|list|sorted(CALL) == LIT``            oracle ``tuple_equal`` ...
``CALL`` as a statement                              oracle ``always`` (it must not raise)
===================================================  =========================================

``abs(LIT - CALL)`` and ``EPS > abs(...)`` are accepted too; assert messages are ignored
(they are evaluated only when the assert fails).  No-ops are dropped: ``pass``,
``assert <true constant>`` (with or without a message), bare constants (docstrings), a bare
builtin name (HumanEval/129 has a stray ``print``), and imports of standard-library modules
inside the check.

Module-level code besides ``def check`` is ignored when the check converts fully, provided it
cannot change what the candidate computes: imports (not ``*``), function definitions without
decorators and with literal defaults, assignments of literals (``METADATA = {...}``), bare
constants.  Any other module-level statement, or a name binding that shadows the entry point,
keeps the check as code.  Code without ``def check`` is read as bare statements (the MBPP
``test_list`` style) and converted the same way.

Caveat: module-level imports are ignored, so a program that relies on a module the *test*
imported at module level (without importing it itself) passes the original harness and
fails here with a NameError.  Neither HumanEval nor MBPP does this.
"""

from __future__ import annotations

import ast
import builtins
import copy
import io
import operator
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from codeloop.tasks._syntax import parse
from codeloop.types import Compare, TestCase, TestKind

CHECK_NAME = "check"
CODE_TEST_SOURCE = "check(candidate)"


@dataclass(frozen=True)
class ConversionResult:
    """Tests made from check code.

    ``converted`` is True when every statement became a data test (or was a no-op); then
    ``tests`` holds those tests in source order and ``reason`` is empty.  Otherwise ``tests``
    is one ``TestKind.CODE`` test holding the full check code, and ``reason`` says which
    statement could not be converted and why.
    """

    tests: tuple[TestCase, ...]
    converted: bool
    reason: str = ""


class _NotConvertible(Exception):
    def __init__(self, node: ast.AST | None, why: str) -> None:
        self.node = node
        self.why = why
        super().__init__(why)


_NO_VALUE = object()

# Bounds on what constant folding may build, so that `"a" * 10**9` or `10**10**10` in a test
# file cannot exhaust the loader's memory or time; such expressions stay code.
_MAX_SIZE = 100_000
_MAX_POW_BITS = 65_536

_FOLDED_OPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY_OPS: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Invert: operator.invert,
    ast.Not: operator.not_,
}
_SIZED = (str, bytes, list, tuple)

# wrapper(candidate(...)) == LIT  ->  oracle computing wrapper(actual) == expected
_WRAPPER_ORACLES = {
    "set": "set_equal",
    "frozenset": "set_equal",  # frozenset(x) == y exactly when set(x) == y
    "tuple": "tuple_equal",
    "list": "list_equal",
    "sorted": "sorted_equal",
}


def _size_ok(value: Any) -> bool:
    return not isinstance(value, _SIZED) or len(value) <= _MAX_SIZE


def _binop(op: ast.operator, left: Any, right: Any) -> Any:
    fold = _FOLDED_OPS.get(type(op))
    if fold is None:
        return _NO_VALUE
    if isinstance(op, ast.Mult):
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, _SIZED) and isinstance(count, int):
                if count > 0 and len(seq) * count > _MAX_SIZE:
                    return _NO_VALUE
    if isinstance(op, ast.Mod) and isinstance(left, str | bytes):
        return _NO_VALUE  # %-formatting: keep it simple, leave it to Python at run time
    if isinstance(op, ast.Pow) and isinstance(left, int) and isinstance(right, int):
        if right > 0 and max(abs(left).bit_length(), 1) * right > _MAX_POW_BITS:
            return _NO_VALUE
    value = fold(left, right)
    return value if _size_ok(value) else _NO_VALUE


def _const(node: ast.expr) -> Any:
    """What Python computes for a constant expression, or ``_NO_VALUE``.

    Literals (what :func:`ast.literal_eval` accepts), arithmetic on them (``3 * 5``,
    ``2.0 / 3.0``, ``'ab' + 'c'``, ``0 ** 0``), and ``set()``/``frozenset()``/``tuple()``/
    ``list()`` of a constant.  Evaluation raising (1 / 0) also gives ``_NO_VALUE``: the
    original raises at run time, so the test stays code.
    """
    try:
        return _fold(node)
    except (ArithmeticError, TypeError, ValueError, MemoryError, RecursionError):
        return _NO_VALUE


def _fold(node: ast.expr) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        items = []
        for element in node.elts:
            value = _NO_VALUE if isinstance(element, ast.Starred) else _fold(element)
            if value is _NO_VALUE:
                return _NO_VALUE
            items.append(value)
        if isinstance(node, ast.Tuple):
            return tuple(items)
        return items if isinstance(node, ast.List) else set(items)
    if isinstance(node, ast.Dict):
        result = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            if key_node is None:  # {**other}
                return _NO_VALUE
            key, value = _fold(key_node), _fold(value_node)
            if key is _NO_VALUE or value is _NO_VALUE:
                return _NO_VALUE
            result[key] = value
        return result
    if isinstance(node, ast.UnaryOp):
        operand = _fold(node.operand)
        unary = _UNARY_OPS.get(type(node.op))
        if operand is _NO_VALUE or unary is None:
            return _NO_VALUE
        return unary(operand)
    if isinstance(node, ast.BinOp):
        left, right = _fold(node.left), _fold(node.right)
        if left is _NO_VALUE or right is _NO_VALUE:
            return _NO_VALUE
        return _binop(node.op, left, right)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _CONSTRUCTORS
        and not node.keywords
        and len(node.args) <= 1
        and not any(isinstance(arg, ast.Starred) for arg in node.args)
    ):
        inner: Any = ()
        if node.args:
            inner = _fold(node.args[0])
            if inner is _NO_VALUE:
                return _NO_VALUE
        return _CONSTRUCTORS[node.func.id](inner)
    return _NO_VALUE


_CONSTRUCTORS: dict[str, Callable[[Any], Any]] = {
    "set": set,
    "frozenset": frozenset,
    "tuple": tuple,
    "list": list,
}


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _source_segment(lines: list[str], node: ast.AST) -> str | None:
    """ast.get_source_segment over pre-split lines (offsets are UTF-8 byte columns)."""
    end_lineno = getattr(node, "end_lineno", None)
    end_col = getattr(node, "end_col_offset", None)
    if end_lineno is None or end_col is None:
        return None
    first, last = node.lineno - 1, end_lineno - 1  # type: ignore[attr-defined]
    col = node.col_offset  # type: ignore[attr-defined]
    if not 0 <= first <= last < len(lines):
        return None
    if first == last:
        return lines[first].encode()[col:end_col].decode()
    head = lines[first].encode()[col:].decode()
    tail = lines[last].encode()[:end_col].decode()
    return head + "".join(lines[first + 1 : last]) + tail


class _Converter:
    def __init__(self, source: str, names: frozenset[str]) -> None:
        self.source = source
        self.names = names
        # split once: ast.get_source_segment splits the whole source on every call, which
        # made converting HumanEval's checks ~0.2 s of every start-up
        self.lines = io.StringIO(source, newline="").readlines()

    def segment(self, node: ast.AST) -> str:
        text = _source_segment(self.lines, node)
        return text.strip() if text else ast.unparse(node)

    # -- pieces ---------------------------------------------------------------------------

    def call_args(self, node: ast.expr) -> tuple[Any, ...] | None:
        """Arguments of ``candidate(<literals>)``, or None when ``node`` is not such a call."""
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in self.names
        ):
            return None
        if node.keywords:
            raise _NotConvertible(node, "keyword arguments in the call")
        args = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise _NotConvertible(node, "starred argument in the call")
            value = _const(arg)
            if value is _NO_VALUE:
                raise _NotConvertible(node, "an argument is not a literal")
            args.append(value)
        return tuple(args)

    def wrapped_call(self, node: ast.expr) -> tuple[str, tuple[Any, ...]] | None:
        """``(oracle, args)`` for ``set|frozenset|tuple|list|sorted(candidate(<literals>))``."""
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _WRAPPER_ORACLES
            and len(node.args) == 1
            and not node.keywords
        ):
            args = self.call_args(node.args[0])
            if args is not None:
                return _WRAPPER_ORACLES[node.func.id], args
        return None

    # -- statements -----------------------------------------------------------------------

    def is_noop(self, stmt: ast.stmt) -> bool:
        if isinstance(stmt, ast.Pass):
            return True
        if isinstance(stmt, ast.Expr):
            value = stmt.value
            if isinstance(value, ast.Constant):
                return True
            return (
                isinstance(value, ast.Name)
                and hasattr(builtins, value.id)
                and value.id not in self.names
            )
        if isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Constant):
            return bool(stmt.test.value)
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            return self.harmless_import(stmt)
        return False

    def harmless_import(self, stmt: ast.Import | ast.ImportFrom) -> bool:
        if isinstance(stmt, ast.ImportFrom):
            if stmt.level or stmt.module is None:
                return False
            modules = [stmt.module]
        else:
            modules = [alias.name for alias in stmt.names]
        if any(module.split(".")[0] not in sys.stdlib_module_names for module in modules):
            return False
        for alias in stmt.names:
            if alias.name == "*":
                return False
            bound = alias.asname or alias.name.split(".")[0]
            if bound in self.names:
                return False
        return True

    def statement(self, stmt: ast.stmt) -> TestCase | None:
        """The test a statement becomes, None for a no-op; raises _NotConvertible."""
        if self.is_noop(stmt):
            return None
        if isinstance(stmt, ast.Assert):
            if isinstance(stmt.test, ast.Constant):
                raise _NotConvertible(stmt, "assert of a false constant always fails")
            return self.assertion(stmt.test, self.segment(stmt))
        if isinstance(stmt, ast.Expr):
            args = self.call_args(stmt.value)
            if args is not None:
                return TestCase(
                    kind=TestKind.CALL,
                    args=args,
                    expected=None,
                    compare=Compare.ORACLE,
                    oracle="always",
                    source=self.segment(stmt),
                )
        kind = type(stmt).__name__
        raise _NotConvertible(stmt, f"{kind} statement is not a convertible assert")

    def assertion(self, test: ast.expr, source: str) -> TestCase:
        def call(args: tuple[Any, ...], expected: Any, compare: Compare, **kw: Any) -> TestCase:
            return TestCase(
                kind=TestKind.CALL,
                args=args,
                expected=expected,
                compare=compare,
                source=source,
                **kw,
            )

        args = self.call_args(test)
        if args is not None:
            return call(args, True, Compare.ORACLE, oracle="truthy")
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            args = self.call_args(test.operand)
            if args is not None:
                return call(args, False, Compare.ORACLE, oracle="falsy")
        if isinstance(test, ast.Call):
            return self.isclose(test, source)
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            op, left, right = test.ops[0], test.left, test.comparators[0]
            if isinstance(op, ast.Eq):
                for call_side, lit_side in ((left, right), (right, left)):
                    args = self.call_args(call_side)
                    if args is not None:
                        expected = _const(lit_side)
                        if expected is _NO_VALUE:
                            raise _NotConvertible(test, "the expected value is not a literal")
                        return call(args, expected, Compare.EQUAL)
                for call_side, lit_side in ((left, right), (right, left)):
                    wrapped = self.wrapped_call(call_side)
                    if wrapped is not None:
                        expected = _const(lit_side)
                        if expected is _NO_VALUE:
                            raise _NotConvertible(test, "the expected value is not a literal")
                        oracle, args = wrapped
                        return call(args, expected, Compare.ORACLE, oracle=oracle)
            if isinstance(op, ast.Is):
                for call_side, lit_side in ((left, right), (right, left)):
                    args = self.call_args(call_side)
                    if (
                        args is not None
                        and isinstance(lit_side, ast.Constant)
                        and any(lit_side.value is v for v in (True, False, None))
                    ):
                        return call(args, lit_side.value, Compare.EXACT)
            if isinstance(op, ast.Lt | ast.LtE):
                return self.abs_diff(left, right, isinstance(op, ast.Lt), source)
            if isinstance(op, ast.Gt | ast.GtE):
                return self.abs_diff(right, left, isinstance(op, ast.Gt), source)
        others = sorted(
            {
                node.func.id
                for node in ast.walk(test)
                if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id not in self.names
                and not hasattr(builtins, node.func.id)
            }
        )
        if others:
            called = ", ".join(others)
            raise _NotConvertible(test, f"assert calls {called}, not the candidate")
        raise _NotConvertible(test, "assert expression is not a convertible form")

    def abs_diff(self, diff: ast.expr, bound: ast.expr, strict: bool, source: str) -> TestCase:
        eps = _const(bound)
        if not _is_real(eps):
            raise _NotConvertible(bound, "the tolerance is not a number literal")
        fabs = (
            isinstance(diff, ast.Call)
            and isinstance(diff.func, ast.Attribute)
            and isinstance(diff.func.value, ast.Name)
            and diff.func.value.id == "math"
            and diff.func.attr == "fabs"
        )
        plain = (
            isinstance(diff, ast.Call) and isinstance(diff.func, ast.Name) and diff.func.id == "abs"
        )
        if not (fabs or plain) or not isinstance(diff, ast.Call):
            raise _NotConvertible(diff, "comparison is not abs(...)/math.fabs(...) < eps")
        if len(diff.args) != 1 or diff.keywords:
            raise _NotConvertible(diff, "abs(...) takes one argument")
        sub = diff.args[0]
        if not (isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.Sub)):
            raise _NotConvertible(diff, "abs(...) of something other than a difference")
        for call_side, lit_side in ((sub.left, sub.right), (sub.right, sub.left)):
            args = self.call_args(call_side)
            if args is None:
                continue
            expected = _const(lit_side)
            numbers = (int, float) if fabs else (int, float, complex)
            if expected is _NO_VALUE or not isinstance(expected, numbers):
                raise _NotConvertible(sub, "the expected value is not a number literal")
            name = ("fabs" if fabs else "abs") + ("_lt" if strict else "_le")
            return TestCase(
                kind=TestKind.CALL,
                args=args,
                expected=expected,
                compare=Compare.ORACLE,
                oracle=name,
                atol=float(eps),
                source=source,
            )
        raise _NotConvertible(sub, "the difference does not involve a literal call")

    def isclose(self, test: ast.Call, source: str) -> TestCase:
        func = test.func
        if not (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "math"
            and func.attr == "isclose"
        ):
            raise _NotConvertible(test, "assert of a call that is not the candidate")
        if len(test.args) != 2 or any(isinstance(a, ast.Starred) for a in test.args):
            raise _NotConvertible(test, "math.isclose needs two positional arguments")
        tolerances: dict[str, float] = {}
        for keyword in test.keywords:
            value = _const(keyword.value)
            if keyword.arg is None or keyword.arg not in ("rel_tol", "abs_tol"):
                raise _NotConvertible(test, "math.isclose with an unknown keyword")
            if not _is_real(value):
                raise _NotConvertible(test, "math.isclose tolerance is not a number literal")
            tolerances[keyword.arg] = float(value)
        if len(tolerances) == 2:
            raise _NotConvertible(test, "math.isclose with both rel_tol and abs_tol")
        for call_side, lit_side in ((test.args[0], test.args[1]), (test.args[1], test.args[0])):
            args = self.call_args(call_side)
            if args is None:
                continue
            expected = _const(lit_side)
            if expected is _NO_VALUE or not isinstance(expected, int | float):
                raise _NotConvertible(test, "the expected value is not a real number literal")
            if "rel_tol" in tolerances:
                oracle, atol = "isclose_rel", tolerances["rel_tol"]
            else:
                oracle, atol = "isclose_abs", tolerances.get("abs_tol", 0.0)
            return TestCase(
                kind=TestKind.CALL,
                args=args,
                expected=expected,
                compare=Compare.ORACLE,
                oracle=oracle,
                atol=atol,
                source=source,
            )
        raise _NotConvertible(test, "math.isclose does not compare a literal call")

    # -- module level ---------------------------------------------------------------------

    def module_statement_ok(self, stmt: ast.stmt) -> None:
        """Raise unless a module-level statement cannot affect what the candidate computes."""
        if isinstance(stmt, ast.Pass) or (
            isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
        ):
            return
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            for alias in stmt.names:
                bound = alias.asname or alias.name.split(".")[0]
                if alias.name == "*" or bound in self.names:
                    raise _NotConvertible(stmt, "module-level import may shadow the candidate")
            return
        if isinstance(stmt, ast.FunctionDef):
            defaults = [*stmt.args.defaults, *(d for d in stmt.args.kw_defaults if d)]
            if stmt.decorator_list or any(_const(d) is _NO_VALUE for d in defaults):
                raise _NotConvertible(stmt, "module-level def runs code when defined")
            if stmt.name in self.names:
                raise _NotConvertible(stmt, "module-level def shadows the candidate")
            return
        if isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if stmt.value is None or _const(stmt.value) is _NO_VALUE:
                raise _NotConvertible(stmt, "module-level assignment of a non-literal")
            for target in targets:
                if not isinstance(target, ast.Name) or target.id in self.names:
                    raise _NotConvertible(stmt, "module-level assignment to a non-plain name")
            return
        kind = type(stmt).__name__
        raise _NotConvertible(stmt, f"module-level {kind} statement")


def _code_test(test_code: str) -> TestCase:
    return TestCase(kind=TestKind.CODE, code=test_code, source=CODE_TEST_SOURCE)


def _bare_code(test_code: str) -> str:
    """Bare statements run at module level; the sandbox still calls ``check(...)``."""
    return test_code.rstrip() + f"\n\n\ndef {CHECK_NAME}(candidate):\n    pass\n"


def _split(module: ast.Module) -> tuple[list[ast.stmt], ast.FunctionDef | None]:
    """Module-level statements other than the check, and the check (the last one defined)."""
    checks = [s for s in module.body if isinstance(s, ast.FunctionDef) and s.name == CHECK_NAME]
    check = checks[-1] if checks else None
    rest = [
        s
        for s in module.body
        if not (isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef) and s.name == CHECK_NAME)
    ]
    return rest, check


def _check_names(
    check: ast.FunctionDef | None, entry_point: str, candidate_names: Sequence[str] | None
) -> frozenset[str]:
    names = set(candidate_names) if candidate_names is not None else {"candidate", entry_point}
    if check is not None and check.args.args:
        names.add(check.args.args[0].arg)
    return frozenset(names)


def _check_signature(check: ast.FunctionDef) -> str | None:
    args = check.args
    required = len(args.posonlyargs) + len(args.args) - len(args.defaults)
    if check.decorator_list:
        return "check has decorators"
    if len(args.posonlyargs) + len(args.args) < 1 and args.vararg is None:
        return "check takes no argument"
    if required > 1 or any(d is None for d in args.kw_defaults):
        return "check needs more than one argument"
    return None


def _reason(exc: _NotConvertible) -> str:
    line = getattr(exc.node, "lineno", None)
    return f"line {line}: {exc.why}" if line is not None else exc.why


def convert_check(
    test_code: str,
    entry_point: str,
    *,
    candidate_names: Sequence[str] | None = None,
) -> ConversionResult:
    """Convert check code into data tests, or keep it as one code test (see module doc).

    ``candidate_names`` are the names that denote the function under test; by default
    ``("candidate", entry_point)``, plus the check function's own parameter name.
    """
    try:
        module = parse(test_code)
    except SyntaxError as exc:
        return ConversionResult((_code_test(test_code),), False, f"syntax error: {exc.msg}")
    rest, check = _split(module)
    names = _check_names(check, entry_point, candidate_names)
    converter = _Converter(test_code, names)
    if check is None:
        code, prelude, body = _bare_code(test_code), [], rest
    else:
        code, prelude, body = test_code, rest, check.body
        problem = _check_signature(check)
        if problem is not None:
            return ConversionResult((_code_test(code),), False, problem)
    tests: list[TestCase] = []
    try:
        for stmt in prelude:
            converter.module_statement_ok(stmt)
        for stmt in body:
            if check is None and isinstance(stmt, ast.FunctionDef):
                converter.module_statement_ok(stmt)
                continue
            test = converter.statement(stmt)
            if test is not None:
                tests.append(test)
    except _NotConvertible as exc:
        return ConversionResult((_code_test(code),), False, _reason(exc))
    return ConversionResult(tuple(tests), True, "")


def first_assert_test(
    test_code: str,
    entry_point: str,
    *,
    candidate_names: Sequence[str] | None = None,
) -> TestCase | None:
    """The check's first test alone: what MBPP shows the model (its first assert).

    The check is cut after its first top-level ``assert`` (or candidate call statement);
    that prefix is converted like :func:`convert_check`.  When it does not convert, the
    result is a code test running only that prefix, whose ``source`` is the statement's
    text (what a prompt would show).  None when there is no such statement.
    """
    try:
        module = parse(test_code)
    except SyntaxError:
        return None
    rest, check = _split(module)
    names = _check_names(check, entry_point, candidate_names)
    converter = _Converter(test_code, names)
    body = check.body if check is not None else rest

    def is_test(stmt: ast.stmt) -> bool:
        if isinstance(stmt, ast.Assert):
            return not converter.is_noop(stmt)
        return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)

    index = next((i for i, stmt in enumerate(body) if is_test(stmt)), None)
    if index is None:
        return None
    prefix = body[: index + 1]
    prelude = rest if check is not None else []
    try:
        if check is not None and _check_signature(check) is not None:
            raise _NotConvertible(check, "unusual check signature")
        for stmt in prelude:
            converter.module_statement_ok(stmt)
        found = [converter.statement(stmt) for stmt in prefix]
    except _NotConvertible:
        if check is not None:
            cut = copy.copy(check)
            cut.body = prefix
            code = ast.unparse(ast.Module(body=[*rest, cut], type_ignores=[]))
        else:
            code = _bare_code(ast.unparse(ast.Module(body=prefix, type_ignores=[])))
        return replace(_code_test(code), source=converter.segment(prefix[-1]))
    return found[-1]
