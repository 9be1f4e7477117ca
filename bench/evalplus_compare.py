"""HumanEval+ verdicts and speed: codeloop vs EvalPlus 0.3.1's own evaluator, same run.

Both harnesses get the same samples file (EvalPlus format by default: ``solution`` = OpenAI
prompt + CodeT's truncated CodeGen-16B completion, so both run byte-identical programs) and
the same dataset file (HumanEval+ v0.1.10 from the shared data folder, decompressed into a
temp folder; with --tasks/--task-ids, only those tasks, because EvalPlus insists that every
task of its dataset has samples).

- EvalPlus: ``python -m evalplus.evaluate --dataset humaneval --samples X.jsonl
  --i-just-wanna-run --parallel P`` with ``HUMANEVAL_OVERRIDE_PATH`` pointing at the dataset
  file (read at import by ``evalplus/data/humaneval.py``; nothing is downloaded).  Its
  per-sample ``base_status``/``plus_status`` come from ``X_eval_results.json``.
- codeloop: ``codeloop evaluate X.jsonl --dataset humaneval+ --dataset-file F --calibrated``
  (EvalPlus's limits are calibrated too: max(1 s, 4 x reference time) per test); the
  per-sample ``groups`` {"base", "base+plus"} are compared with EvalPlus's.

Timing (wall clock of each process, start-up included).  Both tools run the reference
solution once to get expected outputs and cache that: EvalPlus in
``$XDG_CACHE_HOME/evalplus/<md5 of dataset>.pkl``, codeloop in ``$CODELOOP_CACHE`` (or
``$XDG_CACHE_HOME/codeloop``).  The report says whether each used its cache; with --cold both
start from empty temp caches (EvalPlus's ground-truth seconds are parsed from its output and
codeloop is rerun warm, so evaluation can be told apart from ground truth).  EvalPlus's
process also idles up to 20 s at exit (its "stuck" watchdog thread sleeps in 20 s steps), so
the time its results file was written is reported next to its exit time; the speed-up uses
the results-file time, the figure more favourable to EvalPlus.

codeloop's main runs use ``--test-order fail-first`` (docs/run.md; ``--test-order given``
for the default order instead); with --also-given-order
it also runs, reference outputs cached, with ``--test-order given`` (the dataset's order,
evaluate's default, as EvalPlus runs them) and counts the samples whose verdicts or
statuses differ between the two orders.

Usage::

    python bench/evalplus_compare.py --samples-per-task 5 [--tasks 10] [--cold] [--also-given-order]
        [--evalplus-parallel 2] [--show-code 8] [--json out/evalplus.json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import sys
import time
from collections import Counter
from math import comb
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
    shared_data_dir,
    table,
    temp_workdir,
    write_json,
)
from codet_samples import add_selection_args, selection_from_args, write_samples  # noqa: E402

DATASET = Path("evalplus") / "HumanEvalPlus-v0.1.10.jsonl.gz"
GOAL_SPEED_UP = 3.0  # issue 16: >= 3x EvalPlus 0.3.1 cold, side by side
GROUPS = ("base", "base+plus")


def pass_at_k(n: int, c: int, k: int) -> float:
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def mean_pass_at_k(per_task: dict[str, list[bool]], k: int) -> float:
    values = [pass_at_k(len(v), sum(v), k) for v in per_task.values()]
    return sum(values) / len(values)


def prepare_dataset(workdir: Path, task_ids: set[str]) -> tuple[Path, int, bool]:
    """Decompress HumanEval+ (only the given tasks) into the temp folder."""
    source = shared_data_dir() / DATASET
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        lines = [line for line in handle.read().splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line)["task_id"] in task_ids]
    target = workdir / "HumanEvalPlus-v0.1.10.jsonl"
    if len(kept) == len(lines):
        # byte-identical to the release file, so EvalPlus's ground-truth cache key (md5) is
        # the usual one
        with gzip.open(source, "rb") as handle:
            target.write_bytes(handle.read())
    else:
        target.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return target, len(kept), len(kept) < len(lines)


def codeloop_cache_dir(env: dict[str, str]) -> Path:
    base = env.get("CODELOOP_CACHE") or os.path.join(
        env.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "codeloop"
    )
    return Path(base)


def count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def first_failing(row: dict[str, Any]) -> Any:
    failing = row.get("base_fail_tests") or row.get("plus_fail_tests") or [None]
    return failing[0]


def run_evalplus(
    samples: Path, dataset: Path, workdir: Path, parallel: int, env: dict[str, str]
) -> dict[str, Any]:
    folder = workdir / "evalplus"
    folder.mkdir()
    copy = folder / "samples.jsonl"
    shutil.copyfile(samples, copy)
    env = {**env, "HUMANEVAL_OVERRIDE_PATH": str(dataset)}
    env.pop("EVALPLUS_TIMEOUT_PER_TASK", None)  # 0.3.1 compares it, a str, with a float
    cmd = [
        sys.executable,
        "-m",
        "evalplus.evaluate",
        "--dataset",
        "humaneval",
        "--samples",
        str(copy),
        "--i-just-wanna-run",
        "--parallel",
        str(parallel),
    ]
    started_epoch = time.time()
    timed = run_timed(cmd, cwd=folder, env=env).check("EvalPlus evaluate")
    result_path = folder / "samples_eval_results.json"
    written_s = result_path.stat().st_mtime - started_epoch
    output = timed.stdout + timed.stderr
    computed = re.search(r"Expected outputs computed in ([0-9.]+)s", output)
    loaded = "Load from ground-truth from" in output
    results = json.loads(result_path.read_text())
    verdicts: dict[tuple[str, int], dict[str, Any]] = {}
    for task_id, rows in results["eval"].items():
        for index, row in enumerate(rows):
            base = row["base_status"] == "pass"
            verdicts[(task_id, index)] = {
                "groups": {"base": base, "base+plus": base and row["plus_status"] == "pass"},
                "base_status": row["base_status"],
                "plus_status": row["plus_status"],
                "fail_input": first_failing(row),
                "solution": row.get("solution", ""),
            }
    return {
        "wall_s": timed.wall_s,
        "results_written_s": written_s,
        "ground_truth": (
            {"cached": False, "seconds": float(computed.group(1))}
            if computed
            else {"cached": loaded, "seconds": None}
        ),
        "verdicts": verdicts,
        "parallel": parallel,
        "command": " ".join(cmd[1:]),
    }


def run_codeloop(
    samples: Path, dataset: Path, workdir: Path, extra: list[str], env: dict[str, str], tag: str
) -> dict[str, Any]:
    options = ["--dataset", "humaneval+", "--dataset-file", str(dataset)]
    cache = codeloop_cache_dir(env) / "reference"
    before = count_files(cache)
    run = codeloop_evaluate(samples, workdir, tag, options, extra, env)
    new_entries = count_files(cache) - before
    return {
        "wall_s": run.wall_s,
        "verdicts": run.verdicts("groups"),
        "pass_at_k_by_group": run.report.get("pass_at_k_by_group", {}),
        "reference": {
            "cached": new_entries == 0,
            "new_cache_entries": new_entries,
            "cache": str(cache),
        },
        **run.health(),
        "dropped_tests": run.report.get("dropped_tests", {}),
        "command": run.command,
    }


def _pf(passed: bool) -> str:
    return "pass" if passed else "fail"


def compare(ep: dict[str, Any], cl: dict[str, Any], keys: list[tuple[str, int]]) -> dict[str, Any]:
    same = Counter()
    confusion = {g: Counter() for g in GROUPS}
    differences = []
    missing = []
    for key in keys:
        e = ep["verdicts"].get(key)
        c = cl["verdicts"].get(key)
        if e is None or c is None:
            missing.append(
                {"task_id": key[0], "sample_index": key[1], "in_evalplus": e is not None}
            )
            continue
        differing = []
        for group in GROUPS:
            ev, cv = e["groups"][group], bool(c["groups"].get(group))
            confusion[group][f"evalplus {_pf(ev)} / codeloop {_pf(cv)}"] += 1
            if ev == cv:
                same[group] += 1
            else:
                differing.append(group)
        if differing:
            differences.append(
                {
                    "task_id": key[0],
                    "sample_index": key[1],
                    "groups": differing,
                    "evalplus": {
                        "base": e["base_status"],
                        "plus": e["plus_status"],
                        "fail_input": e["fail_input"],
                    },
                    "codeloop": {
                        "groups": c["groups"],
                        "status": c["status"],
                        "message": c["message"],
                    },
                    "solution": e["solution"],
                }
            )
    compared = len(keys) - len(missing)
    return {
        "compared": compared,
        "identical": dict(same),
        "confusion": {g: dict(v) for g, v in confusion.items()},
        "differences": differences,
        "missing": missing,
    }


def print_comparison(comparison: dict[str, Any], show_code: int) -> None:
    n = comparison["compared"]
    print(f"\nPer-sample verdicts ({n} samples compared):")
    for group in GROUPS:
        print(f"  {group}: {comparison['identical'].get(group, 0)} of {n} identical")
        for label, count in sorted(comparison["confusion"][group].items()):
            print(f"    {label}: {count}")
    print_missing(comparison["missing"], "in_evalplus", "EvalPlus")
    diffs = comparison["differences"]
    if not diffs:
        print("  no differences")
        return
    kinds = Counter(
        (f"{d['evalplus']['base']}/{d['evalplus']['plus']}", d["codeloop"]["status"]) for d in diffs
    )
    print("  differences by (EvalPlus base/plus status, codeloop status):")
    for (e, c), count in kinds.most_common():
        print(f"    {e:16s} vs {c:14s} {count}")
    print(f"  every difference ({len(diffs)}):")
    for d in diffs:
        message = " ".join(d["codeloop"]["message"].split())[:160]
        if d["evalplus"]["fail_input"] is None and "fail" in (
            d["evalplus"]["base"],
            d["evalplus"]["plus"],
        ):
            where = "failed before its first input: the program itself raised"
        else:
            shown = repr(d["evalplus"]["fail_input"])
            where = "failing input " + (shown if len(shown) <= 80 else shown[:77] + "...")
        print(
            f"  - {d['task_id']} #{d['sample_index']} [{', '.join(d['groups'])}]: "
            f"EvalPlus base={d['evalplus']['base']} plus={d['evalplus']['plus']} "
            f"({where}); codeloop {d['codeloop']['groups']} "
            f"[{d['codeloop']['status']}] {message}"
        )
        if show_code:
            print(first_lines(d["solution"], show_code))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_selection_args(parser)
    parser.add_argument(
        "--samples",
        type=Path,
        default=None,
        help="an existing samples file (completion or solution) instead",
    )
    parser.add_argument(
        "--format",
        choices=["evalplus", "humaneval"],
        default="evalplus",
        help="CodeT samples as whole programs (default) or completions",
    )
    parser.add_argument(
        "--evalplus-parallel",
        type=int,
        default=None,
        help="EvalPlus --parallel (default: cores, as codeloop's workers; "
        "EvalPlus's own default is cores // 2)",
    )
    parser.add_argument("--workers", type=int, default=None, help="codeloop --workers")
    parser.add_argument(
        "--fixed-timeout",
        type=float,
        default=None,
        help="run codeloop with this fixed limit instead of --calibrated",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="both tools start from empty caches (ground truth timed)",
    )
    parser.add_argument(
        "--test-order",
        choices=["fail-first", "given"],
        default="fail-first",
        help="codeloop's test order in its main runs (codeloop evaluate --test-order)",
    )
    parser.add_argument(
        "--also-given-order",
        action="store_true",
        help="also run codeloop (reference cached) with --test-order given, the dataset's "
        "order as EvalPlus runs it, and compare its verdicts and time with fail-first's",
    )
    add_comparison_args(parser)
    args = parser.parse_args()
    set_tool_timeout(args.tool_timeout)
    workers = args.workers or default_workers()
    parallel = args.evalplus_parallel or workers

    with temp_workdir("codeloop-evalplus-", args.keep) as workdir:
        if args.samples:
            samples_path = workdir / "samples.jsonl"
            shutil.copyfile(args.samples, samples_path)
            source = str(args.samples)
        else:
            samples_path = write_samples(
                selection_from_args(args), workdir / "samples.jsonl", args.format
            )
            source = f"CodeT CodeGen-16B (codet_samples.py, {args.format} format, OpenAI prompts)"
        rows = read_samples_file(samples_path)
        keys = [(row["task_id"], row["_index"]) for row in rows]
        counts = Counter(row["task_id"] for row in rows)
        dataset, n_tasks, subset = prepare_dataset(workdir, set(counts))
        n_min = min(counts.values())
        ks = [k for k in (1, 10, 100) if k <= n_min]

        env = dict(os.environ)
        ep_env, cl_env = dict(env), dict(env)
        if args.cold:
            ep_env["XDG_CACHE_HOME"] = str(workdir / "evalplus-cache")
            cl_env["CODELOOP_CACHE"] = str(workdir / "codeloop-cache")
        caches = "cold (empty temp)" if args.cold else "as found"
        print(
            f"samples: {len(keys)} ({len(counts)} tasks, {n_min}-{max(counts.values())} per task) "
            f"from {source}\ndataset: HumanEval+ v0.1.10, {n_tasks} tasks"
            f"{' (subset file)' if subset else ''}; caches: {caches}"
            f"\nmachine: {machine()}",
            flush=True,
        )

        common = ["--workers", str(workers), "--test-order", args.test_order]
        if args.fixed_timeout:
            mode = ["--timeout", str(args.fixed_timeout), *common]
            mode_name = f"fixed {args.fixed_timeout:g}s, {args.test_order}"
        else:
            mode = ["--calibrated", *common]
            mode_name = f"calibrated, {args.test_order}"
        print(f"running codeloop ({mode_name}) ...", flush=True)
        cl = run_codeloop(samples_path, dataset, workdir, mode, cl_env, "first")
        cl_warm = None
        if args.cold:
            print("running codeloop again (reference outputs cached) ...", flush=True)
            cl_warm = run_codeloop(samples_path, dataset, workdir, mode, cl_env, "warm")
        cl_given = None
        if args.also_given_order and args.test_order != "given":
            print("running codeloop with --test-order given ...", flush=True)
            given_mode = [*mode[:-1], "given"]  # the same options in the dataset's order
            cl_given = run_codeloop(samples_path, dataset, workdir, given_mode, cl_env, "given")
        print(f"running EvalPlus 0.3.1 (--parallel {parallel}) ...", flush=True)
        ep = run_evalplus(samples_path, dataset, workdir, parallel, ep_env)

        per_task: dict[str, dict[str, list[bool]]] = {g: {} for g in GROUPS}
        for (task_id, _), v in sorted(ep["verdicts"].items(), key=lambda kv: kv[0]):
            for g in GROUPS:
                per_task[g].setdefault(task_id, []).append(v["groups"][g])
        ep_pass = {g: {str(k): mean_pass_at_k(per_task[g], k) for k in ks} for g in GROUPS}

        gt = ep["ground_truth"]
        gt_text = (
            f"computed in this run, {gt['seconds']:.2f}s"
            if gt["seconds"] is not None
            else ("loaded from its cache" if gt["cached"] else "unknown")
        )
        ref_text = (
            "loaded from its cache"
            if cl["reference"]["cached"]
            else f"computed in this run ({cl['reference']['new_cache_entries']} files cached)"
        )
        speed = ratio(ep["results_written_s"], cl["wall_s"])

        def cl_pass(group: str, k: int) -> float:
            return float(cl["pass_at_k_by_group"].get(group, {}).get(str(k), float("nan")))

        headers = ["harness", "wall s", *[f"{g} pass@{k}" for g in GROUPS for k in ks], "speed-up"]
        rows: list[list[Any]] = [
            [
                f"EvalPlus 0.3.1 (--parallel {parallel}), results written",
                ep["results_written_s"],
                *[100 * ep_pass[g][str(k)] for g in GROUPS for k in ks],
                "1.00x",
            ],
            ["EvalPlus 0.3.1, process exit", ep["wall_s"], *["" for _ in GROUPS for _ in ks], ""],
            [
                f"codeloop ({mode_name})",
                cl["wall_s"],
                *[100 * cl_pass(g, k) for g in GROUPS for k in ks],
                f"{speed:.2f}x",
            ],
        ]
        if cl_warm is not None:
            rows.append(
                [
                    f"codeloop ({mode_name}), reference cached",
                    cl_warm["wall_s"],
                    *["" for _ in GROUPS for _ in ks],
                    f"{ratio(ep['results_written_s'], cl_warm['wall_s']):.2f}x",
                ]
            )
        if cl_given is not None:
            rows.append(
                [
                    f"codeloop ({mode_name.replace('fail-first', 'given order')}), reference "
                    + ("computed" if not cl_given["reference"]["cached"] else "cached"),
                    cl_given["wall_s"],
                    *[
                        100 * float(cl_given["pass_at_k_by_group"].get(g, {}).get(str(k), "nan"))
                        for g in GROUPS
                        for k in ks
                    ],
                    f"{ratio(ep['results_written_s'], cl_given['wall_s']):.2f}x",
                ]
            )
        if gt["seconds"] is not None:
            ep_eval = ep["results_written_s"] - gt["seconds"]
            rows.append(
                [
                    "EvalPlus minus its ground-truth time",
                    ep_eval,
                    *["" for _ in GROUPS for _ in ks],
                    "",
                ]
            )
            if cl_warm is not None:
                rows.append(
                    [
                        "  evaluation only: EvalPlus / codeloop (cached)",
                        "",
                        *["" for _ in GROUPS for _ in ks],
                        f"{ratio(ep_eval, cl_warm['wall_s']):.2f}x",
                    ]
                )
        deltas = [100 * (cl_pass(g, k) - ep_pass[g][str(k)]) for g in GROUPS for k in ks]
        rows.append(
            ["difference (codeloop - EvalPlus), points", "", *[f"{d:+.2f}" for d in deltas], ""]
        )
        print()
        print(table(headers, rows))
        speed_met = speed >= GOAL_SPEED_UP if parallel == workers else None
        verdict = goal(speed_met) if speed_met is not None else "n/a (workers differ)"
        print(f"speed-up goal >= {GOAL_SPEED_UP:g}x: {verdict}")
        print(f"EvalPlus ground truth: {gt_text}")
        print(f"codeloop reference outputs: {ref_text}")
        notes = [
            f"statuses {dict(sorted(cl['status_counts'].items()))}",
            f"{cl['executed']} distinct programs run",
        ]
        if cl["infra_errors"]:
            notes.append(f"!! {cl['infra_errors']} infra errors (left out of pass@k)")
        if cl["dropped_tests"]:
            notes.append(f"tests dropped (reference fails): {cl['dropped_tests']}")
        notes.append(isolation_note(cl["isolation_missing"]))
        print("codeloop: " + "; ".join(notes))

        given_diff: dict[str, int] | None = None
        if cl_given is not None:
            first, given = cl["verdicts"], cl_given["verdicts"]
            shared = [key for key in keys if key in first and key in given]
            given_diff = {
                "samples": len(shared),
                "groups_differ": sum(first[k]["groups"] != given[k]["groups"] for k in shared),
                "status_differs": sum(first[k]["status"] != given[k]["status"] for k in shared),
            }
            print(
                f"fail-first against given order: {given_diff['groups_differ']} of "
                f"{given_diff['samples']} samples' verdicts (groups) differ, "
                f"{given_diff['status_differs']} statuses differ (which failing test a wrong "
                "program met first)"
            )
        comparison = compare(ep, cl, keys)
        print_comparison(comparison, args.show_code)

        write_json(
            args.json,
            {
                "benchmark": "evalplus_compare",
                "machine": machine(),
                "samples": {"source": source, "count": len(keys), "tasks": len(counts)},
                "dataset_tasks": n_tasks,
                "cold": args.cold,
                "given_order": None
                if cl_given is None
                else {"wall_s": cl_given["wall_s"], **(given_diff or {})},
                "evalplus": {
                    "wall_s": ep["wall_s"],
                    "results_written_s": ep["results_written_s"],
                    "ground_truth": gt,
                    "parallel": parallel,
                    "pass_at_k_by_group": ep_pass,
                    "command": ep["command"],
                },
                "codeloop": {
                    "mode": mode_name,
                    "wall_s": cl["wall_s"],
                    "wall_s_reference_cached": cl_warm["wall_s"] if cl_warm else None,
                    "reference": cl["reference"],
                    "pass_at_k_by_group": cl["pass_at_k_by_group"],
                    "status_counts": cl["status_counts"],
                    "infra_errors": cl["infra_errors"],
                    "dropped_tests": cl["dropped_tests"],
                    "isolation_missing": cl["isolation_missing"],
                    "command": cl["command"],
                },
                "speed_up": speed,
                "goal_met": speed_met,
                "verdicts": {k: v for k, v in comparison.items() if k != "differences"},
                "differences": [
                    {k: v for k, v in d.items() if k != "solution"}
                    for d in comparison["differences"]
                ],
            },
        )


if __name__ == "__main__":
    main()
