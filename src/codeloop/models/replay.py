"""`replay:PATH`: recorded samples served back per task.

PATH (as given, else relative to the shared data folder: `replay:codet`) is either

- a JSONL file whose lines are {"task_id", "completions": [...]} or {"task_id",
  "completion": "..."}, optionally with "purpose" (default "code"; lines for one task
  and purpose are concatenated in file order), or
- a CodeT folder (see shared/data/codet/README.md): `*_code_solution.jsonl` and
  `*_test_case.jsonl` hold a `prompt` and recorded `samples` but no task_id; they are joined
  on the prompt with `*_for_code_generation.jsonl` and `*_for_test_case_generation.jsonl`,
  which have the task_id.  When the folder holds recordings of several models, name the
  `..._code_solution.jsonl` file instead of the folder (its `_test_case.jsonl` sibling is
  found by name).

- a recorded repair trajectory: LDB's results files (`results/ldb/.../results.jsonl`,
  rows with an `implementations` list: the seed program, then the program of each
  debugging iteration).  Program requests (purpose "code" or "repair") get
  implementations[0], [1], ... in order, one cursor per task; calls whose answers were not
  recorded (LDB's per-block verdict, any other purpose) get an empty answer marked
  ``finish_reason="not_recorded"``.  A program request past the recorded ones is a
  `ModelRequestError` (the run then ends that task with its last program and says why): an
  empty program would be a disguised answer.

A request needs `task_id`.  `purpose == "tests"` serves the recorded tests; any other
purpose serves the recorded code (unless the JSONL file recorded that purpose itself).
Samples are handed out in recorded order with a cursor per (task, purpose): the first
request for n samples gets samples 0..n-1, the next one continues at n, and asking for more
than were recorded is a `ModelRequestError` that says how many exist.  `reset()` rewinds.
Samples are served exactly as recorded: truncating a continuation is the job of the code
extraction step, not of replay.  Tokens are unknown (0); calls are counted.

A recording declares `prompt_mode = "completion"` (its samples continue the prompt, as
CodeT's do), so strategies in `auto` mode send bare prompts; a recording of chat answers
is loaded with `prompt_mode="chat"` (`--model-option prompt_mode=chat`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codeloop.models.base import (
    ModelRequestError,
    PromptMode,
    Stopwatch,
    check_request,
    split_usage,
)
from codeloop.types import Completion, GenerationRequest

__all__ = ["ReplayBackend"]

CODE = "code"
TESTS = "tests"
# a recorded trajectory's programs, and the purposes that ask for one
PROGRAM = "program"
PROGRAM_PURPOSES = frozenset({CODE, "repair"})
NOT_RECORDED = "not_recorded"


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ModelRequestError(f"{path}:{number}: not JSON: {error}") from None
                if not isinstance(row, dict):
                    raise ModelRequestError(f"{path}:{number}: expected a JSON object")
                yield row


def _resolve(path: Path) -> Path:
    """A path as given, else relative to the shared data folder (`replay:codet`)."""
    if path.exists() or path.is_absolute():
        return path
    from codeloop.tasks.paths import shared_data_dir

    shared = shared_data_dir()
    if shared is not None and (shared / path).exists():
        return shared / path
    return path


class ReplayBackend:
    """Recorded samples; see the module docstring."""

    # Answers follow the order of the calls (cursors per task and purpose), so the same
    # request may rightly get another answer: a response cache would serve a repeated
    # request without moving the cursor and shift every later answer.  A recording needs
    # no cache anyway.
    cacheable = False

    def __init__(self, path: str | Path, *, prompt_mode: PromptMode = "completion") -> None:
        if prompt_mode not in ("chat", "completion"):
            raise ModelRequestError(
                f"replay: prompt_mode {prompt_mode!r}: expected chat or completion"
            )
        self.path = _resolve(Path(path).expanduser())
        self.name = f"replay:{path}"
        self.prompt_mode: PromptMode = prompt_mode
        # (task_id, purpose) -> recorded samples;  (task_id, purpose) -> recorded prompt
        self._samples: dict[tuple[str, str], list[str]] = {}
        self._prompts: dict[tuple[str, str], str] = {}
        self._cursors: dict[tuple[str, str], int] = {}
        if self.path.is_dir():
            self._load_codet_dir(self.path)
        elif self.path.is_file():
            if self.path.name.endswith("_code_solution.jsonl"):
                self._load_codet_files(self.path)
            else:
                self._load_jsonl(self.path)
        else:
            raise ModelRequestError(f"replay: no such file or folder: {self.path}")
        if not self._samples:
            raise ModelRequestError(f"replay: no recorded samples found in {self.path}")

    # ------------------------------------------------------------------------ loading

    def _load_jsonl(self, path: Path) -> None:
        for row in _rows(path):
            if "task_id" not in row:
                if "prompt" in row and "samples" in row:
                    raise ModelRequestError(
                        f"{path} has prompts and samples but no task_id: point replay at the "
                        "CodeT folder (or a file named *_code_solution.jsonl) so that prompts "
                        "can be joined with the task files"
                    )
                raise ModelRequestError(f"{path}: a line without task_id")
            if "implementations" in row:  # a repair trajectory (LDB's results files)
                programs = row["implementations"]
                if not isinstance(programs, list):
                    raise ModelRequestError(
                        f"{path}: task {row['task_id']!r}: 'implementations' is not a list"
                    )
                key = (str(row["task_id"]), PROGRAM)
                self._samples.setdefault(key, []).extend(str(p) for p in programs)
                continue
            if "completions" in row:
                samples = row["completions"]
            elif "completion" in row:
                samples = [row["completion"]]
            else:
                raise ModelRequestError(
                    f"{path}: task {row['task_id']!r} has neither 'completions' nor 'completion'"
                )
            key = (str(row["task_id"]), str(row.get("purpose", CODE)))
            self._samples.setdefault(key, []).extend(str(s) for s in samples)
            if "prompt" in row:
                self._prompts.setdefault(key, str(row["prompt"]))

    def _load_codet_dir(self, folder: Path) -> None:
        solutions = sorted(folder.glob("*_code_solution.jsonl"))
        if not solutions:
            raise ModelRequestError(
                f"replay: {folder} has no *_code_solution.jsonl file (a CodeT data folder "
                "holds recorded samples under that name)"
            )
        if len(solutions) > 1:
            names = "\n  ".join(str(p) for p in solutions)
            raise ModelRequestError(
                f"replay: {folder} holds recordings of several models; name one:\n  replay:{names}"
            )
        self._load_codet_files(solutions[0])

    def _load_codet_files(self, solutions: Path) -> None:
        folder = solutions.parent
        prefix = solutions.name[: -len("_code_solution.jsonl")]
        tests = folder / f"{prefix}_test_case.jsonl"
        self._load_codet_file(solutions, sorted(folder.glob("*_for_code_generation.jsonl")), CODE)
        if tests.is_file():
            self._load_codet_file(
                tests, sorted(folder.glob("*_for_test_case_generation.jsonl")), TESTS
            )

    def _load_codet_file(self, samples_file: Path, task_files: list[Path], purpose: str) -> None:
        task_of_prompt: dict[str, str] = {}
        for task_file in task_files:
            for row in _rows(task_file):
                task_of_prompt.setdefault(str(row["prompt"]), str(row["task_id"]))
        if not task_of_prompt:
            kind = "code" if purpose == CODE else "test_case"
            raise ModelRequestError(
                f"replay: {samples_file} has no task ids; the *_for_{kind}_generation.jsonl "
                f"files that map its prompts to task ids are missing from {samples_file.parent}"
            )
        unmatched = 0
        for row in _rows(samples_file):
            task_id = task_of_prompt.get(str(row.get("prompt")))
            if task_id is None:
                unmatched += 1
                continue
            key = (task_id, purpose)
            self._samples.setdefault(key, []).extend(str(s) for s in row.get("samples", []))
            self._prompts.setdefault(key, str(row["prompt"]))
        if unmatched:
            raise ModelRequestError(
                f"replay: {unmatched} prompts of {samples_file} match no task in "
                + ", ".join(p.name for p in task_files)
            )

    # ------------------------------------------------------------------------- serving

    @property
    def task_ids(self) -> list[str]:
        return sorted({task for task, _ in self._samples})

    def recorded(self, task_id: str, purpose: str = CODE) -> list[str]:
        """All recorded samples for a task and purpose (empty when none)."""
        return list(self._samples.get(self._key(task_id, purpose), []))

    def recorded_prompt(self, task_id: str, purpose: str = CODE) -> str | None:
        """The prompt the samples continue, where the recording has it (CodeT does)."""
        return self._prompts.get(self._key(task_id, purpose))

    def reset(self) -> None:
        """Rewind every cursor: the next request starts at sample 0 again."""
        self._cursors.clear()

    def _key(self, task_id: str, purpose: str) -> tuple[str, str]:
        if (task_id, PROGRAM) in self._samples:
            return (task_id, PROGRAM if purpose in PROGRAM_PURPOSES or purpose == PROGRAM else "")
        if (task_id, purpose) in self._samples:
            return (task_id, purpose)
        return (task_id, TESTS if purpose == TESTS else CODE)

    async def generate(self, request: GenerationRequest) -> list[Completion]:
        check_request(request)
        if request.task_id is None:
            raise ModelRequestError("replay serves recorded samples per task: set request.task_id")
        with Stopwatch() as sw:
            key = self._key(request.task_id, request.purpose)
            if key[0] == request.task_id and key[1] == "":
                # a trajectory records programs only: this call's answer was not recorded
                usages = split_usage(request.n, latency_s=sw.seconds)
                return [Completion(text="", finish_reason=NOT_RECORDED, usage=u) for u in usages]
            samples = self._samples.get(key)
            if samples is None:
                if not any(task == request.task_id for task, _ in self._samples):
                    raise ModelRequestError(
                        f"replay: no recording for task {request.task_id!r} in {self.path} "
                        f"({len(self.task_ids)} tasks recorded, e.g. {self.task_ids[:3]})"
                    )
                raise ModelRequestError(
                    f"replay: task {request.task_id!r} has no recorded {key[1]!r} samples"
                )
            start = self._cursors.get(key, 0)
            if start + request.n > len(samples) and key[1] == PROGRAM:
                raise ModelRequestError(
                    f"replay: task {request.task_id!r} has {len(samples)} recorded programs "
                    f"(its trajectory ends there); {start} already served, {request.n} more "
                    "asked for"
                )
            if start + request.n > len(samples):
                raise ModelRequestError(
                    f"replay: task {request.task_id!r} has {len(samples)} recorded {key[1]!r} "
                    f"samples; {start} already served, {request.n} more asked for"
                )
            self._cursors[key] = start + request.n
            texts = samples[start : start + request.n]
        usages = split_usage(request.n, latency_s=sw.seconds)
        return [
            Completion(text=t, finish_reason="replay", usage=u)
            for t, u in zip(texts, usages, strict=True)
        ]

    async def aclose(self) -> None:
        return None
