"""Ctrl-C on `codeloop evaluate` exits 130 with one line saying what was kept and how to resume."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import codeloop.runs.evaluate as evaluate_module
from codeloop.cli import app
from codeloop.runs.store import RunStore, count_verdicts

TASK = {
    "task_id": "demo/add",
    "prompt": "def add(a, b):\n",
    "entry_point": "add",
    "tests": [{"input": [1, 2], "output": 3}],
}


def _files(tmp_path: Path) -> tuple[Path, Path]:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps(TASK) + "\n")
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"task_id": "demo/add", "completion": "    return a + b\n"}))
    return tasks, samples


def _interrupting(recorded: int, status: str = "passed") -> Any:
    """An evaluate that stores `recorded` verdicts (as the real one does as they finish), then
    is interrupted."""

    async def fake(samples: Path, options: Any, hook: Any) -> Any:
        if options.store:
            with RunStore(options.store) as store:
                for index in range(recorded):
                    store.db.execute(
                        "INSERT INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        ("key", "demo/add", index, "sha", status, "{}", "P", "[]", 0.1, "", 0.0),
                    )
        raise KeyboardInterrupt

    return fake


def test_interrupt_with_store_says_how_many_verdicts_were_kept_and_how_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks, samples = _files(tmp_path)
    store = tmp_path / "eval.sqlite"
    with RunStore(store) as earlier:  # a verdict from an earlier, interrupted invocation
        earlier.db.execute(
            "INSERT INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("key", "demo/add", 99, "sha", "passed", "{}", "P", "[]", 0.1, "", time.time()),
        )
    monkeypatch.setattr(evaluate_module, "evaluate", _interrupting(3))
    args = ["evaluate", str(samples), "--dataset", str(tasks), "--store", str(store)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 130, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "interrupted: 3 samples' verdicts from this run kept in" in lines[0]
    assert f"rerun the same command with --store {store} to resume" in lines[0]
    assert count_verdicts(store) == 4


def test_interrupt_without_store_says_nothing_was_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks, samples = _files(tmp_path)
    monkeypatch.setattr(evaluate_module, "evaluate", _interrupting(0))
    result = CliRunner().invoke(app, ["evaluate", str(samples), "--dataset", str(tasks)])
    assert result.exit_code == 130, result.output
    assert "interrupted: nothing was kept; rerun with --store FILE" in result.output


def test_count_verdicts_skips_infra_errors_and_missing_files(tmp_path: Path) -> None:
    assert count_verdicts(tmp_path / "absent.sqlite") == 0
    assert not (tmp_path / "absent.sqlite").exists()
    store = tmp_path / "s.sqlite"
    with RunStore(store) as db:
        for index, status in enumerate(["passed", "failed", "infra_error"]):
            db.db.execute(
                "INSERT INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ("key", "t", index, "sha", status, "{}", "P", "[]", 0.1, "", 0.0),
            )
    assert count_verdicts(store) == 2
