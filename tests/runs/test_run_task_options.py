"""Task options (`--task-option`) reach the dataset loader and are part of the run config."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codeloop.cli import app
from codeloop.strategies import STRATEGIES
from codeloop.strategies.base import Solution
from codeloop.tasks._io import read_jsonl
from codeloop.tasks.humaneval import WRONG_DOCSTRING_EXAMPLES, default_path
from codeloop.types import Usage

TASK = "HumanEval/47"  # median(): one of its two docstring examples is wrong


@pytest.fixture()
def seen(monkeypatch) -> list[tuple[str, ...]]:
    """Registers a strategy that records the visible tests it was shown."""
    shown: list[tuple[str, ...]] = []

    def visible_spy(**settings):
        async def solve(ctx) -> Solution:
            shown.append(tuple(t.source for t in ctx.view.visible_tests))
            program = ctx.view.prompt + "    return 0\n"
            return Solution(programs=(program,), trace=(), usage=Usage(), raw=(program,))

        return solve

    monkeypatch.setitem(STRATEGIES, "visible_spy", visible_spy)
    return shown


@pytest.fixture()
def one_task(tmp_path: Path) -> Path:
    """HumanEval/47 alone, in HumanEval's own format (a `--dataset-file` for humaneval)."""
    record = next(r for _, r in read_jsonl(default_path()) if r["task_id"] == TASK)
    path = tmp_path / "he47.jsonl"
    path.write_text(json.dumps(record) + "\n")
    return path


def run(tmp_path: Path, one_task: Path, name: str, *extra: str) -> tuple[dict, dict]:
    store, out = tmp_path / f"{name}.sqlite", tmp_path / f"{name}.json"
    args = ["run", "humaneval", "--dataset-file", one_task, "--strategy", "visible_spy"]
    args += ["--model", "mock:echo", "--no-cache", "--fixed", "--store", store, "--json", out]
    result = CliRunner().invoke(app, [*map(str, args), *extra])
    assert result.exit_code == 0, result.output
    (stored,) = sqlite3.connect(store).execute("SELECT config FROM runs").fetchall()
    return json.loads(out.read_text()), json.loads(stored[0])


def test_docstring_examples_are_kept_unless_the_option_is_given(tmp_path, one_task, seen):
    (wrong,) = WRONG_DOCSTRING_EXAMPLES[TASK]
    data, stored = run(tmp_path, one_task, "default")
    assert wrong in seen[-1] and len(seen[-1]) == 2
    assert "task_options" not in data["config"] and "task_options" not in stored

    data, stored = run(tmp_path, one_task, "fixed", "--task-option", "fix_docstring_examples=true")
    assert wrong not in seen[-1] and len(seen[-1]) == 1
    assert data["config"]["task_options"] == {"fix_docstring_examples": True}
    assert stored["task_options"] == {"fix_docstring_examples": True}


def test_an_unknown_task_option_is_an_argument_error(tmp_path, one_task, seen):
    result = CliRunner().invoke(
        app,
        [
            *map(str, ["run", "humaneval", "--dataset-file", one_task]),
            *["--strategy", "visible_spy", "--model", "mock:echo", "--no-cache"],
            *["--task-option", "drop_examples=true"],
        ],
    )
    assert result.exit_code == 2
    assert "no task option 'drop_examples'" in result.output
    assert seen == []
