"""llamacpp: request mapping with a stand-in Llama object; the real package when installed."""

from __future__ import annotations

import importlib.util

import pytest

from codeloop.models import ModelRequestError, load_backend, total_usage
from codeloop.models.llamacpp_backend import LlamaCppBackend
from codeloop.types import GenerationRequest, Message, Sampling

pytestmark = pytest.mark.anyio


class FakeLlama:
    """Answers like llama-cpp-python's Llama: one choice per call."""

    def __init__(self):
        self.calls = []

    def create_completion(self, prompt, **options):
        self.calls.append(("completion", prompt, options))
        return {
            "choices": [
                {"text": f"{prompt}|{len(self.calls)}\ndef tail", "finish_reason": "length"}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 5},
        }

    def create_chat_completion(self, messages, **options):
        self.calls.append(("chat", messages, options))
        return {
            "choices": [
                {"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 4, "completion_tokens": 1},
        }


async def test_n_samples_are_n_calls_with_distinct_seeds():
    llm = FakeLlama()
    backend = LlamaCppBackend("/models/x.gguf", llm=llm)
    assert backend.name == "llamacpp:/models/x.gguf"
    request = GenerationRequest(
        prompt="p", n=3, sampling=Sampling(temperature=0.5, max_tokens=9, stop=("\ndef",), seed=5)
    )
    out = await backend.generate(request)
    assert [c.text for c in out] == ["p|1", "p|2", "p|3"]
    assert all(c.finish_reason == "stop" for c in out)  # cut at the stop on our side too
    assert [options["seed"] for _, _, options in llm.calls] == [5, 6, 7]
    assert llm.calls[0][2]["stop"] == ["\ndef"] and llm.calls[0][2]["max_tokens"] == 9
    total = total_usage(out)
    assert (total.calls, total.prompt_tokens, total.completion_tokens) == (3, 9, 15)


async def test_chat_goes_to_the_chat_api():
    llm = FakeLlama()
    backend = LlamaCppBackend("/m.gguf", llm=llm)
    out = await backend.generate(GenerationRequest(messages=(Message("user", "hello"),)))
    assert out[0].text == "hi" and out[0].finish_reason == "stop"
    assert llm.calls[0][:2] == ("chat", [{"role": "user", "content": "hello"}])
    await backend.aclose()
    assert backend.llm is None


@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None,
    reason="llama-cpp-python is not installed (pip install 'codeloop[llamacpp]')",
)
def test_missing_gguf_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelRequestError, match="no such model file"):
        load_backend(f"llamacpp:{tmp_path / 'missing.gguf'}")
