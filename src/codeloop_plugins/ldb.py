"""`ldb`: LDB, a debugger that reads the program's runtime execution block by block (Zhong et
al., "Debug like a Human", ACL 2024; official code FloridSleeves/LLMDebugger at 49ac191).

The loop, as the official `programming/ldb.py` runs it:

1. a seed program: the model's first answer to LDB's seed prompt, or the program a seed file
   gives for the task (LDB reads `seed.jsonl`); run it on the visible tests;
2. while some visible test fails and iterations remain (`max_iters`, 10): draw one failing
   test uniformly at random (a seeded `random.Random`, the draw recorded: LDB's draw is
   unseeded), trace the program on it, show the trace block by block and ask for a verdict
   per block (correct or not, with an explanation; temperature 0), then ask for the fixed
   program ("Please fix the Python code."); run the fix on the visible tests;
3. the last program is the answer, whether or not it passes.

The conversation persists across iterations; each request sends the system message and the
most recent messages that fit `context_tokens` (LDB's 3097 GPT-2 tokens, counted here by an
approximation: see `approx_gpt2_tokens`).  When the failing call cannot be traced (it timed
out, raised, does not parse, or no block ran), LDB sends the assertion with its real output
instead and only the fix is asked for.  LDB never reads its verdicts back; here they are
parsed (JSON objects ``{"block", "correct", "explanation"}``, junk tolerated) into the
trace's steps and recorded.  Only the visible tests ever run; the hidden tests score after.
"""

from __future__ import annotations

import ast
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from codeloop import (
    Answers,
    GenerationRequest,
    Message,
    ProblemView,
    RuntimeTrace,
    Solution,
    SolveContext,
    Status,
    Strategy,
    TestCase,
    TestKind,
    TestOutcome,
    TraceStep,
    at_least,
    describe_test,
    failing_count,
    ldb_assertion,
    ldb_blocks,
    ldb_no_trace,
    ldb_real_output,
    parse_settings,
    passed_count,
    record_program,
    run_guarded,
    sampling_for,
)

__all__ = ["LdbSettings", "Verdict", "approx_gpt2_tokens", "make_ldb", "parse_verdicts"]

Level = Literal["block", "line", "function"]


@dataclass(frozen=True)
class LdbSettings:
    level: Level = "block"  # main.py's default granularity
    max_iters: int = 10  # run_ldb.sh: --max_iters 10
    max_blocks: int | None = None  # steps shown; None: LDB's cut for the level (10/30/30)
    context_tokens: int = 3097  # model.py: change_messages(..., 3097)
    seed: int = 0  # the failing-test draw's random seed (LDB's draw is unseeded)
    seed_file: str = ""  # "": ask the model for the seed; else JSONL of task_id + solution
    temperature: float = 0.0  # every LDB call
    max_tokens: int | None = 1024  # LDB sets none on its normal path
    import_header: bool = True  # run programs with LDB's IMPORT_HEADER in front

    def check(self) -> None:
        at_least("max_iters", self.max_iters, 0)
        at_least("max_blocks", self.max_blocks, 1)
        at_least("context_tokens", self.context_tokens, 1)
        at_least("temperature", self.temperature, 0.0)
        at_least("max_tokens", self.max_tokens, 1)


# ------------------------------------------------------------------------------ prompts
# The structure of LDB's chat prompts for HumanEval/MBPP (simple_text2code, ldb_debug,
# ldb_generate), in codeloop's words: the seed request shows the first visible test; the
# debugging turn shows the failing test with its real output, then asks for a verdict on
# each block as JSON objects with the keys `block`, `correct` and `explanation` (two
# example answers), then the blocks; the fix request follows the verdict.

SYSTEM = "You are an expert programming assistant."
SEED_REQUEST = (
    "Solve the following task in Python, repeating its imports and the function header. "
    "A unit test it must pass:\n{test}\n\n{prompt}"
)
SEED_REQUEST_NO_TEST = (
    "Solve the following task in Python, repeating its imports and the function header.\n\n{prompt}"
)
TASK = (
    "Solve the following task in Python. Answer with code only, inside a Markdown code "
    "block.\n{prompt}"
)
FAILING_TEST = "The code above fails this unit test:\n{test}. \nHelp me find the bug.\n"
VERDICT_REQUEST = (
    "\nBelow, the run of that test is split into basic blocks; the comment above a "
    "block's lines holds the variables before it, the comment below them the variables "
    "after it. Go through the blocks one by one: say what each does and whether it is "
    "correct, and for a wrong one explain the mistake. Answer with one JSON object per "
    "block, with the keys `block` (its name), `correct` (True or False) and `explanation`. "
    "For example:\n"
    '{"block": "BLOCK-1", "correct": "True", "explanation": "Sets up the two counters `a` '
    'and `b`."}\n'
    '{"block": "BLOCK-2", "correct": "False", "explanation": "Computes `a - b` where the '
    'sum is wanted: the operator should be `+`."}'
)
VERDICT_STOPS = ("[debug end]", "Here is the updated code:")
FIX_REQUEST = "Please fix the Python code."

# utils.py's IMPORT_HEADER: LDB runs (and records) every program with it in front.
IMPORT_HEADER = (
    "from typing import *\nimport math\nfrom heapq import *\nimport itertools\nimport re\n"
    "import typing\nimport heapq\n_str=str\nimport re\n"
)


# ---------------------------------------------------------------------- token counting

# GPT-2's pre-tokenizer pattern, with Python's `re` (letters: [^\W\d_]).
_PRETOKEN = re.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+(?!\S)|\s+""", re.UNICODE
)


def approx_gpt2_tokens(text: str) -> int:
    """An approximation of the GPT-2 token count LDB trims by (no GPT-2 vocabulary can be
    downloaded here): GPT-2's own pre-tokenizer splits the text, and a piece counts one
    token per 4 characters begun (whitespace runs and long words are several BPE tokens;
    common short words one)."""
    return sum(-(-len(piece) // 4) for piece in _PRETOKEN.findall(text))


def trim_messages(
    messages: Sequence[Message], budget: int, count: Any = approx_gpt2_tokens
) -> tuple[Message, ...]:
    """LDB's `change_messages`: the first (system) message, then the most recent messages
    whose total with it stays under `budget` tokens (the first that does not fit ends it)."""
    if not messages:
        return ()
    total = count(messages[0].content)
    kept: list[Message] = []
    for message in reversed(messages[1:]):
        size = count(message.content)
        if size + total >= budget:
            break
        kept.append(message)
        total += size
    return (messages[0], *reversed(kept))


# ---------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Verdict:
    """One block's verdict as the model wrote it."""

    block: int
    correct: bool | None  # None: the model's value was neither true nor false
    explanation: str


_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)
_BLOCK = re.compile(r"BLOCK-?\s*(\d+)", re.IGNORECASE)
_FIELD = re.compile(
    r"""["']?(block|correct|explanation)["']?\s*:\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[\w.-]+)""",
    re.IGNORECASE | re.DOTALL,
)


def _loose_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return value
    fields: dict[str, Any] = {}
    for key, raw in _FIELD.findall(text):
        if raw[:1] in "\"'":
            try:
                raw = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                raw = raw[1:-1]
        fields.setdefault(key.lower(), raw)
    return fields or None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def parse_verdicts(text: str) -> list[Verdict]:
    """The per-block verdicts in a reply: every ``{...}`` that holds a block name (JSON, or
    near enough: single quotes, bare True/False), in order; anything else is ignored."""
    verdicts: list[Verdict] = []
    for match in _OBJECT.finditer(text):
        fields = _loose_object(match.group(0))
        if not fields or "block" not in fields:
            continue
        block = fields["block"]
        if isinstance(block, int) and not isinstance(block, bool):
            number = block
        else:
            found = _BLOCK.search(str(block)) or re.fullmatch(r"\s*(\d+)\s*", str(block))
            if found is None:
                continue
            number = int(found.group(1))
        verdicts.append(
            Verdict(number, _as_bool(fields.get("correct")), str(fields.get("explanation", "")))
        )
    return verdicts


def judged_steps(steps: Sequence[TraceStep], verdicts: Sequence[Verdict]) -> list[TraceStep]:
    """The steps with the verdicts filled in (``BLOCK-i`` is the i-th step shown; the first
    verdict for a block counts)."""
    judged = list(steps)
    done: set[int] = set()
    for verdict in verdicts:
        if 0 <= verdict.block < len(judged) and verdict.block not in done:
            done.add(verdict.block)
            judged[verdict.block] = replace(
                judged[verdict.block], verdict=verdict.correct, explanation=verdict.explanation
            )
    return judged


def _step_record(step: TraceStep) -> dict[str, Any]:
    return {
        "function": step.function,
        "lines": list(step.lines),
        "source": list(step.source),
        "before": step.before,
        "after": step.after,
        "block": step.block,
        "depth": step.depth,
        "verdict": step.verdict,
        "explanation": step.explanation,
    }


# ------------------------------------------------------------------------------ pieces


def _assertion(test: TestCase, outcome: TestOutcome, entry_point: str | None) -> str:
    """The visible test as an assert line (LDB's given tests are asserts)."""
    described = describe_test(test, entry_point)
    if described.startswith("assert"):
        return described
    if test.kind is TestKind.CALL and test.has_expected:
        return f"assert {described} == {outcome.expected or repr(test.expected)}"
    return described


def _with_header(code: str, header: bool) -> str:
    return code if not header or IMPORT_HEADER in code else IMPORT_HEADER + code


def _without_header(code: str) -> str:
    return code.replace(IMPORT_HEADER, "", 1)


def _load_seeds(path: str) -> dict[str, str]:
    seeds: dict[str, str] = {}
    with Path(path).expanduser().open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict) or "task_id" not in row:
                raise ValueError(f"ldb seed_file {path}:{number}: expected an object with task_id")
            code = row.get("solution", row.get("seed"))
            if not isinstance(code, str):
                raise ValueError(f"ldb seed_file {path}:{number}: no 'solution' or 'seed' text")
            seeds[str(row["task_id"])] = code
    return seeds


async def _run_trace(
    ctx: SolveContext, program: str, test: TestCase, parent: int | None
) -> RuntimeTrace:
    """One traced run of `program` on `test` (counted as an execution by the context)."""
    return await ctx.trace_run(program, test, parent=parent, label="ldb")


def _seed_messages(view: ProblemView, first: str) -> tuple[Message, ...]:
    if first:
        user = SEED_REQUEST.format(test=first, prompt=view.prompt)
    else:
        user = SEED_REQUEST_NO_TEST.format(prompt=view.prompt)
    return (Message("system", SYSTEM), Message("user", user))


# ---------------------------------------------------------------------------- strategy


def make_ldb(**settings: object) -> Strategy:
    config = parse_settings(LdbSettings, "ldb", settings)
    seeds = _load_seeds(config.seed_file) if config.seed_file else None

    async def solve(ctx: SolveContext) -> Solution:
        answers = Answers()
        view = ctx.view
        tests = view.visible_tests
        sampling = sampling_for(ctx, temperature=config.temperature, max_tokens=config.max_tokens)
        verdict_sampling = sampling_for(
            ctx, temperature=config.temperature, max_tokens=config.max_tokens, stop=VERDICT_STOPS
        )
        draws = random.Random(config.seed)

        def publish(code: str, raw: str) -> None:
            answers.set([code], [raw])  # LDB answers with its last program, passing or not

        async def ask(messages: Sequence[Message], purpose: str, stops: bool = False) -> Any:
            request = GenerationRequest(
                messages=trim_messages(messages, config.context_tokens),
                n=1,
                sampling=verdict_sampling if stops else sampling,
                purpose=purpose,
            )
            [completion] = await ctx.generate(request)
            return completion

        async def body() -> None:
            # ---- the seed
            if seeds is not None:
                if view.task_id not in seeds:
                    ctx.record("error", f"seed file {config.seed_file} has no {view.task_id}")
                    return
                raw = seeds[view.task_id]
                code = _with_header(raw, config.import_header)
                node = ctx.record("program", code, raw=raw, how="seed_file", iteration=0)
            else:
                first = ""
                if tests:
                    first = _assertion(tests[0], TestOutcome(0, Status.FAILED), view.entry_point)
                completion = await ask(_seed_messages(view, first), "code")
                extracted, node = record_program(ctx, completion, "chat", iteration=0)
                raw = completion.text
                code = _with_header(extracted.code, config.import_header)
            publish(code, raw)
            if not tests:
                ctx.record("stop", "no visible tests: nothing to debug against", parent=node)
                return
            result = await ctx.execute(code, tests, parent=node, label="visible")
            messages: list[Message] = []
            iteration = 0
            while not result.passed and iteration < config.max_iters:
                iteration += 1
                failing = [o for o in result.outcomes if o.status.is_failure]
                if not failing:
                    ctx.record("stop", "no failing test to debug", parent=node)
                    return
                pick = draws.randrange(len(failing))
                outcome = failing[pick]
                test = tests[outcome.index]
                assertion = _assertion(test, outcome, view.entry_point)
                trace = await _run_trace(ctx, code, test, node)
                steps: tuple[TraceStep, ...] = ()
                if trace.status == "ok":
                    steps = trace.steps(config.level, config.max_blocks)
                output = trace.output if trace.status == "ok" else ldb_real_output(outcome)
                if not messages:
                    shown = _without_header(code)
                    messages = [
                        Message("system", SYSTEM),
                        Message("user", TASK.format(prompt=view.prompt)),
                        Message("assistant", shown),
                    ]
                draw: dict[str, Any] = {
                    "draw_index": pick,
                    "draw_of": len(failing),
                    "draw_seed": config.seed,
                    "test_index": outcome.index,
                    "trace_status": trace.status,
                    "trace_message": trace.message,
                    "iteration": iteration,
                }
                parent = node
                if steps:
                    text = (
                        FAILING_TEST.format(test=ldb_assertion(assertion, output))
                        + VERDICT_REQUEST
                        + "\n"
                        + ldb_blocks(steps)
                        + "\n"
                    )
                    feedback = ctx.record(
                        "feedback",
                        text,
                        parent=node,
                        style="ldb",
                        level=config.level,
                        steps=len(steps),
                        failing=failing_count(result),
                        **draw,
                    )
                    messages.append(Message("user", text))
                    reply = await ask(messages, "verdict", stops=True)
                    verdicts = parse_verdicts(reply.text)
                    judged = judged_steps(steps, verdicts)
                    wrong = [i for i, s in enumerate(judged) if s.verdict is False]
                    parent = ctx.record(
                        "verdict",
                        reply.text,
                        parent=feedback,
                        usage=reply.usage,
                        steps=[_step_record(s) for s in judged],
                        parsed=len(verdicts),
                        wrong_blocks=wrong,
                        finish_reason=reply.finish_reason,
                    )
                    messages.append(Message("assistant", reply.text))
                else:
                    text = ldb_no_trace(assertion, output)
                    parent = ctx.record(
                        "feedback",
                        text,
                        parent=node,
                        style="ldb_no_trace",
                        failing=failing_count(result),
                        **draw,
                    )
                    messages.append(Message("user", text))
                messages.append(Message("user", FIX_REQUEST))
                completion = await ask(messages, "repair")
                extracted, node = record_program(
                    ctx, completion, "chat", parent=parent, iteration=iteration
                )
                # LDB keeps the whole reply and then the code it found, both as the assistant's
                messages.append(Message("assistant", completion.text))
                messages.append(Message("assistant", _without_header(extracted.code).strip()))
                code = _with_header(extracted.code, config.import_header)
                publish(code, completion.text)
                result = await ctx.execute(code, tests, parent=node, label="visible")
            if result.passed:
                ctx.record("stop", "the visible tests pass", parent=node, iterations=iteration)
            else:
                ctx.record(
                    "stop",
                    f"{config.max_iters} iterations used; the last program is kept",
                    parent=node,
                    iterations=iteration,
                    passed=passed_count(result),
                )

        return await run_guarded(ctx, answers, body)

    return solve


make_ldb.settings = LdbSettings  # type: ignore[attr-defined]
