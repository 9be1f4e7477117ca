"""Solving one task: the strategy gets the task's `ProblemView` (never the Task: hidden
tests and the reference stay with the run) through a sealed `SolveContext`; its solution,
trace and usage are committed to the store before anything is scored.

A model error that persisted after the backend's retries or a sandbox failure is the
task's error (an infrastructure failure: tried again on resume); a strategy that ran out
of its budget is not: what it found is scored.  A strategy that crashes fails its task,
and the run goes on.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from codeloop.execution.local import LocalExecutor, SandboxError
from codeloop.models.base import Backend, ModelError
from codeloop.runs.keys import view_sha
from codeloop.runs.report import usage_json
from codeloop.runs.state import RunState
from codeloop.runs.store import StoredSolution
from codeloop.types import Completion, GenerationRequest, Node, Task, Usage

if TYPE_CHECKING:
    from codeloop.strategies.base import Solution, Strategy


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


async def solve_task(
    state: RunState,
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
            view_sha=view_sha(view),
            programs=list(solution.programs),
            raw=list(solution.raw),
            trace=[_node_json(n) for n in solution.trace],
            usage=usage_json(usage),
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
            view_sha=view_sha(view),
            programs=[],
            raw=[],
            trace=[_error_node(raised, error)] if raised is not None else [],
            usage=usage_json(usage),
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
