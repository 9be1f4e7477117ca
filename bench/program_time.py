"""How long the programs themselves run: the floor under any harness's wall time.

Every harness has to call each distinct program's entry point on the same tests, so the
time those calls take is a lower bound on its CPU time, whatever it does around them.  This
script runs the CodeT CodeGen-16B samples through codeloop's sandbox, one run per core (so a
test's clock is close to its CPU time), with scoring's settings (stop at the first failing
test, in the dataset's order, or evaluate's fail-first order with --test-order fail-first;
calibrated limits with --calibrated, else a fixed limit per program), and adds up the
time each test call took inside the sandbox (`TestOutcome.duration_s`: the call only, not
loading, copying inputs or sending the value).  Tests that time out are counted apart, at
their limit.

It prints the total, the wall-time floor on this machine's cores, the tasks where the time
goes, and, given a baseline wall time (--baseline-s, e.g. EvalPlus's measured time), what a
speed-up goal would leave for everything else.

Usage::

    python bench/program_time.py --dataset humaneval+ --calibrated --baseline-s 908
    python bench/program_time.py --dataset humaneval --timeout 3 --tasks 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, shared_data_dir, table, write_json  # noqa: E402
from codet_samples import add_selection_args, selection_from_args  # noqa: E402

from codeloop.execution.local import LocalExecutor  # noqa: E402
from codeloop.runs.evaluate import EvaluateOptions, prepare_tasks  # noqa: E402
from codeloop.scoring.order import ORDERS, FailFirst  # noqa: E402
from codeloop.tasks import load_tasks  # noqa: E402
from codeloop.types import ExecRequest, Limits, Status, TestSuite  # noqa: E402

EVALPLUS_FILE = Path("evalplus") / "HumanEvalPlus-v0.1.10.jsonl.gz"


async def measure(args: argparse.Namespace) -> dict[str, object]:
    dataset_file = None
    if args.dataset == "humaneval+":
        dataset_file = str(args.dataset_file or shared_data_dir() / EVALPLUS_FILE)
    tasks = {t.task_id: t for t in load_tasks(args.dataset, dataset_file=dataset_file)}
    samples = selection_from_args(args)
    programs: dict[str, list[str]] = defaultdict(list)
    for sample in samples:
        if sample.program not in programs[sample.task_id]:
            programs[sample.task_id].append(sample.program)
    cores = os.cpu_count() or 1
    per_task: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    started = time.monotonic()
    async with LocalExecutor(workers=cores, max_inflight=cores) as executor:
        # the limits `codeloop evaluate` scores with (calibrated: its default factor, floor)
        options = EvaluateOptions(
            dataset=args.dataset, calibrated=args.calibrated, timeout_s=args.timeout
        )
        prepared, _dropped = await prepare_tasks(
            [tasks[tid] for tid in programs], executor, options
        )
        limits = Limits(time_s=args.timeout)
        keys = [(tid, code) for tid, codes in programs.items() for code in codes]
        suites = {
            tid: TestSuite(tests=t.all_hidden(), entry_point=t.entry_point, kind=t.kind)
            for tid, t in prepared.items()
        }
        # the order `codeloop evaluate` runs each program's tests in (--test-order)
        books = {
            tid: FailFirst([len(group) for group in t.hidden_tests.values()])
            for tid, t in prepared.items()
            if args.test_order == "fail-first"
        }
        requests = (
            ExecRequest(
                program=code,
                suite=suites[tid],
                limits=limits,
                order=books[tid].order() if tid in books else None,
            )
            for tid, code in keys
        )
        async for index, result in executor.map(requests):
            tid = keys[index][0]
            if tid in books:
                books[tid].record(result)
            tests = suites[tid].tests
            row = per_task[tid]  # call seconds, timeouts, timeout seconds, passed programs
            for outcome in result.outcomes:
                if outcome.status is Status.TIMEOUT:
                    row[1] += 1
                    test_limit = tests[outcome.index].time_limit_s
                    row[2] += test_limit if test_limit is not None else args.timeout
                elif outcome.status is not Status.NOT_RUN:
                    row[0] += outcome.duration_s
            row[3] += result.passed
    wall = time.monotonic() - started
    calls = sum(r[0] for r in per_task.values())
    timeout_s = sum(r[2] for r in per_task.values())
    return {
        "dataset": args.dataset,
        "test_order": args.test_order,
        "limits": "calibrated" if args.calibrated else f"fixed {args.timeout:g}s",
        "samples": len(samples),
        "distinct_programs": len(keys),
        "cores": cores,
        "call_s": calls,
        "timeouts": int(sum(r[1] for r in per_task.values())),
        "timeout_s": timeout_s,
        "wall_s": wall,
        "per_task": {
            tid: {
                "call_s": r[0],
                "timeouts": int(r[1]),
                "timeout_s": r[2],
                "passed_programs": int(r[3]),
            }
            for tid, r in per_task.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["humaneval", "humaneval+"], default="humaneval+")
    parser.add_argument("--dataset-file", default=None, help="HumanEval+ file (shared data's)")
    parser.add_argument("--calibrated", action="store_true", help="EvalPlus-style limits")
    parser.add_argument("--timeout", type=float, default=3.0, help="fixed limit per program")
    parser.add_argument(
        "--test-order",
        choices=ORDERS,
        default="given",
        help="the order each program's tests run in, as `codeloop evaluate --test-order`",
    )
    parser.add_argument("--baseline-s", type=float, default=None, help="baseline wall time")
    parser.add_argument("--goal", type=float, default=20.0, help="speed-up goal over baseline")
    parser.add_argument("--top", type=int, default=10, help="tasks listed")
    parser.add_argument("--json", default=None)
    add_selection_args(parser)
    args = parser.parse_args()

    print("machine:", machine())
    result = asyncio.run(measure(args))
    cores = result["cores"]
    assert isinstance(cores, int)
    calls, timeout_s = float(result["call_s"]), float(result["timeout_s"])  # type: ignore[arg-type]
    per_task = result["per_task"]
    assert isinstance(per_task, dict)
    print(
        f"\n{result['dataset']}, {result['limits']} limits, test order {result['test_order']}: "
        f"{result['samples']} samples, "
        f"{result['distinct_programs']} distinct programs, run in {result['wall_s']:.1f}s"
    )
    rows = [
        ["test calls that returned or raised", f"{calls:.1f}", f"{calls / cores:.1f}"],
        [
            f"tests that timed out ({result['timeouts']}), at their limit",
            f"{timeout_s:.1f}",
            f"{timeout_s / cores:.1f}",
        ],
        ["both", f"{calls + timeout_s:.1f}", f"{(calls + timeout_s) / cores:.1f}"],
    ]
    print(table(["programs' own time", "CPU-s", f"wall floor on {cores} cores (s)"], rows))
    heavy = sorted(per_task.items(), key=lambda kv: -(kv[1]["call_s"] + kv[1]["timeout_s"]))
    print(f"\nwhere it goes (top {args.top} tasks):")
    print(
        table(
            ["task", "call CPU-s", "timeouts", "timeout s", "passing programs"],
            [
                [
                    tid,
                    f"{v['call_s']:.1f}",
                    v["timeouts"],
                    f"{v['timeout_s']:.1f}",
                    v["passed_programs"],
                ]
                for tid, v in heavy[: args.top]
            ],
            right=False,
        )
    )
    if args.baseline_s:
        target = args.baseline_s / args.goal
        print(
            f"\n{args.goal:g}x over the given (quoted, not run here) baseline's "
            f"{args.baseline_s:g}s leaves {target:.1f}s of "
            f"wall time; the calls alone need {calls / cores:.1f}s on {cores} cores "
            f"({'room left' if calls / cores < target else 'NOT reachable by any harness here'})"
        )
    write_json(args.json, {"machine": machine(), **result})


if __name__ == "__main__":
    main()
