"""EvalPlus: HumanEval+ and MBPP+ (more test inputs; expected outputs come from running the
reference solution, which is done later in the sandbox, not here).

Files (JSON Lines, optionally gzip): ``dataset_file``, else ``$CODELOOP_HUMANEVALPLUS`` /
``$CODELOOP_MBPPPLUS``, else the shared data folder (``evalplus/HumanEvalPlus-v0.1.10.jsonl.gz``,
``evalplus/MbppPlus-pre-release-767efcc.jsonl``).  Fields: ``task_id``, ``prompt``,
``entry_point``, ``canonical_solution``, ``base_input``, ``plus_input``, ``atol``,
``contract``, and for MBPP+ ``assertion`` (MBPP's original asserts).

Each input becomes ``TestCase(kind=CALL, args=tuple(input), has_expected=False,
compare=Compare.CLOSE, atol=float(atol))``, grouped as hidden tests ``{"base", "plus"}``.
Inputs and ``atol`` may be JSON values or, in MBPP+'s pre-release file format, strings holding
Python literals; strings are parsed with :func:`ast.literal_eval` (never ``eval``).  An empty
JSON object in place of an input list (MBPP+ pre-release, Mbpp/793 ``plus_input``) means no
inputs.

``reference`` is ``prompt + canonical_solution``, as EvalPlus 0.3.1 runs it: for HumanEval+
the solution is a function body, for MBPP+ a whole program after a docstring prompt.

Special oracles, as EvalPlus 0.3.1 decides them (``evalplus/eval/__init__.py``): HumanEval+
``find_zero`` (HumanEval/32) uses oracle ``find_zero``; in MBPP+, entry points in
``MBPP_OUTPUT_SET_EQ_TASKS`` use ``set_eq``, those in ``MBPP_OUTPUT_NOT_NONE_TASKS`` use
``not_none``, and ``are_equivalent``/``sum_div``/``surface_Area``/``digit_distance_nums``
use ``always``/``sum_div``/``surface_area``/``digit_distance_nums`` (see
:mod:`codeloop.tasks.oracles`).  For the ``not_none`` tasks EvalPlus records the reference's
output as ``output is not None`` (the output is a regex match object, which has no builtin
form); ``metadata["reference_output_transform"] = "is_not_none"`` says so to whoever
computes expected outputs.

MBPP+ inputs are stored as JSON, which has no tuples, sets or complex numbers; EvalPlus
rebuilds them per task (``mbpp_deserialize_inputs``) and so does :func:`mbpp_plus_args`.
The pre-release file needs it as much as the released ones: with the raw lists, the
canonical solutions' own input contracts (``assert isinstance(x, tuple)``) reject the inputs
of 54 tasks; after rebuilding, none.

Visible tests: HumanEval+ uses the prompt's docstring examples (as HumanEval); MBPP+ uses
the first assert of ``assertion`` (MBPP's convention), or the prompt's examples when there
is no ``assertion`` field (released MBPP+ puts the assert in the prompt).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codeloop.tasks._function import FunctionRecord
from codeloop.tasks._io import read_jsonl, stamp_source
from codeloop.tasks.asserts import first_assert_test
from codeloop.tasks.docstring import docstring_examples
from codeloop.tasks.errors import TaskFileError
from codeloop.tasks.humaneval import visible_examples
from codeloop.tasks.paths import HUMANEVAL_PLUS_FILE, MBPP_PLUS_FILE, dataset_file
from codeloop.types import Compare, Task, TestCase, TestKind

HUMANEVAL_PLUS = "humaneval+"
MBPP_PLUS = "mbpp+"
HUMANEVAL_PLUS_ENV = "CODELOOP_HUMANEVALPLUS"
MBPP_PLUS_ENV = "CODELOOP_MBPPPLUS"

# evalplus/eval/_special_oracle.py (0.3.1)
MBPP_OUTPUT_NOT_NONE_TASKS = frozenset({"check_str", "text_match_three", "text_starta_endb"})
MBPP_OUTPUT_SET_EQ_TASKS = frozenset(
    {
        "similar_elements",  # Mbpp/2
        "find_char_long",  # Mbpp/7
        "common_in_nested_lists",  # Mbpp/111
        "extract_singly",  # Mbpp/140
        "larg_nnum",  # Mbpp/232
        "intersection_array",  # Mbpp/249
        "find_dissimilar",  # Mbpp/579
        "Diff",  # Mbpp/769
    }
)
MBPP_SPECIAL_ORACLES = {
    "are_equivalent": "always",  # Mbpp/164
    "sum_div": "sum_div",  # Mbpp/295
    "surface_Area": "surface_area",  # Mbpp/581
    "digit_distance_nums": "digit_distance_nums",  # Mbpp/558
}


def mbpp_plus_oracle(entry_point: str) -> str:
    """The EvalPlus special oracle for an MBPP+ entry point, or "" for none."""
    if entry_point in MBPP_SPECIAL_ORACLES:
        return MBPP_SPECIAL_ORACLES[entry_point]
    if entry_point in MBPP_OUTPUT_SET_EQ_TASKS:
        return "set_eq"
    if entry_point in MBPP_OUTPUT_NOT_NONE_TASKS:
        return "not_none"
    return ""


# --- MBPP+ input rebuilding (what evalplus/data/mbpp.py::mbpp_deserialize_inputs does) ----


def _each_arg_tuple(args: list[Any]) -> list[Any]:
    return [tuple(arg) for arg in args]


def _each_arg_items_tuple(args: list[Any]) -> list[Any]:
    return [[tuple(item) for item in arg] for arg in args]


def _first_arg_items_tuple_then_second(args: list[Any]) -> list[Any]:
    return [[tuple(item) for item in args[0]], args[1]]


def _second_arg_tuple(args: list[Any]) -> list[Any]:
    return [args[0], tuple(args[1])]


def _nonempty_lists_to_sets(args: list[Any]) -> list[Any]:
    # EvalPlus turns empty lists (and anything that is not a list) into {} — a dict
    return [[set(item) if isinstance(item, list) and item else {} for item in args[0]]]


def _float_and_complex(args: list[Any]) -> list[Any]:
    return [float(args[0]), complex(args[1])]


def _first_arg_tuple_then_second(args: list[Any]) -> list[Any]:
    return [tuple(args[0]), args[1]]


def _each_arg_tuple_of_tuples(args: list[Any]) -> list[Any]:
    return [tuple(tuple(item) for item in arg) for arg in args]


def _first_arg_list_items_tuple(args: list[Any]) -> list[Any]:
    items = [tuple(item) if isinstance(item, list) else item for item in args[0]]
    return [tuple(items)]


def _first_arg_tuple_then_two(args: list[Any]) -> list[Any]:
    return [tuple(args[0]), args[1], args[2]]


def _first_arg_values_tuple(args: list[Any]) -> list[Any]:
    return [{key: tuple(value) for key, value in args[0].items()}, *args[1:]]


def _complex_arg(args: list[Any]) -> list[Any]:
    return [complex(args[0])]


def _lists_to_tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_lists_to_tuples(item) for item in value)
    return value


def _all_lists_tuples(args: list[Any]) -> list[Any]:
    return list(_lists_to_tuples(args))


_REBUILD_GROUPS: list[tuple[frozenset[int], Callable[[list[Any]], list[Any]]]] = [
    (
        frozenset(
            {2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596}
            | {616, 630, 726, 740, 744, 809}
        ),
        _each_arg_tuple,
    ),
    (
        frozenset({63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780}),
        _each_arg_items_tuple,
    ),
    (frozenset({75, 413, 444, 753}), _first_arg_items_tuple_then_second),
    (frozenset({106, 750}), _second_arg_tuple),
    (frozenset({115}), _nonempty_lists_to_sets),
    (frozenset({124}), _float_and_complex),
    (frozenset({250, 405, 446, 617, 720, 763, 808}), _first_arg_tuple_then_second),
    (frozenset({259, 401, 445}), _each_arg_tuple_of_tuples),
    (frozenset({278}), _first_arg_list_items_tuple),
    (frozenset({307}), _first_arg_tuple_then_two),
    (frozenset({722}), _first_arg_values_tuple),
    (frozenset({252}), _complex_arg),
    (frozenset({580, 615, 791}), _all_lists_tuples),
]
_REBUILD: dict[int, Callable[[list[Any]], list[Any]]] = {
    number: rebuild for numbers, rebuild in _REBUILD_GROUPS for number in numbers
}


def mbpp_plus_args(task_id: str, args: list[Any]) -> tuple[Any, ...]:
    """One MBPP+ input (a JSON list of arguments) as the arguments EvalPlus passes."""
    try:
        number = int(task_id.rsplit("/", 1)[-1])
    except ValueError:
        return tuple(args)
    rebuild = _REBUILD.get(number)
    return tuple(rebuild(list(args)) if rebuild is not None else args)


# --- loading --------------------------------------------------------------------------------


def _literal_field(path: Path, line: int, record: dict[str, Any], key: str) -> Any:
    value = record.get(key)
    if isinstance(value, str):
        try:
            return ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
            raise TaskFileError(path, line, f"field {key!r} is not a Python literal: {exc}")
    return value


def _inputs(path: Path, line: int, record: dict[str, Any], key: str) -> list[list[Any]]:
    value = _literal_field(path, line, record, key)
    if value is None and key == "plus_input":
        return []
    if isinstance(value, dict) and not value:
        return []
    if not isinstance(value, list | tuple):
        raise TaskFileError(path, line, f"field {key!r} must be a list of inputs")
    inputs = []
    for index, item in enumerate(value):
        if not isinstance(item, list | tuple):
            raise TaskFileError(path, line, f"{key}[{index}] must be a list of arguments")
        inputs.append(list(item))
    return inputs


def _atol(path: Path, line: int, record: dict[str, Any]) -> float:
    value = _literal_field(path, line, record, "atol")
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TaskFileError(path, line, "field 'atol' must be a number")
    return float(value)


def _tests(
    inputs: list[list[Any]], atol: float, oracle: str, make_args: Callable[[list[Any]], Any]
) -> tuple[TestCase, ...]:
    compare = Compare.ORACLE if oracle else Compare.CLOSE
    return tuple(
        TestCase(
            kind=TestKind.CALL,
            args=make_args(item),
            has_expected=False,
            compare=compare,
            atol=atol,
            oracle=oracle,
        )
        for item in inputs
    )


def _hidden_tests(
    file: Path,
    line: int,
    record: dict[str, Any],
    atol: float,
    oracle: str,
    make_args: Callable[[list[Any]], Any],
) -> dict[str, tuple[TestCase, ...]]:
    """The record's ``base_input`` and ``plus_input`` as the hidden test groups."""
    return {
        group: _tests(_inputs(file, line, record, f"{group}_input"), atol, oracle, make_args)
        for group in ("base", "plus")
    }


def load_humaneval_plus(
    path: str | Path | None = None, *, fix_docstring_examples: bool = False
) -> list[Task]:
    """HumanEval+ tasks (164), with their base and plus inputs; visible tests as for
    HumanEval (:func:`codeloop.tasks.humaneval.visible_examples`)."""
    file = dataset_file(path, HUMANEVAL_PLUS_ENV, HUMANEVAL_PLUS_FILE, "HumanEval+")
    tasks = []
    for line, record in read_jsonl(file):
        fields = FunctionRecord.read(file, line, record)
        atol = _atol(file, line, record)
        oracle = "find_zero" if fields.entry_point == "find_zero" else ""
        tasks.append(
            fields.task(
                dataset=HUMANEVAL_PLUS,
                visible_tests=visible_examples(
                    fields.task_id,
                    fields.prompt,
                    fields.entry_point,
                    fix_docstring_examples=fix_docstring_examples,
                ),
                hidden_tests=_hidden_tests(file, line, record, atol, oracle, tuple),
                reference=fields.prompt + fields.solution,
                metadata={"contract": record.get("contract", ""), "atol": atol},
            )
        )
    return stamp_source(tasks, file)


def _mbpp_args_maker(file: Path, line: int, task_id: str) -> Callable[[list[Any]], tuple[Any, ...]]:
    def make_args(item: list[Any]) -> tuple[Any, ...]:
        try:
            return mbpp_plus_args(task_id, item)
        except (TypeError, ValueError, IndexError, AttributeError, KeyError) as exc:
            raise TaskFileError(file, line, f"cannot rebuild input {item!r}: {exc}")

    return make_args


def load_mbpp_plus(path: str | Path | None = None) -> list[Task]:
    """MBPP+ tasks (399 in the pre-release file), with their base and plus inputs."""
    file = dataset_file(path, MBPP_PLUS_ENV, MBPP_PLUS_FILE, "MBPP+")
    tasks = []
    for line, record in read_jsonl(file):
        fields = FunctionRecord.read(file, line, record)
        atol = _atol(file, line, record)
        oracle = mbpp_plus_oracle(fields.entry_point)
        make_args = _mbpp_args_maker(file, line, fields.task_id)
        hidden = _hidden_tests(file, line, record, atol, oracle, make_args)
        assertion = record.get("assertion")
        if isinstance(assertion, str) and assertion.strip():
            first = first_assert_test(assertion, fields.entry_point)
            visible: tuple[TestCase, ...] = (first,) if first is not None else ()
        else:
            visible = docstring_examples(fields.prompt, fields.entry_point)
        metadata: dict[str, Any] = {"contract": record.get("contract", ""), "atol": atol}
        if isinstance(assertion, str):
            metadata["assertion"] = assertion
        if oracle == "not_none":
            metadata["reference_output_transform"] = "is_not_none"
        tasks.append(
            fields.task(
                dataset=MBPP_PLUS,
                visible_tests=visible,
                hidden_tests=hidden,
                reference=fields.prompt + fields.solution,
                metadata=metadata,
            )
        )
    return stamp_source(tasks, file)
