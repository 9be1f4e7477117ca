"""What the function benchmarks' records share, and how one becomes a task.

HumanEval, MBPP (CodeT's format), HumanEval+ and MBPP+ records all have ``task_id``,
``prompt``, ``entry_point`` and ``canonical_solution``; HumanEval and MBPP also have
``test``, a ``def check(candidate):`` function that is the hidden test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from codeloop.tasks._io import require_str
from codeloop.tasks.asserts import convert_check
from codeloop.types import Task, TaskKind, TestCase, TestKind


@dataclass(frozen=True)
class FunctionRecord:
    task_id: str
    prompt: str
    entry_point: str  # stripped (one MBPP entry point has a trailing space)
    solution: str  # ``canonical_solution``

    @classmethod
    def read(cls, file: Path, line: int, record: dict[str, Any]) -> FunctionRecord:
        """The shared fields of line `line` of `file`; TaskFileError where one is missing."""
        return cls(
            task_id=require_str(file, line, record, "task_id"),
            prompt=require_str(file, line, record, "prompt"),
            entry_point=require_str(file, line, record, "entry_point").strip(),
            solution=require_str(file, line, record, "canonical_solution"),
        )

    def task(
        self,
        *,
        dataset: str,
        visible_tests: tuple[TestCase, ...],
        hidden_tests: Mapping[str, tuple[TestCase, ...]],
        reference: str,
        metadata: Mapping[str, Any],
    ) -> Task:
        return Task(
            task_id=self.task_id,
            prompt=self.prompt,
            entry_point=self.entry_point,
            kind=TaskKind.FUNCTION,
            visible_tests=visible_tests,
            hidden_tests=hidden_tests,
            reference=reference,
            dataset=dataset,
            metadata=metadata,
        )

    def check_task(
        self,
        test: str,
        *,
        dataset: str,
        visible_tests: tuple[TestCase, ...],
        reference: str,
        context: str = "",
    ) -> Task:
        """The task whose hidden tests ``{"base": ...}`` are the check function `test`,
        converted by :func:`~codeloop.tasks.asserts.convert_check` (one code test where it
        does not convert); the check code itself stays in ``metadata["test"]``.

        `context`: the task's own code that a code test's check may call (HumanEval's
        prompt: ``poly``, ``encode_cyclic``), run by the sandbox's driver before the check,
        so that those helpers are the task's and never a program's redefinitions."""
        conversion = convert_check(test, self.entry_point)
        tests = tuple(
            replace(t, context=context) if t.kind is TestKind.CODE else t for t in conversion.tests
        )
        return self.task(
            dataset=dataset,
            visible_tests=visible_tests,
            hidden_tests={"base": tests},
            reference=reference,
            metadata={
                "test": test,
                "check_converted": conversion.converted,
                "check_conversion_reason": conversion.reason,
            },
        )
