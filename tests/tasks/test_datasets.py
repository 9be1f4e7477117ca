"""The named datasets, loaded from the real data (skipped when the shared folder is absent)."""

import ast
import gzip
import json
import warnings

import pytest

from codeloop.tasks import DATASETS, TaskFileError, TaskLoadError, load_tasks, shared_data_dir
from codeloop.tasks.evalplus import load_mbpp_plus, mbpp_plus_args
from codeloop.tasks.humaneval import WRONG_DOCSTRING_EXAMPLES
from codeloop.types import Compare, TaskKind, TestKind

DATA = shared_data_dir()
needs_data = pytest.mark.skipif(
    DATA is None,
    reason="shared data folder absent (set CODELOOP_SHARED_DATA or put it at ../shared/data)",
)


@pytest.fixture(scope="module")
def humaneval():
    return {t.task_id: t for t in load_tasks("humaneval")}


@pytest.fixture(scope="module")
def humaneval_plus():
    return {t.task_id: t for t in load_tasks("humaneval+")}


@pytest.fixture(scope="module")
def mbpp():
    return {t.task_id: t for t in load_tasks("mbpp")}


@pytest.fixture(scope="module")
def mbpp_plus():
    return {t.task_id: t for t in load_tasks("mbpp+")}


def test_dataset_names():
    assert DATASETS == ("humaneval", "humaneval+", "mbpp", "mbpp+")


def parses(source: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences in benchmark code
        ast.parse(source)


def assert_common(tasks, dataset, count):
    assert len(tasks) == count
    for task in tasks.values():
        assert task.dataset == dataset
        assert task.kind is TaskKind.FUNCTION
        assert task.entry_point and task.entry_point.isidentifier()
        assert task.reference is not None
        parses(task.reference)  # a complete program
        assert f"def {task.entry_point}" in task.reference
        assert task.all_hidden(), task.task_id
        assert "hidden" not in repr(task.view())  # the view carries no hidden tests


def test_humaneval(humaneval):
    assert_common(humaneval, "humaneval", 164)
    first = humaneval["HumanEval/0"]
    assert first.entry_point == "has_close_elements"
    assert first.metadata["check_converted"] is True
    assert len(first.hidden_tests["base"]) == first.metadata["test"].count("assert candidate")
    test = first.hidden_tests["base"][0]
    assert test.args == ([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3)
    assert (test.expected, test.compare) == (True, Compare.EQUAL)
    assert [(t.args, t.expected) for t in first.visible_tests] == [
        (([1.0, 2.0, 3.0], 0.5), False),
        (([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3), True),
    ]
    kept_as_code = sorted(
        (t for t in humaneval.values() if not t.metadata["check_converted"]),
        key=lambda t: int(t.task_id.split("/")[1]),
    )
    assert [t.task_id.split("/")[1] for t in kept_as_code] == [
        "32", "33", "38", "44", "50", "53", "151"
    ]  # fmt: skip
    for task in kept_as_code:
        (code,) = task.hidden_tests["base"]
        assert code.kind is TestKind.CODE and code.code == task.metadata["test"]
        assert task.metadata["check_conversion_reason"]
    # the docstring examples as written, the four tasks' wrong ones included (leaving them
    # out is an option, below)
    assert sum(1 for t in humaneval.values() if t.visible_tests) == 151
    for task_id, wrong in WRONG_DOCSTRING_EXAMPLES.items():
        assert wrong <= {t.source for t in humaneval[task_id].visible_tests}


def test_humaneval_can_leave_out_the_wrong_docstring_examples(humaneval):
    fixed = {
        t.task_id: t for t in load_tasks("humaneval", options={"fix_docstring_examples": True})
    }
    assert sum(1 for t in fixed.values() if t.visible_tests) == 150
    for task_id, task in fixed.items():
        wrong = WRONG_DOCSTRING_EXAMPLES.get(task_id, frozenset())
        kept = [t for t in humaneval[task_id].visible_tests if t.source not in wrong]
        assert task.visible_tests == tuple(kept)
    assert sum(len(w) for w in WRONG_DOCSTRING_EXAMPLES.values()) == 6
    off = load_tasks("humaneval", options={"fix_docstring_examples": False})
    assert [t.visible_tests for t in off] == [t.visible_tests for t in humaneval.values()]


@needs_data
def test_humaneval_plus_takes_the_docstring_option_too(humaneval_plus):
    fixed = {
        t.task_id: t for t in load_tasks("humaneval+", options={"fix_docstring_examples": True})
    }
    for task_id, wrong in WRONG_DOCSTRING_EXAMPLES.items():
        assert wrong <= {t.source for t in humaneval_plus[task_id].visible_tests}
        assert not wrong & {t.source for t in fixed[task_id].visible_tests}


def test_task_options_are_checked(tmp_path):
    with pytest.raises(TaskLoadError, match="no task option 'fix_docstrings'"):
        load_tasks("humaneval", options={"fix_docstrings": True})
    with pytest.raises(TaskLoadError, match="expected true or false"):
        load_tasks("humaneval", options={"fix_docstring_examples": "yes"})
    with pytest.raises(TaskLoadError, match="it takes: none"):
        load_tasks("mbpp", options={"fix_docstring_examples": True})
    with pytest.raises(TaskLoadError, match="only for named datasets"):
        load_tasks(str(tmp_path / "tasks.jsonl"), options={"fix_docstring_examples": True})


@pytest.mark.slow
@needs_data
def test_humaneval_plus(humaneval_plus, humaneval):
    assert_common(humaneval_plus, "humaneval+", 164)
    base = [t for task in humaneval_plus.values() for t in task.hidden_tests["base"]]
    plus = [t for task in humaneval_plus.values() for t in task.hidden_tests["plus"]]
    assert (len(base), len(plus)) == (1570, 122683)
    assert all(t.kind is TestKind.CALL and not t.has_expected for t in base + plus)
    for task in humaneval_plus.values():
        oracle = task.task_id == "HumanEval/32"
        for test in task.all_hidden():
            assert test.compare is (Compare.ORACLE if oracle else Compare.CLOSE)
            assert test.oracle == ("find_zero" if oracle else "")
            assert test.atol == task.metadata["atol"]
    assert humaneval_plus["HumanEval/32"].metadata["atol"] == 1e-4
    assert humaneval_plus["HumanEval/2"].hidden_tests["base"][0].args == (3.5,)
    # the reference is prompt + canonical solution, as EvalPlus runs it
    assert humaneval_plus["HumanEval/0"].reference.startswith(humaneval["HumanEval/0"].prompt)
    assert sum(1 for t in humaneval_plus.values() if t.visible_tests) == 151  # as humaneval


@pytest.mark.slow
@needs_data
def test_mbpp(mbpp):
    assert_common(mbpp, "mbpp", 427)
    kept = sorted(
        int(t.task_id.split("/")[1]) for t in mbpp.values() if not t.metadata["check_converted"]
    )
    assert kept == [6, 18, 56, 70, 164, 580, 592, 596, 630, 735, 751, 797]
    assert mbpp["MbppEval/392"].entry_point == "get_max_sum"  # trailing space stripped
    assert mbpp["MbppEval/392"].metadata["check_converted"]
    for task in mbpp.values():
        (visible,) = task.visible_tests
        if task.metadata["check_converted"]:
            assert visible == task.hidden_tests["base"][0]
        else:
            assert visible.kind is TestKind.CODE
            assert visible.source.startswith("assert ")
    similar = mbpp["MbppEval/2"].hidden_tests["base"][0]
    assert (similar.oracle, similar.args, similar.expected) == (
        "set_equal",
        ((3, 4, 5, 6), (5, 7, 4, 10)),
        {4, 5},
    )
    sphere = mbpp["MbppEval/82"].hidden_tests["base"][0]
    assert (sphere.oracle, sphere.atol) == ("isclose_rel", 0.001)


@pytest.mark.slow
@needs_data
def test_mbpp_plus(mbpp_plus):
    assert_common(mbpp_plus, "mbpp+", 399)
    base = [t for task in mbpp_plus.values() for t in task.hidden_tests["base"]]
    plus = [t for task in mbpp_plus.values() for t in task.hidden_tests["plus"]]
    assert (len(base), len(plus)) == (1236, 42082)
    assert all(not t.has_expected for t in base + plus)
    oracles = {
        "Mbpp/2": "set_eq",
        "Mbpp/737": "not_none",
        "Mbpp/164": "always",
        "Mbpp/295": "sum_div",
        "Mbpp/581": "surface_area",
        "Mbpp/558": "digit_distance_nums",
        "Mbpp/3": "",
    }
    for task_id, oracle in oracles.items():
        for test in mbpp_plus[task_id].all_hidden():
            assert test.oracle == oracle
            assert test.compare is (Compare.ORACLE if oracle else Compare.CLOSE)
    assert mbpp_plus["Mbpp/737"].metadata["reference_output_transform"] == "is_not_none"
    assert "reference_output_transform" not in mbpp_plus["Mbpp/2"].metadata
    # inputs rebuilt as EvalPlus does
    assert mbpp_plus["Mbpp/2"].hidden_tests["base"][0].args == ((3, 4, 5, 6), (5, 7, 4, 10))
    assert mbpp_plus["Mbpp/124"].hidden_tests["base"][0].args == (0.0, 1j)
    assert mbpp_plus["Mbpp/252"].hidden_tests["plus"][0].args == (1 + 2j,)
    assert mbpp_plus["Mbpp/115"].hidden_tests["base"][1].args == ([{1, 2}, {}, {}],)
    assert mbpp_plus["Mbpp/793"].hidden_tests["plus"] == ()  # stored as {}
    assert mbpp_plus["Mbpp/3"].hidden_tests["base"][0].atol == 0.0
    # visible: MBPP's first assert
    (first,) = mbpp_plus["Mbpp/2"].visible_tests
    assert first.source == "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)"
    assert first.expected == (4, 5)
    assert all(len(t.visible_tests) == 1 for t in mbpp_plus.values())


def test_mbpp_plus_args_rebuilding():
    assert mbpp_plus_args("Mbpp/2", [[1, 2], [3]]) == ((1, 2), (3,))
    assert mbpp_plus_args("Mbpp/63", [[[1, 2], [3, 4]]]) == ([(1, 2), (3, 4)],)
    assert mbpp_plus_args("Mbpp/75", [[[1, 2]], 3]) == ([(1, 2)], 3)
    assert mbpp_plus_args("Mbpp/106", [[1], [2, 3]]) == ([1], (2, 3))
    assert mbpp_plus_args("Mbpp/124", ["2", "1j"]) == (2.0, 1j)
    assert mbpp_plus_args("Mbpp/259", [[[1, 2]], [[3]]]) == (((1, 2),), ((3,),))
    assert mbpp_plus_args("Mbpp/278", [[1, [2, 3], 4]]) == ((1, (2, 3), 4),)
    assert mbpp_plus_args("Mbpp/307", [[1], 2, 3]) == ((1,), 2, 3)
    assert mbpp_plus_args("Mbpp/722", [{"a": [1, 2]}, 1, 2]) == ({"a": (1, 2)}, 1, 2)
    assert mbpp_plus_args("Mbpp/580", [[1, [2, [3]]]]) == ((1, (2, (3,))),)
    assert mbpp_plus_args("Mbpp/4", [[1, 2], 3]) == ([1, 2], 3)


def write_plus(path, records):
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return path


PLUS_RECORD = {
    "task_id": "Mbpp/2",
    "prompt": '"""\nShared elements.\n"""\n',
    "entry_point": "similar_elements",
    "canonical_solution": "\ndef similar_elements(a, b):\n    return tuple(set(a) & set(b))\n",
    "base_input": "[[[1, 2], [2]], [(3,), (3, 4)]]",
    "plus_input": "[]",
    "atol": "0.5",
    "contract": "",
    "assertion": "\nassert similar_elements((1, 2), (2,)) == (2,)\n",
}


def test_pre_release_strings_are_python_literals(tmp_path, monkeypatch):
    path = write_plus(tmp_path / "plus.jsonl.gz", [PLUS_RECORD])
    monkeypatch.setenv("CODELOOP_MBPPPLUS", str(path))
    (task,) = load_tasks("mbpp+")
    assert [t.args for t in task.hidden_tests["base"]] == [((1, 2), (2,)), ((3,), (3, 4))]
    assert task.hidden_tests["plus"] == ()
    assert all(t.atol == 0.5 and t.oracle == "set_eq" for t in task.all_hidden())
    assert task.reference == PLUS_RECORD["prompt"] + PLUS_RECORD["canonical_solution"]
    assert task.visible_tests[0].expected == (2,)


def test_pre_release_strings_are_never_evaluated(tmp_path):
    record = {**PLUS_RECORD, "base_input": "[__import__('os').getcwd()]"}
    path = write_plus(tmp_path / "evil.jsonl.gz", [record])
    with pytest.raises(TaskFileError) as info:
        load_mbpp_plus(path)
    assert info.value.line == 1
    assert "base_input" in str(info.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"atol": "'x'"}, "atol"),
        ({"base_input": "[1, 2]"}, "base_input[0]"),
        ({"plus_input": 5}, "plus_input"),
        ({"prompt": None}, "prompt"),
    ],
)
def test_bad_evalplus_records(tmp_path, change, message):
    good = {**PLUS_RECORD, "task_id": "Mbpp/3"}
    path = write_plus(tmp_path / "bad.jsonl.gz", [good, {**PLUS_RECORD, **change}])
    with pytest.raises(TaskFileError) as info:
        load_tasks("mbpp+", dataset_file=str(path))
    assert info.value.line == 2
    assert message in str(info.value)


def test_missing_shared_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CODELOOP_SHARED_DATA", str(tmp_path / "absent"))
    for name, env in (("humaneval+", "CODELOOP_HUMANEVALPLUS"), ("mbpp+", "CODELOOP_MBPPPLUS")):
        monkeypatch.delenv(env, raising=False)
        with pytest.raises(TaskLoadError, match=env):
            load_tasks(name)
    monkeypatch.delenv("CODELOOP_MBPP", raising=False)
    with pytest.raises(TaskLoadError, match="CODELOOP_MBPP"):
        load_tasks("mbpp")
    with pytest.raises(TaskFileError, match="no such file"):
        load_tasks("humaneval+", dataset_file=str(tmp_path / "none.jsonl.gz"))
