"""`codet`: CodeT (Chen et al., 2022): rank sampled programs by dual execution agreement.

1. Sample `n` programs (purpose "code") and `m` test samples (purpose "tests").  With a
   completion model (and recorded samples, `replay:`) this is CodeT's own format: programs
   are continuations of the prompt cut at CodeT's stop sequences; test samples continue
   ``<prompt>    pass\\n\\n# check the correctness of <entry_point>\\nassert `` and are split
   on ``assert `` into assertions, each cut the same way, keeping the first
   `tests_per_sample` that name the entry point and compile.  A chat model is asked for the
   function, and for assert lines.
2. Every distinct program runs on every distinct generated test (no fail-fast); programs
   that compile to the same code (comments, layout and local variables' names aside:
   `codeloop.execution.behaviour`) share one run, and a
   program that does not compile passes nothing without running.  Each test has CodeT's
   per-test time limit; a test that times out counts as failed and the tests after it
   still run (the sandbox ends a run at a timeout, so the rest run again).  A program
   whose process dies passes nothing, as when CodeT's one process per program dies.
3. Programs that pass exactly the same set of tests form a consensus set.  A set's score is
   f(programs in it) x (tests it passes), counting duplicate samples and duplicate tests as
   often as they were sampled, as CodeT does.  f is the square root (`program_weight =
   "sqrt"`, CodeT's released code, which reproduces its published HumanEval numbers) or the
   count itself (`"count"`, the formula as the paper writes it).
4. Programs are ranked by their set's score; programs that pass no generated test come
   last.  CodeT breaks ties at random; here they go to the program (or set) sampled most
   often, then to sample order, so the answer is deterministic and, when nothing else
   separates programs, the model's most frequent one.  The answer is the first; all
   distinct programs are returned, ranked.  The "ranking" trace node lists the sets with
   their scores and sample counts.  `Solution.tie_groups` holds the consensus sets with a
   positive score, best first, each program with its sample count: what CodeT's own pass@k
   (ties by expectation) needs; when no set has a positive score (no usable generated test,
   or none that any program passes) it is one group of every program, with `no_consensus`.

Every generated test runs by default, as in CodeT's code.  Speed-ups that change results
are options, off by default:

- `max_timeouts_in_a_row` (None): a program that has timed out on that many tests in a row
  fails the rest without running them; `max_timeouts` (None) caps the timeouts in all.
  Such programs hang on nearly every test (one program of HumanEval/17 times out on 255 of
  257), and each timeout burns a CPU for the whole limit.  On the CodeT HumanEval
  recordings, with every test run, 242 programs time out 1,919 times; two in a row stops
  48 of them early, after 409 timeouts, losing 284 of their passes (pass@2 with ties 44.22
  instead of 44.83; CodeT's own code: 44.74).

Deviations from CodeT's harness, kept on purpose (docs/strategies.md lists them):

- `load_time_limit_s` (0.5 s): a program must load, and define the entry point, before its
  tests count.  One that runs code or imports third-party modules when it loads is loaded
  alone first, within this limit.  CodeGen often appends imports after the function
  (``import torch`` takes 3 s here); CodeT's harness let loading use whatever the per-test
  budget left, so there the fate of such a program depended on what was installed.  Each
  program is judged on its own load: nothing learned from one program's load (that a
  module is slow or missing) decides another's, so a task's result does not depend on
  which tasks ran before it, nor on how busy the machine was when they ran.

Runs on generated tests get `memory_limit_mb` (512) of address space each: a test that
needs more fails, as one that ran CodeT's machine out of memory would.

Generated asserts become data tests (call, expected value, comparison in the trusted
parent) where they convert, else code run in the sandbox; both behave as CodeT's asserts.
"""

from __future__ import annotations

import ast
import math
import sys
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from codeloop.execution.behaviour import behaviour_key
from codeloop.extract import CODET_STOPS, DEFAULT_STOPS, Mode
from codeloop.strategies import prompts
from codeloop.strategies.base import (
    Answers,
    Solution,
    SolveContext,
    Strategy,
    gather_all,
    run_guarded,
)
from codeloop.strategies.common import (
    ModeSetting,
    assertion_test,
    at_least,
    chat_assertions,
    parse_settings,
    resolve_mode,
    sample_programs,
    sampling_for,
    split_assertions,
    tests_messages,
)
from codeloop.types import GenerationRequest, ProblemView, Sampling, Status, TestCase, TestKind

# a program whose process dies fails every test, as in CodeT (one process runs them all);
# after a test that ends the run otherwise (timeout, memory) the tests after it run again
_DEATH = (Status.SIGNAL, Status.EXITED_EARLY)
# passes when the program loads and defines the entry point (the sandbox calls check(entry))
_LOAD_PROBE = TestCase(
    kind=TestKind.CODE,
    code="def check(candidate):\n    pass\n",
    source="(the program loads and defines the entry point)",
)


@dataclass(frozen=True)
class CodeTSettings:
    n: int = 100  # programs sampled
    m: int = 100  # test samples
    tests_per_sample: int = 5  # CodeT keeps the first 5 assertions of each test sample
    tests_asked: int = 10  # chat mode: assert lines asked for per test sample
    program_weight: Literal["sqrt", "count"] = "sqrt"
    test_time_limit_s: float | None = 0.1  # CodeT's per-test timeout
    # speed-ups that change results (off: every test runs, as in CodeT): a program that
    # timed out on this many tests in a row fails the rest ...
    max_timeouts_in_a_row: int | None = None
    # ... or on this many in all
    max_timeouts: int | None = None
    # time to load a program that runs code or imports third-party modules when it loads
    load_time_limit_s: float = 0.5
    # memory of each run on generated tests (None: the run's limit); hundreds run per task
    memory_limit_mb: int | None = 512
    mode: ModeSetting = "auto"
    temperature: float | None = None  # None: the run's sampling (CodeT: 0.8, top-p 0.95)
    max_tokens: int | None = None  # CodeT: 300

    def check(self) -> None:
        at_least("n", self.n, 1)
        at_least("m", self.m, 0)
        at_least("tests_per_sample", self.tests_per_sample, 1)
        at_least("tests_asked", self.tests_asked, 1)
        if self.test_time_limit_s is not None and self.test_time_limit_s <= 0:
            raise ValueError("setting test_time_limit_s must be positive")
        at_least("temperature", self.temperature, 0.0)
        at_least("max_tokens", self.max_tokens, 1)
        at_least("max_timeouts", self.max_timeouts, 1)
        at_least("max_timeouts_in_a_row", self.max_timeouts_in_a_row, 1)
        if self.load_time_limit_s <= 0:
            raise ValueError("setting load_time_limit_s must be positive")
        at_least("memory_limit_mb", self.memory_limit_mb, 64)


@dataclass(frozen=True)
class ConsensusSet:
    programs: tuple[int, ...]  # distinct program ids, the most sampled first
    tests: frozenset[int]  # distinct test ids they all pass
    samples: int  # program samples in the set (duplicates counted)
    tests_weight: int  # test samples behind the tests (duplicates counted)
    score: float


def rank_consensus(
    passed: list[frozenset[int] | None],
    program_counts: list[int],
    test_counts: list[int],
    *,
    program_weight: str = "sqrt",
) -> list[ConsensusSet]:
    """Consensus sets ranked best first: programs grouped by the exact set of tests they
    pass, scored f(#program samples) x #test samples passed.  Programs that pass nothing
    (or did not run: None) come last in one score-0 group per program.  Ties go to the
    most sampled, then to sample order.  `passed[i]` belongs to distinct program i;
    programs are numbered in sample order."""
    weight: Callable[[int], float] = math.sqrt if program_weight == "sqrt" else float

    # ties go to the program sampled most often (the model's own consensus), then to
    # sample order; CodeT breaks them at random
    def most_sampled_first(program: int) -> tuple[int, int]:
        return (-program_counts[program], program)

    groups: dict[frozenset[int], list[int]] = {}
    for program, tests in enumerate(passed):
        if tests:
            groups.setdefault(tests, []).append(program)
    sets = []
    for tests, members in groups.items():
        members.sort(key=most_sampled_first)
        samples = sum(program_counts[p] for p in members)
        tests_weight = sum(test_counts[t] for t in tests)
        sets.append(
            ConsensusSet(
                tuple(members), tests, samples, tests_weight, weight(samples) * tests_weight
            )
        )
    sets.sort(key=lambda s: (-s.score, -s.samples, min(s.programs)))
    for program in sorted(range(len(passed)), key=most_sampled_first):
        if not passed[program]:
            sets.append(ConsensusSet((program,), frozenset(), program_counts[program], 0, 0.0))
    return sets


def _is_literal(node: ast.expr | None) -> bool:
    if node is None:
        return True
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return isinstance(node, ast.Name | ast.Attribute)
    return True


@dataclass(frozen=True)
class LoadProfile:
    """What loading a program does besides defining functions and stdlib imports."""

    runs_code: bool  # a loop, a call, a decorator, a class body...: may take any time
    imports: frozenset[str]  # third-party modules imported at load (may be slow: torch)

    @property
    def quick(self) -> bool:
        return not self.runs_code and not self.imports


def load_profile(code: str) -> LoadProfile:
    """Read from the syntax tree: functions without decorators and with plain defaults,
    standard-library imports, assignments of literals and docstrings load at once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            module = ast.parse(code)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return LoadProfile(False, frozenset())  # fails at once
    runs_code = False
    imports: set[str] = set()
    for node in module.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            defaults = [*node.args.defaults, *node.args.kw_defaults]
            if node.decorator_list or not all(_is_literal(d) for d in defaults):
                runs_code = True
        elif isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.ImportFrom):
                if node.level or node.module is None:
                    runs_code = True
                    continue
                names = [node.module]
            else:
                names = [alias.name for alias in node.names]
            imports.update(
                top for name in names if (top := name.split(".")[0]) not in sys.stdlib_module_names
            )
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            if not _is_literal(node.value):
                runs_code = True
        elif not (
            isinstance(node, ast.Pass)
            or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        ):
            runs_code = True
    return LoadProfile(runs_code, frozenset(imports))


def loads_quickly(code: str) -> bool:
    return load_profile(code).quick


# ---------------------------------------------------------------------- generated tests


def tests_request(
    view: ProblemView, mode: Mode, config: CodeTSettings, sampling: Sampling
) -> GenerationRequest:
    """The request for `config.m` test samples: CodeT's prompt ending in an open ``assert ``
    for a completion model (not stopped: the sample is split on ``assert `` afterwards), a
    request for `tests_asked` assert lines for a chat model."""
    if mode == "completion":
        return GenerationRequest(
            prompt=prompts.codet_tests_prompt(view),
            n=config.m,
            sampling=replace(sampling, stop=()),
            purpose="tests",
        )
    return GenerationRequest(
        messages=tests_messages(view, config.tests_asked),
        n=config.m,
        sampling=sampling,
        purpose="tests",
    )


def sample_assertions(text: str, entry_point: str, mode: Mode, limit: int) -> list[str]:
    """The assertions of one test sample, at most `limit`: CodeT's split on ``assert ``, cut
    at its stop sequences (completion), or the assert statements of a chat answer."""
    if mode == "completion":
        return split_assertions(text, entry_point, stops=CODET_STOPS, limit=limit)
    return chat_assertions(text, entry_point, limit=limit)


async def sample_tests(ctx: SolveContext, config: CodeTSettings, mode: Mode) -> list[list[str]]:
    """The assertions of each of `config.m` test samples (one call), each sample recorded as a
    "generated_test" node."""
    view = ctx.view
    entry = view.entry_point
    if not entry or config.m == 0:
        return []
    sampling = sampling_for(ctx, temperature=config.temperature, max_tokens=config.max_tokens)
    completions = await ctx.generate(tests_request(view, mode, config, sampling))
    samples = []
    for index, completion in enumerate(completions):
        found = sample_assertions(completion.text, entry, mode, config.tests_per_sample)
        ctx.record(
            "generated_test",
            completion.text,
            usage=completion.usage,
            assertions=found,
            sample=index,
        )
        samples.append(found)
    return samples


@dataclass(frozen=True)
class GeneratedTests:
    """The distinct assertions of the test samples that test something, as tests."""

    assertions: tuple[str, ...]  # first sampled first
    tests: tuple[TestCase, ...]  # one per assertion
    weights: tuple[int, ...]  # how often each assertion was sampled
    sampled: int  # assertions in all samples, duplicates and those testing nothing included


def generated_tests(
    samples: Sequence[Sequence[str]], entry_point: str, time_limit_s: float | None
) -> GeneratedTests:
    """Duplicates become one test that counts as often as it was sampled (as in CodeT);
    an assertion that tests nothing (``assert True``) is dropped."""
    counts = Counter(a for sample in samples for a in sample)
    assertions: list[str] = []
    tests: list[TestCase] = []
    for assertion in counts:
        test = assertion_test(assertion, entry_point, time_limit_s)
        if test is not None:
            assertions.append(assertion)
            tests.append(test)
    return GeneratedTests(
        tuple(assertions),
        tuple(tests),
        tuple(counts[a] for a in assertions),
        sum(counts.values()),
    )


# -------------------------------------------------------------------- running programs


def _stops_early(config: CodeTSettings, timeouts: int, in_a_row: int) -> bool:
    """Whether a program has timed out often enough to fail the rest (options, off)."""
    return (config.max_timeouts is not None and timeouts >= config.max_timeouts) or (
        config.max_timeouts_in_a_row is not None and in_a_row >= config.max_timeouts_in_a_row
    )


async def run_on_tests(
    ctx: SolveContext,
    config: CodeTSettings,
    code: str,
    tests: Sequence[TestCase],
    node: int,
    batches: dict[tuple[int, bool], tuple[TestCase, ...]],
) -> frozenset[int]:
    """Ids of the generated tests `code` passes, CodeT's way: a test that times out
    fails and the tests after it still run; a program that does not load, or whose
    process dies, passes nothing.

    A load probe (a no-op test that needs the entry point) comes first.  The sandbox
    bounds a run by the sum of its tests' limits, so a program that may take long to
    load (it runs code or imports third-party modules when it loads) is first loaded
    alone, within `load_time_limit_s`; the others load and run in one go.  `batches` holds
    the test tuples already sent (shared by the programs of a task: the sandbox receives
    each suite once)."""
    limit = config.test_time_limit_s
    probe = replace(_LOAD_PROBE, time_limit_s=limit)
    base = ctx.exec_limits
    if config.memory_limit_mb is not None:
        base = replace(base, memory_bytes=config.memory_limit_mb * 1024 * 1024)
    load_limit = limit
    if not loads_quickly(code):
        load_limit = config.load_time_limit_s
        alone = batches.setdefault((-1, True), (probe,))
        loaded = await ctx.execute(
            code,
            alone,
            parent=node,
            label="load",
            limits=replace(base, time_s=load_limit),
            details=False,
        )
        if not loaded.passed:
            return frozenset()  # does not load in time, or no entry point
    limits = replace(base, time_s=load_limit) if load_limit is not None else base
    passed: set[int] = set()
    start, first, timeouts = 0, True, 0
    in_a_row, last_timeout = 0, -2  # timeouts on consecutive tests, ending at last_timeout
    while start < len(tests):
        batch = batches.get((start, first))
        if batch is None:
            batch = batches[(start, first)] = ((probe,) if first else ()) + tuple(tests[start:])
        result = await ctx.execute(
            code, batch, parent=node, label="generated", limits=limits, details=False
        )
        outcomes = result.outcomes
        offset = 1 if first else 0
        if first and (not outcomes or outcomes[0].status is not Status.PASSED):
            return frozenset()  # does not load, or no entry point
        first = False
        if any(o.status in _DEATH for o in outcomes):
            return frozenset()  # the process died: CodeT's run fails as a whole
        not_run = [o.index for o in outcomes if o.status is Status.NOT_RUN]
        cut = not_run[0] if not_run else len(outcomes)  # where the run ended early
        # a test that times out ends its run: it is the last before `cut`
        for outcome in outcomes[offset:cut]:
            index = start + outcome.index - offset
            if outcome.status is Status.PASSED:
                passed.add(index)
            elif outcome.status is Status.TIMEOUT:
                in_a_row = in_a_row + 1 if index == last_timeout + 1 else 1
                last_timeout = index
                timeouts += 1
        if _stops_early(config, timeouts, in_a_row):
            break  # a program that hangs this often: the rest count as failed
        if not offset < cut < len(outcomes):
            break
        start += cut - offset  # the tests after the one that ended the run
    return frozenset(passed)


def behaviour_groups(programs: Sequence[str]) -> tuple[list[bytes | None], dict[bytes, str]]:
    """Each program's behaviour key (None: it does not compile) and, per key, the first
    program with it: the one that runs for all of them."""
    keys = [behaviour_key(code) for code in programs]
    representatives: dict[bytes, str] = {}
    for key, code in zip(keys, programs, strict=True):
        if key is not None:
            representatives.setdefault(key, code)
    return keys, representatives


# ----------------------------------------------------------------------------- ranking


@dataclass(frozen=True)
class Ranking:
    """The answer's order and CodeT's tie groups, in distinct program ids."""

    order: tuple[int, ...]  # best first
    tie_groups: tuple[tuple[tuple[int, int], ...], ...]  # (rank in `order`, samples)
    no_consensus: bool


def most_sampled_ranking(program_counts: Sequence[int]) -> Ranking:
    """Without generated tests: the most sampled program first (then sample order), every
    sample as likely as any other."""
    order = sorted(range(len(program_counts)), key=lambda p: (-program_counts[p], p))
    group = tuple((rank, program_counts[p]) for rank, p in enumerate(order))
    return Ranking(tuple(order), (group,), True)


def consensus_ranking(sets: Sequence[ConsensusSet], program_counts: Sequence[int]) -> Ranking:
    """The programs in the order of their ranked consensus sets; the sets with a positive
    score are the tie groups, or, when none has one, all programs are one group."""
    order = [p for s in sets for p in s.programs]
    rank_of = {p: r for r, p in enumerate(order)}
    scored = [s for s in sets if s.score > 0]
    if scored:
        groups = tuple(tuple((rank_of[p], program_counts[p]) for p in s.programs) for s in scored)
    else:  # no consensus: every sample is as likely as any other
        groups = (tuple((r, program_counts[p]) for r, p in enumerate(order)),)
    return Ranking(tuple(order), groups, not scored)


# ---------------------------------------------------------------------------- strategy


class CodeT:
    """The strategy with its settings: `await CodeT(settings).solve(ctx)`; each step is a
    function of this module that can be used and tested alone."""

    def __init__(self, config: CodeTSettings) -> None:
        self.config = config

    async def solve(self, ctx: SolveContext) -> Solution:
        answers = Answers()
        return await run_guarded(ctx, answers, lambda: self._solve(ctx, answers))

    async def _solve(self, ctx: SolveContext, answers: Answers) -> None:
        config = self.config
        mode = resolve_mode(config.mode, ctx.prompt_mode)
        stops = CODET_STOPS if mode == "completion" else DEFAULT_STOPS
        codes, raws, nodes = await sample_programs(
            ctx,
            mode,
            config.n,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            stops=stops,
        )
        answers.set(list(dict.fromkeys(codes)), _first_raws(codes, raws))
        samples = await sample_tests(ctx, config, mode)

        counts = Counter(codes)
        distinct = list(counts)  # dicts keep first-seen order: sample order
        program_counts = [counts[code] for code in distinct]
        first_index = {code: codes.index(code) for code in distinct}
        raw_of = [raws[first_index[code]] for code in distinct]
        generated = generated_tests(samples, ctx.view.entry_point or "", config.test_time_limit_s)
        if not generated.tests:
            ranking = most_sampled_ranking(program_counts)
            self._publish(answers, ranking, distinct, raw_of)
            ctx.record(
                "ranking",
                "no generated tests: the most sampled program first",
                sets=[
                    {"ranks": [r], "samples": [program_counts[p]], "score": 0.0}
                    for r, p in enumerate(ranking.order)
                ],
            )
            return

        batches: dict[tuple[int, bool], tuple[TestCase, ...]] = {}
        tests = generated.tests

        def job(code: str) -> Callable[[], Awaitable[frozenset[int]]]:
            node = nodes[first_index[code]]
            return lambda: run_on_tests(ctx, config, code, tests, node, batches)

        # one run per behaviour: programs that differ only in comments, layout or the names
        # of local variables share it
        keys, representatives = behaviour_groups(distinct)
        outcomes, error = await gather_all([job(code) for code in representatives.values()])
        by_key = dict(zip(representatives, outcomes, strict=True))
        results = [frozenset() if key is None else by_key[key] for key in keys]
        ranked_sets = rank_consensus(
            results,
            program_counts,
            list(generated.weights),
            program_weight=config.program_weight,
        )
        ranking = consensus_ranking(ranked_sets, program_counts)
        self._publish(answers, ranking, distinct, raw_of)
        rank_of = {p: r for r, p in enumerate(ranking.order)}
        ctx.record(
            "ranking",
            _summary(ranked_sets, len(distinct), len(tests)),
            sets=[_set_metadata(s, rank_of, program_counts) for s in ranked_sets],
            tests=len(tests),
            test_samples=generated.sampled,
            programs=len(distinct),
            program_weight=config.program_weight,
        )
        if error is not None:
            raise error

    @staticmethod
    def _publish(
        answers: Answers, ranking: Ranking, distinct: list[str], raw_of: list[str]
    ) -> None:
        answers.set(
            [distinct[p] for p in ranking.order],
            [raw_of[p] for p in ranking.order],
            tie_groups=ranking.tie_groups,
            no_consensus=ranking.no_consensus,
        )


def make_codet(**settings: object) -> Strategy:
    """CodeT with `settings` (see `CodeTSettings`): its `solve`, a coroutine function as
    every strategy is."""
    return CodeT(parse_settings(CodeTSettings, "codet", settings)).solve


def _first_raws(codes: list[str], raws: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for code, raw in zip(codes, raws, strict=True):
        seen.setdefault(code, raw)
    return list(seen.values())


def _set_metadata(
    s: ConsensusSet, rank_of: dict[int, int], program_counts: Sequence[int]
) -> dict[str, Any]:
    return {
        "ranks": [rank_of[p] for p in s.programs],  # positions in Solution.programs
        "samples": [program_counts[p] for p in s.programs],
        "tests_passed": sorted(s.tests),
        "tests_weight": s.tests_weight,
        "score": s.score,
    }


def _summary(sets: list[ConsensusSet], programs: int, tests: int) -> str:
    scored = [s for s in sets if s.score > 0]
    if not scored:
        return f"{programs} programs pass none of {tests} generated tests: sample order"
    top = scored[0]
    return (
        f"{programs} programs, {tests} generated tests, {len(scored)} consensus sets; "
        f"best: {top.samples} samples passing {len(top.tests)} tests (score {top.score:.2f})"
    )
