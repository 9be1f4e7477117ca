"""mock: scripted outputs, recorded requests."""

from __future__ import annotations

import json

import pytest

from codeloop.models import MockBackend, ModelRequestError, load_backend, total_usage
from codeloop.types import GenerationRequest, Message, Sampling

pytestmark = pytest.mark.anyio


def ask(text: str = "q", n: int = 1, task_id: str | None = None) -> GenerationRequest:
    return GenerationRequest(messages=(Message("user", text),), n=n, task_id=task_id)


async def test_list_is_served_in_order_across_calls_and_records_requests():
    backend = MockBackend(["a", "b", "c"])
    first = await backend.generate(ask("one", n=2))
    second = await backend.generate(ask("two"))
    assert [c.text for c in first] == ["a", "b"]
    assert [c.text for c in second] == ["c"]
    assert [r.messages[0].content for r in backend.requests] == ["one", "two"]
    assert backend.calls == 2
    with pytest.raises(ModelRequestError, match="exhausted.*3 outputs"):
        await backend.generate(ask())


async def test_cycle_starts_again():
    backend = MockBackend(["a", "b"], cycle=True)
    out = await backend.generate(ask(n=5))
    assert [c.text for c in out] == ["a", "b", "a", "b", "a"]


async def test_mapping_serves_per_task():
    backend = MockBackend({"T/0": ["x0", "x1"], "T/1": ["y0"]})
    assert [c.text for c in await backend.generate(ask(task_id="T/1"))] == ["y0"]
    assert [c.text for c in await backend.generate(ask(task_id="T/0", n=2))] == ["x0", "x1"]
    with pytest.raises(ModelRequestError, match="T/9"):
        await backend.generate(ask(task_id="T/9"))


async def test_callable_sees_request_and_global_index():
    seen = []

    def script(request, index):
        seen.append(index)
        return f"{request.purpose}:{index}"

    backend = MockBackend(script)
    await backend.generate(ask(n=2))
    out = await backend.generate(GenerationRequest(prompt="p", n=2, purpose="tests"))
    assert [c.text for c in out] == ["tests:2", "tests:3"]
    assert seen == [0, 1, 2, 3]


async def test_async_callable():
    async def script(request, index):
        return "fixed" if "failed" in request.messages[-1].content else "buggy"

    backend = MockBackend(script)
    assert (await backend.generate(ask("first try")))[0].text == "buggy"
    assert (await backend.generate(ask("test failed: ...")))[0].text == "fixed"


async def test_usage_counts_words_and_one_call():
    backend = MockBackend(["one two three", "four"])
    out = await backend.generate(GenerationRequest(prompt="a b", n=2))
    total = total_usage(out)
    assert (total.calls, total.prompt_tokens, total.completion_tokens) == (1, 2, 4)
    assert [c.usage.completion_tokens for c in out] == [3, 1]


async def test_echo_returns_the_last_user_message():
    backend = load_backend("mock:echo")
    assert backend.name == "mock:echo"
    request = GenerationRequest(
        messages=(
            Message("system", "s"),
            Message("user", "u1"),
            Message("assistant", "a"),
            Message("user", "u2"),
        ),
        n=2,
    )
    assert [c.text for c in await backend.generate(request)] == ["u2", "u2"]
    assert [c.text for c in await backend.generate(GenerationRequest(prompt="p"))] == ["p"]


async def test_file_forms(tmp_path):
    listing = tmp_path / "outs.json"
    listing.write_text(json.dumps(["a", "b"]))
    backend = load_backend(f"mock:file:{listing}")
    assert [c.text for c in await backend.generate(ask(n=2))] == ["a", "b"]

    mapping = tmp_path / "outs.jsonl"
    mapping.write_text(
        json.dumps({"task_id": "T/0", "completions": ["x", "y"]})
        + "\n"
        + json.dumps({"task_id": "T/1", "completion": "z"})
        + "\n"
    )
    backend = load_backend(f"mock:file:{mapping}")
    assert [c.text for c in await backend.generate(ask(task_id="T/1"))] == ["z"]
    assert [c.text for c in await backend.generate(ask(task_id="T/0", n=2))] == ["x", "y"]

    lines = tmp_path / "lines.jsonl"
    lines.write_text('"one"\n"two"\n')
    backend = load_backend(f"mock:file:{lines}", cycle=True)
    assert [c.text for c in await backend.generate(ask(n=3))] == ["one", "two", "one"]


def test_bad_forms_are_explained(tmp_path):
    with pytest.raises(ModelRequestError, match="mock:echo or mock:file"):
        load_backend("mock:nonsense")
    with pytest.raises(ModelRequestError, match="not found"):
        load_backend(f"mock:file:{tmp_path / 'missing.json'}")


async def test_malformed_requests_are_refused():
    backend = MockBackend(["a"])
    with pytest.raises(ModelRequestError, match="exactly one"):
        await backend.generate(GenerationRequest())
    with pytest.raises(ModelRequestError, match="n must be"):
        await backend.generate(GenerationRequest(prompt="p", n=0))
    with pytest.raises(ModelRequestError, match="exactly one"):
        await backend.generate(GenerationRequest(prompt="p", messages=(Message("user", "u"),)))


async def test_closing_is_recorded():
    backend = MockBackend(["a"], name="mock:mine")
    assert backend.name == "mock:mine"
    await backend.aclose()
    assert backend.closed


def test_sampling_is_visible_to_callables():
    # Strategies set temperature per call; tests can read it back from .requests.
    backend = MockBackend(lambda r, i: str(r.sampling.temperature))
    import anyio

    out = anyio.run(
        backend.generate, GenerationRequest(prompt="p", sampling=Sampling(temperature=0.0))
    )
    assert out[0].text == "0.0"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.json", '["a", "b"', r"bad\.json: not valid JSON at line 1, column 10"),
        ("multi.json", '[\n "a",\n oops\n]', r"multi\.json: not valid JSON at line 3, column 2"),
        ("number.json", "42", r"number\.json: holds a number; expected a JSON list"),
        ("items.json", '["a", {"x": 1}]', r"items\.json: item 1 is an object"),
        ("values.json", '{"T/0": 3}', r"values\.json: task 'T/0' maps to a number"),
        ("bad.jsonl", '"a"\n{oops\n', r"bad\.jsonl: line 2: not valid JSON"),
        (
            "shape.jsonl",
            '"a"\n[1, 2]\n',
            r"shape\.jsonl: line 2 is a list, but the first line is a string",
        ),
        ("nocomp.jsonl", '{"task_id": "T/0"}\n', r"nocomp\.jsonl: line 1: expected"),
        ("listcomp.jsonl", '{"task_id": "T/0", "completions": [1]}\n', r"line 1: expected"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_the_place(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ModelRequestError, match=message) as caught:
        load_backend(f"mock:file:{path}")
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)
