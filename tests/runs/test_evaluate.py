"""`codeloop evaluate` end to end: a user task file, the CLI, the store and resume."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from codeloop.cli import app
from codeloop.runs.store import RunStore


def samples_file(tmp_path, rows, name="samples.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def evaluate(*args):
    return CliRunner().invoke(app, ["evaluate", *map(str, args)])


@pytest.mark.slow
def test_pass_at_k_results_and_json(tmp_path, dataset):
    samples = samples_file(
        tmp_path,
        [
            {"task_id": "demo/add", "completion": "    return a + b\n"},
            {"task_id": "demo/add", "completion": "    return a - b\n"},
            {"task_id": "demo/add", "completion": "    return a + b\n"},  # duplicate program
            {"task_id": "demo/add", "completion": "    while True: pass\n"},
        ],
    )
    out = tmp_path / "out.json"
    result = evaluate(
        samples, "--dataset", dataset, "--k", "1,2,10", "--json", out, "--timeout", "1"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["pass_at_k"]["1"] == pytest.approx(0.5)
    assert data["pass_at_k"]["2"] == pytest.approx(1 - (2 / 4) * (1 / 3))
    assert "10" not in data["pass_at_k"]  # only 4 samples
    assert data["tasks_attempted"] == 1 and data["tasks_in_dataset"] == 2
    assert [r["status"] for r in data["results"]] == ["passed", "failed", "passed", "timeout"]
    assert data["executed"] == 3  # the duplicate ran once
    assert {"task_id", "sample_index", "passed", "status"} <= set(data["results"][0])


def test_unknown_ids_and_malformed_lines(tmp_path, dataset):
    bad = samples_file(tmp_path, [{"task_id": "demo/zzz", "completion": ""}])
    result = evaluate(bad, "--dataset", dataset)
    assert result.exit_code == 2
    assert "demo/zzz" in result.output

    mixed = samples_file(
        tmp_path,
        [
            {"task_id": "demo/neg", "completion": "    return -a\n"},
            {"task_id": "demo/neg"},
        ],
        name="mixed.jsonl",
    )
    out = tmp_path / "mixed.json"
    result = evaluate(mixed, "--dataset", dataset, "--k", "1", "--json", out)
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["results"]
    assert rows[0]["passed"] and not rows[1]["passed"]
    assert rows[1]["status"] == "error" and "malformed" in rows[1]["message"]


def test_store_resumes_without_rerunning(tmp_path, dataset):
    samples = samples_file(
        tmp_path,
        [
            {"task_id": "demo/add", "completion": "    return a + b\n"},
            {"task_id": "demo/neg", "completion": "    return a\n"},
        ],
    )
    store = tmp_path / "run.sqlite"
    first = tmp_path / "first.json"
    assert (
        evaluate(
            samples, "--dataset", dataset, "--k", "1", "--store", store, "--json", first
        ).exit_code
        == 0
    )
    second = tmp_path / "second.json"
    assert (
        evaluate(
            samples, "--dataset", dataset, "--k", "1", "--store", store, "--json", second
        ).exit_code
        == 0
    )
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    assert (a["executed"], b["executed"], b["reused"]) == (2, 0, 2)
    assert a["pass_at_k"] == b["pass_at_k"] == {"1": 0.5}
    # a changed program for the same sample is re-run, not served stale
    samples_file(
        tmp_path,
        [
            {"task_id": "demo/add", "completion": "    return a + b\n"},
            {"task_id": "demo/neg", "completion": "    return -a\n"},
        ],
    )
    third = tmp_path / "third.json"
    assert (
        evaluate(
            samples, "--dataset", dataset, "--k", "1", "--store", store, "--json", third
        ).exit_code
        == 0
    )
    c = json.loads(third.read_text())
    assert (c["executed"], c["reused"], c["pass_at_k"]["1"]) == (1, 1, 1.0)


@pytest.mark.slow
def test_kill_9_loses_nothing_finished(tmp_path, dataset):
    # 40 programs that each take ~0.25 s: kill the evaluator part-way, then resume.
    rows = [
        {
            "task_id": "demo/add",
            "completion": (
                f"    import time  # sample {i}\n    time.sleep(0.25)\n    return a + b + {i % 2}\n"
            ),
        }
        for i in range(40)
    ]
    samples = samples_file(tmp_path, rows)
    store = tmp_path / "run.sqlite"
    cmd = [
        sys.executable,
        "-m",
        "codeloop.cli",
        "evaluate",
        str(samples),
        "--dataset",
        str(dataset),
        "--k",
        "1",
        "--store",
        str(store),
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 60
    done = 0
    while time.monotonic() < deadline and done < 5:
        time.sleep(0.2)
        if store.exists():
            try:
                with RunStore(store) as db:
                    done = sum(1 for key, _ in db.evaluations() for _ in db.verdicts(key))
            except Exception:
                done = 0
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 5 <= done < 40
    with RunStore(store) as db:
        ((key, _),) = db.evaluations()
        kept = {(v.task_id, v.sample_index): v.status.value for v in db.verdicts(key)}
    assert len(kept) >= done
    out = tmp_path / "resumed.json"
    result = subprocess.run([*cmd, "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["reused"] == len(kept) and data["executed"] == 40 - len(kept)
    assert data["pass_at_k"]["1"] == pytest.approx(0.5)
    statuses = {(r["task_id"], r["sample_index"]): r["status"] for r in data["results"]}
    assert all(statuses[k] == v for k, v in kept.items())


def test_stdio_task_file(tmp_path):
    task = {
        "task_id": "io/sum",
        "prompt": "Read two ints, print their sum.",
        "tests": [{"stdin": "1 2\n", "stdout": "3\n"}, {"stdin": "4 5\n", "stdout": "9"}],
    }
    dataset = tmp_path / "io.jsonl"
    dataset.write_text(json.dumps(task) + "\n")
    samples = samples_file(
        tmp_path,
        [
            {"task_id": "io/sum", "solution": "a, b = map(int, input().split())\nprint(a + b)\n"},
            {"task_id": "io/sum", "solution": "print(3)\n"},
        ],
    )
    out = tmp_path / "io.json"
    result = evaluate(samples, "--dataset", dataset, "--k", "1", "--json", out)
    assert result.exit_code == 0, result.output
    assert [r["passed"] for r in json.loads(out.read_text())["results"]] == [True, False]


def test_bad_options(tmp_path, dataset):
    samples = samples_file(tmp_path, [{"task_id": "demo/neg", "completion": ""}])
    assert evaluate(samples, "--dataset", dataset, "--k", "x").exit_code == 2
    assert evaluate(samples, "--dataset", dataset, "--timeout", "0").exit_code == 2
    assert evaluate(samples, "--dataset", "no-such-dataset").exit_code == 2
    missing = evaluate(tmp_path / "missing.jsonl", "--dataset", dataset)
    assert missing.exit_code == 2 and "not found" in missing.output


def test_sandbox_check_cli():
    result = CliRunner().invoke(app, ["sandbox", "check", "--json"])
    data = json.loads(result.stdout)
    names = {layer["name"] for layer in data["layers"]}
    assert {"uid", "landlock", "seccomp", "netns", "rlimits"} <= names
    assert result.exit_code == (0 if all(layer["active"] for layer in data["layers"]) else 1)


def test_code_checks_are_judged_by_the_driver_and_reported(tmp_path):
    """A check that stays code (a loop) is judged outside the program's process: a
    sample that patches what the check uses (`range`) fails, where it passed when the check
    ran in its process; one that returns an object equal to everything fails too.  The
    report counts how tests are judged."""
    task = {
        "task_id": "demo/double",
        "prompt": "def double(a):\n",
        "entry_point": "double",
        "tests": [{"input": [1], "output": 2}],
        "test": "def check(candidate):\n"
        "    for x in range(5):\n"
        "        assert candidate(x) == 2 * x\n",
    }
    dataset = tmp_path / "tasks.jsonl"
    dataset.write_text(json.dumps(task) + "\n")
    samples = samples_file(
        tmp_path,
        [
            {"task_id": "demo/double", "completion": "    return 2 * a\n"},
            {
                "task_id": "demo/double",
                "completion": "    class Any:\n        def __eq__(self, other):\n"
                "            return True\n    return Any()\n",
            },
            {
                "task_id": "demo/double",
                "completion": "    return 2 * a if a == 1 else 0\n\n\n"
                "import builtins\nbuiltins.range = lambda n: []\n",
            },
        ],
    )
    out = tmp_path / "out.json"
    result = evaluate(samples, "--dataset", dataset, "--json", out, "--timeout", "2")
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert [r["passed"] for r in data["results"]] == [True, False, False]
    assert data["judged"] == {"tests": 2, "as_data": 1, "as_code_in_driver": 1}
    assert "2 hidden tests (1 compared as data, 1 checks run by the trusted driver)" in " ".join(
        result.output.split()
    )


def test_samples_that_hit_sandbox_errors_make_evaluate_exit_1(tmp_path, dataset, monkeypatch):
    """Not the program's fault, no verdict: left out of pass@k, said on one line, status 1;
    a rerun with the store judges them."""
    from codeloop.execution.local import LocalExecutor
    from codeloop.types import ExecResult, Status

    real_map = LocalExecutor.map

    async def broken_map(self, requests):
        for index, _request in enumerate(requests):
            yield index, ExecResult(Status.INFRA_ERROR, (), infra_error="zygote died")

    monkeypatch.setattr(LocalExecutor, "map", broken_map)
    samples = samples_file(tmp_path, [{"task_id": "demo/add", "completion": "    return a + b\n"}])
    args = [samples, "--dataset", dataset, "--store", tmp_path / "e.sqlite"]
    result = evaluate(*args)
    assert result.exit_code == 1, result.output
    line = next(x for x in result.output.splitlines() if "sandbox errors" in x)
    assert "1 sample(s) hit sandbox errors (zygote died)" in line
    monkeypatch.setattr(LocalExecutor, "map", real_map)
    out = tmp_path / "out.json"
    result = evaluate(*args, "--json", out)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["pass_at_k"]["1"] == 1.0


def _counting_program(variant: int) -> str:
    """Wrong on the last test only, returning how many calls it has had by then."""
    return (
        f"calls = [0]  # variant {variant}\n"
        "def ident(x):\n"
        "    calls[0] += 1\n"
        "    return -calls[0] if x == 9 else x\n"
    )


@pytest.mark.parametrize("order", ["given", "fail-first"])
def test_fail_first_runs_the_tests_others_failed_first_with_the_same_verdicts(tmp_path, order):
    import anyio

    from codeloop.runs.evaluate import EvaluateOptions
    from codeloop.runs.evaluate import evaluate as run_evaluate

    task = {
        "task_id": "demo/ident",
        "prompt": "def ident(x):\n",
        "entry_point": "ident",
        "tests": [{"input": [i], "output": i} for i in range(10)],
    }
    data = tmp_path / "ident.jsonl"
    data.write_text(json.dumps(task) + "\n")
    rows = [{"task_id": "demo/ident", "solution": _counting_program(v)} for v in range(6)]
    rows.append({"task_id": "demo/ident", "solution": "def ident(x):\n    return x\n"})
    samples = samples_file(tmp_path, rows)
    options = EvaluateOptions(
        dataset=str(data), workers=1, max_inflight=1, timeout_s=2.0, test_order=order
    )
    report = anyio.run(run_evaluate, samples, options)
    verdicts = [(r.passed, r.status) for r in report.results]
    assert verdicts == [(False, "failed")] * 6 + [(True, "passed")]  # whatever the order
    actual = [r.first_failure["actual"] for r in report.results[:6]]
    assert all(r.first_failure["test"] == 9 for r in report.results[:6])
    if order == "given":
        assert actual == ["-10"] * 6  # nine passing tests ran first, every time
    else:
        # the first programs ran in the dataset's order; once test 9 had failed one, the
        # next ones ran it first and failed on their first call
        assert actual[0] == "-10" and actual[-3:] == ["-1"] * 3


def test_an_unknown_test_order_is_refused():
    from codeloop.runs.evaluate import EvaluateOptions

    with pytest.raises(ValueError, match="expected one of fail-first, given"):
        EvaluateOptions(dataset="humaneval", test_order="random")
