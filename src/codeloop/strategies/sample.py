"""`sample`: n independent samples, ranked best-of-n by the visible tests.

The pass@k baseline.  One request for n samples; each is extracted into a program.  When
there are visible tests and more than one sample, every distinct program runs on them and
programs that pass more visible tests rank first (ties keep sample order).  All n programs
are returned, ranked, duplicates included, so pass@k over them is the usual estimate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from codeloop.strategies.base import (
    Answers,
    Solution,
    SolveContext,
    Strategy,
    gather_all,
    passed_count,
    run_guarded,
)
from codeloop.strategies.common import (
    ModeSetting,
    at_least,
    parse_settings,
    resolve_mode,
    sample_programs,
)
from codeloop.types import ExecResult


@dataclass(frozen=True)
class SampleSettings:
    n: int = 1
    temperature: float | None = None  # None: the run's sampling settings
    max_tokens: int | None = None
    mode: ModeSetting = "auto"  # auto: what the model declares (replay: completion), else chat
    rank: bool = True  # best-of-n by visible tests

    def check(self) -> None:
        at_least("n", self.n, 1)
        at_least("temperature", self.temperature, 0.0)
        at_least("max_tokens", self.max_tokens, 1)


def _passed(result: ExecResult | None) -> int:
    if result is None:
        return -1  # not run (budget): after every program that ran
    return passed_count(result)


def make_sample(**settings: object) -> Strategy:
    config = parse_settings(SampleSettings, "sample", settings)

    async def solve(ctx: SolveContext) -> Solution:
        answers = Answers()

        async def body() -> None:
            mode = resolve_mode(config.mode, ctx.prompt_mode)
            codes, raws, nodes = await sample_programs(
                ctx, mode, config.n, temperature=config.temperature, max_tokens=config.max_tokens
            )
            answers.set(codes, raws)
            tests = ctx.view.visible_tests
            if not (config.rank and tests and len(codes) > 1):
                return
            first_of: dict[str, int] = {}
            for index, code in enumerate(codes):
                first_of.setdefault(code, index)
            distinct = sorted(first_of.values())

            def run(index: int) -> Callable[[], Awaitable[ExecResult]]:
                return lambda: ctx.execute(
                    codes[index], tests, parent=nodes[index], label="visible"
                )

            results, error = await gather_all([run(i) for i in distinct])
            by_code = {codes[i]: r for i, r in zip(distinct, results, strict=True)}
            order = sorted(range(len(codes)), key=lambda i: (-_passed(by_code[codes[i]]), i))
            answers.set([codes[i] for i in order], [raws[i] for i in order])
            ctx.record(
                "ranking",
                "best-of-n by visible tests",
                order=order,
                passed=[_passed(by_code[codes[i]]) for i in order],
            )
            if error is not None:
                raise error

        return await run_guarded(ctx, answers, body)

    return solve
