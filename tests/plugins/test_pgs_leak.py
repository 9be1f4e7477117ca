"""`pgs` leaks nothing: no hidden test is reachable from its context, and no request or
sandbox execution made while it runs carries hidden-test text."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import codeloop
from codeloop import Solution, SolveContext, Task, TestCase, TestKind
from codeloop.execution.local import LocalExecutor
from codeloop.models import MockBackend
from codeloop.types import ExecRequest
from codeloop_plugins.pgs import make_pgs

from .test_pgs import (
    DEDUP,
    GENERATOR,
    PROMPT,
    REVERSED,
    RIGHT,
    SAME_LENGTH,
    VIEW,
    by_purpose,
    properties,
    purposes,
)


def _secret_task(i: int) -> Task:
    hidden = TestCase(
        TestKind.CALL,
        args=([f"SECRET-IN-{i}"],),
        expected=[f"SECRET-OUT-{i}"],
        source=f"assert sort_numbers(['SECRET-IN-{i}']) == ['SECRET-OUT-{i}']",
    )
    return Task(
        task_id=f"demo/sort{i}",
        prompt=PROMPT,
        entry_point="sort_numbers",
        visible_tests=VIEW.visible_tests,
        hidden_tests={"base": (hidden,)},
        reference="def sort_numbers(xs):\n    return sorted(xs)  # SECRET-REF\n",
    )


@pytest.mark.slow
def test_nothing_reachable_from_the_context_holds_hidden_tests(tmp_path, monkeypatch, reachable):
    """Tasks solved one after another by `pgs` (every phase runs: a visible repair, a
    property repair, Hypothesis): before and after each solve nothing reachable from the
    context holds a task or a hidden test's text, and no request or sandbox execution made
    while the strategy ran carries one.  The hidden tests are used: after the strategy."""
    inside: list[bool] = [False]
    executed: list[str] = []
    original_run = LocalExecutor.run

    async def spy_run(self: LocalExecutor, request: ExecRequest) -> Any:
        if inside[0]:
            executed.append(request.program + repr(request.suite.tests))
        return await original_run(self, request)

    monkeypatch.setattr(LocalExecutor, "run", spy_run)
    walks: list[dict[str, Any]] = []
    kinds: Counter[str] = Counter()

    def spy(**settings: Any) -> Any:
        inner = make_pgs(**settings)

        def walk(ctx: SolveContext) -> dict[str, Any]:
            objects = reachable(ctx)
            return {
                "tasks": [o for o in objects if isinstance(o, Task)],
                "secrets": [o for o in objects if isinstance(o, str) and "SECRET" in o],
                "objects": len(objects),
            }

        async def solve(ctx: SolveContext) -> Solution:
            inside[0] = True
            try:
                walks.append(walk(ctx))
                solution = await inner(ctx)
                walks.append(walk(ctx))
            finally:
                inside[0] = False
            assert not [n for n in solution.trace if "SECRET" in repr(n)]
            kinds.update(n.kind for n in solution.trace)
            return solution

        return solve

    backend = MockBackend(
        by_purpose(
            code=REVERSED,
            properties=properties(SAME_LENGTH),
            inputs=GENERATOR,
            repair=[DEDUP, RIGHT, RIGHT, RIGHT],
        )
    )
    report = codeloop.run(
        [_secret_task(i) for i in range(3)],
        strategy=spy,
        model=backend,
        settings={"passes": 1, "inputs": "both"},
        store=str(tmp_path / "runs.sqlite"),
        concurrency=1,
    )
    assert len(walks) == 6
    for each in walks:
        assert each["tasks"] == [] and each["secrets"] == []
        assert each["objects"] > 100  # the walk went past the context into the machinery
    assert executed and not [text for text in executed if "SECRET" in text]
    requests = [repr(r) for r in backend.requests]
    assert not [r for r in requests if "SECRET" in r]
    # task 0 is repaired twice (a visible failure, then a property); the others once
    assert Counter(purposes(backend)) == {"code": 3, "repair": 4, "properties": 3, "inputs": 3}
    assert kinds["counterexample"] == 1 and kinds["hypothesis"] >= 3  # every phase ran
    assert report.pass_at_k  # scored on the hidden tests, after the strategy
