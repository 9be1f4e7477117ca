"""Tasks from a user's file: JSON Lines (``.jsonl``) or YAML (``.yaml``/``.yml``).

The formats are documented with examples in ``docs/tasks.md``.  In short, a record is either

* a function task (it has ``entry_point``)::

    {"task_id": "add", "prompt": "def add(a, b):\\n    \\"\\"\\"Sum.\\"\\"\\"\\n",
     "entry_point": "add", "tests": [{"input": [1, 2], "output": 3}],
     "test": "assert add(2, 2) == 4", "visible_tests": [{"input": [0, 0], "output": 0}],
     "reference": "def add(a, b):\\n    return a + b\\n", "compare": "equal", "atol": 1e-6}

  ``tests`` and the converted ``test`` code (see :func:`~codeloop.tasks.asserts.convert_check`)
  form the hidden tests ``{"base": ...}``; visible tests come from ``visible_tests``, else
  from the prompt's docstring examples.  ``compare`` is ``"equal"`` (Python ``==``, the
  default) or ``"exact"`` (type-strict); ``atol`` makes it EvalPlus's ``Compare.CLOSE``.
* a stdin/stdout task (no ``entry_point``)::

    {"task_id": "echo", "prompt": "Print the input.",
     "tests": [{"stdin": "1 2\\n", "stdout": "1 2\\n"}], "visible_tests": [...]}

  APPS's ``input_output`` (``{"inputs": [...], "outputs": [...]}``, or that object as a JSON
  string) adds hidden tests; CodeContests' ``public_tests``/``private_tests``/
  ``generated_tests`` (``{"input": [...], "output": [...]}``) give visible tests (when
  ``visible_tests`` is absent), hidden ``base`` tests and hidden ``generated`` tests.
  Outputs compare with ``Compare.STDOUT`` (:func:`~codeloop.tasks.stdout.stdout_matches`).

A YAML file holds a list of such mappings, or a mapping whose ``tasks`` key holds it.
Records are validated with pydantic; unknown keys are errors (free-form data goes in
``metadata``).  Every problem raises :class:`~codeloop.tasks.errors.TaskFileError` naming the
file and the 1-based line: the record's line in JSON Lines, and in YAML the line of the
offending item, or of the offending key inside it where it can be found.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from codeloop.tasks._io import read_jsonl, stamp_source
from codeloop.tasks.asserts import convert_check
from codeloop.tasks.docstring import docstring_examples
from codeloop.tasks.errors import TaskFileError
from codeloop.types import Compare, Task, TaskKind, TestCase, TestKind

JSONL_SUFFIXES = (".jsonl",)
YAML_SUFFIXES = (".yaml", ".yml")


# --- the schema ----------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CallExample(_Strict):
    """One call: the arguments, in order, and the value the function must return."""

    input: list[Any]
    output: Any


class StdioExample(_Strict):
    stdin: str
    stdout: str


def _text(value: str | list[str]) -> str:
    # APPS stores some inputs/outputs as lists of lines
    return value if isinstance(value, str) else "\n".join(value)


class AppsInputOutput(BaseModel):
    """APPS's ``input_output``: parallel lists of stdin texts and expected stdout texts."""

    model_config = ConfigDict(extra="allow", frozen=True)
    inputs: list[str | list[str]]
    outputs: list[str | list[str]]
    fn_name: str | None = None

    def examples(self) -> list[StdioExample]:
        if self.fn_name is not None:
            raise ValueError(
                "call-based APPS problems (fn_name) are not supported: "
                "write a function task with entry_point and tests instead"
            )
        if len(self.inputs) != len(self.outputs):
            raise ValueError("input_output has different numbers of inputs and outputs")
        return [
            StdioExample(stdin=_text(i), stdout=_text(o))
            for i, o in zip(self.inputs, self.outputs, strict=True)
        ]


class CodeContestsTests(BaseModel):
    """CodeContests' ``public_tests``/``private_tests``/``generated_tests``."""

    model_config = ConfigDict(extra="allow", frozen=True)
    input: list[str]
    output: list[str]

    def examples(self) -> list[StdioExample]:
        if len(self.input) != len(self.output):
            raise ValueError("different numbers of inputs and outputs")
        return [
            StdioExample(stdin=i, stdout=o) for i, o in zip(self.input, self.output, strict=True)
        ]


class _TaskSpec(_Strict):
    task_id: str = Field(min_length=1)
    prompt: str
    reference: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class FunctionTaskSpec(_TaskSpec):
    entry_point: str
    tests: list[CallExample] = Field(default_factory=list)
    test: str | None = None
    visible_tests: list[CallExample] | None = None
    compare: Literal["equal", "exact"] = "equal"
    atol: float | None = Field(default=None, ge=0)

    @field_validator("entry_point")
    @classmethod
    def _identifier(cls, value: str) -> str:
        value = value.strip()
        if not value.isidentifier():
            raise ValueError(f"{value!r} is not a Python identifier")
        return value


class StdioTaskSpec(_TaskSpec):
    tests: list[StdioExample] = Field(default_factory=list)
    visible_tests: list[StdioExample] | None = None
    input_output: AppsInputOutput | None = None
    public_tests: CodeContestsTests | None = None
    private_tests: CodeContestsTests | None = None
    generated_tests: CodeContestsTests | None = None

    @field_validator("input_output", mode="before")
    @classmethod
    def _json_string(cls, value: Any) -> Any:
        # APPS stores input_output as a JSON string
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"input_output is not valid JSON: {exc.msg}") from None
        return value


# --- building tasks ------------------------------------------------------------------------


class _SpecError(Exception):
    """A problem with one record, with the path of keys leading to it."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        self.loc = loc
        self.message = message
        super().__init__(message)


def _call_test(spec: FunctionTaskSpec, example: CallExample) -> TestCase:
    args = tuple(example.input)
    shown = ", ".join(repr(arg) for arg in args)
    if spec.atol is not None:
        compare, atol = Compare.CLOSE, spec.atol
    else:
        compare, atol = Compare(spec.compare), 0.0
    return TestCase(
        kind=TestKind.CALL,
        args=args,
        expected=example.output,
        compare=compare,
        atol=atol,
        source=f"{spec.entry_point}({shown}) == {example.output!r}",
    )


def _function_task(spec: FunctionTaskSpec, dataset: str) -> Task:
    if spec.atol is not None and spec.compare == "exact":
        raise _SpecError(("atol",), "atol cannot be combined with compare 'exact'")
    hidden = [_call_test(spec, example) for example in spec.tests]
    metadata = dict(spec.metadata)
    if spec.test is not None:
        conversion = convert_check(spec.test, spec.entry_point)
        hidden.extend(conversion.tests)
        metadata.update(
            test=spec.test,
            check_converted=conversion.converted,
            check_conversion_reason=conversion.reason,
        )
    if not hidden:
        raise _SpecError(("tests",), "a function task needs 'tests' or 'test'")
    if spec.visible_tests is not None:
        visible = tuple(_call_test(spec, example) for example in spec.visible_tests)
    else:
        visible = docstring_examples(spec.prompt, spec.entry_point)
    return Task(
        task_id=spec.task_id,
        prompt=spec.prompt,
        entry_point=spec.entry_point,
        kind=TaskKind.FUNCTION,
        visible_tests=visible,
        hidden_tests={"base": tuple(hidden)},
        reference=spec.reference,
        dataset=dataset,
        metadata=metadata,
    )


def _stdio_tests(examples: list[StdioExample]) -> tuple[TestCase, ...]:
    return tuple(
        TestCase(
            kind=TestKind.STDIO,
            stdin=example.stdin,
            expected=example.stdout,
            compare=Compare.STDOUT,
        )
        for example in examples
    )


def _examples(source: AppsInputOutput | CodeContestsTests | None, key: str) -> list[StdioExample]:
    if source is None:
        return []
    try:
        return source.examples()
    except ValueError as exc:
        raise _SpecError((key,), str(exc)) from None


def _stdio_task(spec: StdioTaskSpec, dataset: str) -> Task:
    base = [
        *spec.tests,
        *_examples(spec.input_output, "input_output"),
        *_examples(spec.private_tests, "private_tests"),
    ]
    generated = _examples(spec.generated_tests, "generated_tests")
    if not base and not generated:
        raise _SpecError(("tests",), "a stdio task needs 'tests' (or input_output, ...)")
    hidden: dict[str, tuple[TestCase, ...]] = {}
    if base:
        hidden["base"] = _stdio_tests(base)
    if generated:
        hidden["generated"] = _stdio_tests(generated)
    if spec.visible_tests is not None:
        visible = _stdio_tests(spec.visible_tests)
    else:
        visible = _stdio_tests(_examples(spec.public_tests, "public_tests"))
    return Task(
        task_id=spec.task_id,
        prompt=spec.prompt,
        entry_point=None,
        kind=TaskKind.STDIO,
        visible_tests=visible,
        hidden_tests=hidden,
        reference=spec.reference,
        dataset=dataset,
        metadata=dict(spec.metadata),
    )


def task_from_record(record: Any, dataset: str) -> Task:
    """Validate one record and build its task; raises _SpecError."""
    if not isinstance(record, dict):
        raise _SpecError((), f"a task must be a mapping, got {type(record).__name__}")
    try:
        if record.get("entry_point") is not None:
            return _function_task(FunctionTaskSpec.model_validate(record), dataset)
        return _stdio_task(StdioTaskSpec.model_validate(record), dataset)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        where = ".".join(str(part) for part in loc)
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        message = f"{where}: {first['msg']}" if where else first["msg"]
        raise _SpecError(loc, message + more) from None


# --- reading files -------------------------------------------------------------------------


def _jsonl_records(path: Path) -> Iterator[tuple[int, Any, Any]]:
    for line, record in read_jsonl(path):
        yield line, record, None


def _yaml_items(path: Path, text: str) -> list[tuple[int, Any, yaml.Node]]:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return []
        items_node: yaml.Node | None = root
        if isinstance(root, yaml.MappingNode):
            items_node = next(
                (value for key, value in root.value if key.value == "tasks"),
                None,
            )
            if items_node is None:
                raise TaskFileError(path, root.start_mark.line + 1, "a mapping needs 'tasks'")
        if not isinstance(items_node, yaml.SequenceNode):
            line = items_node.start_mark.line + 1 if items_node is not None else None
            raise TaskFileError(path, line, "expected a list of tasks")
        return [
            (node.start_mark.line + 1, loader.construct_object(node, deep=True), node)
            for node in items_node.value
        ]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise TaskFileError(path, line, f"invalid YAML: {problem}") from None
    finally:
        loader.dispose()


def _node_line(node: yaml.Node, loc: tuple[str | int, ...]) -> int:
    """The line of the deepest YAML node that ``loc`` reaches from ``node``."""
    line = node.start_mark.line + 1
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    line = key.start_mark.line + 1
                    child = value
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                child = node.value[part]
                line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def load_user_file(path: str | Path) -> list[Task]:
    """Tasks from a ``.jsonl``, ``.yaml`` or ``.yml`` file (see the module doc)."""
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in JSONL_SUFFIXES + YAML_SUFFIXES:
        raise TaskFileError(file, None, "unknown file type (expected .jsonl, .yaml or .yml)")
    if not file.is_file():
        raise TaskFileError(file, None, "no such file")
    if suffix in YAML_SUFFIXES:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TaskFileError(file, None, f"cannot read: {exc}") from None
        records: list[tuple[int, Any, Any]] = list(_yaml_items(file, text))
    else:
        records = list(_jsonl_records(file))
    dataset = file.stem
    tasks: list[Task] = []
    first_line: dict[str, int] = {}
    for line, record, node in records:
        try:
            task = task_from_record(record, dataset)
        except _SpecError as exc:
            where = _node_line(node, exc.loc) if node is not None else line
            raise TaskFileError(file, where, exc.message) from None
        if task.task_id in first_line:
            raise TaskFileError(
                file,
                line,
                f"duplicate task_id {task.task_id!r} (first at line {first_line[task.task_id]})",
            )
        first_line[task.task_id] = line
        tasks.append(task)
    if not tasks:
        raise TaskFileError(file, None, "the file holds no tasks")
    return stamp_source(tasks, file)
