"""Every argument error of the command line exits with status 2 and a one-line message (as
click's own usage errors do), never a traceback or status 1."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codeloop.cli import app

TASK = {
    "task_id": "demo/add",
    "prompt": "def add(a, b):\n",
    "entry_point": "add",
    "tests": [{"input": [1, 2], "output": 3}],
}


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, str]:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps(TASK) + "\n")
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"task_id": "demo/add", "completion": "    return a + b\n"}))
    not_sqlite = tmp_path / "notes.sqlite"
    not_sqlite.write_text("these are notes, not a database\n" * 20)
    folder = tmp_path / "folder"
    folder.mkdir()
    unrelated = tmp_path / "unrelated.db"
    with contextlib.closing(sqlite3.connect(unrelated)) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('["    return a + b\\n"')  # the closing bracket is missing
    wrong_shape = tmp_path / "shape.jsonl"
    wrong_shape.write_text('{"completion": "    return a + b\\n"}\n')  # no task_id
    return {
        "TASKS": str(tasks),
        "SAMPLES": str(samples),
        "NOT_SQLITE": str(not_sqlite),
        "FOLDER": str(folder),
        "UNRELATED_DB": str(unrelated),
        "BAD_JSON": str(bad_json),
        "WRONG_SHAPE": str(wrong_shape),
        "MISSING": str(tmp_path / "missing.sqlite"),
        "MISSING_JSONL": str(tmp_path / "missing.jsonl"),
    }


RUN = ["run", "TASKS", "--model", "mock:echo"]
EVALUATE = ["evaluate", "SAMPLES", "--dataset", "TASKS"]

CASES = [
    # codeloop run
    (RUN + ["--k", "a"], "--k must be a comma-separated list of integers, got 'a'"),
    (RUN + ["--k", "0"], "--k values must be positive integers"),
    (RUN + ["--setting", "noeq"], "setting 'noeq': expected key=value"),
    (RUN + ["--setting", "bogus=1"], "strategy 'sample' has no setting 'bogus'"),
    (RUN + ["--setting", "n=many"], "setting n='many': expected an integer"),
    (RUN + ["--budget", "calls=x"], "budget item 'calls=x': 'x' is not a number"),
    (RUN + ["--budget", "dollars=3"], "expected NAME=VALUE with NAME one of"),
    (RUN + ["--run-budget", "calls=0"], "budget item 'calls=0': must be positive"),
    (["run", "nosuch", "--model", "mock:echo"], "unknown dataset 'nosuch'"),
    (["run", "MISSING_JSONL", "--model", "mock:echo"], "missing.jsonl: no such file"),
    (RUN + ["--strategy", "nope"], "unknown strategy 'nope'"),
    (["run", "TASKS", "--model", "nope:x"], "unknown model provider 'nope'"),
    (["run", "TASKS", "--model", "gpt"], "model 'gpt' names no provider"),
    (["run", "TASKS", "--model", "mock:file:MISSING_JSONL"], "mock script file not found"),
    (["run", "TASKS", "--model", "mock:file:BAD_JSON"], "BAD_JSON: not valid JSON at line 1"),
    (
        ["run", "TASKS", "--model", "mock:file:WRONG_SHAPE"],
        "WRONG_SHAPE: line 1: expected a JSON string or an object",
    ),
    (RUN + ["--store", "NOT_SQLITE"], "--store NOT_SQLITE is not a sqlite file"),
    (RUN + ["--store", "FOLDER"], "--store FOLDER is a folder, not a sqlite file"),
    (RUN + ["--cache", "NOT_SQLITE"], "--cache NOT_SQLITE is not a sqlite file"),
    (RUN + ["--json", "FOLDER"], "--json FOLDER is a folder; give a file name"),
    (RUN + ["--workers", "0"], "--workers must be at least 1, got 0"),
    (RUN + ["--workers", "-1"], "--workers must be at least 1, got -1"),
    (RUN + ["--concurrency", "0"], "--concurrency must be at least 1, got 0"),
    (RUN + ["--max-errors", "-1"], "--max-errors must be 0 or more, got -1"),
    (RUN + ["--limit", "0"], "--limit must be at least 1"),
    (RUN + ["--n", "0"], "--n must be at least 1"),
    (RUN + ["--timeout", "0"], "--timeout must be positive"),
    (RUN + ["--limit", "few"], "Invalid value for '--limit'"),  # click's own
    # codeloop evaluate
    (["evaluate", "MISSING_JSONL"], "samples file not found"),
    (["evaluate", "NOT_SQLITE", "--dataset", "TASKS"], "no usable sample (line 1: not valid JSON"),
    (["evaluate", "FOLDER", "--dataset", "TASKS"], "cannot read samples file"),
    (["evaluate", "SAMPLES", "--dataset", "nosuch"], "unknown dataset 'nosuch'"),
    (["evaluate", "SAMPLES"], "task id(s) not in the dataset: demo/add"),
    (EVALUATE + ["--k", "x"], "--k must be a comma-separated list of integers"),
    (EVALUATE + ["--timeout", "-1"], "--timeout must be positive"),
    (EVALUATE + ["--calibration-factor", "-1"], "--calibration-factor must be positive, got -1"),
    (EVALUATE + ["--calibration-floor", "0"], "--calibration-floor must be positive, got 0"),
    (EVALUATE + ["--workers", "0"], "--workers must be at least 1, got 0"),
    (EVALUATE + ["--json", "FOLDER"], "--json FOLDER is a folder; give a file name"),
    (EVALUATE + ["--store", "NOT_SQLITE"], "--store NOT_SQLITE is not a sqlite file"),
    (EVALUATE + ["--calibrated", "--timeout", "2"], "cannot be combined with --calibrated"),
    (EVALUATE + ["--test-order", "random"], "Invalid value for '--test-order'"),  # click's
    # codeloop compare
    (["compare", "NOT_SQLITE"], "store NOT_SQLITE is not a sqlite file"),
    (["compare", "FOLDER"], "store FOLDER is a folder, not a sqlite file"),
    (["compare", "MISSING"], "no such run store"),
    (["compare", "SAMPLES"], "store SAMPLES is not a sqlite file"),
    (["compare", "UNRELATED_DB"], "unrelated.db is not a codeloop store"),
    (["compare", "UNRELATED_DB", "--markdown", "FOLDER"], "--markdown FOLDER is a folder"),
]


def _fill(text: str, files: dict[str, str]) -> str:
    for name in sorted(files, key=len, reverse=True):
        text = text.replace(name, files[name])
    return text


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_argument_errors_exit_2_with_a_one_line_message(args, message, files, monkeypatch):
    monkeypatch.delenv("CODELOOP_MODEL", raising=False)
    result = CliRunner().invoke(app, [_fill(a, files) for a in args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    wanted = _fill(message, files)
    if message.startswith("Invalid value"):  # click's usage error box
        assert wanted in result.output
        return
    # the message is on one line, whatever the width of the terminal
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and wanted in lines[0], result.output


def test_the_cli_offers_every_test_order_evaluate_knows():
    from codeloop.cli import TestOrder
    from codeloop.scoring.order import ORDERS

    assert [o.value for o in TestOrder] == list(ORDERS)
