"""Rough edges of `codeloop run` and `codeloop evaluate` a new user hit (issue 16, part 4):
a note for a dropped k, no parent folders made unasked, and picking tasks by id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codeloop.cli import app
from codeloop.scoring.passk import dropped_ks
from codeloop.strategies import STRATEGIES
from codeloop.strategies.base import Solution
from codeloop.types import GenerationRequest, Sampling

TASKS = [
    {
        "task_id": "demo/add",
        "prompt": "def add(a, b):\n",
        "entry_point": "add",
        "tests": [{"input": [1, 2], "output": 3}, {"input": [5, 5], "output": 10}],
    },
    {
        "task_id": "demo/neg",
        "prompt": "def neg(a):\n",
        "entry_point": "neg",
        "tests": [{"input": [1], "output": -1}],
    },
]
ANSWERS = {"demo/add": ["    return a + b\n"], "demo/neg": ["    return -a\n"]}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "tasks.jsonl", TASKS)


@pytest.fixture()
def answers(tmp_path: Path) -> Path:
    rows = [{"task_id": t, "completions": c} for t, c in ANSWERS.items()]
    return write_jsonl(tmp_path / "answers.jsonl", rows)


def one_program():
    """A test strategy: one completion, returned as the only ranked program."""

    async def solve(ctx) -> Solution:
        view = ctx.view
        (completion,) = await ctx.generate(
            GenerationRequest(prompt=view.prompt, n=1, sampling=Sampling(temperature=0.0))
        )
        return Solution(
            programs=(view.prompt + completion.text,),
            trace=ctx.trace,
            usage=ctx.usage,
            raw=(completion.text,),
        )

    return solve


@pytest.fixture(autouse=True)
def test_strategies(monkeypatch):
    monkeypatch.setitem(STRATEGIES, "one_program", one_program)


def cli(*args) -> object:
    return CliRunner().invoke(app, [*map(str, args)])


def run_args(dataset: Path, answers: Path, tmp_path: Path) -> list:
    return [
        "run",
        dataset,
        "--strategy",
        "one_program",
        "--model",
        f"mock:file:{answers}",
        "--store",
        tmp_path / "run.sqlite",
    ]


# ------------------------------------------------------------------- dropped k


def test_dropped_ks_names_each_k_and_the_smallest_task():
    assert dropped_ks([3, 1, 5], [1, 2, 10]) == {
        "2": "a task has 1 sample",
        "10": "a task has 1 sample",
    }
    assert dropped_ks([4, 4], [1, 4]) == {}
    assert dropped_ks([2], [3]) == {"3": "a task has 2 samples"}
    assert dropped_ks([], [1, 2]) == {}


def test_evaluate_notes_a_dropped_k(tmp_path, dataset):
    samples = write_jsonl(
        tmp_path / "samples.jsonl",
        [
            {"task_id": "demo/add", "completion": "    return a + b\n"},
            {"task_id": "demo/add", "completion": "    return a - b\n"},
            {"task_id": "demo/neg", "completion": "    return -a\n"},
        ],
    )
    out = tmp_path / "out.json"
    result = cli("evaluate", samples, "--dataset", dataset, "--k", "1,2", "--json", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data["pass_at_k"]) == {"1"}
    assert data["dropped_k"] == {"2": "a task has 1 sample"}
    assert "pass@2: a task has 1 sample" in " ".join(result.output.split())

    # nothing dropped: no note, an empty map
    result = cli("evaluate", samples, "--dataset", dataset, "--k", "1", "--json", out)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["dropped_k"] == {}
    assert "left out" not in result.output


def test_run_notes_a_dropped_k(tmp_path, dataset, answers):
    out = tmp_path / "out.json"
    result = cli(*run_args(dataset, answers, tmp_path), "--k", "1,3", "--json", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data["pass_at_k"]) == {"1"}
    assert data["dropped_k"] == {"3": "no task ranked more than 1 program"}
    assert "pass@3: no task ranked more than 1 program" in " ".join(result.output.split())


# ------------------------------------------------------------ no folders made unasked


@pytest.mark.parametrize("option", ["--store", "--json", "--cache"])
def test_run_refuses_a_missing_parent_folder(tmp_path, dataset, answers, option):
    missing = tmp_path / "a" / "b"
    args = run_args(dataset, answers, tmp_path)
    if option == "--store":
        args[-1] = missing / "c.sqlite"
    else:
        args += [option, missing / ("out.json" if option == "--json" else "c.sqlite")]
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "does not exist" in result.output
    assert str(missing) in " ".join(result.output.split())
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / "run.sqlite").exists()  # refused before any work


@pytest.mark.parametrize("option", ["--store", "--json"])
def test_evaluate_refuses_a_missing_parent_folder(tmp_path, dataset, option):
    samples = write_jsonl(
        tmp_path / "samples.jsonl", [{"task_id": "demo/neg", "completion": "    return -a\n"}]
    )
    target = tmp_path / "a" / "b" / ("c.sqlite" if option == "--store" else "out.json")
    result = cli("evaluate", samples, "--dataset", dataset, option, target)
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "does not exist" in result.output
    assert not (tmp_path / "a").exists()


def test_the_store_creates_no_folder(tmp_path):
    from codeloop.runs.store import RunStore

    with pytest.raises(FileNotFoundError, match="does not exist"):
        RunStore(tmp_path / "a" / "b" / "c.sqlite")
    assert not (tmp_path / "a").exists()
    with RunStore(tmp_path / "c.sqlite"):
        pass
    assert (tmp_path / "c.sqlite").exists()
