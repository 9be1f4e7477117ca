"""User task files: JSON Lines and YAML, good and bad."""

import json
import textwrap

import pytest

from codeloop.tasks import TaskFileError, TaskLoadError, load_tasks
from codeloop.tasks.user import load_user_file
from codeloop.types import Compare, TaskKind, TestKind

ADD_PROMPT = 'def add(a, b):\n    """Sum.\n    >>> add(1, 1)\n    2\n    """\n'


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_function_task_from_jsonl(tmp_path):
    record = {
        "task_id": "add",
        "prompt": ADD_PROMPT,
        "entry_point": "add",
        "tests": [{"input": [1, 2], "output": 3}, {"input": [[1], [2]], "output": [1, 2]}],
        "test": "def check(candidate):\n    assert candidate(2, 2) == 4\n",
        "reference": "def add(a, b):\n    return a + b\n",
        "metadata": {"source": "unit test"},
    }
    (task,) = load_user_file(write_jsonl(tmp_path / "mine.jsonl", [record]))
    assert task.task_id == "add"
    assert task.kind is TaskKind.FUNCTION
    assert task.entry_point == "add"
    assert task.reference == record["reference"]
    assert task.dataset == "mine"
    base = task.hidden_tests["base"]
    assert [(t.args, t.expected) for t in base] == [((1, 2), 3), (([1], [2]), [1, 2]), ((2, 2), 4)]
    assert all(t.kind is TestKind.CALL and t.compare is Compare.EQUAL for t in base)
    assert base[0].source == "add(1, 2) == 3"
    # no visible_tests given: the prompt's docstring examples
    assert [(t.args, t.expected) for t in task.visible_tests] == [((1, 1), 2)]
    assert task.metadata["source"] == "unit test"
    assert task.metadata["check_converted"] is True


def test_explicit_visible_tests_exact_and_close(tmp_path):
    records = [
        {
            "task_id": "a",
            "prompt": "p",
            "entry_point": "f",
            "tests": [{"input": [], "output": True}],
            "visible_tests": [{"input": [0], "output": False}],
            "compare": "exact",
        },
        {
            "task_id": "b",
            "prompt": "p",
            "entry_point": "f",
            "tests": [{"input": [1], "output": 0.5}],
            "atol": 1e-3,
        },
    ]
    exact, close = load_user_file(write_jsonl(tmp_path / "t.jsonl", records))
    assert exact.hidden_tests["base"][0].compare is Compare.EXACT
    assert [(t.args, t.expected) for t in exact.visible_tests] == [((0,), False)]
    assert exact.visible_tests[0].compare is Compare.EXACT
    test = close.hidden_tests["base"][0]
    assert (test.compare, test.atol) == (Compare.CLOSE, 1e-3)


def test_unconvertible_test_code_becomes_a_code_test(tmp_path):
    record = {
        "task_id": "a",
        "prompt": "p",
        "entry_point": "f",
        "test": "def check(candidate):\n    for i in range(3):\n        assert candidate(i) == i\n",
    }
    (task,) = load_user_file(write_jsonl(tmp_path / "t.jsonl", [record]))
    (test,) = task.hidden_tests["base"]
    assert test.kind is TestKind.CODE
    assert task.metadata["check_converted"] is False
    assert "For" in task.metadata["check_conversion_reason"]


def test_stdio_tasks_with_apps_and_codecontests_tests(tmp_path):
    records = [
        {
            "task_id": "echo",
            "prompt": "Print the input.",
            "tests": [{"stdin": "1 2\n", "stdout": "1 2\n"}],
            "visible_tests": [{"stdin": "3\n", "stdout": "3\n"}],
        },
        {
            "task_id": "apps-1",
            "prompt": "Sum.",
            "input_output": json.dumps({"inputs": ["1 2\n", ["3", "4"]], "outputs": ["3\n", "7"]}),
        },
        {
            "task_id": "cc-1",
            "prompt": "Double.",
            "public_tests": {"input": ["1\n"], "output": ["2\n"]},
            "private_tests": {"input": ["2\n"], "output": ["4\n"]},
            "generated_tests": {"input": ["5\n", "6\n"], "output": ["10\n", "12\n"]},
        },
    ]
    echo, apps, cc = load_user_file(write_jsonl(tmp_path / "io.jsonl", records))
    for task in (echo, apps, cc):
        assert task.kind is TaskKind.STDIO
        assert task.entry_point is None
        for test in task.all_hidden() + task.visible_tests:
            assert test.kind is TestKind.STDIO and test.compare is Compare.STDOUT
    assert [(t.stdin, t.expected) for t in echo.hidden_tests["base"]] == [("1 2\n", "1 2\n")]
    assert [(t.stdin, t.expected) for t in echo.visible_tests] == [("3\n", "3\n")]
    assert [(t.stdin, t.expected) for t in apps.hidden_tests["base"]] == [
        ("1 2\n", "3\n"),
        ("3\n4", "7"),
    ]
    assert [t.stdin for t in cc.visible_tests] == ["1\n"]
    assert [t.stdin for t in cc.hidden_tests["base"]] == ["2\n"]
    assert [t.stdin for t in cc.hidden_tests["generated"]] == ["5\n", "6\n"]


YAML_TASKS = """\
- task_id: add
  prompt: |
    def add(a, b):
        pass
  entry_point: add
  tests:
    - input: [1, 2]
      output: 3
- task_id: echo
  prompt: Echo.
  tests:
    - stdin: "x\\n"
      stdout: "x\\n"
"""


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_yaml_list_and_tasks_mapping(tmp_path, suffix):
    plain = tmp_path / f"plain{suffix}"
    plain.write_text(YAML_TASKS, encoding="utf-8")
    wrapped = tmp_path / f"wrapped{suffix}"
    wrapped.write_text("tasks:\n" + textwrap.indent(YAML_TASKS, "  "), encoding="utf-8")
    for path in (plain, wrapped):
        add, echo = load_user_file(path)
        assert add.kind is TaskKind.FUNCTION and echo.kind is TaskKind.STDIO
        assert add.hidden_tests["base"][0].args == (1, 2)
        assert echo.hidden_tests["base"][0].expected == "x\n"


def error_for(path) -> TaskFileError:
    with pytest.raises(TaskFileError) as info:
        load_user_file(path)
    return info.value


GOOD = {"task_id": "t1", "prompt": "p", "entry_point": "f", "tests": [{"input": [], "output": 1}]}


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({**GOOD, "task_id": "t3", "prompt": None}), "prompt"),
        (
            json.dumps({**GOOD, "task_id": "t3", "tests": [{"input": 1, "output": 1}]}),
            "tests.0.input",
        ),
        (json.dumps({**GOOD, "task_id": "t3", "tset": "typo"}), "tset"),
        (json.dumps({**GOOD, "task_id": "t3", "entry_point": "not valid"}), "identifier"),
        (json.dumps({**GOOD, "task_id": "t3", "compare": "exact", "atol": 0.1}), "atol"),
        (json.dumps({**GOOD, "task_id": "t3", "compare": "fuzzy"}), "compare"),
        (json.dumps({**GOOD, "task_id": "t3", "atol": -1}), "atol"),
        (json.dumps({"task_id": "t3", "prompt": "p", "entry_point": "f"}), "needs 'tests'"),
        (json.dumps({"task_id": "t3", "prompt": "p"}), "stdio task needs"),
        (
            json.dumps({"task_id": 3, "prompt": "p", "tests": [{"stdin": "", "stdout": ""}]}),
            "task_id",
        ),
        (json.dumps({"task_id": "t3", "prompt": "p", "input_output": "{"}), "not valid JSON"),
        (
            json.dumps(
                {
                    "task_id": "t3",
                    "prompt": "p",
                    "input_output": {"inputs": [[1]], "outputs": [[2]], "fn_name": "f"},
                }
            ),
            "input_output",
        ),
        (
            json.dumps(
                {"task_id": "t3", "prompt": "p", "input_output": {"inputs": ["1"], "outputs": []}}
            ),
            "different numbers",
        ),
        (json.dumps({**GOOD}), "duplicate task_id 't1' (first at line 1)"),
    ],
)
def test_bad_jsonl_names_file_and_line(tmp_path, bad_line, message):
    path = tmp_path / "bad.jsonl"
    second = {**GOOD, "task_id": "t2"}
    path.write_text(f"{json.dumps(GOOD)}\n{json.dumps(second)}\n\n{bad_line}\n", encoding="utf-8")
    error = error_for(path)
    assert error.line == 4
    assert str(error).startswith(f"{path}:4: ")
    assert message in str(error)
    assert isinstance(error, TaskLoadError) and isinstance(error, ValueError)


def test_bad_yaml_item_reports_the_line_of_the_offending_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        YAML_TASKS
        + "- task_id: third\n"
        + "  prompt: p\n"
        + "  entry_point: f\n"
        + "  tests:\n"
        + "    - input: [1]\n"
        + "      output: 1\n"
        + "    - input: 5\n"
        + "      output: 2\n",
        encoding="utf-8",
    )
    error = error_for(path)
    assert error.line == 20  # the second test's "input: 5"
    assert "tests.1.input" in str(error)
    assert str(error).startswith(f"{path}:20: ")


def test_bad_yaml_item_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text(YAML_TASKS + "- just a string\n", encoding="utf-8")
    error = error_for(path)
    assert error.line == 14
    assert "mapping" in str(error)


def test_duplicate_ids_in_yaml(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(YAML_TASKS + YAML_TASKS, encoding="utf-8")
    error = error_for(path)
    assert error.line == 14
    assert "duplicate task_id 'add' (first at line 1)" in str(error)


def test_yaml_syntax_error_has_a_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("- task_id: a\n  prompt: [unclosed\n  entry_point: f\n", encoding="utf-8")
    error = error_for(path)
    assert error.line is not None and error.line >= 2
    assert "invalid YAML" in str(error)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no tasks"),
        ("name: x\n", "'tasks'"),
        ("tasks: 3\n", "list of tasks"),
        ("3\n", "list of tasks"),
    ],
)
def test_yaml_shapes(tmp_path, text, message):
    path = tmp_path / "shape.yaml"
    path.write_text(text, encoding="utf-8")
    assert message in str(error_for(path))


def test_missing_file_empty_file_and_unknown_type(tmp_path):
    missing = error_for(tmp_path / "nope.jsonl")
    assert missing.line is None and "no such file" in str(missing)
    assert str(tmp_path / "nope.jsonl") in str(missing)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    assert "no tasks" in str(error_for(empty))
    other = tmp_path / "tasks.csv"
    other.write_text("a,b\n", encoding="utf-8")
    assert "unknown file type" in str(error_for(other))


def test_load_tasks_dispatches_to_user_files(tmp_path):
    path = write_jsonl(tmp_path / "one.jsonl", [GOOD])
    (task,) = load_tasks(str(path))
    assert task.task_id == "t1"
    with pytest.raises(TaskLoadError, match="dataset_file"):
        load_tasks(str(path), dataset_file=str(path))


def test_unknown_dataset_lists_the_valid_names():
    with pytest.raises(TaskLoadError) as info:
        load_tasks("humaneval-x")
    for name in ("humaneval", "humaneval+", "mbpp", "mbpp+"):
        assert name in str(info.value)
    assert isinstance(info.value, ValueError)
