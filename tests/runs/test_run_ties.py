"""`codeloop run` with a strategy that ranks with ties (codet): pass@k scored by
expectation over the tie groups (CodeT's evaluation), next to the top-program figure."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codeloop.cli import app
from codeloop.runs.run import ranks_to_score, tie_pass_at
from codeloop.runs.store import RunStore, RunTables, StoredSolution
from codeloop.scoring.passk import pass_at_k

TASKS = [
    {
        # the hidden test add(50, 1) tells the right program from the wrong one, which the
        # generated tests cannot: both are in the one consensus set
        "task_id": "demo/add",
        "prompt": "def add(a, b):\n",
        "entry_point": "add",
        "tests": [{"input": [1, 2], "output": 3}, {"input": [50, 1], "output": 51}],
    },
    {
        # the generated test is wrong: no program passes it, no consensus
        "task_id": "demo/neg",
        "prompt": "def neg(a):\n",
        "entry_point": "neg",
        "tests": [{"input": [1], "output": -1}, {"input": [-4], "output": 4}],
    },
]
ADD_WRONG = "    return a + b if a < 10 else 0\n"
ADD_RIGHT = "    return a + b\n"
NEG_RIGHT, NEG_WRONG, NEG_WRONG2 = "    return -a\n", "    return a\n", "    return a + 1\n"
# per task: n=4 program samples (completions of the prompt), then m=1 test sample
SAMPLES = {
    # wrong x3, right x1: one consensus set of 4 samples, 1 right
    "demo/add": [
        ADD_WRONG,
        ADD_RIGHT,
        ADD_WRONG,
        ADD_WRONG,
        "add(1, 2) == 3\nassert add(2, 2) == 4\n",
    ],
    # right x2, two wrongs x1: 4 samples, 2 right, and a test nobody passes
    "demo/neg": [NEG_RIGHT, NEG_WRONG, NEG_RIGHT, NEG_WRONG2, "neg(1) == 5\n"],
}
# expected, by hand:
# add: top program (most sampled of the set) is the wrong one: ranked @1 0, @2 1;
#      by expectation @1 = @2 = 1 - 3/4 = 1/4 (one group)
# neg: no consensus, the most sampled (right) first: ranked @1 1, @2 1;
#      unbiased over 4 samples, 2 right: @1 = 1/2, @2 = 1 - C(2,2)/C(4,2) = 5/6
ADD_TIES = {"1": 0.25, "2": 0.25, "5": 0.25, "10": 0.25}
NEG_TIES = {"1": 0.5, "2": 5 / 6, "5": 1.0, "10": 1.0}


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    dataset = tmp_path / "tasks.jsonl"
    dataset.write_text("".join(json.dumps(t) + "\n" for t in TASKS))
    answers = tmp_path / "answers.jsonl"
    answers.write_text(
        "".join(json.dumps({"task_id": t, "completions": c}) + "\n" for t, c in SAMPLES.items())
    )
    return dataset, answers


def run_codet(tmp_path: Path, files: tuple[Path, Path], *extra: str, name: str = "out.json"):
    dataset, answers = files
    out = tmp_path / name
    args = [
        "run",
        str(dataset),
        "--strategy",
        "codet",
        "--setting",
        "n=4",
        "--setting",
        "m=1",
        "--setting",
        "mode=completion",
        # generous: the machine may be busy, and no program here is slow
        "--setting",
        "test_time_limit_s=2",
        "--model",
        f"mock:file:{answers}",
        "--store",
        str(tmp_path / "run.sqlite"),
        "--no-cache",
        "--json",
        str(out),
        *extra,
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text()), result.output


def test_codet_run_reports_pass_at_k_with_ties_by_expectation(tmp_path, files):
    data, output = run_codet(tmp_path, files)
    assert data["errors"] == 0
    by_id = {r["task_id"]: r for r in data["results"]}
    # the top-program figure is unchanged: add's top program is the most sampled, wrong one
    assert by_id["demo/add"]["ranked"] == [False, True]
    assert by_id["demo/neg"]["ranked"] == [True, False, False]
    assert data["pass_at_k"] == {"1": 0.5, "2": 1.0}
    # ties by expectation, per task and over the run
    assert by_id["demo/add"]["pass_at_k_ties"] == {"base": ADD_TIES}
    assert not by_id["demo/add"]["no_consensus"]
    assert by_id["demo/neg"]["pass_at_k_ties"]["base"] == pytest.approx(NEG_TIES)
    assert by_id["demo/neg"]["no_consensus"]
    assert data["pass_at_k_ties"] == pytest.approx({"1": 0.375, "2": (0.25 + 5 / 6) / 2})
    assert data["pass_at_k_ties_by_group"] == {"base": data["pass_at_k_ties"]}
    assert (data["tasks_with_ties"], data["tasks_without_consensus"]) == (2, 1)
    # every distinct program of the groups was scored: 2 for add, 3 for neg
    assert data["scoring_executions"] == 5
    assert "ties by expectation" in output and "37.50" in output
    # the tie groups are kept in the store, typed
    db = sqlite3.connect(tmp_path / "run.sqlite")
    ties = dict(db.execute("SELECT task_id, ties FROM run_solutions").fetchall())
    assert json.loads(ties["demo/add"]) == {"groups": [[[0, 3], [1, 1]]], "no_consensus": False}
    assert json.loads(ties["demo/neg"]) == {
        "groups": [[[0, 2], [1, 1], [2, 1]]],
        "no_consensus": True,
    }


def test_resume_keeps_the_figure(tmp_path, files):
    first, _ = run_codet(tmp_path, files, name="first.json")
    second, _ = run_codet(tmp_path, files, name="second.json")
    assert second["tasks_reused"] == 2 and second["scoring_executions"] == 0
    assert second["spent_this_invocation"]["calls"] == 0
    assert second["pass_at_k_ties"] == first["pass_at_k_ties"]
    assert second["pass_at_k_ties"]["1"] == pytest.approx(0.375)
    # scored again (another --k) from the store, without solving again: same expectation
    third, _ = run_codet(tmp_path, files, "--k", "1", name="third.json")
    assert third["spent_this_invocation"]["calls"] == 0
    assert third["pass_at_k"] == {"1": 0.5}
    assert third["pass_at_k_ties"] == pytest.approx({"1": 0.375})
    # top 1 program, plus every program of the top group (add: 2; neg, no consensus: 3)
    assert third["scoring_executions"] == 5
    # compare still reads the store
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "run.sqlite")])
    assert result.exit_code == 0, result.output


def test_tie_pass_at_by_hand():
    # two groups: 1 right of 3 samples, then 1 of 1 right
    groups = [[(0, 2), (1, 1)], [(2, 1)]]
    passed = {0: False, 1: True, 2: True}
    got = tie_pass_at(groups, False, passed, [1, 2, 10])
    assert got == pytest.approx({"1": 1 / 3, "2": 1.0, "10": 1.0})
    passed[2] = False
    assert tie_pass_at(groups, False, passed, [2])["2"] == pytest.approx(1 / 3)
    # no consensus: the unbiased estimator over all samples, k capped at their number
    one = [[(0, 5), (1, 2), (2, 3)]]
    right = {0: False, 1: True, 2: False}
    got = tie_pass_at(one, True, right, [1, 5, 20])
    assert got["1"] == pytest.approx(pass_at_k(10, 2, 1)) == pytest.approx(0.2)
    assert got["5"] == pytest.approx(pass_at_k(10, 2, 5))
    assert got["20"] == 1.0
    assert tie_pass_at(one, True, {}, [20])["20"] == 0.0
    assert tie_pass_at([], False, {}, [1]) == {}


def _solution(programs: int, groups, no_consensus=False) -> StoredSolution:
    return StoredSolution(
        "t", 0, "v", [f"p{i}" for i in range(programs)], [], [], {}, "", "", 0.0, 0.0,
        tie_groups=groups, no_consensus=no_consensus,
    )  # fmt: skip


def test_ranks_to_score():
    assert ranks_to_score(_solution(12, []), 10) == list(range(10))
    assert ranks_to_score(_solution(3, []), 10) == [0, 1, 2]
    # top 1 program plus the top group
    assert ranks_to_score(_solution(12, [[(0, 1), (1, 4)], [(2, 1)]]), 1) == [0, 1]
    assert ranks_to_score(_solution(12, [[(0, 1), (1, 4)], [(2, 1)]]), 2) == [0, 1, 2]
    # no consensus: every program
    every = [[(i, 1) for i in range(12)]]
    assert ranks_to_score(_solution(12, every, True), 1) == list(range(12))


OLD_RUN_SOLUTIONS = """
CREATE TABLE run_solutions (
    run_key TEXT NOT NULL, task_id TEXT NOT NULL, position INTEGER NOT NULL,
    view_sha TEXT NOT NULL, programs TEXT NOT NULL, raw TEXT NOT NULL, trace TEXT NOT NULL,
    usage TEXT NOT NULL, error TEXT NOT NULL, note TEXT NOT NULL, wall REAL NOT NULL,
    created REAL NOT NULL, PRIMARY KEY (run_key, task_id)
);
INSERT INTO run_solutions VALUES ('r', 't', 0, 'v', '["p"]', '["x"]', '[]', '{}', '', '', 1, 2);
"""


def test_stores_without_the_ties_column_stay_readable(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(OLD_RUN_SOLUTIONS)
    db.close()
    store = RunStore(path)
    try:
        tables = RunTables(store)
        (old,) = tables.solutions("r").values()
        assert old.programs == ["p"] and old.tie_groups == [] and not old.no_consensus
        tables.record_solution("r", _solution(2, [[(1, 2), (0, 1)]]))
        new = tables.solutions("r")["t"]
        assert new.tie_groups == [[(1, 2), (0, 1)]] and not new.no_consensus
        RunTables(store)  # opening again migrates nothing twice
    finally:
        store.close()
