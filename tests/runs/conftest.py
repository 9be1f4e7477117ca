"""The two-task demo dataset the run, evaluate and compare tests share."""

import json
from pathlib import Path

import pytest

DEMO_TASKS = [
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


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    """DEMO_TASKS as a task file (a test module may define its own `dataset`)."""
    return write_jsonl(tmp_path / "tasks.jsonl", DEMO_TASKS)
