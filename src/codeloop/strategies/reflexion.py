"""`reflexion`: Reflexion (Shinn et al., 2023) for programming.

1. The model writes its own unit tests for the function (one call, purpose "tests"); the
   internal tests are up to `max_generated_tests` of those (with `use_visible_tests`, the
   visible tests too).
2. It writes an implementation and runs it on the internal tests.
3. On failure it writes a self-reflection (purpose "reflection"): a few sentences on why the
   implementation is wrong, read from the test results.  Reflections accumulate in memory.
4. It writes a new implementation from the previous one, its test results and the
   reflection memory; back to 2, for up to `rounds` reflections.

The answer is the final implementation, as in Reflexion (it may pass fewer internal tests
than an earlier one: the generated tests can be wrong, and Reflexion trusts the latest
reflection).

Defaults are the released code's (noahshinn/reflexion, programming_runs): implementations
decoded greedily (temperature 0), tests and reflections at 0.2 (its chat calls' default),
5 generated tests, only the latest reflection in the next prompt (`memory=1`; the paper
bounds the memory at 1 to 3), 4 reflections (`max_iters=5`, the setting of its logged
HumanEval GPT-4 run), and only generated tests on HumanEval-style tasks (it uses visible
tests only for LeetCode; `use_visible_tests` adds them).

Differences from the released code, on purpose: its generated tests are sampled at random
down to 5; here the first `max_generated_tests` distinct, compiling ones are kept, so runs
repeat exactly.  Prompts are zero-shot instructions, not the released few-shot prompts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from codeloop.feedback import render, tests_feedback
from codeloop.strategies import prompts
from codeloop.strategies.base import (
    Answers,
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
    code_messages,
    parse_settings,
    record_program,
    sampling_for,
    tests_messages,
)
from codeloop.types import GenerationRequest, Message, TestCase


@dataclass(frozen=True)
class ReflexionSettings:
    rounds: int = 4  # reflections (and new implementations) after the first attempt
    max_generated_tests: int = 5
    generate_tests: Literal["always", "if_no_visible", "never"] = "always"
    use_visible_tests: bool = False  # run the visible tests as internal tests too
    memory: int | None = 1  # reflections kept in the prompt (None: all)
    temperature: float | None = 0.0
    tests_temperature: float | None = 0.2
    reflection_temperature: float | None = 0.2
    max_tokens: int | None = None
    n: int = 1  # independent trials
    max_failures: int = 10  # failing tests shown in a test report

    def check(self) -> None:
        at_least("rounds", self.rounds, 0)
        at_least("max_generated_tests", self.max_generated_tests, 0)
        at_least("memory", self.memory, 1)
        at_least("temperature", self.temperature, 0.0)
        at_least("tests_temperature", self.tests_temperature, 0.0)
        at_least("reflection_temperature", self.reflection_temperature, 0.0)
        at_least("max_tokens", self.max_tokens, 1)
        at_least("n", self.n, 1)
        at_least("max_failures", self.max_failures, 1)


@dataclass
class _Final:
    code: str
    raw: str
    passed_internal: bool


def make_reflexion(**settings: object) -> Strategy:
    config = parse_settings(ReflexionSettings, "reflexion", settings)

    async def internal_tests(ctx: SolveContext, trial: int) -> list[TestCase]:
        view = ctx.view
        tests = list(view.visible_tests) if config.use_visible_tests else []
        wanted = config.generate_tests == "always" or (
            config.generate_tests == "if_no_visible" and not tests
        )
        if not (wanted and config.max_generated_tests > 0 and view.entry_point):
            return tests
        [answer] = await ctx.generate(
            GenerationRequest(
                messages=tests_messages(view, config.max_generated_tests),
                n=1,
                sampling=sampling_for(
                    ctx, temperature=config.tests_temperature, max_tokens=config.max_tokens
                ),
                purpose="tests",
            )
        )
        shown = {t.source.strip() for t in tests}
        assertions = [a for a in chat_assertions(answer.text, view.entry_point) if a not in shown][
            : config.max_generated_tests
        ]
        ctx.record(
            "generated_test",
            answer.text,
            usage=answer.usage,
            assertions=assertions,
            trial=trial,
        )
        for assertion in assertions:
            test = assertion_test(assertion, view.entry_point, None)
            if test is not None:
                tests.append(test)
        return tests

    async def solve(ctx: SolveContext) -> Solution:
        answers = Answers()
        finals: list[_Final] = []

        def publish(current: _Final | None) -> None:
            trials = [*finals, *([current] if current is not None else [])]
            ranked = sorted(range(len(trials)), key=lambda i: (not trials[i].passed_internal, i))
            answers.set([trials[i].code for i in ranked], [trials[i].raw for i in ranked])

        async def trial(index: int) -> None:
            view = ctx.view
            sampling = sampling_for(
                ctx, temperature=config.temperature, max_tokens=config.max_tokens
            )
            tests = await internal_tests(ctx, index)
            request = GenerationRequest(
                messages=code_messages(view), n=1, sampling=sampling, purpose="code"
            )
            parent: int | None = None
            memory: list[str] = []
            current: _Final | None = None
            for attempt in range(config.rounds + 1):
                [completion] = await ctx.generate(request)
                extracted, node = record_program(
                    ctx, completion, "chat", parent=parent, trial=index, attempt=attempt
                )
                current = _Final(extracted.code, completion.text, False)
                publish(current)
                if not tests:
                    ctx.record("stop", "no internal tests: nothing to reflect on", parent=node)
                    break
                result = await ctx.execute(extracted.code, tests, parent=node, label="internal")
                if result.passed:
                    current = _Final(extracted.code, completion.text, True)
                    publish(current)
                    break
                if attempt == config.rounds:
                    break
                items = tests_feedback(result, tests, entry_point=view.entry_point)
                report = render(items, style="reflexion", max_items=config.max_failures)
                feedback_node = ctx.record(
                    "feedback",
                    report,
                    parent=node,
                    style="reflexion",
                    failing=failing_count(result),
                    passing=passed_count(result),
                )
                [reflection] = await ctx.generate(
                    GenerationRequest(
                        messages=(
                            Message("system", prompts.SYSTEM_REFLECTION),
                            Message(
                                "user", prompts.reflection_request_text(extracted.code, report)
                            ),
                        ),
                        n=1,
                        sampling=sampling_for(
                            ctx,
                            temperature=config.reflection_temperature,
                            max_tokens=config.max_tokens,
                        ),
                        purpose="reflection",
                    )
                )
                parent = ctx.record(
                    "reflection",
                    reflection.text.strip(),
                    parent=feedback_node,
                    usage=reflection.usage,
                )
                memory.append(reflection.text)
                kept = memory if config.memory is None else memory[-config.memory :]
                request = GenerationRequest(
                    messages=(
                        Message("system", prompts.SYSTEM_REFLEXION_CODE),
                        Message(
                            "user",
                            prompts.reflexion_code_text(view, extracted.code, report, kept),
                        ),
                    ),
                    n=1,
                    sampling=sampling,
                    purpose="code",
                )
            if current is not None:
                finals.append(current)
                publish(None)

        async def body() -> None:
            for index in range(config.n):
                await trial(index)

        return await run_guarded(ctx, answers, body)

    return solve
