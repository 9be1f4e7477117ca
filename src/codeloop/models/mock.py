"""`mock`: scripted outputs.  A real provider, used by the tests and by `--model mock:...`.

Forms:

- `MockBackend(["a", "b", ...])`: outputs served in order, one per sample, across calls;
  running out is a `ModelRequestError` unless `cycle=True`.
- `MockBackend({"HumanEval/0": [...], ...})`: a list per task (`request.task_id`), each
  with its own cursor.
- `MockBackend(fn)`: `fn(request, index) -> str` (or an awaitable of one); `index` counts
  the samples this backend produced before this one (0, 1, 2, ... across all calls).
- `mock:echo`: returns the prompt, or the last user message of a chat.
- `mock:file:PATH`: a `.json` list or mapping task_id -> list, or a `.jsonl` whose lines
  are strings (served in order) or objects {"task_id", "completions": [...]} /
  {"task_id", "completion": "..."}.

Every request is recorded in `.requests`, so a test can assert what a strategy sent.
Token counts are whitespace-separated words, so token budgets can be tested too.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from codeloop.models.base import (
    ModelRequestError,
    PromptMode,
    Stopwatch,
    check_request,
    last_user_message,
    split_usage,
)
from codeloop.types import Completion, GenerationRequest

__all__ = ["MockBackend", "MockFn", "load_mock"]

MockFn = Callable[[GenerationRequest, int], "str | Awaitable[str]"]
Script = Sequence[str] | Mapping[str, Sequence[str]] | MockFn


def _words(text: str) -> int:
    return len(text.split())


class MockBackend:
    """Scripted outputs; see the module docstring."""

    def __init__(
        self,
        script: Script,
        *,
        cycle: bool = False,
        name: str = "mock:script",
        prompt_mode: PromptMode | None = None,
    ) -> None:
        self.name = name
        self.prompt_mode = prompt_mode  # None: declares nothing (strategies' auto: chat)
        self.cycle = cycle
        self.requests: list[GenerationRequest] = []
        self.samples_served = 0
        self._fn: MockFn | None = None
        self._list: list[str] | None = None
        self._by_task: dict[str, list[str]] | None = None
        self._cursors: dict[str | None, int] = {}
        if callable(script):
            self._fn = script
        elif isinstance(script, Mapping):
            self._by_task = {str(k): [str(x) for x in v] for k, v in script.items()}
        elif isinstance(script, str):
            raise TypeError("a mock script is a list of strings, a mapping or a callable")
        else:
            self._list = [str(x) for x in script]
        self.closed = False

    @property
    def calls(self) -> int:
        return len(self.requests)

    async def generate(self, request: GenerationRequest) -> list[Completion]:
        check_request(request)
        self.requests.append(request)
        with Stopwatch() as sw:
            texts = [await self._next(request) for _ in range(request.n)]
        prompt_tokens = (
            _words(request.prompt)
            if request.prompt is not None
            else sum(_words(m.content) for m in request.messages or ())
        )
        usages = split_usage(
            request.n,
            prompt_tokens=prompt_tokens,
            completion_tokens=[_words(t) for t in texts],
            latency_s=sw.seconds,
        )
        return [
            Completion(text=t, finish_reason="stop", usage=u)
            for t, u in zip(texts, usages, strict=True)
        ]

    async def _next(self, request: GenerationRequest) -> str:
        index = self.samples_served
        if self._fn is not None:
            out = self._fn(request, index)
            if inspect.isawaitable(out):
                out = await out
            text = str(out)
        else:
            key: str | None
            if self._by_task is not None:
                key = request.task_id
                if key is None or key not in self._by_task:
                    raise ModelRequestError(
                        f"mock script has no outputs for task {key!r} "
                        f"(it has {len(self._by_task)} tasks)"
                    )
                outputs = self._by_task[key]
            else:
                key = None
                outputs = self._list or []
            cursor = self._cursors.get(key, 0)
            if cursor >= len(outputs):
                if not self.cycle or not outputs:
                    where = "" if key is None else f" for task {key!r}"
                    raise ModelRequestError(
                        f"mock script exhausted{where}: all {len(outputs)} outputs were served "
                        "(pass cycle=True to start again)"
                    )
                cursor = 0
            text = outputs[cursor]
            self._cursors[key] = cursor + 1
        self.samples_served += 1
        return text

    async def aclose(self) -> None:
        self.closed = True


def _echo(request: GenerationRequest, index: int) -> str:
    return last_user_message(request)


def _strings(value: Any) -> list[str] | None:
    """`value` as a list of outputs (a string is one output), or None when it is neither a
    string nor a list of strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return list(value)
    return None


def _kind(value: Any) -> str:
    """What a JSON value is, in words."""
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "true/false"}
    kinds |= {int: "a number", float: "a number", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def _read_jsonl(path: Path, text: str) -> Sequence[str] | Mapping[str, Sequence[str]]:
    items: list[tuple[int, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ModelRequestError(
                f"mock script {path}: line {number}: not valid JSON ({exc.msg})"
            ) from None
    if items and isinstance(items[0][1], str):  # a file of output strings, served in order
        for number, item in items:
            if not isinstance(item, str):
                raise ModelRequestError(
                    f"mock script {path}: line {number} is {_kind(item)}, but the first line "
                    "is a string: every line is an output string, or every line an object "
                    "with a task_id"
                )
        return [item for _, item in items]
    by_task: dict[str, list[str]] = {}
    for number, item in items:
        outputs = None
        if isinstance(item, dict) and "task_id" in item:
            outputs = _strings(
                item["completions"]
                if "completions" in item
                else item.get("completion", item.get("text"))
            )
        if outputs is None:
            raise ModelRequestError(
                f"mock script {path}: line {number}: expected a JSON string or an object with "
                'a "task_id" and "completions" (a list of strings) or "completion" (a string)'
            )
        by_task.setdefault(str(item["task_id"]), []).extend(outputs)
    return by_task


def _read_script(path: Path) -> Sequence[str] | Mapping[str, Sequence[str]]:
    """The outputs a `mock:file:` script holds; a file that is missing, not JSON or not of
    one of the documented shapes is a `ModelRequestError` naming the file and the place."""
    if not path.is_file():
        raise ModelRequestError(f"mock script file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelRequestError(f"mock script {path}: cannot read it ({exc})") from None
    if path.suffix == ".jsonl":
        return _read_jsonl(path, text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelRequestError(
            f"mock script {path}: not valid JSON at line {exc.lineno}, column {exc.colno} "
            f"({exc.msg})"
        ) from None
    if isinstance(data, list):
        for index, item in enumerate(data):
            if not isinstance(item, str):
                raise ModelRequestError(
                    f"mock script {path}: item {index} is {_kind(item)}; "
                    "a JSON list holds output strings"
                )
        return list(data)
    if isinstance(data, dict):
        by_task: dict[str, list[str]] = {}
        for key, value in data.items():
            outputs = _strings(value)
            if outputs is None:
                raise ModelRequestError(
                    f"mock script {path}: task {key!r} maps to {_kind(value)}; "
                    "expected a string or a list of strings"
                )
            by_task[str(key)] = outputs
        return by_task
    raise ModelRequestError(
        f"mock script {path}: holds {_kind(data)}; expected a JSON list of outputs "
        "or an object mapping task_id to outputs"
    )


def load_mock(rest: str, *, cycle: bool = False) -> MockBackend:
    """`mock:echo`, `mock:file:PATH` (see the module docstring)."""
    if rest in ("", "echo"):
        return MockBackend(_echo, name="mock:echo")
    if rest.startswith("file:"):
        path = Path(rest[len("file:") :]).expanduser()
        return MockBackend(_read_script(path), cycle=cycle, name=f"mock:file:{path}")
    raise ModelRequestError(
        f"unknown mock form {rest!r}: use mock:echo or mock:file:PATH.json[l] "
        "(or MockBackend(script) from Python)"
    )
