"""LDB's recorded HumanEval trajectories replayed through codeloop's `ldb` strategy.

For each of the seven LDB results files in the shared data folder
(`llmdebugger/results/ldb/humaneval/...`), this runs what a user would type:

    codeloop run humaneval --strategy ldb --model replay:FILE

through the Python API (`codeloop.run`, a store in a temporary folder, no response cache:
the replay's cursors must see every request).  The replay answers the `ldb` run's program
requests with the recorded programs in order (the seed, then each debugging iteration's);
the verdict calls get an empty answer marked "not_recorded".  So codeloop's own executor
decides each recorded program's visible verdict and codeloop's loop decides when to stop,
and the figures say where they agree with what LDB recorded:

- iterations: per recorded program that codeloop ran, does codeloop's verdict on its visible
  tests (all pass or not) agree with LDB's (a program failed iff its `test_feedback` entry
  lists failing asserts);
- stops: did the run end after as many programs as LDB recorded;
- solved: the hidden-test pass count against LDB's `is_solved` (gpt-3.5: 136/164).

codeloop's visible tests for HumanEval are the docstring examples it extracts itself; LDB's
are the `given_tests` of its own test file.  A second run leaves out the docstring examples
that contradict HumanEval's reference (the task option `fix_docstring_examples`).  A control
run (`--no-control` leaves it out) runs the same replay on the same HumanEval tasks with
LDB's `given_tests` as the visible tests (asserts converted with `codeloop.assertion_test`;
LDB's filter: asserts that name the entry point and are not `assert False`), which
separates the two causes: a disagreement left in the control is the executor's or the
loop's, not the test set's.  Every run is scored the same way (`codeloop run humaneval`'s
calibrated limits).

Every disagreement is listed with its task id and a cause found by the script: the visible
test sets differ (and how), codeloop found no docstring example, LDB recorded a TIMEOUT,
the final program differs (the run stopped elsewhere), or the same final program got a
different hidden verdict; the rest are marked "investigate".

Runtime traces are real (`SolveContext.trace_run`, in the sandbox): a trace decides only
whether a verdict call happens, which the recording cannot answer (it is served empty and
marked), never which program comes next or its verdict.

Usage::

    python bench/ldb_replay.py [--files gpt-3.5-turbo-0613 ...] [--limit N] [--no-control]
        [--json OUT.json]
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import shared_data_dir, write_json  # noqa: E402

RESULTS = "llmdebugger/results/ldb/humaneval"
FILES = {
    "gpt-3.5-turbo-0613": "gpt-3.5-turbo-0613/results.jsonl",
    "codellama": "codellama/results.jsonl",
    "starcoder": "starcoder/results.jsonl",
    "gpt-4-seed": "gpt-4-seed/results.jsonl",
    "reflexion/gpt-3.5-turbo-0613": "reflexion/gpt-3.5-turbo-0613.jsonl",
    "reflexion/gpt-4-1106-preview": "reflexion/gpt-4-1106-preview.jsonl",
    "reflexion/gpt-4o-2024-05-13": "reflexion/gpt-4o-2024-05-13.jsonl",
}

FIXED = "humaneval fix_docstring_examples"
# the command; the same with the docstring examples that contradict HumanEval's
# reference left out (`--task-option fix_docstring_examples=true`); LDB's given tests
VARIANTS = ("humaneval", FIXED, "ldb-given-tests")

# ----------------------------------------------------------------------------- helpers


def _literal(node: ast.expr) -> str:
    try:
        return repr(ast.literal_eval(node))
    except (ValueError, SyntaxError, TypeError):
        return ast.unparse(node)


def normalize_assert(text: str) -> tuple[str, str] | None:
    """(call, expected) of an `assert call == expected` line, normalized; None otherwise."""
    try:
        tree = ast.parse(text.strip())
    except SyntaxError:
        return None
    if not tree.body or not isinstance(tree.body[0], ast.Assert):
        return None
    test = tree.body[0].test
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
        return ast.unparse(test.left), _literal(test.comparators[0])
    return ast.unparse(test), "True"


def codeloop_tests(task: Any) -> list[tuple[str, str]]:
    found = []
    for test in task.visible_tests:
        call = f"{task.entry_point}({', '.join(repr(a) for a in test.args)})"
        normal = normalize_assert(f"assert {call} == {test.expected!r}")
        if normal is not None:
            found.append(normal)
    return found


def ldb_given(row: dict[str, Any]) -> list[str]:
    """LDB's visible tests: given tests that name the entry point and are not `assert False`."""
    entry = row["entry_point"]
    return [t for t in row["given_tests"] if entry in t and "assert False" not in t]


def strip_header(code: str) -> str:
    from codeloop_plugins.ldb import IMPORT_HEADER

    return code.replace(IMPORT_HEADER, "").strip()


def recorded_fails(row: dict[str, Any], index: int) -> bool:
    feedback = row["test_feedback"]
    return index < len(feedback) and bool(feedback[index])


# --------------------------------------------------------------------------------- runs


def recorded_max_iters(rows: dict[str, dict[str, Any]]) -> int:
    """The debugging iterations the recorded run allowed, read from the data: its longest
    trajectory (the seed and one program per iteration)."""
    return max(len(row["implementations"]) for row in rows.values()) - 1


def run_file(
    path: Path,
    tasks: list[Any] | None,
    store: Path,
    limit: int | None,
    max_iters: int,
    task_options: dict[str, Any],
) -> Any:
    import codeloop

    options: dict[str, Any] = {
        "settings": {"max_iters": max_iters},
        "task_options": task_options,
        # the same scoring in every variant: limits calibrated on the reference solution,
        # as `codeloop run humaneval` scores (a task list would get fixed limits)
        "calibrated": True,
        "store": str(store),
        "use_cache": False,
        "max_errors": 1000,
        "limit": limit,
    }
    return codeloop.run(
        tasks if tasks is not None else "humaneval",
        strategy="ldb",
        model=f"replay:{path}",
        **options,
    )


def analyze(
    report: Any, store: Path, rows: dict[str, dict[str, Any]], tasks: dict[str, Any]
) -> dict[str, Any]:
    from codeloop.runs.store import RunStore, RunTables

    opened = RunStore(store, read_only=True)
    solutions = RunTables(opened).solutions(report.run_key)
    hidden_status = {
        task_id: status
        for task_id, status in opened.db.execute(
            "SELECT task_id, status FROM run_verdicts WHERE run_key = ? AND rank = 0",
            (report.run_key,),
        )
    }
    results = {r.task_id: r for r in report.results}
    iterations = agree = 0
    stops = 0
    not_run = 0
    extraction_changed = 0
    disagreements: list[dict[str, Any]] = []
    solved = 0
    ldb_solved = 0
    for task_id, result in results.items():
        row = rows[task_id]
        solution = solutions[task_id]
        task = tasks[task_id]
        recorded = row["implementations"]
        programs = [n for n in solution.trace if n["kind"] == "program"]
        runs = {
            n["parent"]: n
            for n in solution.trace
            if n["kind"] == "execution" and n["metadata"].get("label") == "visible"
        }
        ours = set(codeloop_tests(task))
        theirs_raw = ldb_given(row)
        theirs = {t for t in (normalize_assert(x) for x in theirs_raw) if t is not None}
        if ours == theirs:
            tests_note = ""
        elif not ours:
            tests_note = f"codeloop has no visible test (LDB has {len(theirs)})"
        else:
            tests_note = (
                f"visible tests differ: codeloop {len(ours)}, LDB {len(theirs)}; "
                f"only codeloop: {sorted(ours - theirs)[:3]}; only LDB: {sorted(theirs - ours)[:3]}"
            )
        for index, node in enumerate(programs):
            if index < len(recorded) and strip_header(node["content"]) != strip_header(
                recorded[index]
            ):
                extraction_changed += 1
            run = runs.get(node["id"])
            if index >= len(recorded):
                continue
            if run is None:
                not_run += 1
                continue
            iterations += 1
            ours_pass = run["metadata"]["passed"] == run["metadata"]["total"]
            theirs_pass = not recorded_fails(row, index)
            if ours_pass == theirs_pass:
                agree += 1
                continue
            outputs = row["test_feedback"][index] if index < len(row["test_feedback"]) else []
            if tests_note:
                cause = tests_note
            elif any(o.rstrip().endswith("TIMEOUT") for o in outputs):
                cause = "LDB recorded a TIMEOUT"
            else:
                cause = "investigate"
            disagreements.append(
                {
                    "task_id": task_id,
                    "kind": "iteration",
                    "program": index,
                    "codeloop": f"{run['metadata']['passed']}/{run['metadata']['total']} pass",
                    "ldb": "fails: " + "; ".join(outputs)[:300] if outputs else "passes",
                    "cause": cause,
                }
            )
        same_stop = len(programs) == len(recorded)
        stops += same_stop
        if not same_stop:
            disagreements.append(
                {
                    "task_id": task_id,
                    "kind": "stop",
                    "codeloop": f"{len(programs)} programs",
                    "ldb": f"{len(recorded)} programs",
                    "cause": "; ".join(
                        x
                        for x in (
                            tests_note,
                            solution.error.splitlines()[0][:160] if solution.error else "",
                        )
                        if x
                    )
                    or "investigate",
                }
            )
        solved += bool(result.passed)
        ldb_solved += bool(row["is_solved"])
        if bool(result.passed) != bool(row["is_solved"]):
            final = solution.programs[0] if solution.programs else ""
            if result.error:
                cause = f"the run failed the task: {result.error.splitlines()[0][:160]}"
                cause += f"; {tests_note}" if tests_note else ""
            elif strip_header(final) != strip_header(row["solution"]):
                cause = "the final program differs (the run stopped elsewhere)"
                cause += f"; {tests_note}" if tests_note else ""
            else:
                status = hidden_status.get(task_id, "?")
                cause = f"the same final program: codeloop's hidden verdict is {status}"
            disagreements.append(
                {
                    "task_id": task_id,
                    "kind": "solved",
                    "codeloop": "solved" if result.passed else "not solved",
                    "ldb": "solved" if row["is_solved"] else "not solved",
                    "cause": cause,
                }
            )
    calls = sum(s.usage.get("calls", 0) for s in solutions.values())
    return {
        "tasks": len(results),
        "iterations": iterations,
        "iterations_agree": agree,
        "programs_not_run": not_run,
        "extraction_changed": extraction_changed,
        "same_stop": stops,
        "solved": solved,
        "ldb_solved": ldb_solved,
        "errors": sum(1 for r in results.values() if r.error),
        "calls": calls,
        "disagreements": disagreements,
    }


def control_tasks(rows: dict[str, dict[str, Any]], tasks: dict[str, Any]) -> list[Any]:
    from codeloop import assertion_test

    out = []
    for task_id, task in tasks.items():
        given = ldb_given(rows[task_id])
        visible = tuple(
            t for t in (assertion_test(a, task.entry_point, None) for a in given) if t is not None
        )
        out.append(dataclasses.replace(task, visible_tests=visible, dataset="humaneval-ldb"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", nargs="*", default=list(FILES), choices=list(FILES))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--no-control", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from codeloop.tasks import load_tasks

    humaneval = {t.task_id: t for t in load_tasks("humaneval")}
    fixed = {
        t.task_id: t for t in load_tasks("humaneval", options={"fix_docstring_examples": True})
    }
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ldb-replay-") as scratch:
        for name in args.files:
            path = shared_data_dir() / RESULTS / FILES[name]
            rows = {}
            for line in path.open(encoding="utf-8"):
                row = json.loads(line)
                rows[row["task_id"]] = row
            for variant in VARIANTS:
                if variant == "ldb-given-tests" and args.no_control:
                    continue
                store = Path(scratch) / f"{name.replace('/', '_')}-{variant}.sqlite"
                started = time.monotonic()
                tasks = control_tasks(rows, humaneval) if variant == "ldb-given-tests" else None
                task_options = {"fix_docstring_examples": True} if variant == FIXED else {}
                max_iters = recorded_max_iters(rows)
                report = run_file(path, tasks, store, args.limit, max_iters, task_options)
                seen = {"humaneval": humaneval, FIXED: fixed}.get(variant)
                if seen is None:
                    seen = {t.task_id: t for t in tasks or ()}
                figure = analyze(report, store, rows, seen)
                figure["max_iters"] = max_iters
                figure["wall_s"] = round(time.monotonic() - started, 1)
                figures[f"{name} [{variant}]"] = figure
                print_figure(f"{name} [{variant}]", figure)
    print_summary(figures)
    if args.json:
        write_json(args.json, {"files": figures})


def print_figure(label: str, f: dict[str, Any]) -> None:
    print(f"\n== {label}: {f['tasks']} tasks, max_iters={f['max_iters']}, {f['wall_s']} s")
    print(
        f"   iterations agree {f['iterations_agree']}/{f['iterations']}"
        f" (+{f['programs_not_run']} programs not run: no visible test)"
        f"; stopped where LDB stopped {f['same_stop']}/{f['tasks']}"
        f"; solved {f['solved']} vs LDB {f['ldb_solved']}"
        f"; programs changed by extraction {f['extraction_changed']}; errors {f['errors']}"
    )
    causes = Counter(d["cause"].split(":")[0] for d in f["disagreements"])
    for d in f["disagreements"]:
        where = f" #{d['program']}" if "program" in d else ""
        print(
            f"   - {d['task_id']} {d['kind']}{where}: codeloop {d['codeloop']}; "
            f"LDB {d['ldb']}; cause: {d['cause']}"
        )
    if causes:
        print("   causes: " + ", ".join(f"{c} x{n}" for c, n in causes.most_common()))


def print_summary(figures: dict[str, Any]) -> None:
    print("\n| file [visible tests] | tasks | iterations agree | same stop | solved (LDB) |")
    print("|---|---|---|---|---|")
    for label, f in figures.items():
        print(
            f"| {label} | {f['tasks']} | {f['iterations_agree']}/{f['iterations']} | "
            f"{f['same_stop']}/{f['tasks']} | {f['solved']} ({f['ldb_solved']}) |"
        )


if __name__ == "__main__":
    main()
