"""`self_debug`: Self-Debugging (Chen et al., 2023).

The model writes a program; it runs on the visible tests; when it fails, the feedback goes
back into the same conversation and the model writes a fix; up to `rounds` fixes, stopping
as soon as the visible tests pass.  The conversation keeps its whole history (every
program, explanation and feedback message), as the paper's multi-turn debugging does.

Feedback variants (the paper's):

- ``simple``: only "The code above is wrong. Please fix it.";
- ``unit_test``: the failing tests with expected vs actual, or the error and traceback;
- ``unit_test_explanation``: first the model explains its code line by line ("rubber duck
  debugging"), then the unit test feedback follows and the model fixes the code.

Defaults follow the paper's setting (there is no released code): greedy decoding
(temperature 0) and up to 10 debugging turns (`rounds`; the paper notes that successful
debugging mostly ends within the first turns, so a smaller cap saves calls on programs that
stay wrong, and changes results: it is the caller's choice).  With temperature 0 a repair
identical to the program it repairs would only repeat itself, so the loop stops there.

The answer is the program that passed the most visible tests, the latest among equals
(normally the last program, which passes them all).  With `n > 1`, n independent debugging
sessions run one after the other and their answers are ranked the same way.
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
    at_least,
    code_messages,
    parse_settings,
    record_program,
    sampling_for,
)
from codeloop.types import GenerationRequest, Message


@dataclass(frozen=True)
class SelfDebugSettings:
    rounds: int = 10  # the paper's maximum number of debugging turns
    feedback: Literal["simple", "unit_test", "unit_test_explanation"] = "unit_test"
    temperature: float | None = 0.0  # the paper decodes greedily
    max_tokens: int | None = None
    n: int = 1  # independent debugging sessions
    max_failures: int = 3  # failing tests shown per feedback message

    def check(self) -> None:
        at_least("rounds", self.rounds, 0)
        at_least("n", self.n, 1)
        at_least("temperature", self.temperature, 0.0)
        at_least("max_tokens", self.max_tokens, 1)
        at_least("max_failures", self.max_failures, 1)


@dataclass
class _Best:
    code: str = ""
    raw: str = ""
    passed: int = -1
    all_passed: bool = False


def make_self_debug(**settings: object) -> Strategy:
    config = parse_settings(SelfDebugSettings, "self_debug", settings)

    async def solve(ctx: SolveContext) -> Solution:
        answers = Answers()
        finals: list[_Best] = []

        def publish(current: _Best | None) -> None:
            chains = [*finals, *([current] if current is not None and current.code else [])]
            ranked = sorted(
                range(len(chains)), key=lambda i: (-chains[i].all_passed, -chains[i].passed, i)
            )
            answers.set([chains[i].code for i in ranked], [chains[i].raw for i in ranked])

        async def session(index: int) -> None:
            view = ctx.view
            tests = view.visible_tests
            sampling = sampling_for(
                ctx, temperature=config.temperature, max_tokens=config.max_tokens
            )
            messages = list(code_messages(view))
            best = _Best()
            parent: int | None = None
            previous = ""
            purpose = "code"
            for attempt in range(config.rounds + 1):
                [completion] = await ctx.generate(
                    GenerationRequest(
                        messages=tuple(messages), n=1, sampling=sampling, purpose=purpose
                    )
                )
                extracted, node = record_program(
                    ctx, completion, "chat", parent=parent, session=index, attempt=attempt
                )
                code = extracted.code
                messages.append(Message("assistant", completion.text))
                if not best.code:
                    best = _Best(code, completion.text, -1, False)
                    publish(best)
                if attempt > 0 and code == previous and config.temperature == 0:
                    ctx.record("stop", "the repair repeats the program it repairs", parent=node)
                    break
                previous = code
                if not tests:
                    ctx.record("stop", "no visible tests: nothing to debug against", parent=node)
                    break
                result = await ctx.execute(code, tests, parent=node, label="visible")
                passed = passed_count(result)
                if passed >= best.passed:  # the latest among equals
                    best = _Best(code, completion.text, passed, result.passed)
                    publish(best)
                if result.passed or attempt == config.rounds:
                    break
                items = tests_feedback(result, tests, entry_point=view.entry_point)
                feedback = render(items, style=config.feedback, max_items=config.max_failures)
                if config.feedback == "unit_test_explanation":
                    messages.append(Message("user", prompts.EXPLAIN_REQUEST))
                    [explanation] = await ctx.generate(
                        GenerationRequest(
                            messages=tuple(messages),
                            n=1,
                            sampling=sampling,
                            purpose="explanation",
                        )
                    )
                    ctx.record(
                        "explanation", explanation.text, parent=node, usage=explanation.usage
                    )
                    messages.append(Message("assistant", explanation.text))
                parent = ctx.record(
                    "feedback",
                    feedback,
                    parent=node,
                    style=config.feedback,
                    failing=failing_count(result),
                )
                # "simple" feedback already says "Please fix it": only the answer format follows
                request_fix = (
                    prompts.answer_format(view)
                    if config.feedback == "simple"
                    else prompts.fix_request(view)
                )
                messages.append(Message("user", feedback + "\n\n" + request_fix))
                purpose = "repair"
            finals.append(best)
            publish(None)

        async def body() -> None:
            for index in range(config.n):
                await session(index)

        return await run_guarded(ctx, answers, body)

    return solve
