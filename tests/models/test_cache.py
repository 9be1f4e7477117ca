"""The response cache: content-addressed samples, distinct draws, exact replay."""

from __future__ import annotations

import anyio
import pytest

from codeloop.models import CachedBackend, MockBackend, load_backend, total_usage
from codeloop.models.cache import request_key
from codeloop.types import GenerationRequest, Message, Sampling

pytestmark = pytest.mark.anyio


def counter_backend() -> MockBackend:
    """Every sample is new: 's0', 's1', ... in the order they are generated."""
    return MockBackend(lambda request, index: f"s{index}", name="mock:counter")


def ask(text: str = "q", n: int = 1, task_id: str | None = "T/0", **sampling) -> GenerationRequest:
    return GenerationRequest(
        messages=(Message("user", text),), n=n, task_id=task_id, sampling=Sampling(**sampling)
    )


async def a_run(path) -> tuple[list[list[str]], MockBackend, CachedBackend]:
    """A little strategy: repeated identical requests, varying n, two tasks."""
    inner = counter_backend()
    cached = CachedBackend(inner, path)
    outputs = []
    for request in [
        ask(n=3),
        ask(n=3),  # same request again: new draws
        ask(n=2, task_id="T/1"),
        ask("other", n=1),
        ask(n=1, temperature=0.0),
        ask(n=1, temperature=0.0),  # greedy: the same answer
    ]:
        outputs.append([c.text for c in await cached.generate(request)])
    await cached.aclose()
    return outputs, inner, cached


async def test_second_run_replays_exactly_with_no_backend_calls(tmp_path):
    path = tmp_path / "cache.sqlite"
    first, inner1, cached1 = await a_run(path)
    assert first == [
        ["s0", "s1", "s2"],
        ["s3", "s4", "s5"],
        ["s6", "s7"],
        ["s8"],
        ["s9"],
        ["s9"],
    ]
    assert inner1.calls == 5  # the second greedy request was a hit
    assert (cached1.hits, cached1.misses) == (1, 10)
    second, inner2, cached2 = await a_run(path)
    assert second == first
    assert inner2.calls == 0
    assert (cached2.hits, cached2.misses) == (11, 0)


async def test_hits_are_marked_and_cost_nothing(tmp_path):
    cached = CachedBackend(counter_backend(), tmp_path / "c.sqlite")
    fresh = await cached.generate(ask(n=2, seed=1))
    again = await cached.generate(ask(n=2, seed=1))  # seeded: deterministic, a hit
    await cached.aclose()
    assert [c.text for c in again] == [c.text for c in fresh]
    assert not any(c.cached for c in fresh) and all(c.cached for c in again)
    used = total_usage(again)
    assert (used.calls, used.cached_calls, used.tokens) == (0, 1, 0)
    assert total_usage(fresh).calls == 1


async def test_more_samples_reuse_the_stored_ones(tmp_path):
    path = tmp_path / "c.sqlite"
    cached = CachedBackend(counter_backend(), path)
    assert [c.text for c in await cached.generate(ask(n=2))] == ["s0", "s1"]
    await cached.aclose()
    inner = counter_backend()
    cached = CachedBackend(inner, path)
    out = await cached.generate(ask(n=5))
    await cached.aclose()
    assert [c.text for c in out] == ["s0", "s1", "s0", "s1", "s2"]
    assert [c.cached for c in out] == [True, True, False, False, False]
    assert inner.requests[0].n == 3  # only the missing ones were asked for
    used = total_usage(out)
    assert (used.calls, used.cached_calls) == (1, 1)


async def test_key_covers_what_changes_the_answer():
    base = ask()
    key = request_key("openai:m", base)
    assert request_key("openai:m", ask()) == key
    assert request_key("openai:m", ask(n=7)) == key  # n is not in the key: indices are
    for other in [
        ask("different"),
        ask(temperature=0.1),
        ask(top_p=0.5),
        ask(max_tokens=3),
        ask(stop=("\n",)),
        ask(seed=4),
        ask(task_id="T/9"),
        GenerationRequest(prompt="q", task_id="T/0"),
        GenerationRequest(messages=base.messages, task_id="T/0", purpose="tests"),
    ]:
        assert request_key("openai:m", other) != key
    assert request_key("openai:other", base) != key


async def test_failures_are_not_cached_and_give_their_draws_back(tmp_path):
    failures = [1]

    def flaky(request, index):
        if failures:
            failures.pop()
            raise RuntimeError("boom")
        return f"ok{index}"

    inner = MockBackend(flaky, name="mock:flaky")
    cached = CachedBackend(inner, tmp_path / "c.sqlite")
    with pytest.raises(RuntimeError):
        await cached.generate(ask())
    assert len(cached) == 0
    out = await cached.generate(ask())
    await cached.aclose()
    assert [c.text for c in out] == ["ok0"]
    # the retry took draw 0, so a later run finds it there
    again = CachedBackend(MockBackend(["new"], name="mock:flaky"), tmp_path / "c.sqlite")
    assert [c.text for c in await again.generate(ask())] == ["ok0"]
    await again.aclose()


async def test_concurrent_identical_requests_get_distinct_draws(tmp_path):
    cached = CachedBackend(counter_backend(), tmp_path / "c.sqlite")
    results: list[list[str]] = []

    async def one():
        results.append([c.text for c in await cached.generate(ask(n=2))])

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(one)
    await cached.aclose()
    texts = [t for r in results for t in r]
    assert len(set(texts)) == 8


async def test_load_backend_can_wrap_in_a_cache(tmp_path):
    backend = load_backend("mock:echo", cache=tmp_path / "sub" / "c.sqlite")
    assert isinstance(backend, CachedBackend)
    assert backend.name == "mock:echo"
    out = await backend.generate(ask("hello"))
    await backend.aclose()
    assert out[0].text == "hello"
    assert (tmp_path / "sub" / "c.sqlite").exists()
