"""`codeloop compare`: the runs kept in stores, summarized side by side."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeloop.runs.options import RunError
from codeloop.runs.report import cost_summary, infra_failure, usage_of
from codeloop.runs.store import RunStore, RunTables, StoredSolution


@dataclass
class RunSummary:
    store: str
    run_key: str
    config: dict[str, Any]
    tasks: int
    errors: int
    pass_at_1: dict[str, float]  # group -> pass@1
    cost: dict[str, Any]
    wall_s: float
    last_stop: str


def summarize_store(path: str | Path) -> list[RunSummary]:
    """One summary per run kept in a store, judged by each task's latest verdicts."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"no such run store: {path}")
    store = RunStore(path)
    try:
        tables = RunTables(store)
        summaries = []
        for stored_run in tables.runs():
            solutions = tables.solutions(stored_run.run_key)
            verdicts = tables.verdicts(stored_run.run_key)
            latest: dict[str, str] = {}
            for (task_id, key), _created in sorted(
                tables.scored(stored_run.run_key).items(), key=lambda kv: kv[1]
            ):
                latest[task_id] = key
            finished: list[StoredSolution] = []
            top: list[dict[str, bool]] = []  # per finished task: group -> top program passes
            failed: list[StoredSolution] = []  # infrastructure failures: no result
            for task_id, solution in solutions.items():
                if solution.error and infra_failure(solution.error, solution.trace):
                    failed.append(solution)
                elif solution.error:
                    finished.append(solution)
                    top.append({})
                elif task_id in latest:
                    finished.append(solution)
                    ranks = verdicts.get((task_id, latest[task_id]), [])
                    top.append(dict(ranks[0].groups) if ranks else {})
            names: list[str] = []
            for row in top:
                names += [name for name in row if name not in names]
            summaries.append(
                RunSummary(
                    store=str(path),
                    run_key=stored_run.run_key,
                    config=stored_run.config,
                    tasks=len(finished),
                    errors=sum(1 for s in finished if s.error) + len(failed),
                    pass_at_1={
                        name: sum(bool(row.get(name)) for row in top) / len(top) for name in names
                    },
                    cost=cost_summary(usage_of(s.usage) for s in finished + failed),
                    wall_s=stored_run.wall,
                    last_stop=stored_run.last_stop,
                )
            )
        return summaries
    finally:
        store.close()
