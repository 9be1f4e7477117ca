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
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from codeloop.execution.local import DEFAULT_UID_BASE, LocalExecutor, default_workers
from codeloop.models.base import Backend
from codeloop.runs.compare import RunSummary, summarize_store
from codeloop.runs.keys import view_sha
from codeloop.runs.options import (
    DEFAULT_KS,
    RUN_VERSION,
    ProgressHook,
    RunError,
    RunOptions,
    budget_text,
    parse_budget,
    parse_setting,
    resolve_strategy,
    run_config,
    run_key_of,
    score_key,
    scoring_config,
    select_tasks,
)
from codeloop.runs.report import (
    CONTEXT_EXCEEDED,
    MODEL_FAILED,
    MODEL_UNREACHABLE,
    SANDBOX_FAILED,
    Failure,
    RunReport,
    TaskResult,
    build_report,
    cost_summary,
    failure_reason,
    infra_failure,
    usage_of,
)
from codeloop.runs.score import ranks_to_score, score_task
from codeloop.runs.solve import solve_task
from codeloop.runs.state import RunState
from codeloop.runs.store import RunStore, RunTables
from codeloop.scoring.ties import ranked_dropped_k, ranked_pass_at, tie_pass_at, ties_pass_at
from codeloop.tasks import pick_tasks
from codeloop.types import Task, Usage

if TYPE_CHECKING:
    from codeloop.strategies.base import Strategy

# The public names of `codeloop run`, kept importable from here where they lived before
# the module was split (options, report, score, compare and scoring.ties hold them now).
__all__ = [
    "CONTEXT_EXCEEDED",
    "DEFAULT_KS",
    "MODEL_FAILED",
    "MODEL_UNREACHABLE",
    "RUN_VERSION",
    "SANDBOX_FAILED",
    "Failure",
    "ProgressHook",
    "RunError",
    "RunOptions",
    "RunReport",
    "RunSummary",
    "TaskResult",
    "budget_text",
    "cost_summary",
    "failure_reason",
    "infra_failure",
    "parse_budget",
    "parse_setting",
    "ranked_dropped_k",
    "ranked_pass_at",
    "ranks_to_score",
    "resolve_strategy",
    "run",
    "run_config",
    "run_key_of",
    "select_tasks",
    "summarize_store",
    "tie_pass_at",
    "ties_pass_at",
]


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
    from codeloop.models.cache import with_cache
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
        "scoring": scoring_config(options),
    }

    store = RunStore(options.store or ":memory:")
    tables = RunTables(store)
    try:
        tables.begin_run(run_key, config)
        stored = tables.solutions(run_key)
        scored = tables.scored(run_key)
        score_keys = {t.task_id: score_key(options, t) for t in tasks}
        to_solve: list[Task] = []
        to_score: list[Task] = []
        for task in tasks:
            previous = stored.get(task.task_id)
            if previous is None or previous.error or previous.view_sha != view_sha(task.view()):
                to_solve.append(task)
            elif (task.task_id, score_keys[task.task_id]) not in scored:
                to_score.append(task)
        done_before = len(tasks) - len(to_solve) - len(to_score)
        solving = {t.task_id for t in to_solve}
        reused_usage = Usage()
        for task in tasks:
            previous = stored.get(task.task_id)
            if previous is not None and task.task_id not in solving:
                reused_usage = reused_usage + usage_of(previous.usage)

        session = tables.start_session(run_key)
        state = RunState(
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
                    shared = with_cache(shared, options.cache_path())
            try:
                async with contextlib.AsyncExitStack() as stack:
                    # Two sandboxes: strategies run on one that never sees a hidden test, and
                    # the run scores on its own, so nothing a strategy's context reaches
                    # holds the hidden tests of a task being scored meanwhile.
                    scorer = await stack.enter_async_context(_executor(options))
                    sandbox = (
                        await stack.enter_async_context(
                            _executor(options, uid_base=scorer.uid_base + scorer.uid_span)
                        )
                        if to_solve
                        else None
                    )
                    isolation = scorer.report
                    tables.record_isolation(run_key, isolation)
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
        report = build_report(
            options,
            run_key,
            tasks,
            tables,
            score_keys,
            config,
            state.scoring_errors,
            state.touched,
        )
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


def _executor(options: RunOptions, uid_base: int = DEFAULT_UID_BASE) -> LocalExecutor:
    """A sandbox for the run.  The strategy sandbox's children run as uids after the
    scoring sandbox's (`uid_base`): a program a strategy runs shares no uid, and so no
    per-uid process count, with a program being scored meanwhile."""
    return LocalExecutor(
        uid_base=uid_base,
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
    state: RunState,
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
            error = await score_task(state, scorer, task, solution, score_keys[task.task_id])
            state.task_done(task.task_id, errored=bool(error))
        finally:
            limiter.release()

    async def solve_and_score(task: Task) -> None:
        try:
            assert backend is not None and sandbox is not None
            solution = await solve_task(state, strategy, backend, sandbox, task)
            error = solution.error
            if not error:
                error = await score_task(state, scorer, task, solution, score_keys[task.task_id])
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
