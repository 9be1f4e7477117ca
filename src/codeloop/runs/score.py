"""Scoring one task's solution on its hidden tests, after its strategy is done.

The top ranked programs, and every program of the top tie groups, run on the hidden tests
(with expected values and calibrated limits from the reference where the dataset needs
them); their verdicts are committed in one transaction.  A sandbox failure while scoring
records nothing: the next run scores the task again without solving it again.
"""

from __future__ import annotations

import time

import anyio

from codeloop.execution.behaviour import behaviour_key
from codeloop.execution.local import LocalExecutor
from codeloop.runs.evaluate import Probes, run_hidden
from codeloop.runs.keys import text_sha
from codeloop.runs.state import RunState
from codeloop.runs.store import RankVerdict, StoredSolution, verdict_of
from codeloop.scoring.groups import group_verdicts
from codeloop.scoring.reference import apply_reference, run_references
from codeloop.types import ExecResult, Limits, Status, Task, TestSuite


async def prepare_task(state: RunState, executor: LocalExecutor, task: Task) -> Task:
    """The task with every hidden test's expected value (and calibrated limits)."""
    options = state.options
    calibrated = options.is_calibrated
    if not calibrated and all(t.has_expected for t in task.all_hidden()):
        return task
    references = await run_references([task], executor)
    calibrate = (options.calibration_factor, options.calibration_floor_s) if calibrated else None
    prepared, _dropped = apply_reference(task, references.get(task.task_id), calibrate=calibrate)
    return prepared


async def score_task(
    state: RunState,
    executor: LocalExecutor,
    task: Task,
    solution: StoredSolution,
    score_key: str,
) -> str:
    """Run the top ranked programs, and every program of the top tie groups, on the hidden
    tests; returns an error text ("" when none)."""
    began = time.monotonic()
    ranks = ranks_to_score(solution, max(state.options.ks))
    programs = [solution.programs[rank] for rank in ranks]
    verdicts: list[RankVerdict] = []
    if programs:
        prepared = await prepare_task(state, executor, task)
        suite = TestSuite(tests=prepared.all_hidden(), entry_point=task.entry_point, kind=task.kind)
        limits = Limits(time_s=state.options.timeout_s, memory_bytes=state.options.memory_bytes)
        shas = [text_sha(p) for p in programs]
        distinct = list(dict.fromkeys(shas))
        first = {sha: programs[shas.index(sha)] for sha in distinct}
        sizes = [len(group) for group in prepared.hidden_tests.values()]
        probes = Probes(suite, sizes[0] if sizes else None)
        results: dict[str, ExecResult] = {}
        runs = 0
        # Programs that compile to the same code get the same verdicts: one run serves
        # them all (the first ranked runs).  Not when a test raised: a traceback's line
        # numbers belong to the program that ran, so each of the others runs for its own.
        sharing: dict[bytes | str, list[str]] = {}
        for sha in distinct:
            sharing.setdefault(behaviour_key(first[sha]) or sha, []).append(sha)

        async def score_one(sha: str) -> ExecResult:
            nonlocal runs
            program = first[sha]
            results[sha], used = await run_hidden(executor, program, suite, sizes, limits, probes)
            runs += used
            return results[sha]

        async def score_alike(alike: list[str]) -> None:
            result = await score_one(alike[0])
            if not any(o.traceback for o in result.outcomes):
                results.update(dict.fromkeys(alike[1:], result))
                return
            async with anyio.create_task_group() as each:
                for sha in alike[1:]:
                    each.start_soon(score_one, sha)

        async with anyio.create_task_group() as group:
            for alike in sharing.values():
                group.start_soon(score_alike, alike)
        state.scoring_executions += runs
        infra = [r.infra_error for r in results.values() if r.status is Status.INFRA_ERROR]
        if infra:
            # not the program's fault: nothing is recorded, a rerun scores it again
            error = f"sandbox error while scoring: {infra[0]}"
            state.scoring_errors[task.task_id] = error
            return error
        for rank, sha in zip(ranks, shas, strict=True):
            result = results[sha]
            verdicts.append(verdict_of(rank, sha, result, group_verdicts(prepared, result)))
    state.tables.record_verdicts(
        state.run_key,
        task.task_id,
        score_key,
        solution.created,
        verdicts,
        time.monotonic() - began,
    )
    return ""


def ranks_to_score(solution: StoredSolution, top: int) -> list[int]:
    """The ranks scored: the top `top` programs and every program of the top `top` tie
    groups (with no consensus, the one group of every program)."""
    ranks = set(range(min(top, len(solution.programs))))
    for group in solution.tie_groups[:top]:
        ranks.update(rank for rank, _samples in group)
    return sorted(ranks)
