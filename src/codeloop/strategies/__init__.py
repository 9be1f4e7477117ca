"""Strategies: small factories that capture settings and return an async `solve`.

    strategy = make_strategy("self_debug", rounds=3, feedback="unit_test")
    solution = await strategy(SolveContext(view, backend, executor, budget))

A strategy sees only the `ProblemView` (never hidden tests) and reaches the model and the
sandbox through its `SolveContext`, which owns the budget and the trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from codeloop.registry import STRATEGIES
from codeloop.strategies.base import (
    Answers,
    BudgetExceeded,
    ExecutionInfraError,
    Executor,
    Solution,
    SolveContext,
    Strategy,
    run_guarded,
)
from codeloop.strategies.codet import CodeTSettings, make_codet
from codeloop.strategies.reflexion import ReflexionSettings, make_reflexion
from codeloop.strategies.sample import SampleSettings, make_sample
from codeloop.strategies.self_debug import SelfDebugSettings, make_self_debug

__all__ = [
    "STRATEGIES",
    "Answers",
    "BudgetExceeded",
    "ExecutionInfraError",
    "Executor",
    "Solution",
    "SolveContext",
    "Strategy",
    "make_strategy",
    "run_guarded",
]

# The built-ins register like any plugin (codeloop.registry); STRATEGIES is that registry.
STRATEGIES.register("sample", make_sample, settings=SampleSettings)
STRATEGIES.register("self_debug", make_self_debug, settings=SelfDebugSettings)
STRATEGIES.register("reflexion", make_reflexion, settings=ReflexionSettings)
STRATEGIES.register("codet", make_codet, settings=CodeTSettings)


def make_strategy(name: str, **settings: Any) -> Strategy:
    """The strategy `name` with `settings`; ValueError for an unknown name or setting."""
    factory: Callable[..., Strategy] | None = STRATEGIES.get(name)
    if factory is None:
        raise ValueError(f"unknown strategy {name!r}; strategies: {', '.join(sorted(STRATEGIES))}")
    return factory(**settings)
