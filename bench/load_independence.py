"""Verdicts independent of load: the same job on a quiet machine and beside CPU hogs.

Runs one job twice, in the same invocation: first alone, then while `--hogs` processes
(`python -c 'while 1: pass'`, default 2) keep the CPUs busy, and compares what came out:

- `evaluate` (default): ``codeloop evaluate SAMPLES --dataset humaneval --timeout 3`` on
  CodeT's recorded CodeGen-16B samples (all 16,400 by default; see codet_samples.py):
  every sample's verdict and status, and pass@k;
- `codet`: ``codeloop run humaneval --strategy codet --model replay:SHARED/codet`` (its
  faithful defaults): per task, the ranking the strategy returned (programs, tie groups),
  every scored program's verdict, and pass@k (ranked and by expectation over ties).

Time limits are budgets of a program's own CPU time (docs/sandbox.md), so nothing the
hogs do should change a verdict; only the wall time grows.  Printed: pass@k of both runs,
the number of differences (goal: 0), each difference, and both wall times.

Usage::

    python bench/load_independence.py [--job evaluate|codet] [--hogs 2]
        [--samples-per-task N] [--tasks N] [--limit N] [--json OUT.json] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    add_timeout_arg,
    goal,
    machine,
    run_timed,
    set_tool_timeout,
    shared_data_dir,
    table,
    temp_workdir,
    venv_tool,
    write_json,
)
from codet_samples import add_selection_args, selection_from_args, write_samples  # noqa: E402


@contextlib.contextmanager
def cpu_hogs(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` busy processes, killed (and waited for) however the block ends."""
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            hogs.append(subprocess.Popen([sys.executable, "-c", "while 1: pass"]))
        yield hogs
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


def evaluate_once(samples: Path, workdir: Path, tag: str) -> tuple[float, dict[str, Any]]:
    out = workdir / f"{tag}.json"
    cmd = [
        venv_tool("codeloop"),
        "evaluate",
        str(samples),
        "--dataset",
        "humaneval",
        "--timeout",
        "3",
        "--json",
        str(out),
    ]
    timed = run_timed(cmd, cwd=workdir).check(f"codeloop evaluate ({tag})")
    return timed.wall_s, json.loads(out.read_text())


def evaluate_verdicts(data: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    return {
        f"{r['task_id']} #{r['sample_index']}": (bool(r["passed"]), str(r["status"]))
        for r in data["results"]
    }


def codet_once(workdir: Path, tag: str, limit: int | None) -> tuple[float, dict[str, Any], Path]:
    out = workdir / f"{tag}.json"
    store = workdir / f"{tag}.sqlite"
    cmd = [
        venv_tool("codeloop"),
        "run",
        "humaneval",
        "--strategy",
        "codet",
        "--model",
        f"replay:{shared_data_dir() / 'codet'}",
        "--json",
        str(out),
        "--store",
        str(store),
        "--no-cache",
    ]
    if limit:
        cmd += ["--limit", str(limit)]
    timed = run_timed(cmd, cwd=workdir).check(f"codeloop run codet ({tag})")
    return timed.wall_s, json.loads(out.read_text()), store


def codet_verdicts(data: dict[str, Any], store: Path) -> dict[str, Any]:
    """Per task: the ranking (programs and tie groups, from the store) and the verdicts."""
    found: dict[str, Any] = {}
    for result in data["results"]:
        found[f"{result['task_id']} verdicts"] = (
            result.get("ranked"),
            result.get("pass_at_k_ties"),
            result.get("error"),
        )
    db = sqlite3.connect(store)
    try:
        for task_id, programs, groups in db.execute(
            "SELECT task_id, programs, ties FROM run_solutions"
        ):
            found[f"{task_id} ranking"] = (programs, groups)
    finally:
        db.close()
    return found


def differences(quiet: dict[str, Any], loaded: dict[str, Any]) -> list[str]:
    keys = sorted(set(quiet) | set(loaded))
    return [
        f"{key}: quiet {str(quiet.get(key))[:120]} / loaded {str(loaded.get(key))[:120]}"
        for key in keys
        if quiet.get(key) != loaded.get(key)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--job", choices=["evaluate", "codet"], default="evaluate")
    parser.add_argument("--hogs", type=int, default=2, help="competing CPU-bound processes")
    parser.add_argument("--limit", type=int, default=None, help="codet: only the first N tasks")
    parser.add_argument("--json", default=None, help="write the figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    add_selection_args(parser)
    add_timeout_arg(parser)
    args = parser.parse_args()
    set_tool_timeout(args.tool_timeout)
    print("machine:", json.dumps(machine()))
    with temp_workdir("load-independence-", args.keep) as workdir:
        if args.job == "evaluate":
            samples = workdir / "samples.jsonl"
            write_samples(selection_from_args(args), samples)
            quiet_s, quiet = evaluate_once(samples, workdir, "quiet")
            with cpu_hogs(args.hogs):
                loaded_s, loaded = evaluate_once(samples, workdir, "loaded")
            quiet_v, loaded_v = evaluate_verdicts(quiet), evaluate_verdicts(loaded)
            k_quiet, k_loaded = quiet["pass_at_k"], loaded["pass_at_k"]
            extra = [("ties", {}, {})]
        else:
            quiet_s, quiet, quiet_store = codet_once(workdir, "quiet", args.limit)
            with cpu_hogs(args.hogs):
                loaded_s, loaded, loaded_store = codet_once(workdir, "loaded", args.limit)
            quiet_v = codet_verdicts(quiet, quiet_store)
            loaded_v = codet_verdicts(loaded, loaded_store)
            k_quiet, k_loaded = quiet["pass_at_k"], loaded["pass_at_k"]
            extra = [
                (
                    "ties by expectation",
                    quiet.get("pass_at_k_ties", {}),
                    loaded.get("pass_at_k_ties", {}),
                )
            ]
    diffs = differences(quiet_v, loaded_v)
    rows = [
        [f"pass@{k}", f"{100 * k_quiet[k]:.2f}", f"{100 * k_loaded.get(k, float('nan')):.2f}"]
        for k in sorted(k_quiet, key=int)
    ]
    for label, a, b in extra:
        rows += [
            [f"pass@{k}, {label}", f"{100 * a[k]:.2f}", f"{100 * b.get(k, float('nan')):.2f}"]
            for k in sorted(a, key=int)
        ]
    rows.append(["wall time (s)", f"{quiet_s:.1f}", f"{loaded_s:.1f}"])
    print(f"job: {args.job}; compared items: {len(quiet_v)} (quiet) and {len(loaded_v)} (loaded)")
    print(table(["", "quiet", f"{args.hogs} CPU hogs"], rows))
    for line in diffs[:50]:
        print("  differs:", line)
    same = not diffs and k_quiet == k_loaded
    print(f"goal: identical verdicts and pass@k under load: {goal(same)} ({len(diffs)} differ)")
    write_json(
        args.json,
        {
            "job": args.job,
            "hogs": args.hogs,
            "compared": len(quiet_v),
            "differences": diffs,
            "pass_at_k": {"quiet": k_quiet, "loaded": k_loaded},
            "extra": {label: {"quiet": a, "loaded": b} for label, a, b in extra},
            "wall_s": {"quiet": quiet_s, "loaded": loaded_s},
        },
    )


if __name__ == "__main__":
    main()
