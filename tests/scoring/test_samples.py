import gzip
import json

import pytest

from codeloop.scoring.samples import SamplesError, read_samples
from codeloop.types import Task


@pytest.fixture()
def tasks():
    return {
        "T/0": Task("T/0", "def f(x):\n", "f"),
        "T/1": Task("T/1", "def g(x):\n", "g"),
    }


def write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_both_formats_and_sample_order(tmp_path, tasks):
    path = write(
        tmp_path / "s.jsonl",
        [
            json.dumps({"task_id": "T/0", "completion": "    return x\n"}),
            json.dumps({"task_id": "T/1", "solution": "def g(x):\n    return 1\n"}),
            json.dumps({"task_id": "T/0", "completion": "    return 2\n"}),
            "",
        ],
    )
    got = read_samples(path, tasks).samples
    assert [(s.task_id, s.index) for s in got] == [("T/0", 0), ("T/1", 0), ("T/0", 1)]
    assert got[0].program == "def f(x):\n    return x\n"
    assert got[1].program == "def g(x):\n    return 1\n"


def test_gzip(tmp_path, tasks):
    path = tmp_path / "s.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps({"task_id": "T/0", "completion": ""}) + "\n")
    assert len(read_samples(path, tasks).samples) == 1


def test_malformed_samples_become_failures_with_reasons(tmp_path, tasks):
    path = write(
        tmp_path / "s.jsonl",
        [
            "{not json",
            json.dumps(["a list"]),
            json.dumps({"completion": "x"}),
            json.dumps({"task_id": "T/0"}),
            json.dumps({"task_id": "T/0", "completion": 5}),
            json.dumps({"task_id": "T/1", "solution": "   "}),
        ],
    )
    result = read_samples(path, tasks)
    assert [n for n, _ in result.invalid_lines] == [1, 2, 3]
    problems = [s.problem for s in result.samples]
    assert all(problems) and len(problems) == 3
    assert "neither" in problems[0] and "not a string" in problems[1] and "empty" in problems[2]


def test_unknown_task_ids_are_listed(tmp_path, tasks):
    path = write(
        tmp_path / "s.jsonl",
        [
            json.dumps({"task_id": "Nope/1", "completion": ""}),
            json.dumps({"task_id": "Nope/2", "completion": ""}),
        ],
    )
    with pytest.raises(SamplesError) as info:
        read_samples(path, tasks)
    assert "Nope/1 (line 1)" in str(info.value) and "Nope/2 (line 2)" in str(info.value)


def test_missing_file(tmp_path, tasks):
    with pytest.raises(SamplesError, match="not found"):
        read_samples(tmp_path / "missing.jsonl", tasks)


def test_apply_reference_fills_expected_and_calibrates():
    from codeloop.scoring.reference import ReferenceRun, apply_reference
    from codeloop.types import Compare, TestCase, TestKind

    tests = tuple(
        TestCase(
            TestKind.CALL,
            args=(i,),
            has_expected=False,
            compare=Compare.CLOSE,
            atol=0.5,
            oracle="x",
            source=f"f({i})",
        )
        for i in range(3)
    )
    task = Task("T/9", "p", "f", hidden_tests={"base": tests[:2], "plus": tests[2:]})
    run = ReferenceRun(values=[10, 11, 12], times=[0.1, 2.0, 0.01], failed=[1])
    new, dropped = apply_reference(task, run, calibrate=(4.0, 1.0))
    assert dropped == [1]
    base, plus = new.hidden_tests["base"], new.hidden_tests["plus"]
    assert [t.expected for t in base + plus] == [10, 12]
    assert all(t.has_expected for t in base + plus)
    assert [t.time_limit_s for t in base + plus] == [1.0, 1.0]
    kept = base[0]
    assert (kept.args, kept.compare, kept.atol, kept.oracle, kept.source) == (
        (0,),
        Compare.CLOSE,
        0.5,
        "x",
        "f(0)",
    )
