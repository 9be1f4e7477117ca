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

    def __init__(self, script: Script, *, cycle: bool = False, name: str = "mock:script") -> None:
        self.name = name
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


def _read_script(path: Path) -> Sequence[str] | Mapping[str, Sequence[str]]:
    if not path.is_file():
        raise ModelRequestError(f"mock script file not found: {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        items: list[Any] = [json.loads(line) for line in text.splitlines() if line.strip()]
        if all(isinstance(item, str) for item in items):
            return items
        by_task: dict[str, list[str]] = {}
        for item in items:
            if not isinstance(item, dict) or "task_id" not in item:
                raise ModelRequestError(
                    f"{path}: each line is a JSON string or an object with a task_id"
                )
            outputs = item.get("completions", [item.get("completion", item.get("text"))])
            by_task.setdefault(str(item["task_id"]), []).extend(str(o) for o in outputs)
        return by_task
    data = json.loads(text)
    if isinstance(data, list):
        return [str(x) for x in data]
    if isinstance(data, dict):
        return {
            str(k): [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in data.items()
        }
    raise ModelRequestError(f"{path}: expected a JSON list or object")


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
