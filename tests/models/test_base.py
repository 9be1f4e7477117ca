"""Shared pieces: errors, prices, usage shares, stop sequences."""

from __future__ import annotations

import pytest

from codeloop.models import (
    DEFAULT_PRICES,
    Backend,
    CachedBackend,
    MockBackend,
    ModelError,
    ModelRequestError,
    ModelUnavailable,
    Price,
    PriceTable,
    ReplayBackend,
    total_usage,
)
from codeloop.models.base import apply_stop, split_usage
from codeloop.types import Completion


def test_error_classes_carry_retryable():
    assert ModelUnavailable("x").retryable
    assert not ModelRequestError("x").retryable
    assert ModelError("x", retryable=True).retryable
    assert isinstance(ModelUnavailable("x"), ModelError)


def test_prices_for_known_models_and_snapshots():
    assert DEFAULT_PRICES.cost("gpt-4o-mini", 1000, 1000) == pytest.approx(0.00015 + 0.0006)
    # a dated snapshot is priced as its family; the longest family name wins
    assert DEFAULT_PRICES.lookup("gpt-4o-mini-2024-07-18") == DEFAULT_PRICES.lookup("gpt-4o-mini")
    assert DEFAULT_PRICES.lookup("gpt-4o-2024-08-06") == DEFAULT_PRICES.lookup("gpt-4o")
    assert DEFAULT_PRICES.cost("qwen2.5-coder", 10, 10) is None
    table = PriceTable({"m": Price(1.0, 2.0)})
    assert table.cost("m", 500, 250) == pytest.approx(1.0)


def test_split_usage_adds_up_to_the_call():
    shares = split_usage(
        3, prompt_tokens=10, completion_tokens=7, latency_s=2.0, price=Price(1.0, 1.0)
    )
    assert [s.calls for s in shares] == [1, 0, 0]
    assert [s.completion_tokens for s in shares] == [3, 2, 2]
    total = total_usage(Completion("", usage=s) for s in shares)
    assert (total.calls, total.prompt_tokens, total.completion_tokens, total.latency_s) == (
        1,
        10,
        7,
        2.0,
    )
    assert total.cost_usd == pytest.approx(0.017)
    cached = split_usage(2, cached=True)
    assert [(s.calls, s.cached_calls) for s in cached] == [(0, 1), (0, 0)]
    assert split_usage(2, completion_tokens=[5, 1])[1].completion_tokens == 1
    with pytest.raises(ValueError):
        split_usage(2, completion_tokens=[1])


@pytest.mark.parametrize(
    ("text", "stops", "expected"),
    [
        ("abc\ndef g", ("\ndef", "\nclass"), ("abc", True)),
        ("a\nclass\ndef", ("\ndef", "\nclass"), ("a", True)),
        ("plain", ("\ndef",), ("plain", False)),
        ("x", (), ("x", False)),
        ("x", ("",), ("x", False)),
    ],
)
def test_apply_stop(text, stops, expected):
    assert apply_stop(text, stops) == expected


def test_providers_satisfy_the_protocol(tmp_path):
    recording = tmp_path / "r.jsonl"
    recording.write_text('{"task_id": "T", "completion": "x"}\n')
    mock = MockBackend(["a"])
    for backend in (mock, ReplayBackend(recording), CachedBackend(mock, tmp_path / "c.sqlite")):
        assert isinstance(backend, Backend)
