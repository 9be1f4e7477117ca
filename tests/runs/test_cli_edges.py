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


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


ANSWERS = {"demo/add": ["    return a + b\n"], "demo/neg": ["    return -a\n"]}


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


# --------------------------------------------------------------- picking tasks by id


def test_pick_tasks_keeps_the_dataset_order_and_names_unknown_ids(tmp_path):
    from codeloop.tasks import TaskLoadError, load_tasks, pick_tasks

    rows = [
        {
            "task_id": f"t/{i}",
            "prompt": f"def f{i}(a):\n",
            "entry_point": f"f{i}",
            "tests": [{"input": [1], "output": 1}],
        }
        for i in range(6)
    ]
    tasks = load_tasks(str(write_jsonl(tmp_path / "six.jsonl", rows)))
    picked = pick_tasks(tasks, ["t/5", "t/2", "t/5"])
    assert [t.task_id for t in picked] == ["t/2", "t/5"]
    assert pick_tasks(tasks, []) == tasks
    with pytest.raises(TaskLoadError) as err:
        pick_tasks(tasks, ["t/2", "t/9"])
    assert "'t/9'" in str(err.value) and "6 tasks (t/0, t/1, t/2, ...)" in str(err.value)
    assert "'t/2'" not in str(err.value)


def test_run_picks_tasks_by_id_and_from_a_file(tmp_path, dataset, answers):
    out = tmp_path / "out.json"
    result = cli(*run_args(dataset, answers, tmp_path), "--task", "demo/neg", "--json", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert [r["task_id"] for r in data["results"]] == ["demo/neg"]
    assert data["tasks_selected"] == 1 and data["cost"]["calls"] == 1

    # like --limit, the pick is not part of the run's key: a wider pick reuses demo/neg
    ids = tmp_path / "ids.txt"
    ids.write_text("# the two demo tasks\ndemo/add\n\ndemo/neg  # already solved\n")
    result = cli(*run_args(dataset, answers, tmp_path), "--tasks", ids, "--json", out)
    assert result.exit_code == 0, result.output
    wider = json.loads(out.read_text())
    assert [r["task_id"] for r in wider["results"]] == ["demo/add", "demo/neg"]
    assert wider["run_key"] == data["run_key"]
    assert wider["tasks_reused"] == 1 and wider["spent_this_invocation"]["calls"] == 1


def test_run_refuses_unknown_task_ids(tmp_path, dataset, answers):
    result = cli(*run_args(dataset, answers, tmp_path), "--task", "demo/zzz")
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1
    assert "'demo/zzz'" in result.output and "demo/add, demo/neg" in result.output
    assert not (tmp_path / "run.sqlite").exists()  # refused before any work

    empty = tmp_path / "empty.txt"
    empty.write_text("\n# nothing\n")
    result = cli(*run_args(dataset, answers, tmp_path), "--tasks", empty)
    assert result.exit_code == 2 and "no task id" in result.output
    result = cli(*run_args(dataset, answers, tmp_path), "--tasks", tmp_path / "none.txt")
    assert result.exit_code == 2 and "cannot read" in result.output


def test_evaluate_picks_tasks_by_id(tmp_path, dataset):
    samples = write_jsonl(
        tmp_path / "samples.jsonl",
        [
            {"task_id": "demo/add", "completion": "    return a - b\n"},
            {"task_id": "demo/neg", "completion": "    return -a\n"},
        ],
    )
    out = tmp_path / "out.json"
    result = cli(
        "evaluate", samples, "--dataset", dataset, "--k", "1", "--task", "demo/neg", "--json", out
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert [r["task_id"] for r in data["results"]] == ["demo/neg"]
    assert data["pass_at_k"] == {"1": 1.0} and data["samples"] == 1

    only_add = write_jsonl(tmp_path / "add.jsonl", [{"task_id": "demo/add", "completion": ""}])
    result = cli("evaluate", only_add, "--dataset", dataset, "--task", "demo/neg")
    assert result.exit_code == 2 and "no sample for the picked tasks" in result.output

    result = cli("evaluate", samples, "--dataset", dataset, "--task", "demo/zzz")
    assert result.exit_code == 2 and "'demo/zzz'" in result.output
    assert result.output.count("\n") == 1


# ------------------------------------------------------ the first failing test in JSON


def test_evaluate_json_carries_each_failing_samples_first_failing_test(tmp_path, dataset):
    samples = write_jsonl(
        tmp_path / "samples.jsonl",
        [
            {"task_id": "demo/add", "completion": "    return a + b\n"},
            {"task_id": "demo/add", "completion": "    return a * b\n"},  # fails test 0 only
            {"task_id": "demo/add", "completion": "    return 'x' * 1000\n"},
            {"task_id": "demo/neg", "completion": "    raise KeyError('nope')\n"},
        ],
    )
    out = tmp_path / "out.json"
    result = cli("evaluate", samples, "--dataset", dataset, "--k", "1", "--json", out)
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["results"]
    assert rows[0]["passed"] and rows[0]["first_failure"] is None
    wrong = rows[1]["first_failure"]
    assert wrong["test"] == 0 and wrong["status"] == "failed"
    assert wrong["input"] == "add(1, 2)"
    assert wrong["expected"] == "3" and wrong["actual"] == "2"
    long = rows[2]["first_failure"]
    assert long["test"] == 0 and 0 < len(long["actual"]) <= 300 and "..." in long["actual"]
    raised = rows[3]["first_failure"]
    assert raised["input"] == "neg(1)" and raised["status"] == "error"
    assert raised["error"].startswith("KeyError") and "nope" in raised["error"]


def test_first_failure_picks_the_lowest_failing_test_and_bounds_its_texts(tmp_path, dataset):
    from codeloop.runs.evaluate import first_failure
    from codeloop.tasks import load_tasks

    add = load_tasks(str(dataset))[0]
    details = [
        {"i": 1, "status": "failed", "expected": "10", "actual": "25"},
        {"i": 0, "status": "error", "exception": "ValueError", "message": "m" * 1000},
    ]
    failure = first_failure(add, details)
    assert failure is not None
    assert failure["test"] == 0 and failure["input"] == "add(1, 2)"
    assert failure["error"].startswith("ValueError: mmm") and len(failure["error"]) == 300
    assert "expected" not in failure and "actual" not in failure
    assert first_failure(add, [{"infra_error": "sandbox died"}]) is None
