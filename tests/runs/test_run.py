"""`codeloop run` and `codeloop compare` end to end: solve, score on hidden tests, resume,
budgets, the error budget, and the guarantee that a strategy never sees hidden tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from codeloop.cli import app
from codeloop.models import ModelUnavailable
from codeloop.models.registry import PROVIDERS
from codeloop.runs.run import (
    RunError,
    RunOptions,
    parse_budget,
    parse_setting,
    run,
    summarize_store,
)
from codeloop.strategies import STRATEGIES
from codeloop.strategies.base import BudgetExceeded, Solution
from codeloop.tasks import shared_data_dir
from codeloop.types import (
    Budget,
    GenerationRequest,
    ProblemView,
    Sampling,
    Task,
    Usage,
)

TASKS = [
    {
        "task_id": "demo/add",
        "prompt": "def add(a, b):\n",
        "entry_point": "add",
        "tests": [{"input": [1, 2], "output": 3}, {"input": [5, 5], "output": 10}],
        "visible_tests": [{"input": [0, 0], "output": 0}],
    },
    {
        "task_id": "demo/neg",
        "prompt": "def neg(a):\n",
        "entry_point": "neg",
        "tests": [{"input": [1], "output": -1}, {"input": [-4], "output": 4}],
        "visible_tests": [{"input": [0], "output": 0}],
    },
]
# demo/add: the top answer is wrong, the second right; demo/neg: the top answer is right
ANSWERS = {
    "demo/add": ["    return a * b\n", "    return a + b\n"],
    "demo/neg": ["    return -a\n", "    return a\n"],
}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def identity_tasks(count: int) -> list[dict]:
    """`count` tasks f0..f{count-1}, each an identity function with one hidden test."""
    return [
        {
            "task_id": f"t{i}",
            "prompt": f"def f{i}(a):\n",
            "entry_point": f"f{i}",
            "tests": [{"input": [1], "output": 1}],
        }
        for i in range(count)
    ]


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "tasks.jsonl", TASKS)


@pytest.fixture()
def answers(tmp_path: Path) -> Path:
    rows = [{"task_id": t, "completions": c} for t, c in ANSWERS.items()]
    return write_jsonl(tmp_path / "answers.jsonl", rows)


def scripted(n: int = 1, check: bool = True):
    """A test strategy: n completions, ranked as the model returned them; runs the top one
    on the visible tests once (so executions are counted).  Uses only the context's
    public methods, as any strategy must."""

    async def solve(ctx) -> Solution:
        view = ctx.view
        completions = await ctx.generate(
            GenerationRequest(prompt=view.prompt, n=n, sampling=Sampling(temperature=0.8))
        )
        programs = tuple(view.prompt + c.text for c in completions)
        for program in programs:
            ctx.record("program", program)
        if check and view.visible_tests:
            await ctx.execute(programs[0], view.visible_tests)
        return Solution(
            programs=programs,
            trace=ctx.trace,
            usage=ctx.usage,
            raw=tuple(c.text for c in completions),
        )

    return solve


@pytest.fixture(autouse=True)
def test_strategies(monkeypatch):
    monkeypatch.setitem(STRATEGIES, "scripted", scripted)


def invoke(*args) -> object:
    return CliRunner().invoke(app, ["run", *map(str, args)])


def run_json(tmp_path: Path, *args, name: str = "out.json", code: int = 0) -> dict:
    out = tmp_path / name
    result = invoke(*args, "--json", out)
    assert result.exit_code == code, result.output
    return json.loads(out.read_text())


# ------------------------------------------------------------------------- parsing


def test_budget_and_setting_parsing():
    assert parse_budget("calls=3,tokens=100, seconds=2.5") == Budget(
        calls=3, tokens=100, seconds=2.5
    )
    assert parse_budget("") == Budget()
    for bad in ("calls=x", "dollars=3", "calls", "calls=0"):
        with pytest.raises(RunError):
            parse_budget(bad)
    assert parse_setting("n=10") == ("n", 10)
    assert parse_setting("variant=unit_test") == ("variant", "unit_test")
    assert parse_setting('stops=["\\n"]') == ("stops", ["\n"])
    with pytest.raises(RunError):
        parse_setting("no equals sign")


def test_error_limit_default():
    options = RunOptions(dataset="x", strategy="s", model="m")
    assert options.error_limit(5) == 3
    assert options.error_limit(164) == 17
    assert RunOptions(dataset="x", strategy="s", model="m", max_errors=0).error_limit(164) == 0


def test_scoring_limits_default_to_calibrated_for_named_datasets():
    def calibrated(dataset, **kw):
        return RunOptions(dataset=dataset, strategy="s", model="m", **kw).is_calibrated

    assert all(calibrated(name) for name in ("humaneval", "HumanEval+", "mbpp", "mbpp+"))
    assert not calibrated("my_tasks.jsonl")
    assert not calibrated("humaneval", calibrated=False)
    assert calibrated("my_tasks.jsonl", calibrated=True)


# ----------------------------------------------------------------------- end to end


def test_run_scores_ranked_programs_on_hidden_tests(tmp_path, dataset, answers):
    data = run_json(
        tmp_path,
        dataset,
        "--strategy",
        "scripted",
        "--n",
        "2",
        "--model",
        f"mock:file:{answers}",
        "--store",
        tmp_path / "run.sqlite",
    )
    # top-ranked: add wrong, neg right -> pass@1 = 1/2; one of the top 2 passes in both
    assert data["pass_at_k"] == {"1": 0.5, "2": 1.0}
    assert data["pass_at_k_by_group"] == {"base": {"1": 0.5, "2": 1.0}}
    by_id = {r["task_id"]: r for r in data["results"]}
    assert by_id["demo/add"]["ranked"] == [False, True] and not by_id["demo/add"]["passed"]
    assert by_id["demo/neg"]["ranked"] == [True, False] and by_id["demo/neg"]["passed"]
    assert data["cost"]["calls"] == 2 and data["cost"]["executions"] == 2
    words = sum(len(a.split()) for v in ANSWERS.values() for a in v)
    assert data["cost"]["completion_tokens"] == words
    assert data["scoring_executions"] == 4
    assert data["errors"] == 0 and data["stop_reason"] == ""
    assert data["config"]["strategy"] == "scripted" and data["config"]["settings"] == {"n": 2}
    assert {"task_id", "passed", "ranked", "error", "usage"} <= set(data["results"][0])
    # the store keeps the solution, its trace and a verdict per ranked program
    db = sqlite3.connect(tmp_path / "run.sqlite")
    programs, trace = db.execute(
        "SELECT programs, trace FROM run_solutions WHERE task_id = 'demo/add'"
    ).fetchone()
    assert json.loads(programs)[1] == "def add(a, b):\n    return a + b\n"
    assert [n["kind"] for n in json.loads(trace)] == ["program", "program", "execution"]
    ranks = db.execute(
        "SELECT rank, status FROM run_verdicts WHERE task_id = 'demo/add' ORDER BY rank"
    ).fetchall()
    assert ranks == [(0, "failed"), (1, "passed")]
    # the response cache sits beside the store
    assert (tmp_path / "run.cache.sqlite").exists()


def test_programs_that_compile_alike_share_a_scoring_run(tmp_path):
    """Scoring runs one program per compiled form; its verdict serves the others, except
    where a test raised (tracebacks name each program's own lines)."""
    tasks = [
        {
            "task_id": "demo/add",
            "prompt": "def add(a, b):\n",
            "entry_point": "add",
            "tests": [{"input": [1, 2], "output": 3}],
        },
        {
            "task_id": "demo/div",
            "prompt": "def div(a, b):\n",
            "entry_point": "div",
            "tests": [{"input": [1, 0], "output": 0}],
        },
    ]
    answers = {
        # a comment and a blank line: the same code; then a different program
        "demo/add": [
            "    return a + b\n",
            "    # sum\n\n    return a + b  # both\n",
            "    return a - b\n",
        ],
        # all raise ZeroDivisionError; the first two on lines 2 and 4 of their own text
        "demo/div": [
            "    return a // b\n",
            "    # floor\n\n    return a // b\n",
            "    return a / b\n",
        ],
    }
    rows = [{"task_id": t, "completions": c} for t, c in answers.items()]
    data = run_json(
        tmp_path,
        write_jsonl(tmp_path / "tasks.jsonl", tasks),
        "--strategy",
        "scripted",
        "--n",
        "3",
        "--setting",
        "check=false",
        "--model",
        f"mock:file:{write_jsonl(tmp_path / 'answers.jsonl', rows)}",
        "--store",
        tmp_path / "run.sqlite",
    )
    by_id = {r["task_id"]: r for r in data["results"]}
    assert by_id["demo/add"]["ranked"] == [True, True, False]
    assert by_id["demo/div"]["ranked"] == [False, False, False]
    # demo/add: 2 runs for 3 programs; demo/div: 3, each traceback its own
    assert data["scoring_executions"] == 5
    db = sqlite3.connect(tmp_path / "run.sqlite")
    details = [
        json.loads(d)
        for (d,) in db.execute(
            "SELECT details FROM run_verdicts WHERE task_id = 'demo/div' ORDER BY rank"
        )
    ]
    tracebacks = [d[0]["traceback"] for d in details]
    assert "line 2, in div" in tracebacks[0] and "line 4, in div" in tracebacks[1]


def test_summary_is_printed(tmp_path, dataset, answers):
    result = invoke(
        dataset,
        "--strategy",
        "scripted",
        "--model",
        f"mock:file:{answers}",
        "--store",
        tmp_path / "s.sqlite",
    )
    assert result.exit_code == 0, result.output
    for text in ("pass@1", "model calls", "tokens in", "executions", "wall time", "errors"):
        assert text in result.output


def test_resume_spends_nothing_on_finished_tasks(tmp_path, dataset, answers):
    args = [
        dataset,
        "--strategy",
        "scripted",
        "--n",
        "2",
        "--model",
        f"mock:file:{answers}",
        "--store",
        tmp_path / "run.sqlite",
        "--no-cache",
    ]
    first = run_json(tmp_path, *args, name="first.json")
    second = run_json(tmp_path, *args, name="second.json")
    assert first["spent_this_invocation"]["calls"] == 2
    spent = second["spent_this_invocation"]
    assert (spent["calls"], spent["cached_calls"], spent["executions"]) == (0, 0, 0)
    assert second["scoring_executions"] == 0
    assert second["tasks_reused"] == 2
    assert second["pass_at_k"] == first["pass_at_k"]
    assert second["cost"] == first["cost"]  # the run's cost is still reported in full
    # another config (different n) is another run in the same store: solved afresh
    third = run_json(
        tmp_path,
        dataset,
        "--strategy",
        "scripted",
        "--model",
        f"mock:file:{answers}",
        "--store",
        tmp_path / "run.sqlite",
        name="third.json",
    )
    assert third["spent_this_invocation"]["calls"] == 2 and third["pass_at_k"] == {"1": 0.5}
    assert third["tasks_reused"] == 0


def test_response_cache_replays_a_run_exactly(tmp_path, dataset, answers):
    cache = tmp_path / "responses.sqlite"
    common = [
        dataset,
        "--strategy",
        "scripted",
        "--n",
        "2",
        "--model",
        f"mock:file:{answers}",
        "--cache",
        cache,
    ]
    first = run_json(tmp_path, *common, "--store", tmp_path / "a.sqlite", name="a.json")
    # a new store: every task is solved again, every answer comes from the cache
    second = run_json(tmp_path, *common, "--store", tmp_path / "b.sqlite", name="b.json")
    assert first["spent_this_invocation"]["calls"] == 2
    assert second["spent_this_invocation"]["calls"] == 0
    assert second["spent_this_invocation"]["cached_calls"] == 2
    assert [r["ranked"] for r in second["results"]] == [r["ranked"] for r in first["results"]]
    assert not (tmp_path / "b.cache.sqlite").exists()


def test_interrupted_run_resumes_at_the_first_unfinished_task(tmp_path, dataset, answers):
    store = tmp_path / "run.sqlite"
    options = RunOptions(
        dataset=str(dataset),
        strategy="scripted",
        model=f"mock:file:{answers}",
        store=str(store),
        concurrency=1,
    )

    class Crash(Exception):
        pass

    def crash_after_first(event: str, advance: int, total: int) -> None:
        raise Crash

    with pytest.raises(BaseException) as caught:
        anyio.run(run, options, crash_after_first)
    assert "Crash" in repr(caught.value)
    report = anyio.run(run, options)
    assert report.reused == 1 and report.finished == 2
    # only the unfinished task was solved (its model answer may come from the cache, where
    # the interrupted run left it)
    assert report.spent["calls"] + report.spent["cached_calls"] == 1


def test_humaneval_first_three_tasks_with_the_sample_strategy(tmp_path):
    """The real `sample` strategy, chatting with a scripted model that answers in Markdown."""
    from codeloop.tasks import load_tasks

    tasks = load_tasks("humaneval")[:3]
    answers = {t.task_id: [f"Here it is:\n```python\n{t.reference}```\n"] for t in tasks}
    answers["HumanEval/2"] = ["```python\ndef truncate_number(number):\n    return 0.0\n```"]
    mock = write_jsonl(
        tmp_path / "he.jsonl", [{"task_id": k, "completions": v} for k, v in answers.items()]
    )
    data = run_json(
        tmp_path,
        "humaneval",
        "--limit",
        "3",
        "--strategy",
        "sample",
        "--model",
        f"mock:file:{mock}",
        "--store",
        tmp_path / "he.sqlite",
    )
    assert data["tasks_finished"] == 3 and data["errors"] == 0
    assert [r["passed"] for r in data["results"]] == [True, True, False]
    assert data["pass_at_k"] == {"1": pytest.approx(2 / 3)}
    assert data["cost"]["calls"] == 3


# -------------------------------------------------------------------------- budgets


def test_run_budget_stops_starting_tasks(tmp_path, answers):
    dataset = write_jsonl(tmp_path / "four.jsonl", identity_tasks(4))
    mock = write_jsonl(tmp_path / "ident.jsonl", ["    return a\n"] * 4)
    args = [
        dataset,
        "--strategy",
        "scripted",
        "--model",
        f"mock:file:{mock}",
        "--run-budget",
        "calls=2",
        "--concurrency",
        "1",
        "--store",
        tmp_path / "b.sqlite",
    ]
    data = run_json(tmp_path, *args)
    assert data["tasks_finished"] == 2 and data["tasks_selected"] == 4
    assert data["stop_reason"].startswith("run budget exhausted: calls 2")
    assert data["pass_at_k"] == {"1": 1.0}  # over the finished tasks; the stop is reported
    result = invoke(*args)
    # the budget covers the whole run, stored tasks included: a rerun starts nothing new
    assert result.exit_code == 0 and "run budget exhausted" in result.output


def test_per_task_budget_reaches_the_strategy_and_is_part_of_the_config(
    tmp_path, dataset, answers, monkeypatch
):
    seen: list[Budget] = []

    def budget_spy(**settings):
        async def solve(ctx) -> Solution:
            seen.append(ctx.budget)
            raise BudgetExceeded("calls 1 of 1")

        return solve

    monkeypatch.setitem(STRATEGIES, "budget_spy", budget_spy)
    data = run_json(
        tmp_path,
        dataset,
        "--strategy",
        "budget_spy",
        "--model",
        f"mock:file:{answers}",
        "--budget",
        "calls=1,seconds=5",
        "--store",
        tmp_path / "x.sqlite",
    )
    assert seen == [Budget(calls=1, seconds=5.0)] * 2
    # out of budget without an answer: failed, with a note, and not a model error
    assert data["errors"] == 0 and data["pass_at_k"] == {"1": 0.0}
    assert all("budget" in r["note"] and not r["passed"] for r in data["results"])
    assert data["config"]["budget"]["calls"] == 1


# --------------------------------------------------------------------------- errors


class BrokenBackend:
    name = "broken:down"

    def __init__(self) -> None:
        self.calls = 0

    async def generate(self, request: GenerationRequest):
        self.calls += 1
        raise ModelUnavailable("connection refused after 3 retries")

    async def aclose(self) -> None:
        return None


def test_error_budget_stops_early_and_records_errors(tmp_path, monkeypatch):
    monkeypatch.setitem(PROVIDERS, "broken", lambda rest, **kw: BrokenBackend())
    dataset = write_jsonl(tmp_path / "ten.jsonl", identity_tasks(10))
    out = tmp_path / "err.json"
    result = invoke(
        dataset,
        "--strategy",
        "scripted",
        "--model",
        "broken:down",
        "--max-errors",
        "2",
        "--concurrency",
        "1",
        "--store",
        tmp_path / "e.sqlite",
        "--json",
        out,
    )
    assert result.exit_code == 1, result.output
    assert "error budget exhausted" in result.output
    data = json.loads(out.read_text())
    # an unreachable model is an infrastructure failure: those tasks did not finish
    assert data["tasks_finished"] == 0 and data["tasks_failed"] == 3 and data["errors"] == 3
    assert data["failures"] == [
        {
            "kind": "model unreachable",
            "tasks": ["t0", "t1", "t2"],
            "reason": "connection refused after 3 retries",
            "same_reason": True,
        }
    ]
    for row in data["results"]:
        # never a fake answer: no programs, failed, and the error says what happened
        assert not row["passed"] and row["ranked"] == [] and row["programs"] == 0
        assert "ModelUnavailable" in row["error"] and row["failure"] == "model unreachable"
    assert data["pass_at_k"] == {}  # nothing finished: no score, not a score of 0
    db = sqlite3.connect(tmp_path / "e.sqlite")
    assert db.execute("SELECT COUNT(*) FROM run_solutions WHERE error != ''").fetchone() == (3,)


def test_strategy_crash_is_that_tasks_error(tmp_path, dataset, answers, monkeypatch):
    def fragile(**settings):
        async def solve(ctx) -> Solution:
            if ctx.view.task_id == "demo/add":
                raise ZeroDivisionError("oops")
            return await scripted()(ctx)

        return solve

    monkeypatch.setitem(STRATEGIES, "fragile", fragile)
    data = run_json(
        tmp_path,
        dataset,
        "--strategy",
        "fragile",
        "--model",
        f"mock:file:{answers}",
        "--store",
        tmp_path / "f.sqlite",
    )
    by_id = {r["task_id"]: r for r in data["results"]}
    assert "ZeroDivisionError" in by_id["demo/add"]["error"] and not by_id["demo/add"]["passed"]
    assert by_id["demo/neg"]["passed"] and not by_id["demo/neg"]["error"]
    assert data["errors"] == 1 and data["pass_at_k"] == {"1": 0.5}


# ------------------------------------------------------- infrastructure failures


def free_port() -> int:
    """A local port where nothing listens (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_model_fails_the_run_with_the_whole_hint(tmp_path, dataset, monkeypatch):
    """`codeloop run` against a port where nothing listens: exit status 1, one line saying
    how many tasks failed and why, the hint whole, and nothing counted as finished."""
    from codeloop.models.registry import _openai

    # the real openai backend, only with short back-offs between its retries
    monkeypatch.setitem(
        PROVIDERS,
        "openai",
        lambda rest, **kw: _openai(rest, backoff_s=0.01, max_backoff_s=0.02, **kw),
    )
    url = f"http://127.0.0.1:{free_port()}/v1"
    out = tmp_path / "out.json"
    result = invoke(
        dataset,
        "--model",
        f"openai:foo@{url}",
        "--store",
        tmp_path / "r.sqlite",
        "--json",
        out,
    )
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if "model unreachable" in line]
    assert len(lines) == 1, result.output  # one line for the one kind of failure
    assert "2 tasks failed: model unreachable (demo/add, demo/neg)" in lines[0]
    assert f"is a server listening at {url}?" in lines[0]
    assert lines[0].rstrip().endswith("openai:MODEL@http://HOST:PORT/v1")  # not cut off
    assert "0 of 2 tasks finished" in result.output and "2 failed" in result.output
    assert "Traceback" not in result.output
    data = json.loads(out.read_text())
    assert (data["tasks_finished"], data["tasks_failed"]) == (0, 2)
    assert data["pass_at_k"] == {}  # no made-up 0


class FlakyBackend:
    """Unreachable for the tasks in `down`, else answers from ANSWERS (top answer first)."""

    name = "flaky:model"
    down: set[str] = set()

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def generate(self, request: GenerationRequest):
        from codeloop.types import Completion

        self.calls.append(request.task_id)
        if request.task_id in self.down:
            raise ModelUnavailable(f"{request.task_id}: connection refused")
        answers = ANSWERS[request.task_id][: request.n]
        return [Completion(text=a, usage=Usage(calls=int(i == 0))) for i, a in enumerate(answers)]

    async def aclose(self) -> None:
        return None


def test_tasks_that_failed_are_retried_on_resume_and_finished_ones_kept(
    tmp_path, dataset, monkeypatch
):
    backends: list[FlakyBackend] = []

    def make(rest, **kw):
        backends.append(FlakyBackend())
        return backends[-1]

    monkeypatch.setitem(PROVIDERS, "flaky", make)
    monkeypatch.setattr(FlakyBackend, "down", {"demo/add"})
    args = [
        dataset,
        "--strategy",
        "scripted",
        "--model",
        "flaky:model",
        "--no-cache",
        "--store",
        tmp_path / "r.sqlite",
    ]
    first = run_json(tmp_path, *args, name="first.json", code=1)
    assert (first["tasks_finished"], first["tasks_failed"]) == (1, 1)
    assert first["failures"][0]["kind"] == "model unreachable"
    assert first["failures"][0]["tasks"] == ["demo/add"]
    assert first["pass_at_k"] == {"1": 1.0}  # over the finished task (demo/neg) only
    # the failure is in the store as an error, not as a verdict
    db = sqlite3.connect(tmp_path / "r.sqlite")
    assert db.execute("SELECT task_id FROM run_solutions WHERE error != ''").fetchall() == [
        ("demo/add",)
    ]
    assert db.execute("SELECT DISTINCT task_id FROM run_verdicts").fetchall() == [("demo/neg",)]
    db.close()
    (summary,) = summarize_store(tmp_path / "r.sqlite")  # what `codeloop compare` shows
    assert (summary.tasks, summary.errors, summary.pass_at_1) == (1, 1, {"base": 1.0})

    monkeypatch.setattr(FlakyBackend, "down", set())  # the server is back
    second = run_json(tmp_path, *args, name="second.json")
    assert backends[-1].calls == ["demo/add"]  # only the failed task is solved again
    assert (second["tasks_finished"], second["tasks_failed"]) == (2, 0)
    assert second["tasks_reused"] == 1 and second["failures"] == []
    by_id = {r["task_id"]: r for r in second["results"]}
    assert by_id["demo/add"]["ranked"] == [False] and not by_id["demo/add"]["error"]
    assert second["pass_at_k"] == {"1": 0.5}


def test_a_sandbox_failure_while_scoring_is_retried_without_solving_again(
    tmp_path, dataset, answers, monkeypatch
):
    import codeloop.runs.score as score_module
    from codeloop.types import ExecResult, Status

    real_run_hidden = score_module.run_hidden

    async def broken(*args, **kwargs):
        return ExecResult(Status.INFRA_ERROR, (), infra_error="zygote died"), 1

    monkeypatch.setattr(score_module, "run_hidden", broken)
    args = [
        dataset,
        "--strategy",
        "scripted",
        "--model",
        f"mock:file:{answers}",
        "--store",
        tmp_path / "r.sqlite",
    ]
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    assert (
        "2 tasks failed: sandbox error (demo/add, demo/neg): sandbox error while scoring: "
        "zygote died" in result.output
    )
    assert "0 of 2 tasks finished" in result.output

    monkeypatch.setattr(score_module, "run_hidden", real_run_hidden)
    data = run_json(tmp_path, *args)
    assert data["spent_this_invocation"]["calls"] == 0  # solved before: only scored now
    assert data["tasks_finished"] == 2 and data["pass_at_k"] == {"1": 0.5}


def test_a_strategy_that_ran_out_of_budget_is_not_a_failure(
    tmp_path, dataset, answers, monkeypatch
):
    """Its best programs so far are scored and the task finished: exit status 0."""
    from codeloop.strategies.base import Answers, run_guarded

    def thrifty(**settings):
        async def solve(ctx) -> Solution:
            found = Answers()

            async def body() -> None:
                view = ctx.view
                (completion,) = await ctx.generate(GenerationRequest(prompt=view.prompt))
                found.set([view.prompt + completion.text], [completion.text])
                raise BudgetExceeded("calls 1 of 1")

            return await run_guarded(ctx, found, body)

        return solve

    monkeypatch.setitem(STRATEGIES, "thrifty", thrifty)
    data = run_json(
        tmp_path,
        dataset,
        "--strategy",
        "thrifty",
        "--model",
        f"mock:file:{answers}",
        "--store",
        tmp_path / "b.sqlite",
    )
    assert (data["tasks_finished"], data["tasks_failed"], data["errors"]) == (2, 0, 0)
    assert all("budget exhausted" in r["note"] for r in data["results"])
    assert data["pass_at_k"] == {"1": 0.5}


def test_clean_errors_for_bad_input(tmp_path, dataset, monkeypatch):
    monkeypatch.delenv("CODELOOP_MODEL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = invoke(dataset, "--strategy", "scripted")
    assert result.exit_code == 2 and "no model configured" in result.output
    assert "Traceback" not in result.output
    result = invoke(dataset, "--strategy", "nonesuch", "--model", "mock:echo")
    assert result.exit_code == 2 and "unknown strategy" in result.output
    result = invoke(dataset, "--strategy", "scripted", "--model", "nonesuch:x")
    assert result.exit_code == 2 and "unknown model provider" in result.output
    result = invoke(dataset, "--model", "mock:echo", "--budget", "calls=many")
    assert result.exit_code == 2 and "not a number" in result.output


# ----------------------------------------------------------------- no hidden tests


def _secret_task(i: int) -> dict:
    return {
        "task_id": f"demo/add{i}",
        "prompt": f"def add{i}(a, b):\n",
        "entry_point": f"add{i}",
        "tests": [{"input": [f"SECRET-IN-{i}", ""], "output": f"SECRET-OUT-{i}"}],
        "visible_tests": [{"input": [1, 1], "output": 2}],
        "reference": f"def add{i}(a, b):\n    return a + b  # SECRET-REF-{i}\n",
    }


def test_nothing_reachable_from_the_context_holds_hidden_tests(tmp_path, monkeypatch, reachable):
    """Tasks solved one after another: when each strategy runs, the earlier tasks were
    scored (their hidden test failed, so the evaluator made its expected text) and the
    strategy walks everything its context reaches, the executor included."""
    tasks = [_secret_task(i) for i in range(3)]
    dataset = write_jsonl(tmp_path / "secret.jsonl", tasks)
    answers = write_jsonl(
        tmp_path / "answers.jsonl",
        [{"task_id": t["task_id"], "completions": ["    return a - b\n"]} for t in tasks],
    )
    seen: list[dict[str, object]] = []

    def spy(**settings):
        async def solve(ctx) -> Solution:
            objects = reachable(ctx)
            seen.append(
                {
                    "view_type": type(ctx.view),
                    "view_fields": sorted(vars(ctx.view)),
                    "tasks": [o for o in objects if isinstance(o, Task)],
                    "secrets": [o for o in objects if isinstance(o, str) and "SECRET" in o],
                    "finished_at": time.time(),
                    "objects": len(objects),
                }
            )
            return await scripted()(ctx)

        return solve

    monkeypatch.setitem(STRATEGIES, "spy", spy)
    data = run_json(
        tmp_path,
        dataset,
        "--strategy",
        "spy",
        "--model",
        f"mock:file:{answers}",
        "--concurrency",
        "1",
        "--store",
        tmp_path / "spy.sqlite",
    )
    assert len(seen) == 3
    for each in seen:
        assert each["view_type"] is ProblemView
        assert "hidden_tests" not in each["view_fields"] and "reference" not in each["view_fields"]
        assert each["tasks"] == [] and each["secrets"] == []
        assert each["objects"] > 100  # the walk went past the context into the machinery
    # the hidden tests did get used, each after its strategy finished
    assert [r["ranked"] for r in data["results"]] == [[False]] * 3
    db = sqlite3.connect(tmp_path / "spy.sqlite")
    scored = sorted(created for (created,) in db.execute("SELECT created FROM run_scored"))
    assert len(scored) == 3
    for each, scored_at in zip(seen, scored, strict=True):
        assert scored_at >= each["finished_at"]


# -------------------------------------------------------------------------- compare


def test_compare_prints_runs_side_by_side(tmp_path, dataset, answers):
    one, two = tmp_path / "one.sqlite", tmp_path / "two.sqlite"
    assert (
        invoke(
            dataset, "--strategy", "scripted", "--model", f"mock:file:{answers}", "--store", one
        ).exit_code
        == 0
    )
    assert (
        invoke(
            dataset,
            "--strategy",
            "scripted",
            "--n",
            "2",
            "--budget",
            "calls=5",
            "--model",
            f"mock:file:{answers}",
            "--store",
            two,
        ).exit_code
        == 0
    )
    summaries = summarize_store(one) + summarize_store(two)
    assert [s.pass_at_1 for s in summaries] == [{"base": 0.5}, {"base": 0.5}]
    assert [s.cost["calls"] for s in summaries] == [2, 2]
    result = CliRunner().invoke(app, ["compare", str(one), str(two)])
    assert result.exit_code == 0, result.output
    assert "one.sqlite" in result.output and "two.sqlite" in result.output
    assert "scripted n=2" in result.output and "50.00" in result.output
    assert "not a comparison at equal budget" in " ".join(result.output.split())
    missing = CliRunner().invoke(app, ["compare", str(tmp_path / "nope.sqlite")])
    assert missing.exit_code == 2 and "no such run store" in missing.output


# ----------------------------------------------------------------------------- slow


needs_data = pytest.mark.skipif(
    shared_data_dir() is None, reason="shared data folder absent (set CODELOOP_SHARED_DATA)"
)


@pytest.mark.slow
@needs_data
def test_evalplus_scores_base_and_plus(tmp_path):
    from codeloop.tasks import load_tasks

    task = load_tasks("humaneval+")[0]
    body = task.reference[len(task.prompt) :] if task.reference.startswith(task.prompt) else None
    assert body is not None
    answers = write_jsonl(tmp_path / "hp.jsonl", [{"task_id": task.task_id, "completion": body}])
    data = run_json(
        tmp_path,
        "humaneval+",
        "--limit",
        "1",
        "--strategy",
        "scripted",
        "--model",
        f"mock:file:{answers}",
        "--store",
        tmp_path / "hp.sqlite",
    )
    assert data["groups"] == ["base", "base+plus"]
    assert data["pass_at_k_by_group"] == {"base": {"1": 1.0}, "base+plus": {"1": 1.0}}


SLOW_SCRIPT = textwrap.dedent(
    """
    import sys, time, anyio
    from codeloop.cli import app
    from codeloop.strategies import STRATEGIES
    from codeloop.strategies.base import Solution
    from codeloop.types import Usage

    def sleepy(**settings):
        async def solve(ctx):
            if ctx.view.task_id == "demo/neg":
                await anyio.sleep(60)
            program = ctx.view.prompt + "    return a + b\\n"
            return Solution(programs=(program,), trace=(), usage=Usage())
        return solve

    STRATEGIES["sleepy"] = sleepy
    app(sys.argv[1:])
    """
)


@pytest.mark.slow
def test_kill_9_keeps_finished_tasks(tmp_path, dataset, monkeypatch):
    store = tmp_path / "k.sqlite"
    args = [
        str(dataset),
        "--strategy",
        "sleepy",
        "--model",
        "mock:echo",
        "--concurrency",
        "1",
        "--store",
        str(store),
    ]
    errors = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_SCRIPT, "run", *args],
        stdout=subprocess.DEVNULL,
        stderr=errors,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the run exited early: {(tmp_path / 'stderr.txt').read_text()}")
            if store.exists():
                try:
                    db = sqlite3.connect(store)
                    if db.execute("SELECT COUNT(*) FROM run_scored").fetchone()[0] == 1:
                        break
                except sqlite3.OperationalError:
                    pass
            time.sleep(0.1)
        else:
            pytest.fail("the first task was never scored")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        errors.close()

    def quick(**settings):
        async def solve(ctx) -> Solution:
            return Solution(
                programs=(ctx.view.prompt + "    return -a\n",), trace=(), usage=Usage()
            )

        return solve

    # same name and settings: the same run, resumed
    monkeypatch.setitem(STRATEGIES, "sleepy", quick)
    report = anyio.run(
        run,
        RunOptions(
            dataset=str(dataset),
            strategy="sleepy",
            model="mock:echo",
            store=str(store),
            concurrency=1,
        ),
    )
    assert report.reused == 1 and report.finished == 2
    assert [r.passed for r in report.results] == [True, True]


def test_the_strategy_and_scoring_sandboxes_use_disjoint_uids(tmp_path, dataset, answers):
    """A program a strategy runs never shares a uid (a per-uid process count) with one
    being scored: each sandbox's children run as uids of their own."""
    import codeloop.runs.run as run_module

    made: list[range] = []
    real = run_module.LocalExecutor

    class Recording(real):  # type: ignore[misc, valid-type]
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            made.append(range(self.uid_base, self.uid_base + self.uid_span))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run_module, "LocalExecutor", Recording)
        run_json(tmp_path, dataset, "--strategy", "scripted", "--model", f"mock:file:{answers}")
    scoring, strategy = made
    assert len(scoring) > 0 and len(strategy) > 0
    assert not set(scoring) & set(strategy)
