"""MBPP (sanitized, 427 problems) in CodeT's format.

File: ``codet/mbpp_sanitized_for_code_generation.jsonl`` in the shared data folder (or a
file of the same format).  Records have ``task_id`` (``MbppEval/N``), ``prompt`` (the
function header with the problem statement as its docstring), ``entry_point``,
``canonical_solution`` (a body) and ``test`` (``def check(candidate):`` whose asserts call
the function by its name).

* ``reference`` = ``prompt + canonical_solution`` when that parses; in 243 tasks it does not,
  because the body keeps MBPP's own indentation (2 spaces, tabs) while CodeT's inserted
  docstring is indented 4 spaces, so there the reference is the original MBPP program: the
  prompt without that docstring, then the solution;
* hidden tests ``{"base": ...}``: ``test`` converted by
  :func:`codeloop.tasks.asserts.convert_check`;
* visible tests: MBPP's convention is that the model is shown the first test assert, so
  ``visible_tests`` is that first assert alone (:func:`~codeloop.tasks.asserts.first_assert_test`:
  the first hidden test when the check converts, else a code test running only that assert).

Quirks of this file, kept as they are: in 10 tasks the entry point is a helper and the tests
call another function by name (e.g. MbppEval/6: entry point ``is_Power_Of_Two``, tests call
``differ_At_One_Bit_Pos``), so their checks stay code; MbppEval/56 tests a function named
``check``, which the check function itself shadows (code too); MbppEval/596 expects
``sys.getsizeof(...)`` values, computed at run time (code too); 10 tasks use
``math.isclose`` without the prompt importing ``math`` (MBPP's ``test_imports`` were
dropped), converted to the ``isclose_*`` oracles as MBPP intends.  One entry point has a
trailing space (``"get_max_sum "``); it is stripped.
"""

from __future__ import annotations

import re
from pathlib import Path

from codeloop.extract import parses
from codeloop.tasks._function import FunctionRecord
from codeloop.tasks._io import read_jsonl, require_str, stamp_source
from codeloop.tasks.asserts import first_assert_test
from codeloop.tasks.paths import MBPP_CODET_FILE, dataset_file
from codeloop.types import Task

DATASET = "mbpp"
PATH_ENV = "CODELOOP_MBPP"


# the docstring CodeT inserts at the end of each prompt
_TRAILING_DOCSTRING = re.compile(r"\n[ \t]*'''\n(?:.*\n)*?[ \t]*'''\n$")


def reference_program(prompt: str, solution: str) -> str:
    """A runnable reference: prompt + solution, else the prompt without its docstring."""
    program = prompt + solution
    if parses(program):
        return program
    match = _TRAILING_DOCSTRING.search(prompt)
    if match is not None:
        original = prompt[: match.start() + 1] + solution
        if parses(original):
            return original
    return program


def default_path() -> Path:
    return dataset_file(
        None,
        PATH_ENV,
        MBPP_CODET_FILE,
        "MBPP",
        hint="CodeT's mbpp_sanitized_for_code_generation.jsonl",
    )


def load_mbpp(path: str | Path | None = None) -> list[Task]:
    """The MBPP tasks, from ``path``, ``$CODELOOP_MBPP`` or the shared data folder."""
    file = Path(path) if path is not None else default_path()
    tasks = []
    for line, record in read_jsonl(file):
        fields = FunctionRecord.read(file, line, record)
        test = require_str(file, line, record, "test")
        first = first_assert_test(test, fields.entry_point)
        tasks.append(
            fields.check_task(
                test,
                dataset=DATASET,
                visible_tests=(first,) if first is not None else (),
                reference=reference_program(fields.prompt, fields.solution),
            )
        )
    return stamp_source(tasks, file)
