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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
from codeloop.types import GenerationRequest, Message, ProblemView, Sampling, TestCase


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


@dataclass(frozen=True)
class Attempt:
    """An implementation: its code, the model's text, whether it passed the internal tests."""

    code: str
    raw: str
    passed_internal: bool


def rank_trials(trials: Sequence[Attempt]) -> list[int]:
    """The trials' final implementations best first: those that passed their internal tests,
    then the others, each in trial order."""
    return sorted(range(len(trials)), key=lambda i: (not trials[i].passed_internal, i))


# ---------------------------------------------------------------------- internal tests


def generates_tests(config: ReflexionSettings, visible: Sequence[TestCase]) -> bool:
    """Whether the model is asked for tests, given the visible tests already used."""
    wanted = config.generate_tests == "always" or (
        config.generate_tests == "if_no_visible" and not visible
    )
    return wanted and config.max_generated_tests > 0


def tests_from_answer(
    text: str, entry_point: str, shown: Sequence[TestCase], limit: int
) -> tuple[list[str], list[TestCase]]:
    """The first `limit` distinct assertions of the model's test answer that are not among
    the `shown` tests already used, and the tests they make (one that tests nothing, such
    as ``assert True``, makes none)."""
    used = {t.source.strip() for t in shown}
    assertions = [a for a in chat_assertions(text, entry_point) if a not in used][:limit]
    tests = [
        test
        for assertion in assertions
        if (test := assertion_test(assertion, entry_point, None)) is not None
    ]
    return assertions, tests


async def internal_tests(
    ctx: SolveContext, config: ReflexionSettings, trial: int
) -> list[TestCase]:
    """The tests a trial checks its implementations on: the visible ones when asked, and
    the model's own (one call, recorded as a "generated_test" node)."""
    view = ctx.view
    tests = list(view.visible_tests) if config.use_visible_tests else []
    if not (generates_tests(config, tests) and view.entry_point):
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
    assertions, generated = tests_from_answer(
        answer.text, view.entry_point, tests, config.max_generated_tests
    )
    ctx.record(
        "generated_test",
        answer.text,
        usage=answer.usage,
        assertions=assertions,
        trial=trial,
    )
    return tests + generated


# ------------------------------------------------------------------ reflection, memory


def reflection_request(code: str, report: str, sampling: Sampling) -> GenerationRequest:
    """Ask why `code` is wrong, from its test report."""
    return GenerationRequest(
        messages=(
            Message("system", prompts.SYSTEM_REFLECTION),
            Message("user", prompts.reflection_request_text(code, report)),
        ),
        n=1,
        sampling=sampling,
        purpose="reflection",
    )


@dataclass
class ReflectionMemory:
    """A trial's reflections, oldest first; the prompt gets the latest `size` (None: all)."""

    size: int | None
    reflections: list[str] = field(default_factory=list)

    def add(self, reflection: str) -> None:
        self.reflections.append(reflection)

    @property
    def kept(self) -> list[str]:
        return self.reflections if self.size is None else self.reflections[-self.size :]


def improve_request(
    view: ProblemView, code: str, report: str, memory: ReflectionMemory, sampling: Sampling
) -> GenerationRequest:
    """Ask for a new implementation from the previous one, its test report and the
    reflections the memory keeps."""
    return GenerationRequest(
        messages=(
            Message("system", prompts.SYSTEM_REFLEXION_CODE),
            Message("user", prompts.reflexion_code_text(view, code, report, memory.kept)),
        ),
        n=1,
        sampling=sampling,
        purpose="code",
    )


# ---------------------------------------------------------------------------- strategy


class Reflexion:
    """The strategy with its settings: `await Reflexion(settings).solve(ctx)`; its steps are
    functions of this module that can be used and tested alone."""

    def __init__(self, config: ReflexionSettings) -> None:
        self.config = config

    async def solve(self, ctx: SolveContext) -> Solution:
        answers = Answers()
        finals: list[Attempt] = []

        def publish(current: Attempt | None) -> None:
            trials = [*finals, *([current] if current is not None else [])]
            ranked = rank_trials(trials)
            answers.set([trials[i].code for i in ranked], [trials[i].raw for i in ranked])

        async def body() -> None:
            for index in range(self.config.n):
                final = await self._trial(ctx, index, publish)
                if final is not None:
                    finals.append(final)
                    publish(None)

        return await run_guarded(ctx, answers, body)

    async def _trial(
        self, ctx: SolveContext, index: int, publish: Callable[[Attempt | None], None]
    ) -> Attempt | None:
        """One trial: implement, test, reflect, implement again...; its final attempt
        (`publish` is told of each attempt as it is made)."""
        config = self.config
        view = ctx.view
        sampling = sampling_for(ctx, temperature=config.temperature, max_tokens=config.max_tokens)
        reflection_sampling = sampling_for(
            ctx, temperature=config.reflection_temperature, max_tokens=config.max_tokens
        )
        tests = await internal_tests(ctx, config, index)
        request = GenerationRequest(
            messages=code_messages(view), n=1, sampling=sampling, purpose="code"
        )
        parent: int | None = None
        memory = ReflectionMemory(config.memory)
        current: Attempt | None = None
        for attempt in range(config.rounds + 1):
            [completion] = await ctx.generate(request)
            extracted, node = record_program(
                ctx, completion, "chat", parent=parent, trial=index, attempt=attempt
            )
            current = Attempt(extracted.code, completion.text, False)
            publish(current)
            if not tests:
                ctx.record("stop", "no internal tests: nothing to reflect on", parent=node)
                break
            result = await ctx.execute(extracted.code, tests, parent=node, label="internal")
            if result.passed:
                current = Attempt(extracted.code, completion.text, True)
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
                reflection_request(extracted.code, report, reflection_sampling)
            )
            parent = ctx.record(
                "reflection",
                reflection.text.strip(),
                parent=feedback_node,
                usage=reflection.usage,
            )
            memory.add(reflection.text)
            request = improve_request(view, extracted.code, report, memory, sampling)
        return current


def make_reflexion(**settings: object) -> Strategy:
    """Reflexion with `settings` (see `ReflexionSettings`): its `solve`, a coroutine
    function as every strategy is."""
    return Reflexion(parse_settings(ReflexionSettings, "reflexion", settings)).solve
