"""`agentcoder`: AgentCoder (Huang et al., 2023): programmer, test designer, executor.

Two algorithms carry the name (see docs/strategies.md, `agentcoder`):

``variant="paper"`` (default), the loop of the paper and of its official code at commit
0c91e7e:

1. The programmer writes one program (a chain-of-thought prompt; purpose "code").
2. The test designer, in a call of its own that sees the problem and never the program,
   writes one block of asserts: basic, edge and large-scale cases (purpose "tests").
3. The executor runs the block's asserts on the program in order, stopping at the first
   that fails, as the block run as one script stops; the block gets `block_time_limit_s`.
4. If the block passes, stop.  Otherwise the programmer, in a new conversation, gets its
   previous program, the block and the error, and writes a fix (purpose "repair"); back to
   3, for up to `rounds` fixes.  The tests are not redesigned.  The answer is the latest
   program, as in the official code.

The error keeps the assertion's message (``AssertionError: <message>``) and, where the
assert compares a value, what was expected and what came back; the official code reports
only ``failed: AssertionError`` and so drops the designer's description of the case.

``variant="released"``, the later released code (HEAD, HumanEval path): each epoch samples
`programs` programs and `test_blocks` test blocks, each in a call of its own, without any
feedback; a program's score is the number of blocks it passes as a whole (blocks with no
``assert <entry_point>(`` are skipped); the answer is the first program with the highest
score.  When that score reaches `min_blocks` the problem is done; otherwise everything is
sampled again, for up to `epochs` more epochs, and the answer is the last epoch's choice.

Neither variant runs a hidden test, nor could it: the context holds the problem without
them.  (The released code's MBPP path shows the three hidden asserts to the programmer and
re-samples until they pass; that path is not reproduced.)
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from codeloop import (
    Answers,
    Completion,
    ExecResult,
    Feedback,
    GenerationRequest,
    Limits,
    Message,
    ProblemView,
    Sampling,
    Solution,
    SolveContext,
    Strategy,
    TestCase,
    assertion_test,
    at_least,
    chat_assertions,
    failing_count,
    parse_settings,
    record_program,
    render_feedback,
    run_guarded,
    sampling_for,
    tests_feedback,
)

PROGRAMMER_SYSTEM = "You are a software programmer."
DEVELOPER_SYSTEM = "You are a code developer assistant."  # the designer's and the fixer's
OFFICIAL_TIME_LIMIT_S = {"paper": 5.0, "released": 3.0}  # CodeGeeX check_correctness's timeout


@dataclass(frozen=True)
class AgentCoderSettings:
    variant: Literal["paper", "released"] = "paper"
    rounds: int = 5  # paper: fixes after the first program (the official code's epoch = 5)
    programs: int = 5  # released: programs per epoch
    test_blocks: int = 10  # released: test blocks per epoch
    min_blocks: int = 3  # released: blocks the best program must pass to stop
    epochs: int = 5  # released: epochs sampled again after the first
    temperature: float | None = 1.0  # the official code sets none: OpenAI's default, 1.0
    max_tokens: int | None = None  # None: the run's sampling
    # one run of a test block (None: the official timeout, 5 s paper, 3 s released)
    block_time_limit_s: float | None = None
    # visible tests the prompt does not show (MBPP's first assert) go to both agents
    show_visible_tests: bool = True

    def check(self) -> None:
        at_least("rounds", self.rounds, 0)
        at_least("programs", self.programs, 1)
        at_least("test_blocks", self.test_blocks, 1)
        at_least("min_blocks", self.min_blocks, 0)
        at_least("epochs", self.epochs, 0)
        at_least("temperature", self.temperature, 0.0)
        at_least("max_tokens", self.max_tokens, 1)
        if self.block_time_limit_s is not None and self.block_time_limit_s <= 0:
            raise ValueError("setting block_time_limit_s must be positive")


# ------------------------------------------------------------------------------ prompts


def problem_text(view: ProblemView, show_visible_tests: bool) -> str:
    """The problem as both agents see it: the prompt (as code when it is the function's
    signature and docstring), and the visible tests it does not show itself."""
    entry = view.entry_point or "the function"
    if view.entry_point and f"def {view.entry_point}" in view.prompt:
        parts = ["```python", view.prompt.rstrip("\n"), "```"]
    else:
        parts = [view.prompt.strip(), "", f"The function is named `{entry}`."]
    shown = [
        t.source.strip()
        for t in view.visible_tests
        if show_visible_tests and t.source.strip() and t.source.strip() not in view.prompt
    ]
    if shown:
        parts += ["", "Examples:", "```python", *shown, "```"]
    return "\n".join(parts)


def programmer_messages(view: ProblemView, show_visible_tests: bool) -> tuple[Message, ...]:
    text = f"""**Role**: You are a software programmer.

**Task**: Complete the function below. Think it through step by step: understand the \
problem, pick an algorithm, write pseudocode, then turn it into Python code that is \
efficient, readable and commented.

**Problem**:
{problem_text(view, show_visible_tests)}

**Instructions**:
1. **Understand and clarify**: make sure you know what is asked.
2. **Choose an algorithm**: decide on the most efficient way to do it.
3. **Write pseudocode**: list the steps you will follow.
4. **Write the code**: translate the pseudocode into executable Python.

Return the complete function, with the imports it needs, in one ```python block."""
    return (Message("system", PROGRAMMER_SYSTEM), Message("user", text))


def designer_messages(view: ProblemView, show_visible_tests: bool) -> tuple[Message, ...]:
    entry = view.entry_point or "the function"
    text = f"""**Role**: You are a software tester. Write comprehensive test cases for the \
function `{entry}`, which has not been implemented yet.

**Problem**:
{problem_text(view, show_visible_tests)}

**Cover three kinds of cases**:
1. **Basic**: the function's ordinary behaviour on normal inputs.
2. **Edge**: extreme or unusual inputs (empty, boundaries, special values).
3. **Large scale**: large inputs, to check that the function stays efficient.

**Instructions**:
- Write every test as one self-contained assert statement that calls the function \
directly, in the form `assert {entry}(input) == expected_output, "what the case checks"`; \
use no variable defined outside the assert.
- Work out each expected output carefully from the problem: a wrong expectation misleads \
the programmer.
- Do not implement the function. Put all the asserts in one ```python block."""
    return (Message("system", DEVELOPER_SYSTEM), Message("user", text))


def fix_messages(program: str, block: Sequence[str], error: str) -> tuple[Message, ...]:
    """The official fix request's structure: the previous program, the test cases and the
    error, in a new conversation (the problem itself is not repeated)."""
    tests = "\n".join(block)
    text = f"""Please rewrite the code to fix the error below.
Here is the previous version:
```python
{program.rstrip()}
```
It was evaluated with these test cases:
```python
{tests}
```
and raised this error:
```
{error}
```
Fix the bug using the error information. Return only the corrected Python code, not the \
test cases, in one ```python block."""
    return (Message("system", DEVELOPER_SYSTEM), Message("user", text))


# -------------------------------------------------------------------------- test blocks


@dataclass(frozen=True)
class DesignedBlock:
    """One test block: the designer's assertions, as tests, and its trace node."""

    assertions: tuple[str, ...]
    tests: tuple[TestCase, ...]  # one per assertion that tests something, in order
    node: int
    calls_entry_point: bool  # has an ``assert <entry_point>(`` (the released code's filter)


def assertion_message(assertion: str) -> str | None:
    """The message of ``assert test, message`` as Python would show it for a constant, as
    written otherwise; None without a message."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            body = ast.parse(assertion).body
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return None
    if not body or not isinstance(body[0], ast.Assert) or body[0].msg is None:
        return None
    msg = body[0].msg
    if isinstance(msg, ast.Constant):
        return str(msg.value)
    return ast.unparse(msg)


def with_assertion_messages(items: Sequence[Feedback], block: DesignedBlock) -> list[Feedback]:
    """A failing assert that the sandbox judged as data (call, expected, comparison) raised
    nothing there: give it the ``AssertionError: <message>`` the assert itself raises."""
    message_of = {
        test.source: assertion_message(test.source) for test in block.tests if test.source
    }
    kept: list[Feedback] = []
    for item in items:
        if item.kind == "test_failure" and not item.message and item.test in message_of:
            message = message_of[item.test]
            item = replace(item, message="AssertionError" + (f": {message}" if message else ""))
        kept.append(item)
    return kept


async def ask(
    ctx: SolveContext, messages: tuple[Message, ...], sampling: Sampling, purpose: str
) -> Completion:
    """One chat request for one answer."""
    [completion] = await ctx.generate(
        GenerationRequest(messages=messages, n=1, sampling=sampling, purpose=purpose)
    )
    return completion


async def design_block(
    ctx: SolveContext,
    config: AgentCoderSettings,
    sampling: Sampling,
    **metadata: Any,
) -> DesignedBlock:
    """One call to the test designer, recorded as a "generated_test" node."""
    view = ctx.view
    entry = view.entry_point or ""
    completion = await ask(
        ctx, designer_messages(view, config.show_visible_tests), sampling, "tests"
    )
    return record_block(ctx, completion, entry, **metadata)


def record_block(
    ctx: SolveContext,
    completion: Completion,
    entry: str,
    **metadata: Any,
) -> DesignedBlock:
    """The block's assertions (the assert statements naming the entry point), each as a
    test (`codeloop.assertion_test`: judged as data where it converts), recorded as a
    "generated_test" node with the call's usage.  The block as a whole gets one time limit
    (`block_limits`), as the official script does, so no test has a limit of its own."""
    assertions = chat_assertions(completion.text, entry)
    tests = []
    for assertion in assertions:
        test = assertion_test(assertion, entry, time_limit_s=None)
        if test is not None:
            tests.append(test)
    calls = any(a.startswith(f"assert {entry}(") for a in assertions)
    node = ctx.record(
        "generated_test",
        completion.text,
        usage=completion.usage,
        assertions=assertions,
        tests=len(tests),
        calls_entry_point=calls,
        **metadata,
    )
    return DesignedBlock(tuple(assertions), tuple(tests), node, calls)


def block_limits(ctx: SolveContext, config: AgentCoderSettings) -> Limits:
    seconds = config.block_time_limit_s or OFFICIAL_TIME_LIMIT_S[config.variant]
    return replace(ctx.exec_limits, time_s=seconds)


async def run_block(
    ctx: SolveContext,
    program: str,
    block: DesignedBlock,
    limits: Limits,
    *,
    parent: int,
    label: str,
) -> ExecResult:
    """The block's asserts on the program, in order, to the first that fails."""
    return await ctx.execute(
        program, block.tests, fail_fast=True, parent=parent, label=label, limits=limits
    )


# ------------------------------------------------------------------------ paper variant


async def paper_loop(ctx: SolveContext, config: AgentCoderSettings, answers: Answers) -> None:
    view = ctx.view
    sampling = sampling_for(ctx, temperature=config.temperature, max_tokens=config.max_tokens)
    completion = await ask(
        ctx, programmer_messages(view, config.show_visible_tests), sampling, "code"
    )
    extracted, node = record_program(ctx, completion, "chat", agent="programmer", round=0)
    program = extracted.code
    answers.set([program], [completion.text])
    if not view.entry_point:
        ctx.record("stop", "no entry point: the test designer has nothing to call", parent=node)
        return
    limits = block_limits(ctx, config)
    block = await design_block(ctx, config, sampling, agent="test_designer")
    if not block.tests:
        ctx.record("stop", "the test designer wrote no usable assert", parent=block.node)
        return
    for fix in range(config.rounds + 1):
        result = await run_block(ctx, program, block, limits, parent=node, label="designed tests")
        if result.passed:
            ctx.record("stop", "the program passes the designed tests", parent=node)
            return
        if fix == config.rounds:
            ctx.record("stop", f"{config.rounds} fixes made: the latest is the answer", parent=node)
            return
        items = tests_feedback(result, block.tests, entry_point=view.entry_point)
        error = render_feedback(
            with_assertion_messages(items, block), style="agentcoder", max_items=1
        )
        feedback = ctx.record(
            "feedback",
            error,
            parent=node,
            style="agentcoder",
            failing=failing_count(result),
            block=block.node,
        )
        completion = await ask(
            ctx, fix_messages(program, block.assertions, error), sampling, "repair"
        )
        extracted, node = record_program(
            ctx, completion, "chat", parent=feedback, agent="programmer", round=fix + 1
        )
        program = extracted.code
        answers.set([program], [completion.text])


# --------------------------------------------------------------------- released variant


def select(scores: Sequence[int]) -> int:
    """The released code's choice: the first program with the highest score."""
    return scores.index(max(scores))


async def released_loop(ctx: SolveContext, config: AgentCoderSettings, answers: Answers) -> None:
    view = ctx.view
    entry = view.entry_point
    sampling = sampling_for(ctx, temperature=config.temperature, max_tokens=config.max_tokens)
    limits = block_limits(ctx, config)
    for epoch in range(config.epochs + 1):
        programs: list[str] = []
        raws: list[str] = []
        nodes: list[int] = []
        for sample in range(config.programs):
            completion = await ask(
                ctx, programmer_messages(view, config.show_visible_tests), sampling, "code"
            )
            extracted, node = record_program(
                ctx, completion, "chat", agent="programmer", epoch=epoch, sample=sample
            )
            programs.append(extracted.code)
            raws.append(completion.text)
            nodes.append(node)
        if epoch == 0:
            answers.set(list(programs), list(raws))
        if not entry:
            ctx.record("stop", "no entry point: the test designer has nothing to call")
            return
        blocks = [
            await design_block(ctx, config, sampling, agent="test_designer", epoch=epoch, block=k)
            for k in range(config.test_blocks)
        ]
        usable = [b for b in blocks if b.calls_entry_point and b.tests]
        scores: list[int] = []
        known: dict[str, int] = {}  # a program sampled twice runs once
        for index, program in enumerate(programs):
            if program not in known:
                passed = 0
                for k, block in enumerate(usable):
                    result = await run_block(
                        ctx, program, block, limits, parent=nodes[index], label=f"block {k}"
                    )
                    passed += result.passed
                known[program] = passed
            scores.append(known[program])
        best = select(scores)
        order = [
            best,
            *sorted((i for i in range(len(programs)) if i != best), key=lambda i: (-scores[i], i)),
        ]
        distinct = list(dict.fromkeys(programs[i] for i in order))
        answers.set(distinct, [raws[programs.index(p)] for p in distinct])
        done = scores[best] >= config.min_blocks
        last = epoch == config.epochs
        decision = (
            f"program {best} passes {scores[best]} blocks (>= {config.min_blocks}): done"
            if done
            else f"best passes {scores[best]} blocks (< {config.min_blocks}): "
            + ("epochs used up, the answer stands" if last else "sample everything again")
        )
        ctx.record(
            "ranking",
            decision,
            epoch=epoch,
            scores=scores,
            chosen=best,
            chosen_node=nodes[best],
            blocks=len(blocks),
            usable_blocks=len(usable),
            done=done,
        )
        if done or last:
            return


# ----------------------------------------------------------------------------- strategy


def make_agentcoder(**settings: object) -> Strategy:
    """AgentCoder with `settings` (see `AgentCoderSettings`)."""
    config = parse_settings(AgentCoderSettings, "agentcoder", settings)
    loop = paper_loop if config.variant == "paper" else released_loop

    async def solve(ctx: SolveContext) -> Solution:
        answers = Answers()
        return await run_guarded(ctx, answers, lambda: loop(ctx, config, answers))

    return solve


make_agentcoder.settings = AgentCoderSettings  # type: ignore[attr-defined]
