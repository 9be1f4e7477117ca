"""vllm: the micro-batcher and request mapping on the CPU; the real engine on a GPU only."""

from __future__ import annotations

import shutil
import subprocess
from types import SimpleNamespace

import anyio
import pytest

from codeloop.models import load_backend, total_usage
from codeloop.models.vllm_backend import MicroBatcher, VLLMBackend
from codeloop.types import Completion, GenerationRequest, Message, Sampling

pytestmark = pytest.mark.anyio


async def test_concurrent_requests_are_gathered_into_one_batch():
    seen: list[list[str]] = []

    def run(requests):
        seen.append([r.prompt for r in requests])
        return [[Completion(f"{r.prompt}-{i}") for i in range(r.n)] for r in requests]

    batcher = MicroBatcher(run, window_s=0.02)
    results: dict[str, list[str]] = {}

    async def one(prompt: str, n: int):
        out = await batcher.submit(GenerationRequest(prompt=prompt, n=n))
        results[prompt] = [c.text for c in out]

    async with anyio.create_task_group() as group:
        for i in range(5):
            group.start_soon(one, f"p{i}", i + 1)
    assert batcher.batches == [5]
    assert results["p2"] == ["p2-0", "p2-1", "p2-2"]
    # later requests make a new batch
    await one("late", 1)
    assert batcher.batches == [5, 1]


async def test_requests_arriving_during_a_batch_wait_for_the_next_one():
    def run(requests):
        import time

        time.sleep(0.05)
        return [[Completion(r.prompt)] for r in requests]

    batcher = MicroBatcher(run, window_s=0.0)

    async def one(prompt: str, delay: float):
        await anyio.sleep(delay)
        assert (await batcher.submit(GenerationRequest(prompt=prompt)))[0].text == prompt

    async with anyio.create_task_group() as group:
        group.start_soon(one, "first", 0.0)
        for i in range(3):
            group.start_soon(one, f"later{i}", 0.02)
    assert batcher.batches == [1, 3]


async def test_a_failed_batch_fails_each_request():
    def run(requests):
        raise RuntimeError("CUDA out of memory")

    batcher = MicroBatcher(run)
    with pytest.raises(RuntimeError, match="out of memory"):
        await batcher.submit(GenerationRequest(prompt="p"))


class FakeLLM:
    """Answers like vllm.LLM.generate: one RequestOutput per prompt, n outputs each."""

    def __init__(self, chat_template=None):
        self.calls = []
        self.tokenizer = SimpleNamespace(
            chat_template=chat_template,
            apply_chat_template=lambda msgs, **kw: "|".join(m["content"] for m in msgs) + "|>",
        )

    def get_tokenizer(self):
        return self.tokenizer

    def generate(self, prompts, params, use_tqdm=False):
        self.calls.append((prompts, params))
        return [
            SimpleNamespace(
                prompt_token_ids=list(range(len(prompt.split()))),
                outputs=[
                    SimpleNamespace(
                        index=i,
                        text=f"{prompt}#{i}\nSTOP",
                        token_ids=[1] * (i + 1),
                        finish_reason="length",
                    )
                    for i in range(p["n"])
                ],
            )
            for prompt, p in zip(prompts, params, strict=True)
        ]


async def test_request_mapping_with_a_stand_in_engine():
    llm = FakeLLM(chat_template="{{ x }}")
    backend = VLLMBackend("tiny", llm=llm, batch_window_s=0.01)
    chat = GenerationRequest(messages=(Message("system", "s"), Message("user", "u")), n=2)
    plain = GenerationRequest(
        prompt="a b c", sampling=Sampling(temperature=0.0, max_tokens=5, stop=("\nSTOP",), seed=3)
    )
    out: dict[str, list[Completion]] = {}

    async def one(key, request):
        out[key] = await backend.generate(request)

    async with anyio.create_task_group() as group:
        group.start_soon(one, "chat", chat)
        group.start_soon(one, "plain", plain)
    assert len(llm.calls) == 1
    prompts, params = llm.calls[0]
    assert sorted(prompts) == ["a b c", "s|u|>"]
    plain_params = params[prompts.index("a b c")]
    assert plain_params == {
        "n": 1,
        "temperature": 0.0,
        "top_p": 1.0,
        "max_tokens": 5,
        "stop": ["\nSTOP"],
        "seed": 3,
    }
    assert [c.text for c in out["chat"]] == ["s|u|>#0\nSTOP", "s|u|>#1\nSTOP"]
    assert out["plain"][0].text == "a b c#0" and out["plain"][0].finish_reason == "stop"
    total = total_usage(out["chat"])
    assert (total.calls, total.prompt_tokens, total.completion_tokens) == (1, 1, 3)
    await backend.aclose()


def has_cuda() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not has_cuda(), reason="needs a CUDA GPU")
async def test_real_vllm_on_a_tiny_model(tmp_path):
    pytest.importorskip("vllm", reason="vllm is not installed (pip install 'codeloop[vllm]')")
    from .tiny_model import build_tiny_model

    folder = build_tiny_model(tmp_path / "tiny")
    backend = load_backend(f"vllm:{folder}", gpu_memory_utilization=0.2, enforce_eager=True)
    requests = [
        GenerationRequest(prompt=f"def f{i} (", n=3, sampling=Sampling(max_tokens=8, seed=i))
        for i in range(4)
    ]
    results: list[list[Completion]] = [[] for _ in requests]

    async def one(i):
        results[i] = await backend.generate(requests[i])

    async with anyio.create_task_group() as group:
        for i in range(len(requests)):
            group.start_soon(one, i)
    assert all(len(r) == 3 for r in results)
    assert total_usage(c for r in results for c in r).completion_tokens > 0
    await backend.aclose()
