"""Stores the report tests read: a self_debug run (one task solved after a repair, one not,
a program holding a `<script>`), a sample run, and an evaluation of a samples file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codeloop.cli import app

TASKS = [
    {
        "task_id": "demo/add",
        "prompt": 'def add(a, b):\n    """Add."""\n',
        "entry_point": "add",
        "tests": [{"input": [1, 2], "output": 3}, {"input": [5, 5], "output": 10}],
        "visible_tests": [{"input": [1, 2], "output": 3}],
    },
    {
        "task_id": "demo/neg",
        "prompt": "def neg(a):\n",
        "entry_point": "neg",
        "tests": [{"input": [1], "output": -1}, {"input": [-4], "output": 4}],
        "visible_tests": [{"input": [1], "output": -1}],
    },
]
INJECTED = (
    "[bold]markup[/bold] </script><script>window.__pwned = 1</script>"
    "<img src=x onerror='window.__pwned=2'>"
)
ANSWERS = {
    "demo/add": ["    return a * b\n", "```python\ndef add(a, b):\n    return a + b\n```"],
    "demo/neg": [f"    return a  # {INJECTED}\n", "    return a\n", "    return a\n"],
}
SAMPLES = [
    {"task_id": "demo/add", "completion": "    return a + b\n"},
    {"task_id": "demo/add", "completion": f"    return a - b  # {INJECTED}\n"},
    {"task_id": "demo/neg", "completion": "    return -a\n"},
]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def make_run(
    folder: Path, strategy: str = "self_debug", name: str = "run.sqlite", tasks: tuple = ()
) -> Path:
    dataset = write_jsonl(folder / "tasks.jsonl", TASKS)
    answers = folder / "answers.json"
    answers.write_text(json.dumps(ANSWERS))
    store = folder / name
    result = CliRunner().invoke(
        app,
        ["run", str(dataset), "--strategy", strategy, "--model", f"mock:file:{answers}"]
        + ["--store", str(store)]
        + [arg for task in tasks for arg in ("--task", task)],
    )
    assert result.exit_code == 0, result.output
    return store


@pytest.fixture(scope="session")
def stores(tmp_path_factory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("stores")
    run_store = make_run(folder)
    sample_store = make_run(folder, "sample", "sample.sqlite")
    samples = write_jsonl(folder / "samples.jsonl", SAMPLES)
    evaluate_store = folder / "eval.sqlite"
    result = CliRunner().invoke(
        app,
        ["evaluate", str(samples), "--dataset", str(folder / "tasks.jsonl")]
        + ["--store", str(evaluate_store)],
    )
    assert result.exit_code == 0, result.output
    return {
        "run": run_store,
        "sample": sample_store,
        "evaluate": evaluate_store,
        "samples": samples,
        "folder": folder,
        "injected": INJECTED,
    }


@pytest.fixture()
def serve():
    """serve(store) -> the base URL of `codeloop view`'s app on a free port (stopped after)."""
    import socket
    import threading
    import time

    import uvicorn

    from codeloop.report.server import make_app

    servers = []

    def start(store: Path, **options) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(
                make_app(store, **options), host="127.0.0.1", port=port, log_level="error"
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the viewer did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{port}/"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture()
def runner_of_stores():
    """make_run(folder, strategy, name, tasks): `codeloop run` into a store of that folder."""
    return make_run


def _copy_with_strategy(store: Path, folder: Path, strategy: str, name: str = "run.sqlite") -> Path:
    """A copy of `store` whose run config names `strategy` (store text that a user does not
    control when the store comes from elsewhere)."""
    import shutil
    import sqlite3

    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / name
    shutil.copy(store, copy)
    db = sqlite3.connect(copy)
    for key, config in db.execute("SELECT run_key, config FROM runs").fetchall():
        data = json.loads(config)
        data["strategy"] = strategy
        db.execute("UPDATE runs SET config = ? WHERE run_key = ?", (json.dumps(data), key))
    db.commit()
    db.close()
    return copy


@pytest.fixture
def copy_with_strategy():
    return _copy_with_strategy
