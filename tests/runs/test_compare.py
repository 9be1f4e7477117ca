"""`codeloop compare` reads the stores of `codeloop run` and of `codeloop evaluate` side by
side, and writes the same table as CSV and markdown; a file that is not a store is a
one-line error (exit 2) and is left as it was."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codeloop.cli import app
from codeloop.runs.compare import compare_table, summarize, summarize_evaluations
from codeloop.runs.store import RunStore
from codeloop.types import ExecResult, Status, TestOutcome


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# evaluate: demo/add 1 of 2 right, demo/neg 2 of 2: pass@1 = (0.5 + 1) / 2, pass@2 = 1
SAMPLES = [
    ("demo/add", "    return a + b\n"),
    ("demo/add", "    return a * b\n"),
    ("demo/neg", "    return -a\n"),
    ("demo/neg", "    return -a\n"),
]
# run (strategy sample, n=1): the top answer of demo/add is wrong, of demo/neg right
ANSWERS = {"demo/add": ["    return a * b\n"], "demo/neg": ["    return -a\n"]}


@pytest.fixture()
def stores(tmp_path: Path, dataset: Path) -> tuple[Path, Path, dict]:
    """A run store and an evaluate store of the same tasks, and evaluate's JSON report."""
    tasks = dataset
    samples = write_jsonl(
        tmp_path / "samples.jsonl", [{"task_id": t, "completion": c} for t, c in SAMPLES]
    )
    answers = write_jsonl(
        tmp_path / "answers.jsonl", [{"task_id": t, "completions": c} for t, c in ANSWERS.items()]
    )
    runner = CliRunner()
    evaluated = runner.invoke(
        app,
        ["evaluate", str(samples), "--dataset", str(tasks), "--k", "1,2"]
        + ["--store", str(tmp_path / "ev.sqlite"), "--json", str(tmp_path / "ev.json")],
    )
    assert evaluated.exit_code == 0, evaluated.output
    ran = runner.invoke(
        app,
        ["run", str(tasks), "--strategy", "sample", "--model", f"mock:file:{answers}"]
        + ["--store", str(tmp_path / "run.sqlite")],
    )
    assert ran.exit_code == 0, ran.output
    report = json.loads((tmp_path / "ev.json").read_text())
    return tmp_path / "run.sqlite", tmp_path / "ev.sqlite", report


def markdown_rows(text: str) -> list[list[str]]:
    lines = text.strip().splitlines()
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]


def test_compare_shows_a_run_and_an_evaluation_and_writes_csv_and_markdown(tmp_path, stores):
    run_store, eval_store, report = stores
    csv_file, md_file = tmp_path / "table.csv", tmp_path / "table.md"
    result = CliRunner().invoke(
        app,
        ["compare", str(run_store), str(eval_store)]
        + ["--csv", str(csv_file), "--markdown", str(md_file)],
    )
    assert result.exit_code == 0, result.output
    assert "run.sqlite" in result.output and "ev.sqlite" in result.output

    rows = list(csv.DictReader(io.StringIO(csv_file.read_text())))
    assert [(r["store"], r["kind"]) for r in rows] == [
        ("run.sqlite", "run"),
        ("ev.sqlite", "evaluate"),
    ]
    run, evaluation = rows
    assert run["dataset"] == evaluation["dataset"] == "tasks.jsonl"
    assert run["strategy"] == "sample" and run["model"].startswith("mock:file:")
    assert (run["tasks"], run["samples"], run["errors"]) == ("2", "-", "0")
    assert (run["pass@1"], run["pass@2"]) == ("50.00", "-")  # a run scores its top program
    assert (run["calls"], run["executions"]) == ("2", "0")
    assert float(run["wall s"]) >= 0
    assert (evaluation["tasks"], evaluation["samples"], evaluation["errors"]) == ("2", "4", "0")
    assert (evaluation["pass@1"], evaluation["pass@2"]) == ("75.00", "100.00")
    # what evaluate reported when it ran
    assert report["pass_at_k"] == {"1": 0.75, "2": 1.0}
    for name in ("strategy", "model", "budget", "calls", "tokens", "executions", "$"):
        assert evaluation[name] == "-", name
    assert 0 < float(evaluation["wall s"]) < 600  # the evaluation's own time was kept

    # the markdown table holds the same cells, numbers right-aligned
    header, rule, *body = markdown_rows(md_file.read_text())
    assert header == list(rows[0])
    assert rule[: header.index("tasks")] == ["---"] * header.index("tasks")
    assert set(rule[header.index("tasks") :]) == {"---:"}
    assert body == [list(r.values()) for r in rows]


def test_one_store_can_hold_a_run_and_an_evaluation(tmp_path, stores):
    _, eval_store, _ = stores
    tasks = tmp_path / "tasks.jsonl"
    answers = tmp_path / "answers.jsonl"
    ran = CliRunner().invoke(
        app,
        ["run", str(tasks), "--strategy", "sample", "--model", f"mock:file:{answers}"]
        + ["--store", str(eval_store)],
    )
    assert ran.exit_code == 0, ran.output
    kinds = [type(s).__name__ for s in summarize(eval_store)]
    assert kinds == ["RunSummary", "EvaluationSummary"]


def _verdict(ok_base: bool, ok_plus: bool) -> tuple[ExecResult, dict[str, bool]]:
    status = Status.PASSED if ok_base and ok_plus else Status.FAILED
    outcome = TestOutcome(0, Status.PASSED if ok_base else Status.FAILED)
    groups = {"base": ok_base, "base+plus": ok_base and ok_plus}
    return ExecResult(status=status, outcomes=(outcome,)), groups


def test_an_evaluation_is_scored_per_group_and_infra_errors_are_left_out(tmp_path):
    path = tmp_path / "ev.sqlite"
    with RunStore(path) as store:
        store.begin_evaluation("k1", {"dataset": "humaneval+", "ks": [1, 2, 10]}, {})
        # t1: base 2 of 2, base+plus 1 of 2; t2: base 1 of 2, base+plus 0 of 2
        for task, index, base, plus in [
            ("t1", 0, True, True),
            ("t1", 1, True, False),
            ("t2", 0, True, False),
            ("t2", 1, False, False),
        ]:
            result, groups = _verdict(base, plus)
            store.record("k1", task, index, f"sha{task}{index}", result, groups)
        broken = ExecResult(Status.INFRA_ERROR, (), infra_error="zygote died")
        store.record("k1", "t2", 2, "shat22", broken, {"base": False, "base+plus": False})
    (summary,) = summarize_evaluations(path)
    assert (summary.tasks, summary.samples, summary.errors) == (2, 5, 1)
    # k=10 needs 10 samples a task: left out, as evaluate does
    assert summary.pass_at_k == {
        "base": {"1": pytest.approx(0.75), "2": pytest.approx(1.0)},
        "base+plus": {"1": pytest.approx(0.25), "2": pytest.approx(0.5)},
    }
    table = compare_table([summary])
    cells = dict(zip(table.headers, table.rows[0], strict=True))
    assert cells["pass@1 base"] == "75.00" and cells["pass@1 base+plus"] == "25.00"
    assert cells["pass@2 base"] == "100.00" and cells["pass@2 base+plus"] == "50.00"
    assert "pass@10 base" not in cells
    assert float(cells["wall s"]) >= 0


OLD_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE evaluations (eval_key TEXT PRIMARY KEY, created REAL NOT NULL,
    config TEXT NOT NULL, isolation TEXT NOT NULL);
CREATE TABLE verdicts (eval_key TEXT NOT NULL, task_id TEXT NOT NULL,
    sample_index INTEGER NOT NULL, program_sha TEXT NOT NULL, status TEXT NOT NULL,
    groups TEXT NOT NULL, statuses TEXT NOT NULL, details TEXT NOT NULL,
    duration REAL NOT NULL, output TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (eval_key, task_id, sample_index));
INSERT INTO evaluations VALUES ('old', 1.0, '{"dataset": "humaneval", "ks": [1]}', '{}');
INSERT INTO verdicts VALUES ('old', 't', 0, 'x', 'passed', '{"base": true}', 'P', '[]',
    0.1, '', 1.0);
"""


def test_an_evaluate_store_from_before_wall_times_reads_with_no_wall(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
    result = CliRunner().invoke(app, ["compare", str(path), "--csv", str(tmp_path / "t.csv")])
    assert result.exit_code == 0, result.output
    (row,) = csv.DictReader(io.StringIO((tmp_path / "t.csv").read_text()))
    assert (row["kind"], row["pass@1"], row["wall s"]) == ("evaluate", "100.00", "-")
    with sqlite3.connect(path) as db:  # compare only read it
        columns = {r[1] for r in db.execute("PRAGMA table_info(evaluations)")}
    assert "wall" not in columns
    RunStore(path).close()  # opened for writing, the store gets the column: still unknown
    (summary,) = summarize_evaluations(path)
    assert summary.wall_s is None


def test_an_unrelated_sqlite_file_is_a_one_line_error_and_is_left_alone(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    before = path.read_bytes()
    result = CliRunner().invoke(app, ["compare", str(path)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "is not a codeloop store" in lines[0], result.output
    assert "Traceback" not in result.output
    assert path.read_bytes() == before
    with sqlite3.connect(path) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert tables == {"notes"}


def test_compare_writes_no_file_into_a_missing_folder(tmp_path, stores):
    run_store, _, _ = stores
    target = tmp_path / "nowhere" / "table.csv"
    result = CliRunner().invoke(app, ["compare", str(run_store), "--csv", str(target)])
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not target.parent.exists()
