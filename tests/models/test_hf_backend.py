"""hf: transformers on a tiny random-weight GPT-2 that the test builds offline."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the hf tests need torch: pip install 'codeloop[hf]'")
pytest.importorskip(
    "transformers", reason="the hf tests need transformers: pip install 'codeloop[hf]'"
)
pytest.importorskip("tokenizers", reason="the hf tests need tokenizers: pip install 'codeloop[hf]'")

from codeloop.models import load_backend, total_usage  # noqa: E402
from codeloop.types import GenerationRequest, Message, Sampling  # noqa: E402

from .tiny_model import CHAT_TEMPLATE, WORDS, build_tiny_model  # noqa: E402

# slow: building the tiny model and running torch take seconds
pytestmark = [pytest.mark.anyio, pytest.mark.slow]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-plain"))


@pytest.fixture(scope="module")
def backend(plain_model):
    return load_backend(f"hf:{plain_model}")


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-chat"), chat_template=CHAT_TEMPLATE)


async def test_n_sampled_completions_with_usage(backend, plain_model):
    assert backend.name == f"hf:{plain_model}"
    request = GenerationRequest(
        prompt="def f ( x ) :", n=3, sampling=Sampling(temperature=1.0, max_tokens=12, seed=1)
    )
    out = await backend.generate(request)
    assert len(out) == 3
    for completion in out:
        assert set(completion.text.split()) <= set(WORDS)
        assert completion.finish_reason in ("stop", "length")
        assert 0 < completion.usage.completion_tokens <= 12
    total = total_usage(out)
    assert total.calls == 1
    assert total.prompt_tokens == 6  # def f ( x ) :
    # <unk> is generated too but not shown
    assert total.completion_tokens >= sum(len(c.text.split()) for c in out)
    assert len({c.text for c in out}) > 1  # sampled, not copies


async def test_seed_makes_sampling_reproducible(backend):
    request = GenerationRequest(prompt="x =", n=2, sampling=Sampling(max_tokens=8, seed=7))
    first = [c.text for c in await backend.generate(request)]
    second = [c.text for c in await backend.generate(request)]
    assert first == second


async def test_greedy_output_is_cut_at_stop_strings(backend):
    greedy = Sampling(temperature=0.0, max_tokens=16)
    full = (await backend.generate(GenerationRequest(prompt="return", sampling=greedy)))[0]
    words = full.text.split()
    assert len(words) >= 4, full.text
    stop = " " + words[2]
    at = full.text.index(stop)
    cut = await backend.generate(
        GenerationRequest(
            prompt="return", sampling=Sampling(temperature=0.0, max_tokens=16, stop=(stop,))
        )
    )
    assert cut[0].text == full.text[:at]
    assert cut[0].finish_reason == "stop"
    assert cut[0].usage.completion_tokens < full.usage.completion_tokens


async def test_chat_uses_the_chat_template_when_there_is_one(chat_model):
    backend = load_backend(f"hf:{chat_model}")
    request = GenerationRequest(
        messages=(Message("system", "be brief"), Message("user", "def f")),
        sampling=Sampling(max_tokens=4, seed=0),
    )
    text, templated = backend._text(request)
    assert templated
    assert text == "system : be brief . user : def f . assistant :"
    out = await backend.generate(request)
    assert out[0].usage.prompt_tokens == len(text.split())


async def test_chat_without_template_is_rendered_plainly(backend):
    request = GenerationRequest(
        messages=(Message("user", "def f"),), sampling=Sampling(max_tokens=4)
    )
    text, templated = backend._text(request)
    assert not templated
    assert text == "User: def f\n\nAssistant:"
    assert len(await backend.generate(request)) == 1


def test_missing_model_folder_is_a_clear_error(tmp_path):
    from codeloop.models import ModelRequestError

    with pytest.raises(ModelRequestError, match="could not load"):
        load_backend(f"hf:{tmp_path / 'nothing-here'}")


async def test_a_prompt_longer_than_the_context_is_a_context_error(backend):
    """The tiny model has 256 positions: a longer prompt is refused up front, naming both
    lengths (it used to fail inside torch with an IndexError)."""
    from codeloop.models import ModelContextExceeded

    assert backend.context_length == 256
    request = GenerationRequest(prompt="x " * 300, sampling=Sampling(max_tokens=4))
    with pytest.raises(ModelContextExceeded) as caught:
        await backend.generate(request)
    error = caught.value
    assert not error.retryable
    assert (error.prompt_tokens, error.context_tokens) == (300, 256)
    assert "prompt of 300 tokens" in str(error) and "(256 tokens)" in str(error)


async def test_a_prompt_near_the_context_gets_the_room_left(backend):
    """A prompt that fits but leaves less room than max_tokens is served, cut at the
    context's end (finish reason "length")."""
    request = GenerationRequest(
        prompt="x " * 250, sampling=Sampling(temperature=0.0, max_tokens=50)
    )
    (out,) = await backend.generate(request)
    assert out.usage.prompt_tokens == 250
    assert 0 < out.usage.completion_tokens <= 6


def test_run_reports_a_prompt_longer_than_the_context(plain_model, tmp_path):
    """End to end: the task whose prompt does not fit fails with both lengths named (it was
    "strategy crashed: IndexError"), the other task finishes, and the run exits 1."""
    import json

    from typer.testing import CliRunner

    from codeloop.cli import app

    def task(task_id: str, words: int) -> dict:
        doc = " ".join(["x"] * words)
        prompt = f'def f(x):\n    """{doc}"""\n'
        tests = [{"input": [1], "output": 1}]
        return {"task_id": task_id, "prompt": prompt, "entry_point": "f", "tests": tests}

    tasks = tmp_path / "tasks.jsonl"
    rows = [task("short", 5), task("long", 400)]
    tasks.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "out.json"
    result = CliRunner().invoke(
        app,
        ["run", str(tasks), "--model", f"hf:{plain_model}", "--setting", "max_tokens=8"]
        + ["--store", str(tmp_path / "r.sqlite"), "--json", str(out)],
    )
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if "context" in line]
    assert len(lines) == 1, result.output
    assert "1 task failed: prompt longer than the model's context (long)" in lines[0]
    assert "tokens does not fit the model's context length (256 tokens)" in lines[0]
    assert "IndexError" not in result.output
    data = json.loads(out.read_text())
    assert (data["tasks_finished"], data["tasks_failed"]) == (1, 1)
    (long,) = [r for r in data["results"] if r["task_id"] == "long"]
    assert "ModelContextExceeded" in long["error"] and "prompt of 4" in long["error"]


# ------------------------------------------------------------------ hub names, offline

CLOSED_PORT = "http://127.0.0.1:9"  # discard port: nothing listens, the connection is refused


@pytest.fixture()
def empty_hub(tmp_path, monkeypatch):
    """An empty Hugging Face cache; no offline flag unless a test sets one."""
    home = tmp_path / "hf-home"
    home.mkdir()
    monkeypatch.setenv("HF_HOME", str(home))
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    return home


def _load_fails(spec: str, **options):
    from codeloop.models import ModelRequestError

    start = time.perf_counter()
    with pytest.raises(ModelRequestError) as caught:
        load_backend(spec, **options)
    return str(caught.value), time.perf_counter() - start


def test_offline_a_name_not_in_the_cache_fails_at_once_with_the_hint(empty_hub, monkeypatch):
    from codeloop.models import hf_backend

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_backend, "hub_reachable", _never_probe)
    message, seconds = _load_fails("hf:gpt2")
    assert seconds < 5, seconds
    assert "'gpt2': not a local folder and not in the Hugging Face cache" in message
    assert str(empty_hub / "hub") in message
    assert "offline (HF_HUB_OFFLINE)" in message
    assert "replay:" in message and "mock:file:" in message
    assert "\n" not in message


def test_local_files_only_option_forbids_the_hub_too(empty_hub, monkeypatch):
    from codeloop.models import hf_backend

    monkeypatch.setattr(hf_backend, "hub_reachable", _never_probe)
    message, seconds = _load_fails("hf:gpt2", local_files_only=True)
    assert seconds < 5, seconds
    assert "local_files_only=true forbids downloading it" in message


def _never_probe(*args, **kwargs):
    raise AssertionError("offline was asked for: the hub must not be probed")


def test_a_hub_that_cannot_be_reached_fails_at_once_without_retries(empty_hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", CLOSED_PORT)
    message, seconds = _load_fails("hf:gpt2")
    assert seconds < 5, seconds
    assert f"the hub ({CLOSED_PORT}) cannot be reached" in message
    assert "not in the Hugging Face cache" in message


def test_the_probe_tells_a_closed_port_from_an_open_one():
    import socket

    from codeloop.models.hf_backend import hub_reachable

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert hub_reachable(f"http://127.0.0.1:{server.getsockname()[1]}", timeout_s=2)
    assert not hub_reachable(CLOSED_PORT, timeout_s=2)
    assert not hub_reachable("not a url", timeout_s=2)


def test_a_path_that_is_no_folder_and_no_hub_name_is_said_so(empty_hub, tmp_path):
    message, _ = _load_fails(f"hf:{tmp_path / 'a' / 'b'}")
    assert "no such folder, and not a Hugging Face model name" in message


def _put_in_cache(cache: Path, name: str, model: Path) -> None:
    """Lay `model`'s files out as huggingface_hub's cache keeps a download of `name`."""
    repo = cache / f"models--{name.replace('/', '--')}"
    snapshot = repo / "snapshots" / ("0" * 40)
    shutil.copytree(model, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)


async def test_a_cached_name_loads_without_the_hub(empty_hub, monkeypatch, plain_model):
    _put_in_cache(empty_hub / "hub", "someone/tiny", plain_model)
    monkeypatch.setenv("HF_ENDPOINT", CLOSED_PORT)
    start = time.perf_counter()
    backend = load_backend("hf:someone/tiny")
    assert time.perf_counter() - start < 20
    out = await backend.generate(GenerationRequest(prompt="x =", sampling=Sampling(max_tokens=3)))
    assert set(out[0].text.split()) <= set(WORDS)


def test_the_command_line_says_it_in_one_line_exit_2(empty_hub, monkeypatch, tmp_path):
    import json

    from typer.testing import CliRunner

    from codeloop.cli import app

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tasks = tmp_path / "tasks.jsonl"
    task = {
        "task_id": "t/0",
        "prompt": "def f():\n",
        "entry_point": "f",
        "tests": [{"input": [], "output": 1}],
    }
    tasks.write_text(json.dumps(task) + "\n")
    start = time.perf_counter()
    result = CliRunner().invoke(
        app, ["run", str(tasks), "--model", "hf:gpt2", "--limit", "1", "--no-cache"]
    )
    assert time.perf_counter() - start < 10
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "not in the Hugging Face cache" in errors[0], result.output
