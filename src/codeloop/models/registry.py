"""Model strings: `provider:rest` selects a backend.

    openai:MODEL[@BASE_URL]   OpenAI or any OpenAI-compatible server (vLLM, SGLang,
                              llama.cpp server, Ollama, TGI)
    vllm:MODEL                vLLM in process (GPU batch work)
    hf:MODEL_OR_PATH          transformers in process (CPU or GPU)
    llamacpp:PATH.gguf        llama-cpp-python in process
    replay:PATH               recorded samples (a JSONL file or a CodeT folder)
    mock:echo | mock:file:PATH  scripted outputs

Optional dependencies are imported only when their provider is asked for.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codeloop.models.base import Backend, ModelRequestError, NoModelConfigured
from codeloop.registry import PROVIDERS

__all__ = [
    "DEFAULT_OPENAI_MODEL",
    "PROVIDERS",
    "default_model_spec",
    "load_backend",
    "resolve_model",
]

DEFAULT_OPENAI_MODEL = "openai:gpt-4o-mini"
ENV_MODEL = "CODELOOP_MODEL"


def _openai(rest: str, **options: Any) -> Backend:
    from codeloop.models.openai_backend import OpenAIBackend

    model, base_url = rest, None
    at = rest.find("@http")
    if at < 0:
        at = rest.find("@")
    if at >= 0:
        model, base_url = rest[:at], rest[at + 1 :]
        if not base_url:
            raise ModelRequestError(f"openai:{rest}: nothing after '@' (expected a base URL)")
    return OpenAIBackend(model, base_url, **options)


def _vllm(rest: str, **options: Any) -> Backend:
    from codeloop.models.vllm_backend import VLLMBackend

    return VLLMBackend(rest, **options)


def _hf(rest: str, **options: Any) -> Backend:
    from codeloop.models.hf_backend import HFBackend

    return HFBackend(rest, **options)


def _llamacpp(rest: str, **options: Any) -> Backend:
    from codeloop.models.llamacpp_backend import LlamaCppBackend

    return LlamaCppBackend(rest, **options)


def _replay(rest: str, **options: Any) -> Backend:
    from codeloop.models.replay import ReplayBackend

    return ReplayBackend(rest, **options)


def _mock(rest: str, **options: Any) -> Backend:
    from codeloop.models.mock import load_mock

    return load_mock(rest, **options)


# The built-ins register like any plugin (codeloop.registry); PROVIDERS is that registry.
for _name, _factory in (
    ("openai", _openai),
    ("vllm", _vllm),
    ("hf", _hf),
    ("llamacpp", _llamacpp),
    ("replay", _replay),
    ("mock", _mock),
):
    PROVIDERS.register(_name, _factory)


def load_backend(spec: str, *, cache: str | Path | None = None, **options: Any) -> Backend:
    """The backend a model string names; `options` go to its constructor.

    With `cache=PATH`, the backend is wrapped in a `CachedBackend` on that sqlite file.
    """
    provider, sep, rest = spec.partition(":")
    if not sep:
        raise ModelRequestError(
            f"model {spec!r} names no provider: write PROVIDER:MODEL, e.g. openai:{spec}. "
            f"Providers: {', '.join(PROVIDERS)}"
        )
    factory: Callable[..., Backend] | None = PROVIDERS.get(provider)
    if factory is None:
        raise ModelRequestError(
            f"unknown model provider {provider!r} in {spec!r}; providers: {', '.join(PROVIDERS)}"
        )
    if not rest and provider != "mock":
        raise ModelRequestError(f"model {spec!r}: nothing after '{provider}:'")
    backend = factory(rest, **options)
    if cache is not None:
        from codeloop.models.cache import with_cache

        backend = with_cache(backend, cache)
    return backend


def default_model_spec() -> str:
    """CODELOOP_MODEL, else openai:gpt-4o-mini when OPENAI_API_KEY is set, else an error."""
    spec = os.environ.get(ENV_MODEL, "").strip()
    if spec:
        return spec
    if os.environ.get("OPENAI_API_KEY"):
        return DEFAULT_OPENAI_MODEL
    raise NoModelConfigured()


def resolve_model(spec: str | None) -> str:
    """The model string to use: the one given, else the default."""
    return spec.strip() if spec and spec.strip() else default_model_spec()
