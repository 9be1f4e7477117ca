"""`agentcoder` never reaches a hidden test: checked through a real run, in both variants.
(A module of its own: `codeloop.run` starts an event loop, which the module-scoped async
fixtures of test_agentcoder.py keep running in their thread.)"""

from __future__ import annotations

import pytest

import codeloop
from codeloop import GenerationRequest, Task, TestCase, TestKind
from codeloop.models import MockBackend
from codeloop.strategies import SolveContext, make_strategy

from .test_agentcoder import block


def secret_task(i: int) -> Task:
    secret = TestCase(TestKind.CALL, args=(f"SECRET-IN-{i}", 1), expected=f"SECRET-OUT-{i}")
    return Task(
        task_id=f"demo/add{i}",
        prompt=f'def add{i}(a, b):\n    """Return the sum of a and b."""\n',
        entry_point=f"add{i}",
        visible_tests=(TestCase(TestKind.CALL, args=(1, 1), expected=2),),
        hidden_tests={"base": (secret,)},
        reference=f"def add{i}(a, b):\n    return a + b  # SECRET-REF-{i}\n",
        dataset="secret",
    )


class RecordingExecutor:
    """Passes runs on and keeps every request (what reached the sandbox)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.requests: list[object] = []

    async def run(self, request):
        self.requests.append(request)
        return await self.inner.run(request)  # type: ignore[attr-defined]


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["paper", "released"])
def test_nothing_reachable_from_the_context_holds_hidden_tests(variant, reachable):
    """Through a real run (hidden tests scored after each strategy): the context reaches no
    task and no secret, before and after solving; no model request and no execution
    carries hidden-test text."""
    seen: list[dict[str, object]] = []

    def answer(request: GenerationRequest, index: int) -> str:
        name = request.task_id.rsplit("/", 1)[-1] if request.task_id else "add"
        if request.purpose == "tests":
            return block(f'assert {name}(1, 2) == 3, "basic"')
        return f"```python\ndef {name}(a, b):\n    return a - b\n```"

    backend = MockBackend(answer)
    inner = make_strategy("agentcoder", variant=variant, epochs=1)

    def spy(**settings: object):
        async def solve(ctx: SolveContext):
            recording = RecordingExecutor(ctx._executor)
            ctx._executor = recording  # the test looks at what reaches the sandbox
            before = reachable(ctx)
            solution = await inner(ctx)
            after = reachable(ctx)
            seen.append(
                {
                    "objects": len(before),
                    "tasks": [o for o in before + after if isinstance(o, Task)],
                    "secrets": [o for o in before + after if isinstance(o, str) and "SECRET" in o],
                    "executions": [repr(r) for r in recording.requests],
                }
            )
            return solution

        return solve

    report = codeloop.run(
        [secret_task(i) for i in range(2)],
        strategy=spy,
        model=backend,
        use_cache=False,
        concurrency=1,
        ks=(1,),
    )
    assert report.finished == 2 and len(seen) == 2
    for each in seen:
        assert each["tasks"] == [] and each["secrets"] == []
        assert each["objects"] > 100  # the walk went past the context into the machinery
        assert each["executions"]  # the strategy ran programs ...
        assert not any("SECRET" in e for e in each["executions"])  # ... never a hidden test
    assert backend.requests and not any("SECRET" in repr(r) for r in backend.requests)
    assert report.pass_at_k["base"]["1"] == 0.0  # the hidden tests did score, afterwards
