"""The openai backend against a local OpenAI-compatible server (tests/models/fake_openai.py)."""

from __future__ import annotations

import socket
import time

import pytest

from codeloop.models import (
    ModelContextExceeded,
    ModelRequestError,
    ModelUnavailable,
    OpenAIBackend,
    load_backend,
    total_usage,
)
from codeloop.types import GenerationRequest, Message, Sampling

from .fake_openai import FakeOpenAI

pytestmark = pytest.mark.anyio

FAST = {"backoff_s": 0.01, "max_backoff_s": 0.05, "timeout_s": 5.0}


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        yield fake


def chat(text: str, n: int = 1, **sampling) -> GenerationRequest:
    return GenerationRequest(
        messages=(Message("system", "be brief"), Message("user", text)),
        n=n,
        sampling=Sampling(**sampling),
    )


async def test_chat_request_reaches_chat_endpoint_with_sampling(server):
    backend = load_backend(f"openai:tiny@{server.url}", **FAST)
    assert backend.name == f"openai:tiny@{server.url}"
    out = await backend.generate(chat("hi", temperature=0.2, top_p=0.9, max_tokens=7, seed=3))
    await backend.aclose()
    assert [c.text for c in out] == ["hi #0"]
    assert out[0].finish_reason == "stop"
    assert server.paths == ["/v1/chat/completions"]
    body = server.requests[0]
    assert body["model"] == "tiny"
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (
        0.2,
        0.9,
        7,
        3,
    )
    usage = out[0].usage
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens) == (1, 1, 2)
    assert usage.latency_s > 0
    assert usage.cost_usd is None  # a local server has no price


async def test_prompt_request_uses_completions_endpoint(server):
    backend = OpenAIBackend("tiny", server.url, **FAST)
    request = GenerationRequest(prompt="def f():", sampling=Sampling(stop=("\ndef",)))
    out = await backend.generate(request)
    await backend.aclose()
    assert server.paths == ["/v1/completions"]
    assert server.requests[0]["prompt"] == "def f():"
    assert server.requests[0]["stop"] == ["\ndef"]
    assert [c.text for c in out] == ["def f(): #0"]
    assert out[0].finish_reason == "length"


async def test_n_samples_come_from_one_call_in_order(server):
    backend = OpenAIBackend("tiny", server.url, **FAST)
    out = await backend.generate(chat("q", n=4))
    await backend.aclose()
    assert [c.text for c in out] == ["q #0", "q #1", "q #2", "q #3"]
    assert len(server.requests) == 1 and server.requests[0]["n"] == 4
    total = total_usage(out)
    assert total.calls == 1
    assert total.prompt_tokens == 1 and total.completion_tokens == 8
    assert [c.usage.calls for c in out] == [1, 0, 0, 0]


async def test_a_server_that_ignores_n_gets_more_calls(server):
    server.ignore_n = True
    backend = OpenAIBackend("tiny", server.url, **FAST)
    out = await backend.generate(chat("q", n=5))
    assert len(out) == 5
    assert sorted(c.text for c in out) == [f"q #{i}" for i in range(5)]
    assert len(server.requests) == 5
    assert total_usage(out).calls == 5
    assert backend.n_supported is False
    # Remembered: the next request goes straight to one sample per call.
    server.requests.clear()
    out = await backend.generate(chat("r", n=3))
    await backend.aclose()
    assert len(out) == 3 and len(server.requests) == 3
    assert all(body["n"] == 1 for body in server.requests)


async def test_emulated_samples_get_distinct_seeds(server):
    server.ignore_n = True
    backend = OpenAIBackend("tiny", server.url, **FAST)
    await backend.generate(chat("q", n=3, seed=10))
    await backend.aclose()
    assert sorted(body["seed"] for body in server.requests) == [10, 11, 12]


async def test_retries_server_errors_then_succeeds(server):
    server.fail_times = 2
    backend = OpenAIBackend("tiny", server.url, max_retries=3, **FAST)
    out = await backend.generate(chat("q"))
    await backend.aclose()
    assert [c.text for c in out] == ["q #0"]
    assert len(server.requests) == 3


async def test_retries_rate_limits(server):
    server.fail_times, server.fail_status = 1, 429
    backend = OpenAIBackend("tiny", server.url, **FAST)
    out = await backend.generate(chat("q"))
    await backend.aclose()
    assert len(out) == 1 and len(server.requests) == 2


async def test_gives_up_after_retries_with_model_unavailable(server):
    server.fail_times = 10
    backend = OpenAIBackend("tiny", server.url, max_retries=2, **FAST)
    with pytest.raises(ModelUnavailable) as caught:
        await backend.generate(chat("q"))
    await backend.aclose()
    assert len(server.requests) == 3
    assert server.url in str(caught.value) and "500" in str(caught.value)
    assert caught.value.retryable


async def test_no_retry_on_400(server):
    server.reject_status = 400
    backend = OpenAIBackend("tiny", server.url, max_retries=5, **FAST)
    with pytest.raises(ModelRequestError) as caught:
        await backend.generate(chat("q"))
    await backend.aclose()
    assert len(server.requests) == 1
    assert not caught.value.retryable
    assert "400" in str(caught.value)


async def test_404_names_the_model(server):
    server.reject_status = 404
    backend = OpenAIBackend("no-such-model", server.url, **FAST)
    with pytest.raises(ModelRequestError, match="no-such-model"):
        await backend.generate(chat("q"))
    await backend.aclose()


async def test_timeout_is_retried(server):
    server.delay_s, server.delay_times = 1.0, 1
    backend = OpenAIBackend("tiny", server.url, backoff_s=0.01, max_backoff_s=0.05, timeout_s=0.3)
    out = await backend.generate(chat("q"))
    await backend.aclose()
    assert len(out) == 1 and len(server.requests) == 2


@pytest.mark.parametrize(
    ("style", "prompt", "completion"),
    [("vllm", 6, 20), ("openai", 6, None), ("llamacpp", 6, None)],
)
async def test_a_prompt_longer_than_the_context_is_a_context_error(
    server, style, prompt, completion
):
    """A 400 that says the prompt does not fit becomes ModelContextExceeded, with the
    lengths the server gave, at once (sending it again cannot help)."""
    server.context_tokens, server.context_style = 10, style
    backend = OpenAIBackend("tiny", server.url, max_retries=3, **FAST)
    with pytest.raises(ModelContextExceeded) as caught:
        await backend.generate(chat("one two three four five six", max_tokens=20))
    error = caught.value
    assert len(server.requests) == 1 and not error.retryable
    assert isinstance(error, ModelRequestError)  # still a refused request
    assert (error.prompt_tokens, error.context_tokens) == (prompt, 10)
    assert error.completion_tokens == completion
    message = str(error)
    assert "prompt of 6 tokens" in message and "context length (10 tokens)" in message
    # a request that fits is served as usual
    server.context_tokens = 100
    out = await backend.generate(chat("short", max_tokens=20))
    await backend.aclose()
    assert len(out) == 1


async def test_other_400s_stay_plain_request_errors(server):
    server.reject_status = 400  # "bad request": no word of a context
    backend = OpenAIBackend("tiny", server.url, **FAST)
    with pytest.raises(ModelRequestError) as caught:
        await backend.generate(chat("q"))
    await backend.aclose()
    assert not isinstance(caught.value, ModelContextExceeded)


def test_context_wordings_of_other_servers():
    from codeloop.models.openai_backend import context_exceeded

    sglang = "The input (3000 tokens) is longer than the model's context length (2048 tokens)."
    tgi = (
        "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 2048. "
        "Given: 2000 `inputs` tokens and 100 `max_new_tokens`"
    )
    vllm_new = (
        "This model's maximum context length is 2048 tokens. However, you requested 100 "
        "output tokens and your prompt contains at least 1949 input tokens, for a total of "
        "at least 2049 tokens."
    )
    for text, status, lengths in (
        (sglang, 400, (3000, None, 2048)),
        (tgi, 422, (2000, 100, 2048)),
        (vllm_new, 400, (1949, 100, 2048)),
    ):
        error = context_exceeded("openai:m", status, {"message": text}, text)
        assert error is not None, text
        assert (error.prompt_tokens, error.completion_tokens, error.context_tokens) == lengths
    assert context_exceeded("openai:m", 400, {}, "unknown parameter: frobnicate") is None
    assert context_exceeded("openai:m", 401, {}, sglang) is None  # not a refused prompt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_unreachable_server_raises_model_unavailable_quickly():
    url = f"http://127.0.0.1:{free_port()}/v1"
    backend = OpenAIBackend("tiny", url, max_retries=2, **FAST)
    started = time.monotonic()
    with pytest.raises(ModelUnavailable) as caught:
        await backend.generate(chat("q"))
    await backend.aclose()
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert url in message and "3 attempts" in message and "openai:MODEL@http" in message
    assert f"is a server listening at {url}?" in message


async def test_concurrency_limit_is_respected(server):
    import anyio

    server.delay_s = 0.1
    backend = OpenAIBackend("tiny", server.url, max_concurrency=2, **FAST)
    in_flight = 0
    peak = 0
    original = backend._send

    async def counting(request, args):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await original(request, args)
        finally:
            in_flight -= 1

    backend._send = counting
    async with anyio.create_task_group() as group:
        for i in range(6):
            group.start_soon(backend.generate, chat(f"q{i}"))
    await backend.aclose()
    assert peak == 2 and len(server.requests) == 6


async def test_official_openai_gets_at_most_four_stops_and_a_price(server, monkeypatch):
    # Point the "official" backend at the fake server through an injected client.
    import openai

    client = openai.AsyncOpenAI(api_key="k", base_url=server.url, max_retries=0)
    backend = OpenAIBackend("gpt-4o-mini", client=client, **FAST)
    stops = ("\nclass", "\ndef", "\n#", "\nif", " #")
    out = await backend.generate(
        GenerationRequest(messages=(Message("user", "x y"),), sampling=Sampling(stop=stops))
    )
    await backend.aclose()
    body = server.requests[0]
    assert body["stop"] == list(stops[:4])
    assert "max_completion_tokens" in body and "max_tokens" not in body
    # The fifth stop is applied on our side.
    assert out[0].text == "x y" and out[0].finish_reason == "stop"
    expected = (2 * 0.15 + 3 * 0.60) / 1e6
    assert out[0].usage.cost_usd == pytest.approx(expected)


def test_official_openai_without_a_key_says_how_to_give_one(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("CODELOOP_API_KEY", raising=False)
    with pytest.raises(ModelRequestError, match="OPENAI_API_KEY"):
        OpenAIBackend("gpt-4o-mini")


def test_local_server_needs_no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("CODELOOP_API_KEY", raising=False)
    backend = load_backend("openai:m@127.0.0.1:8000/v1")
    assert backend.name == "openai:m@http://127.0.0.1:8000/v1"
