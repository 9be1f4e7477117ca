"""The tracer that runs inside the sandbox, next to the program it traces.

This module is not imported to trace anything: its text is the program the sandbox runs for
a traced run (`SolveContext.trace`).  The candidate program travels as a string; the probe
compiles it under its own file name, runs its module code untraced, then makes one call
under ``sys.settrace`` and returns what happened as plain builtins (lists, strings, ints), so
the trusted side decodes data, never objects.  It uses the standard library only.

Events are recorded only for frames of the candidate's own functions (file name
`CANDIDATE_FILENAME`, a name not starting with "<": comprehensions, lambdas and generator
expressions count as part of the line that runs them).  Each event carries the frame's
local variables as LDB shows them: ``name=str(value)`` pairs (dunder names left out) joined
by tabs, 100 characters or more kept as the first 50, "..." and the last 50.  Each value is
first cut the same way on its own, which leaves the joined string exactly as LDB's rule
makes it from the full values and keeps the cost of a huge value small.  The first
`max_events` events and the last `max_events` are kept; the count of those in between is
reported as dropped.  A CPU-time deadline below the sandbox's own limit stops a run that
does not end and still returns its steps.
"""

from __future__ import annotations

import builtins
import opcode
import sys
import time
from collections import deque
from typing import Any

CANDIDATE_FILENAME = "<candidate>"
CALL_FILENAME = "<trace-call>"
VALUE_LIMIT = 100
VALUE_KEEP = 50
OUTPUT_LIMIT = 1000
OUTPUT_KEEP = 500
MESSAGE_CAP = 1000
HUGE_INT_BITS = 20000  # str() of a bigger int is slow (quadratic): described instead
_YIELD = opcode.opmap.get("YIELD_VALUE", -1)
_GENERATOR_FLAGS = 0x20 | 0x80 | 0x200  # CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR


class _Stop(BaseException):
    """Raised into the traced program when its deadline passes (a BaseException, so that
    ``except Exception`` in the program does not swallow it)."""


def _cut(text: str, limit: int, keep: int) -> str:
    if len(text) >= limit:
        return text[:keep] + "..." + text[-keep:]
    return text


def _edge(parts: Any, opening: str, closing: str, keep: int, item: Any, tail: bool) -> str:
    """The first (or last) `keep` characters of ``opening + ", ".join(...) + closing``,
    rendering only as many items as that needs."""
    pieces: list[str] = []
    size = len(closing if tail else opening)
    for part in parts:
        text = item(part)
        size += len(text) + (2 if pieces else 0)
        pieces.append(text)
        if size >= keep:
            break
    if tail:
        pieces.reverse()
        return (", ".join(pieces) + closing)[-keep:]
    return (opening + ", ".join(pieces))[:keep]


def _dict_item(pair: Any) -> str:
    return f"{pair[0]!r}: {pair[1]!r}"


def render(value: Any, limit: int = VALUE_LIMIT, keep: int = VALUE_KEEP) -> str:
    """``str(value)``, cut to first `keep` + "..." + last `keep` characters when it has
    `limit` characters or more; long lists, tuples, dicts and sets are rendered only at
    their ends (the same text, in time that does not grow with their length)."""
    try:
        cls = type(value)
        if cls is str:
            return _cut(value, limit, keep)
        if cls is int and value.bit_length() > HUGE_INT_BITS:
            return f"<int with about {int(value.bit_length() * 0.30103) + 1} digits>"
        if cls is list or cls is tuple or cls is dict:
            # n items render to at least 3n - 2 + 2 characters: the text is surely cut
            if len(value) >= limit:
                opening, closing = ("[", "]") if cls is list else ("(", ")")
                if cls is dict:
                    head = _edge(iter(value.items()), "{", "}", keep, _dict_item, False)
                    last = _edge(reversed(value.items()), "{", "}", keep, _dict_item, True)
                else:
                    head = _edge(iter(value), opening, closing, keep, repr, False)
                    last = _edge(reversed(value), opening, closing, keep, repr, True)
                return head + "..." + last
        if (cls is set or cls is frozenset) and len(value) >= limit:
            items = list(value)  # the order str() shows them in; no item rendered yet
            opening, closing = ("{", "}") if cls is set else ("frozenset({", "})")
            head = _edge(iter(items), opening, closing, keep, repr, False)
            last = _edge(reversed(items), opening, closing, keep, repr, True)
            return head + "..." + last
        return _cut(str(value), limit, keep)
    except BaseException:
        return "<unprintable>"


def joined(pairs: list[tuple[str, str]]) -> str:
    """LDB's value string: ``name=value`` pairs joined by tabs, 100 characters or more kept
    as the first 50, "..." and the last 50 (the same as `codeloop.feedback.trace`)."""
    return _cut("\t".join(f"{name}={value}" for name, value in pairs), VALUE_LIMIT, VALUE_KEEP)


def _pairs(frame: Any) -> list[tuple[str, str]]:
    try:
        names = frame.f_locals
        return [(name, render(value)) for name, value in names.items() if not name.startswith("__")]
    except BaseException:
        return []


def _variables(frame: Any) -> str:
    return joined(_pairs(frame))


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:
        text = "<unprintable>"
    name = type(exc).__name__
    return _cut(f"{name}: {text}" if text else name, MESSAGE_CAP, MESSAGE_CAP // 2)


def _exception_text(exc: BaseException) -> str:
    try:
        return _cut(str(exc), OUTPUT_LIMIT, OUTPUT_KEEP)
    except BaseException:
        return "<unprintable>"


class _Recorder:
    """Collects events of the candidate's frames; see the module docstring."""

    def __init__(self, max_events: int, deadline: float) -> None:
        self.max_events = max_events
        self.deadline = deadline
        self.head: list[list[Any]] = []
        self.tail: deque[list[Any]] = deque(maxlen=max_events)
        self.total = 0
        self.functions: list[list[Any]] = []
        self.function_index: dict[Any, int] = {}
        # id(frame) -> [frame, serial, depth, function, an exception is leaving it]
        self.live: dict[int, list[Any]] = {}
        self.stack: list[int] = []
        self.serials = 0
        self.stopped = False

    def add(self, event: list[Any]) -> None:
        self.total += 1
        if len(self.head) < self.max_events:
            self.head.append(event)
        else:
            self.tail.append(event)

    def check_clock(self) -> None:
        if time.process_time() > self.deadline:
            self.stopped = True
            raise _Stop

    def on_call(self, frame: Any, event: str, arg: Any) -> Any:
        if event != "call":
            return None
        code = frame.f_code
        if code.co_filename != CANDIDATE_FILENAME or code.co_name.startswith("<"):
            return None
        if self.stopped:
            return None
        self.check_clock()
        entry = self.live.get(id(frame))
        if entry is None or entry[0] is not frame:
            key = (code.co_name, code.co_firstlineno)
            function = self.function_index.get(key)
            if function is None:
                function = self.function_index[key] = len(self.functions)
                self.functions.append([code.co_name, code.co_firstlineno])
            self.serials += 1
            entry = [frame, self.serials, 0, function, False]
            self.live[id(frame)] = entry
        entry[2] = len(self.stack)
        entry[4] = False
        self.stack.append(entry[1])
        self.add(["c", entry[1], entry[3], entry[2], frame.f_lineno, _variables(frame), None])
        return self.on_event

    def on_event(self, frame: Any, event: str, arg: Any) -> Any:
        if self.stopped:
            return None
        entry = self.live.get(id(frame))
        if entry is None:
            return None
        serial, depth, function = entry[1], entry[2], entry[3]
        if event == "line":
            entry[4] = False
            self.check_clock()
            self.add(["l", serial, function, depth, frame.f_lineno, _variables(frame), None])
        elif event == "return":
            code = frame.f_code
            suspended = bool(code.co_flags & _GENERATOR_FLAGS) and (
                frame.f_lasti >= 0 and code.co_code[frame.f_lasti] == _YIELD
            )
            pairs = _pairs(frame)
            raised = entry[4]  # an exception leaves the frame: no value returned
            if not raised:
                pairs.append(("_yield" if suspended else "_ret", render(arg)))
            variables = joined(pairs)
            self.add(["r", serial, function, depth, frame.f_lineno, variables, int(raised)])
            if self.stack and self.stack[-1] == serial:
                self.stack.pop()
            if not suspended:
                self.live.pop(id(frame), None)
        elif event == "exception":
            exc = arg[1] if isinstance(arg, tuple) and len(arg) > 1 else None
            text = _describe(exc) if isinstance(exc, BaseException) else ""
            entry[4] = True
            self.add(["x", serial, function, depth, frame.f_lineno, _variables(frame), text])
        return self.on_event


def __codeloop_trace__(source: str, spec: dict[str, Any], args: Any) -> dict[str, Any]:
    """Run `source`'s module code, then the call `spec` describes, traced.

    spec: ``mode`` "call" (call ``entry`` with `args`) or "expr" (evaluate ``expr`` after
    running ``setup``, with ``candidate`` bound to ``entry`` when the program has no such
    name; ``context`` is the task's own code the expression may use); ``max_events``;
    ``time_s`` (the CPU seconds after which the call is stopped) and ``cpu_deadline`` (the
    process's CPU time at which it is stopped, whichever comes first)."""
    result: dict[str, Any] = {
        "status": "ok",
        "message": "",
        "output": "",
        "head": [],
        "tail": [],
        "dropped": 0,
        "total": 0,
        "functions": [],
    }
    try:
        code = compile(source, CANDIDATE_FILENAME, "exec", dont_inherit=True)
    except SyntaxError as exc:  # ast parsed it; the compiler did not (return outside a def)
        result["status"] = "syntax_error"
        result["message"] = _describe(exc)
        return result
    namespace: dict[str, Any] = {"__name__": "__codeloop_solution__", "__builtins__": builtins}
    try:
        exec(code, namespace)
        call = _prepare(namespace, spec, args)
    except BaseException as exc:
        result["status"] = _status_of(exc)
        result["message"] = _describe(exc) + " (while loading the program)"
        result["output"] = _exception_text(exc)
        return result
    seconds = float(spec.get("time_s", 2.0))
    deadline = min(time.process_time() + seconds, float(spec.get("cpu_deadline", 1e9)))
    recorder = _Recorder(max(1, int(spec.get("max_events", 2000))), deadline)
    value: Any = None
    failure: BaseException | None = None
    sys.settrace(recorder.on_call)
    try:
        value = call()
    except BaseException as exc:
        failure = exc
    finally:
        sys.settrace(None)
    if recorder.stopped:
        result["status"] = "timeout"
        result["message"] = (
            f"the traced call did not finish within {seconds:.2f}s of CPU"
            " (tracing slows a program down)"
        )
    elif failure is not None:
        result["status"] = _status_of(failure)
        result["message"] = _describe(failure)
        result["output"] = _exception_text(failure)
    else:
        result["output"] = render(value, OUTPUT_LIMIT, OUTPUT_KEEP)
    result["head"] = recorder.head
    result["tail"] = list(recorder.tail)
    result["total"] = recorder.total
    result["dropped"] = recorder.total - len(recorder.head) - len(recorder.tail)
    result["functions"] = recorder.functions
    return result


def _status_of(exc: BaseException) -> str:
    if isinstance(exc, MemoryError | SystemExit):
        return "crash"
    return "exception"


def _prepare(namespace: dict[str, Any], spec: dict[str, Any], args: Any) -> Any:
    entry = str(spec.get("entry") or "")
    if spec.get("mode") == "call":
        if entry not in namespace:
            raise NameError(f"name '{entry}' is not defined")
        function = namespace[entry]
        call_args = tuple(args)
        return lambda: function(*call_args)
    scope = dict(namespace)
    context = str(spec.get("context") or "")
    if context:  # the task's helpers, where the program lacks them; optional
        extra: dict[str, Any] = {"__builtins__": builtins}
        try:
            exec(compile(context, "<context>", "exec", dont_inherit=True), extra)
        except Exception:
            pass
        for name, value in extra.items():
            scope.setdefault(name, value)
    if "candidate" not in scope and entry in namespace:
        scope["candidate"] = namespace[entry]
    setup = str(spec.get("setup") or "")
    if setup:
        exec(compile(setup, CALL_FILENAME, "exec", dont_inherit=True), scope)
    expression = compile(str(spec["expr"]), CALL_FILENAME, "eval", dont_inherit=True)
    return lambda: eval(expression, scope)  # noqa: S307 - inside the sandbox, by design
