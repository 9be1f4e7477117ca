"""hf: transformers on a tiny random-weight GPT-2 that the test builds offline."""

from __future__ import annotations

import os

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
