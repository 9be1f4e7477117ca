"""codeloop: generate code with language models and make it right with feedback.

    import codeloop

    report = codeloop.run("humaneval", strategy="self_debug", model="openai:gpt-4o-mini",
                          settings={"rounds": 3})
    report = codeloop.evaluate("samples.jsonl", dataset="humaneval")

Extending (docs/extending.md): ``@codeloop.strategy("name")``, ``@codeloop.dataset("name")``,
``@codeloop.provider("prefix")`` or entry points in the groups ``codeloop.strategies``,
``codeloop.datasets``, ``codeloop.providers``.  The runs and the scorer are imported only
when `run` or `evaluate` is called, so ``import codeloop`` stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from codeloop.registry import DATASETS, PROVIDERS, STRATEGIES, dataset, provider, strategy

if TYPE_CHECKING:
    from codeloop.extract import extract_code
    from codeloop.feedback.render import (
        ldb_assertion,
        ldb_blocks,
        ldb_no_trace,
        ldb_real_output,
        render_property_feedback,
    )
    from codeloop.feedback.render import render as render_feedback
    from codeloop.feedback.tests import describe_test, feedback_kind, tests_feedback
    from codeloop.feedback.trace import RuntimeTrace, TraceStep, ldb_value_string
    from codeloop.models.base import Backend
    from codeloop.runs.evaluate import EvaluationReport
    from codeloop.runs.run import RunReport
    from codeloop.strategies.base import (
        Answers,
        BudgetExceeded,
        ExecutionInfraError,
        Solution,
        SolveContext,
        Strategy,
        failing_count,
        passed_count,
        run_guarded,
    )
    from codeloop.strategies.common import (
        assertion_test,
        at_least,
        chat_assertions,
        parse_settings,
        record_program,
        sampling_for,
    )
    from codeloop.types import (
        Budget,
        Compare,
        Completion,
        ExecResult,
        Feedback,
        GenerationRequest,
        Limits,
        Message,
        Node,
        ProblemView,
        Sampling,
        Status,
        Task,
        TaskKind,
        TestCase,
        TestKind,
        TestOutcome,
        Usage,
    )

__all__ = [
    "Answers",
    "Budget",
    "BudgetExceeded",
    "Compare",
    "Completion",
    "DATASETS",
    "ExecResult",
    "ExecutionInfraError",
    "Feedback",
    "GenerationRequest",
    "Limits",
    "Message",
    "Node",
    "PROVIDERS",
    "ProblemView",
    "RuntimeTrace",
    "STRATEGIES",
    "Sampling",
    "Solution",
    "SolveContext",
    "Status",
    "Strategy",
    "Task",
    "TaskKind",
    "TestCase",
    "TestKind",
    "TestOutcome",
    "TraceStep",
    "Usage",
    "assertion_test",
    "at_least",
    "chat_assertions",
    "dataset",
    "describe_test",
    "evaluate",
    "extract_code",
    "feedback_kind",
    "failing_count",
    "ldb_assertion",
    "ldb_blocks",
    "ldb_no_trace",
    "ldb_real_output",
    "ldb_value_string",
    "parse_settings",
    "passed_count",
    "provider",
    "record_program",
    "render_feedback",
    "render_property_feedback",
    "run",
    "run_guarded",
    "sampling_for",
    "strategy",
    "tests_feedback",
]


# The helpers a strategy author needs, imported on first use (`codeloop.SolveContext`).
# A value "module:attribute" publishes the attribute under another name.
_LAZY = {
    "Answers": "codeloop.strategies.base",
    "BudgetExceeded": "codeloop.strategies.base",
    "ExecutionInfraError": "codeloop.strategies.base",
    "Solution": "codeloop.strategies.base",
    "SolveContext": "codeloop.strategies.base",
    "Strategy": "codeloop.strategies.base",
    "failing_count": "codeloop.strategies.base",
    "passed_count": "codeloop.strategies.base",
    "run_guarded": "codeloop.strategies.base",
    "assertion_test": "codeloop.strategies.common",
    "at_least": "codeloop.strategies.common",
    "chat_assertions": "codeloop.strategies.common",
    "parse_settings": "codeloop.strategies.common",
    "record_program": "codeloop.strategies.common",
    "sampling_for": "codeloop.strategies.common",
    "extract_code": "codeloop.extract",
    "describe_test": "codeloop.feedback.tests",
    "feedback_kind": "codeloop.feedback.tests",
    "tests_feedback": "codeloop.feedback.tests",
    "render_feedback": "codeloop.feedback.render:render",
    "render_property_feedback": "codeloop.feedback.render",
    "ldb_assertion": "codeloop.feedback.render",
    "ldb_blocks": "codeloop.feedback.render",
    "ldb_no_trace": "codeloop.feedback.render",
    "ldb_real_output": "codeloop.feedback.render",
    "RuntimeTrace": "codeloop.feedback.trace",
    "TraceStep": "codeloop.feedback.trace",
    "ldb_value_string": "codeloop.feedback.trace",
    "Budget": "codeloop.types",
    "Compare": "codeloop.types",
    "Completion": "codeloop.types",
    "ExecResult": "codeloop.types",
    "Feedback": "codeloop.types",
    "GenerationRequest": "codeloop.types",
    "Limits": "codeloop.types",
    "Message": "codeloop.types",
    "Node": "codeloop.types",
    "ProblemView": "codeloop.types",
    "Sampling": "codeloop.types",
    "Status": "codeloop.types",
    "Task": "codeloop.types",
    "TaskKind": "codeloop.types",
    "TestCase": "codeloop.types",
    "TestKind": "codeloop.types",
    "TestOutcome": "codeloop.types",
    "Usage": "codeloop.types",
}


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'codeloop' has no attribute {name!r}")
    module, _, attribute = where.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value
    return value


def run(
    tasks: str | Sequence[Task],
    strategy: str | Strategy | Callable[..., Strategy] = "sample",
    model: str | Backend | None = None,
    *,
    settings: Mapping[str, Any] | None = None,
    **options: Any,
) -> RunReport:
    """Solve and score tasks; the report `codeloop run` prints (a `RunReport`).

    `tasks`: a dataset name or task file, or a list of `Task`.  `strategy`: a registered
    name or `pkg.module:factory` (built with `settings`), a factory (called with
    `settings`), or a built `async solve(ctx)`.  `model`: a model string or a `Backend`
    (default: as `codeloop run`'s).  `options`: any other `RunOptions` field (budget,
    limit, store, ks, workers, ...).
    """
    import inspect

    import anyio

    from codeloop.models.registry import resolve_model
    from codeloop.runs.run import RunOptions
    from codeloop.runs.run import run as run_tasks

    settings = dict(settings or {})
    solve: Strategy | None = None
    name = strategy if isinstance(strategy, str) else _label(strategy)
    if not isinstance(strategy, str):
        if inspect.iscoroutinefunction(strategy):
            if settings:
                raise ValueError("settings go to a strategy factory, not to a built solve")
            solve = strategy
        else:
            factory = cast("Callable[..., Strategy]", strategy)
            solve = factory(**settings)  # a factory: settings as keyword arguments
    backend = None if model is None or isinstance(model, str) else model
    spec = model if model is None or isinstance(model, str) else None
    run_options = RunOptions(
        dataset=tasks if isinstance(tasks, str) else "tasks",
        strategy=name,
        model=resolve_model(spec) if backend is None else _label(backend),
        settings=settings,
        **options,
    )
    task_list = None if isinstance(tasks, str) else list(tasks)
    return anyio.run(
        lambda: run_tasks(run_options, backend=backend, strategy=solve, tasks=task_list)
    )


def evaluate(samples: str | Path, dataset: str = "humaneval", **options: Any) -> EvaluationReport:
    """Score a samples file (JSONL of task_id, completion) on `dataset`'s hidden tests; the
    report `codeloop evaluate` prints.  `options`: any other `EvaluateOptions` field."""
    import anyio

    from codeloop.runs.evaluate import EvaluateOptions
    from codeloop.runs.evaluate import evaluate as run_evaluate

    evaluate_options = EvaluateOptions(dataset=dataset, **options)
    return anyio.run(run_evaluate, samples, evaluate_options)


def _label(thing: object) -> str:
    name = getattr(thing, "__qualname__", None) or type(thing).__qualname__
    module = getattr(thing, "__module__", None) or type(thing).__module__
    return f"{module}:{name}"
