"""`codeloop run --model-option key=value` reaches the backend's constructor; an option the
provider does not accept is a one-line error (exit 2) naming the ones it does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import codeloop.models.registry as registry
from codeloop.cli import app
from codeloop.models.options import accepted_options

TASK = {
    "task_id": "demo/add",
    "prompt": "def add(a, b):\n",
    "entry_point": "add",
    "tests": [{"input": [1, 2], "output": 3}],
}


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, str]:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps(TASK) + "\n")
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["def add(a, b):\n    return a + b\n"]))
    return {"tasks": str(tasks), "script": str(script)}


@pytest.fixture()
def built(monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> list[Any]:
    """The backends the run builds through load_backend.  An openai backend is only
    constructed (no server is asked): the run gets the scripted mock in its place."""
    real = registry.load_backend
    backends: list[Any] = []

    def spy(spec: str, **options: Any) -> Any:
        backend = real(spec, **options)
        backends.append(backend)
        if spec.startswith("openai:"):
            return real(f"mock:file:{files['script']}")
        return backend

    monkeypatch.setattr(registry, "load_backend", spy)
    return backends


def _run(files: dict[str, str], *args: str) -> Any:
    command = ["run", files["tasks"], "--no-cache", "--workers", "1", *args]
    return CliRunner().invoke(app, command)


def test_mock_option_reaches_the_backend(files: dict[str, str], built: list[Any]) -> None:
    result = _run(files, "--model", f"mock:file:{files['script']}", "--model-option", "cycle=true")
    assert result.exit_code == 0, result.output
    assert len(built) == 1
    assert built[0].cycle is True  # parsed as JSON, as --setting values are


def test_openai_options_reach_the_backend(files: dict[str, str], built: list[Any]) -> None:
    result = _run(
        files,
        "--model",
        "openai:some-model@http://127.0.0.1:9/v1",
        "--model-option",
        "max_retries=7",
        "--model-option",
        "timeout_s=12.5",
    )
    assert result.exit_code == 0, result.output
    backend = built[0]
    assert type(backend).__name__ == "OpenAIBackend"
    assert backend.max_retries == 7
    assert backend._client.timeout == 12.5


@pytest.mark.parametrize(
    ("model", "option", "message"),
    [
        (
            "mock:echo",
            "dtype=bfloat16",
            "--model-option dtype: provider 'mock' has no option 'dtype'; it accepts: cycle",
        ),
        (
            "openai:m@http://127.0.0.1:9/v1",
            "device=cuda",
            "provider 'openai' has no option 'device'; it accepts: api_key, max_concurrency, "
            "max_retries, backoff_s, max_backoff_s, timeout_s\n",
        ),
        ("replay:x.jsonl", "n=1", "provider 'replay' has no option 'n'; it accepts: prompt_mode"),
        ("mock:echo", "noeq", "--model-option 'noeq': expected key=value"),
    ],
)
def test_an_unknown_option_is_a_one_line_error(
    files: dict[str, str], built: list[Any], model: str, option: str, message: str
) -> None:
    result = _run(files, "--model", model, "--model-option", option)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert message.rstrip("\n") in lines[0]
    if message.endswith("\n"):  # the whole list: Python-only arguments (client) are not offered
        assert lines[0].endswith(message.rstrip("\n"))
    assert built == []  # rejected before any backend is built


def test_accepted_options_of_the_built_ins() -> None:
    assert accepted_options("mock") == ("cycle",)
    assert accepted_options("hf") == ("device", "dtype", "trust_remote_code", "local_files_only")
    assert accepted_options("replay") == ("prompt_mode",)
    assert accepted_options("vllm") is None  # takes any vLLM engine option
    assert accepted_options("llamacpp") is None  # takes any llama.cpp option


def test_a_provider_that_accepts_no_option_says_none(monkeypatch) -> None:
    from codeloop.models.options import check_options
    from codeloop.registry import PROVIDERS

    def bare(rest):  # a plugin provider whose factory names no keyword
        raise AssertionError("not built")

    monkeypatch.setitem(PROVIDERS, "bare", bare)
    assert accepted_options("bare") == ()
    message = check_options("bare:x", {"n": 1})
    assert message is not None and message.endswith(
        "provider 'bare' has no option 'n'; it accepts: none"
    )
