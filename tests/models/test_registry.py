"""Model strings, the default model and the errors that say how to fix things."""

from __future__ import annotations

import builtins

import pytest

from codeloop.models import (
    DEFAULT_OPENAI_MODEL,
    PROVIDERS,
    MissingDependency,
    ModelRequestError,
    NoModelConfigured,
    OpenAIBackend,
    default_model_spec,
    load_backend,
    resolve_model,
)


@pytest.fixture
def no_env(monkeypatch):
    for name in ("CODELOOP_MODEL", "OPENAI_API_KEY", "CODELOOP_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_providers():
    assert list(PROVIDERS) == ["openai", "vllm", "hf", "llamacpp", "replay", "mock"]


def test_unknown_provider_lists_the_known_ones():
    with pytest.raises(ModelRequestError) as caught:
        load_backend("anthropic:claude")
    message = str(caught.value)
    assert "'anthropic'" in message
    assert all(name in message for name in PROVIDERS)


def test_a_bare_model_name_suggests_a_provider():
    with pytest.raises(ModelRequestError, match="openai:gpt-4o-mini"):
        load_backend("gpt-4o-mini")


def test_empty_model_is_refused():
    with pytest.raises(ModelRequestError, match="nothing after"):
        load_backend("hf:")


@pytest.mark.parametrize(
    ("spec", "model", "url"),
    [
        ("openai:gpt-4o-mini", "gpt-4o-mini", "https://api.openai.com/v1"),
        ("openai:qwen@http://127.0.0.1:8000/v1", "qwen", "http://127.0.0.1:8000/v1"),
        ("openai:qwen@localhost:11434/v1/", "qwen", "http://localhost:11434/v1"),
        ("openai:org/model@https://h.example/v1", "org/model", "https://h.example/v1"),
    ],
)
def test_openai_specs(no_env, spec, model, url):
    no_env.setenv("OPENAI_API_KEY", "sk-test")
    backend = load_backend(spec)
    assert isinstance(backend, OpenAIBackend)
    assert (backend.model, backend.url) == (model, url)


def test_options_reach_the_backend(no_env):
    backend = load_backend("openai:m@http://127.0.0.1:1/v1", max_retries=0, max_concurrency=3)
    assert backend.max_retries == 0


def test_default_model_from_env(no_env):
    no_env.setenv("CODELOOP_MODEL", "mock:echo")
    assert default_model_spec() == "mock:echo"
    assert resolve_model(None) == "mock:echo"
    assert resolve_model("hf:x") == "hf:x"


def test_default_model_from_openai_key(no_env):
    no_env.setenv("OPENAI_API_KEY", "sk-test")
    assert default_model_spec() == DEFAULT_OPENAI_MODEL == "openai:gpt-4o-mini"


def test_no_model_says_exactly_how_to_give_one(no_env):
    with pytest.raises(NoModelConfigured) as caught:
        default_model_spec()
    message = str(caught.value)
    for needle in (
        "--model openai:gpt-4o-mini",
        "CODELOOP_MODEL",
        "OPENAI_API_KEY",
        "openai:MODEL@http",
    ):
        assert needle in message
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("spec", "module", "hint"),
    [
        ("hf:some/model", "transformers", "codeloop[hf]"),
        ("vllm:some/model", "vllm", "codeloop[vllm]"),
        ("llamacpp:/m.gguf", "llama_cpp", "codeloop[llamacpp]"),
    ],
)
def test_missing_optional_dependency_gives_a_pip_hint(monkeypatch, spec, module, hint):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == module or name.startswith(module + "."):
            raise ImportError(f"No module named {module!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingDependency) as caught:
        load_backend(spec)
    assert f"pip install '{hint}'" in str(caught.value)
    assert not caught.value.retryable
