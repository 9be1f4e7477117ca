"""The examples in docs/tasks.md load as documented."""

import re
from pathlib import Path

import pytest

from codeloop.tasks import load_tasks
from codeloop.types import Compare, TaskKind

DOC = Path(__file__).resolve().parents[2] / "docs" / "tasks.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


@pytest.mark.skipif(not DOC.exists(), reason="docs/tasks.md is not in this checkout")
def test_jsonl_example(tmp_path):
    (text,) = blocks("jsonl")
    path = tmp_path / "example.jsonl"
    path.write_text(text, encoding="utf-8")
    add, pair, half = load_tasks(str(path))
    assert [(t.args, t.expected) for t in add.hidden_tests["base"]] == [((2, 3), 5), ((-1, 1), 0)]
    assert [(t.args, t.expected) for t in add.visible_tests] == [((1, 2), 3)]
    assert [t.expected for t in pair.hidden_tests["base"]] == [(1, 1), ("a", "a")]
    assert half.hidden_tests["base"][0].compare is Compare.CLOSE


@pytest.mark.skipif(not DOC.exists(), reason="docs/tasks.md is not in this checkout")
def test_yaml_example(tmp_path):
    (text,) = blocks("yaml")
    path = tmp_path / "example.yaml"
    path.write_text(text, encoding="utf-8")
    summed, apps, even = load_tasks(str(path))
    assert summed.kind is TaskKind.STDIO and len(summed.hidden_tests["base"]) == 2
    assert apps.hidden_tests["base"][0].expected == "3\n"
    assert [t.oracle for t in even.hidden_tests["base"]] == ["truthy", "falsy"]
    assert [(t.args, t.expected) for t in even.visible_tests] == [((2,), True)]
