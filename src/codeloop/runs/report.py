"""What `codeloop run` reports: each task's result, the run's scores and costs, and the
infrastructure failures by kind.

Scores.  pass@1 is "the top-ranked program passes"; ranked pass@k and pass@k with ties by
expectation are `codeloop.scoring.ties`.  A task whose strategy crashed or produced no
program counts as failed and is listed as an error.  A task that ended on an
infrastructure failure (`infra_failure`) has no result: it is left out of the scores and
listed by kind of failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from codeloop.models.base import ModelContextExceeded, ModelError, ModelUnavailable
from codeloop.runs.options import RunOptions
from codeloop.runs.store import RunTables
from codeloop.scoring.groups import group_names
from codeloop.scoring.ties import ranked_dropped_k, ranked_pass_at, tie_pass_at, ties_pass_at
from codeloop.types import Task, Usage


@dataclass
class TaskResult:
    task_id: str
    passed: bool  # the top-ranked program passes every hidden test (the last group)
    ranked: list[bool]  # per ranked program (scored ones), best first
    groups: dict[str, list[bool]]  # group -> per ranked program
    programs: int
    error: str
    note: str
    usage: dict[str, Any]
    wall_s: float
    reused: bool  # came from the store, nothing was spent on it in this invocation
    # group -> k -> pass@k with ties by expectation; empty when the strategy gave no ties
    ties: dict[str, dict[str, float]] = field(default_factory=dict)
    no_consensus: bool = False
    failure: str = ""  # the kind of infrastructure failure (see infra_failure); "" if none

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "passed": self.passed,
            "ranked": self.ranked,
            "groups": self.groups,
            "programs": self.programs,
            "error": self.error,
            "note": self.note,
            "usage": self.usage,
            "wall_s": round(self.wall_s, 3),
            "reused": self.reused,
            "pass_at_k_ties": self.ties,
            "no_consensus": self.no_consensus,
            "failure": self.failure,
        }


@dataclass(frozen=True)
class Failure:
    """Tasks that failed for one kind of infrastructure reason."""

    kind: str
    tasks: list[str]
    reason: str  # the first task's error, whole (hints included)
    same_reason: bool = True  # every task's error says the same (else see each result)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "tasks": self.tasks,
            "reason": self.reason,
            "same_reason": self.same_reason,
        }


@dataclass
class RunReport:
    config: dict[str, Any]
    run_key: str
    tasks_selected: int
    groups: list[str]
    pass_at_k: dict[str, dict[str, float]]  # group -> k -> fraction over finished tasks
    results: list[TaskResult]
    cost: dict[str, Any]  # everything the run's finished tasks spent (stored ones included)
    spent: dict[str, Any]  # what this invocation spent
    scoring_executions: int  # hidden-test program runs in this invocation
    errors: int
    stop_reason: str  # "" when every selected task finished
    isolation: dict[str, Any]
    wall_s: float
    reused: int
    store: str | None = None
    # group -> k -> pass@k with ties by expectation (empty: no task had tie groups)
    pass_at_k_ties: dict[str, dict[str, float]] = field(default_factory=dict)
    tasks_with_ties: int = 0  # finished tasks scored by expectation
    tasks_without_consensus: int = 0  # of those, scored by the unbiased estimator
    # requested k left out of pass@k -> why (no finished task ranked k programs)
    dropped_k: dict[str, str] = field(default_factory=dict)

    @property
    def primary_group(self) -> str:
        return self.groups[-1] if self.groups else "base"

    @property
    def finished(self) -> int:
        """Tasks whose strategy completed (and whose programs were scored)."""
        return sum(1 for r in self.results if not r.failure)

    @property
    def failed(self) -> int:
        """Tasks that ended in an infrastructure failure: no result, tried again on resume."""
        return sum(1 for r in self.results if r.failure)

    def failures(self) -> list[Failure]:
        """The infrastructure failures by kind, in task order."""
        kinds: dict[str, list[TaskResult]] = {}
        for result in self.results:
            if result.failure:
                kinds.setdefault(result.failure, []).append(result)
        failures = []
        for kind, results in kinds.items():
            reasons = [failure_reason(r.error) for r in results]
            failures.append(
                Failure(kind, [r.task_id for r in results], reasons[0], len(set(reasons)) == 1)
            )
        return failures

    def to_json(self) -> dict[str, Any]:
        return {
            "pass_at_k": self.pass_at_k.get(self.primary_group, {}),
            "pass_at_k_by_group": self.pass_at_k,
            "dropped_k": self.dropped_k,
            "pass_at_k_ties": self.pass_at_k_ties.get(self.primary_group, {}),
            "pass_at_k_ties_by_group": self.pass_at_k_ties,
            "tasks_with_ties": self.tasks_with_ties,
            "tasks_without_consensus": self.tasks_without_consensus,
            "groups": self.groups,
            "cost": self.cost,
            "spent_this_invocation": self.spent,
            "scoring_executions": self.scoring_executions,
            "tasks_selected": self.tasks_selected,
            "tasks_finished": self.finished,
            "tasks_failed": self.failed,
            "failures": [f.to_json() for f in self.failures()],
            "tasks_reused": self.reused,
            "errors": self.errors,
            "stop_reason": self.stop_reason,
            "wall_s": round(self.wall_s, 3),
            "isolation": self.isolation,
            "run_key": self.run_key,
            "store": self.store,
            "config": self.config,
            "results": [r.to_json() for r in self.results],
        }


MODEL_UNREACHABLE = "model unreachable"
CONTEXT_EXCEEDED = "prompt longer than the model's context"
MODEL_FAILED = "model error"
SANDBOX_FAILED = "sandbox error"

# How a task's error names what broke (strategies.base.describe_error, _solve, _score).
_MODEL_PREFIX = "model error"
_SANDBOX_PREFIX = "sandbox error"
# "model error (retryable): ModelUnavailable: MESSAGE" and "sandbox error: MESSAGE"
_REASON_PREFIX = re.compile(r"^(?:model error(?: \(retryable\))?: \w+|sandbox error): ")


def _model_error_class(name: str) -> type[ModelError] | None:
    classes: list[type[ModelError]] = [ModelError]
    while classes:
        cls = classes.pop()
        if cls.__name__ == name:
            return cls
        classes.extend(cls.__subclasses__())
    return None


def infra_failure(error: str, trace: Sequence[Mapping[str, Any]]) -> str:
    """The kind of infrastructure failure a task's error is ("" when it is none: no error, a
    strategy crash, no program).  The model error's class comes from the trace's last
    "error" node, which records it."""
    if error.startswith(_SANDBOX_PREFIX):
        return SANDBOX_FAILED
    if not error.startswith(_MODEL_PREFIX):
        return ""
    errors = [node for node in trace if node.get("kind") == "error"]
    name = errors[-1].get("metadata", {}).get("error_type", "") if errors else ""
    cls = _model_error_class(str(name))
    if cls is not None and issubclass(cls, ModelContextExceeded):
        return CONTEXT_EXCEEDED
    if cls is not None and issubclass(cls, ModelUnavailable):
        return MODEL_UNREACHABLE
    return MODEL_FAILED


def failure_reason(error: str) -> str:
    """A failed task's error without its class prefix: the message, hints and all."""
    first = error.splitlines()[0] if error else ""
    return _REASON_PREFIX.sub("", first, count=1)


def usage_json(usage: Usage) -> dict[str, Any]:
    return asdict(usage)


def usage_of(data: Mapping[str, Any]) -> Usage:
    names = {f.name for f in fields(Usage)}
    return Usage(**{k: v for k, v in data.items() if k in names})


def cost_summary(usages: Iterable[Usage]) -> dict[str, Any]:
    total = Usage()
    for usage in usages:
        total = total + usage
    return {
        "calls": total.calls,
        "cached_calls": total.cached_calls,
        "prompt_tokens": total.prompt_tokens,
        "completion_tokens": total.completion_tokens,
        "tokens": total.tokens,
        "executions": total.executions,
        "latency_s": round(total.latency_s, 3),
        "cost_usd": None if total.cost_usd is None else round(total.cost_usd, 6),
    }


def build_report(
    options: RunOptions,
    run_key: str,
    tasks: list[Task],
    tables: RunTables,
    score_keys: Mapping[str, str],
    config: dict[str, Any],
    scoring_errors: Mapping[str, str],
    touched: set[str],
) -> RunReport:
    """The report of the tasks' stored results; `scoring_errors`: task -> why its scoring
    failed in this invocation; `touched`: the tasks worked on in this invocation."""
    solutions = tables.solutions(run_key)
    verdicts = tables.verdicts(run_key)
    scored = tables.scored(run_key)
    all_groups: list[str] = []
    for task in tasks:
        for name in group_names(task):
            if name not in all_groups:
                all_groups.append(name)
    results: list[TaskResult] = []
    for task in tasks:
        solution = solutions.get(task.task_id)
        if solution is None:
            continue
        key = (task.task_id, score_keys[task.task_id])
        error = solution.error or scoring_errors.get(task.task_id, "")
        if not error and key not in scored:
            continue  # solved but not scored yet (stopped in between): not finished
        names = group_names(task)
        scored_ranks = verdicts.get(key, []) if not error else []
        top = [v for v in scored_ranks if v.rank < max(options.ks)]
        groups = {name: [bool(v.groups.get(name)) for v in top] for name in names}
        ranked = groups[names[-1]]
        ties: dict[str, dict[str, float]] = {}
        if not error and solution.tie_groups:
            for name in names:
                passed = {v.rank: bool(v.groups.get(name)) for v in scored_ranks}
                ties[name] = tie_pass_at(
                    solution.tie_groups, solution.no_consensus, passed, sorted(set(options.ks))
                )
        results.append(
            TaskResult(
                task_id=task.task_id,
                failure=infra_failure(error, solution.trace),
                passed=bool(ranked and ranked[0]),
                ranked=ranked,
                groups=groups,
                programs=len(solution.programs),
                error=error,
                note=solution.note,
                usage=solution.usage,
                wall_s=solution.wall,
                reused=task.task_id not in touched,
                ties=ties,
                no_consensus=bool(ties) and solution.no_consensus,
            )
        )
    finished = [r for r in results if not r.failure]  # failed tasks have no result to score
    pass_at = ranked_pass_at(finished, all_groups, options.ks)
    with_ties = [r for r in finished if r.ties]
    return RunReport(
        config=config,
        run_key=run_key,
        tasks_selected=len(tasks),
        groups=all_groups,
        pass_at_k=pass_at,
        results=results,
        cost=cost_summary(usage_of(r.usage) for r in results),
        spent={},
        scoring_executions=0,
        errors=sum(1 for r in results if r.error),
        stop_reason="",
        isolation={},
        wall_s=0.0,
        reused=0,
        pass_at_k_ties=ties_pass_at(finished, all_groups, pass_at),
        tasks_with_ties=len(with_ties),
        tasks_without_consensus=sum(1 for r in with_ties if r.no_consensus),
        dropped_k=ranked_dropped_k(finished, options.ks),
    )
