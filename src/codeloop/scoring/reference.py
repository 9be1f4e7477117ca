"""Expected outputs and reference timings, from running each task's reference solution once.

EvalPlus ships inputs without outputs: the expected output of each test is what the
canonical solution returns.  Calibrated time limits come from the same run (per-test
runtime of the reference).  Both are cached on disk, keyed by everything they depend on,
so a dataset is paid for once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from codeloop.execution.codec import digest as value_digest
from codeloop.types import ExecRequest, ExecResult, Limits, Status, Task, TestCase, TestSuite

CACHE_VERSION = "1"
# References are trusted and some return huge values (HumanEval/15: ~7 MB strings).
REFERENCE_LIMITS = Limits(time_s=300.0, result_bytes=8 * 1024**3)


class Runner(Protocol):
    async def run(self, request: ExecRequest) -> ExecResult: ...


@dataclass(frozen=True)
class ReferenceRun:
    values: list[Any]  # decoded expected value per hidden test (None where it failed)
    times: list[float]  # reference runtime per test, seconds
    failed: list[int]  # tests where the reference itself did not return


def cache_dir() -> Path:
    base = os.environ.get("CODELOOP_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "codeloop"
    )
    return Path(base)


def _task_key(task: Task, tests: Sequence[TestCase]) -> str:
    digest = hashlib.sha256()
    digest.update(CACHE_VERSION.encode())
    digest.update((task.reference or "").encode())
    digest.update(str(task.entry_point).encode())
    source = task.metadata.get("source_sha256")
    if source:  # the file the tasks came from determines the tests
        digest.update(f"{task.task_id}\0{source}\0{len(tests)}".encode())
    else:  # a digest that agrees across processes (pickle of a set of strings does not)
        digest.update(value_digest([(t.kind.value, t.args, t.code, t.stdin) for t in tests]))
    return digest.hexdigest()


def _suite(task: Task, tests: Sequence[TestCase]) -> TestSuite:
    return TestSuite(tests=tuple(tests), entry_point=task.entry_point, kind=task.kind)


async def run_references(
    tasks: Sequence[Task],
    runner: Runner,
    *,
    cache: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, ReferenceRun]:
    """Run (or load from cache) the reference solution of every task on its hidden tests."""
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[str, ReferenceRun] = {}
    todo: list[tuple[Task, str, list[TestCase]]] = []
    for task in tasks:
        tests = list(task.all_hidden())
        if task.reference is None:
            raise ValueError(f"{task.task_id}: no reference solution to compute expected outputs")
        key = _task_key(task, tests)
        path = cache / "reference" / f"{key}.pickle"
        if path.exists():
            try:
                # Our own cache file (as EvalPlus keeps its ground truth): pickle loads the
                # decoded values fast, where JSON would decode every value again.
                with open(path, "rb") as handle:
                    stored = pickle.load(handle)
                out[task.task_id] = ReferenceRun(
                    values=list(stored["values"]),
                    times=[float(t) for t in stored["times"]],
                    failed=[int(i) for i in stored["failed"]],
                )
                if progress:
                    progress(1)
                continue
            except (OSError, ValueError, KeyError, EOFError, pickle.UnpicklingError, TypeError):
                pass  # a damaged cache entry is recomputed
        todo.append((task, key, tests))

    import anyio

    async def one(task: Task, key: str, tests: list[TestCase]) -> None:
        request = ExecRequest(
            program=task.reference or "",
            suite=_suite(task, tests),
            limits=REFERENCE_LIMITS,
            fail_fast=False,
            record_only=True,
        )
        result = await runner.run(request)
        if result.status is Status.INFRA_ERROR:
            raise RuntimeError(
                f"{task.task_id}: sandbox failure running the reference: {result.infra_error}"
            )
        values = list(result.actual_values) + [None] * (len(tests) - len(result.actual_values))
        failed = [o.index for o in result.outcomes if o.status is not Status.PASSED]
        times = [o.duration_s for o in result.outcomes]
        run = ReferenceRun(values=values, times=times, failed=failed)
        out[task.task_id] = run
        path = cache / "reference" / f"{key}.pickle"
        path.parent.mkdir(parents=True, exist_ok=True)
        # a private temp name: several runs may compute the same entry at once
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as raw:
                pickle.dump({"values": values, "times": times, "failed": failed}, raw, 5)
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        if progress:
            progress(1)

    async with anyio.create_task_group() as tg:
        for task, key, tests in todo:
            tg.start_soon(one, task, key, tests)
    return out


def apply_reference(
    task: Task,
    run: ReferenceRun | None,
    *,
    calibrate: tuple[float, float] | None = None,
) -> tuple[Task, list[int]]:
    """Fill in missing expected values and (optionally) calibrated per-test limits.

    `calibrate` is (factor, floor): limit = max(floor, factor * reference runtime), as
    EvalPlus does.  Returns the new task and the indices of tests dropped because the
    reference itself failed on them (reported, never silently scored).
    """
    groups: dict[str, tuple[TestCase, ...]] = {}
    dropped: list[int] = []
    failed = set(run.failed) if run is not None else set()
    position = 0
    for name, tests in task.hidden_tests.items():
        kept: list[TestCase] = []
        for test in tests:
            index = position
            position += 1
            expected, has_expected, limit = test.expected, test.has_expected, test.time_limit_s
            reference_s = test.reference_s
            if run is not None and not has_expected:
                if index in failed:
                    dropped.append(index)
                    continue
                expected, has_expected = run.values[index], True
            if calibrate is not None and run is not None:
                reference_s = run.times[index]
                limit = max(calibrate[1], calibrate[0] * reference_s)
            # positional construction: dataclasses.replace costs ~25 us a call, and EvalPlus
            # tasks have ~1,000 tests each
            kept.append(
                TestCase(
                    test.kind,
                    test.args,
                    expected,
                    has_expected,
                    test.stdin,
                    test.code,
                    test.compare,
                    test.atol,
                    test.oracle,
                    test.source,
                    limit,
                    reference_s,
                )
            )
        groups[name] = tuple(kept)
    return replace(task, hidden_tests=groups), dropped
