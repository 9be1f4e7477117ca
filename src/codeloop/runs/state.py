"""The state of one `codeloop run` invocation: what it spent, what it finished, and when
it must stop starting tasks (the run budget, the error budget)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from codeloop.runs.options import ProgressHook, RunOptions
from codeloop.runs.store import RunTables
from codeloop.types import Budget, Usage


def over_budget(spent: Usage, seconds: float, budget: Budget) -> str:
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


@dataclass
class RunState:
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
            self.stop_reason = over_budget(
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
